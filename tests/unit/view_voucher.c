/* lib/views/view_voucher.c: the comparison of a budget voucher (pure, from
 * stored documents). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#include "core/date.h"
#include "views/view_voucher.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "%s: %s", text, e.text);
    return j;
}

static long h(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    cr_assert(json_is_number(v), "%s", key);
    double d = json_number_value(v) * 100.0;
    return (long)(d + 0.5);
}

Test(view_voucher, budget_comparison_covers_quantity_cheapest_first)
{
    json_t *v = J("{\"id\":\"v1\",\"unit\":\"hour\",\"valid_from\":\"2026-06-01\","
                  "\"value_basis\":\"budget\",\"budget_cents\":99000,"
                  "\"budget_used_cents\":0,\"budget_remaining_cents\":99000,"
                  "\"value_history\":[]}");
    json_t *pub =
        J("{\"providers\":["
          "{\"provider_id\":\"p1\",\"name\":\"A\",\"price\":{\"valid_from\":\"2026-01-01\","
          "\"price_cents\":3490}},"
          "{\"provider_id\":\"p2\",\"name\":\"B\",\"price\":{\"valid_from\":\"2026-01-01\","
          "\"price_cents\":3300}},"
          "{\"provider_id\":\"p3\",\"name\":\"C\"}]}");
    day_t today;
    cr_assert_eq(date_parse("2026-06-10", &today), 0);
    json_t *out = view_voucher_providers_combine(v, pub, today);
    cr_assert_not_null(out);
    char *dump = json_dumps(out, JSON_COMPACT);
    cr_expect_eq(json_integer_value(json_object_get(out, "budget_remaining_cents")), 99000, "%s",
                 dump);
    cr_expect_null(json_object_get(out, "voucher_value_cents"), "%s", dump);
    const json_t *ps = json_object_get(out, "providers");
    cr_assert_eq(json_array_size(ps), 3, "%s", dump);
    /* 990.00 / 33.00 = 30.00; 990.00 / 34.90 = 28.366 -> 28.36; no price last */
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(ps, 0), "provider_id")), "p2",
                     "%s", dump);
    cr_expect_eq(h(json_array_get(ps, 0), "budget_covers_quantity"), 3000, "%s", dump);
    cr_expect_eq(h(json_array_get(ps, 1), "budget_covers_quantity"), 2836, "%s", dump);
    cr_expect(json_is_null(json_object_get(json_array_get(ps, 2), "budget_covers_quantity")), "%s",
              dump);
    cr_expect_null(json_object_get(json_array_get(ps, 0), "client_share_cents"), "%s", dump);
    free(dump);
    json_decref(out);
    json_decref(pub);
    json_decref(v);
}
