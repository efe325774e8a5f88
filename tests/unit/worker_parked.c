/* Unit tests of workers/parked.c: the final verdict row of a parked command. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../workers/parked.h"

static const char *s(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

Test(parked, an_invalid_envelope_with_an_id_is_rejected_for_good)
{
    const char *env =
        "{\"id\":\"0190a0a0-0000-7000-8000-000000000001\",\"type\":\"holiday.upsert\","
        "\"actor\":{\"sub\":\"a\",\"role\":\"organiser\",\"org\":\"not-a-uuid\"}}";
    json_t *row = parked_row(NULL, env, strlen(env), "envelope invalid: /actor/org must be a uuid");
    cr_assert_not_null(row);
    cr_expect_str_eq(s(row, "status"), "rejected");
    cr_expect_str_eq(s(row, "type"), "holiday.upsert");
    cr_expect_str_eq(s(row, "actor_role"), "organiser");
    cr_expect(strncmp(s(row, "reason"), "invalid_envelope: ", 18) == 0, "%s", s(row, "reason"));
    json_decref(row);
}

Test(parked, messages_naming_no_command_get_no_row)
{
    const char *bad[] = {
        "not json", "{\"id\":\"x\",\"type\":\"holiday.upsert\"}",
        "{\"id\":\"0190a0a0-0000-7000-8000-000000000001\",\"type\":\"DROP TABLE\"}", "[1]"};
    for (size_t i = 0; i < 4; i++)
        cr_expect_null(parked_row(NULL, bad[i], strlen(bad[i]), "x"), "%s", bad[i]);
}

Test(parked, a_role_outside_the_four_is_left_out)
{
    const char *env = "{\"id\":\"0190a0a0-0000-7000-8000-000000000001\",\"type\":\"a.b\","
                      "\"actor\":{\"sub\":\"a\",\"role\":\"root\"}}";
    json_t *row = parked_row(NULL, env, strlen(env), "x");
    cr_assert_not_null(row);
    cr_expect(json_is_null(json_object_get(row, "actor_role")) ||
              !json_object_get(row, "actor_role"));
    json_decref(row);
}
