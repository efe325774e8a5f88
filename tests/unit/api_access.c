/* Unit tests of api/access.c and workers/audit.c's audit_row: the access
 * record the front builds is valid against schemas/audit/access_record.json
 * and becomes the row the audit worker writes; which commands are about a
 * client. */
#include <criterion/criterion.h>

#include "store/topics.h"
#include <string.h>

#include "../../workers/audit.h"
#include "access.h"
#include "wire/access_key.h"
#include "router.h"
#include "wire/jschema.h"
#include "schemas.h"

TestSuite(api_access, .init = t_schemas_setup, .fini = t_schemas_teardown);

Test(api_access, a_read_record_is_valid_and_becomes_its_row)
{
    struct actor a = {.sub = "kasittelija",
                      .role = ROLE_ORGANISER,
                      .org = "0190a0b0-0000-7000-8000-000000000001"};
    struct access_rec r = {.actor = &a,
                           .action = "read",
                           .resource_type = "voucher",
                           .resource_id = "0190a0b0-0000-7000-8000-0000000000aa",
                           .organiser_id = a.org,
                           .client_id = "asiakas-17",
                           .status = 200,
                           .ip = "127.0.0.1",
                           .traceparent =
                               "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"};
    const char *key = NULL;
    char *text = access_record(&r, &key);
    cr_assert_not_null(text);
    cr_expect_str_eq(key, "asiakas-17");
    char err[256];
    json_t *row = audit_row(reg, text, strlen(text), err, sizeof(err));
    cr_assert_not_null(row, "%s: %s", err, text);
    cr_expect_str_eq(json_string_value(json_object_get(row, "actor_role")), "organiser");
    cr_expect_str_eq(json_string_value(json_object_get(row, "resource_type")), "voucher");
    cr_expect_str_eq(json_string_value(json_object_get(row, "ip")), "127.0.0.1");
    cr_expect_str_eq(json_string_value(json_object_get(row, "traceparent")),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    cr_expect_null(json_object_get(row, "actor_provider"), "absent members stay NULL");
    cr_expect(json_is_string(json_object_get(row, "id")) &&
              json_is_string(json_object_get(row, "at")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(row, "client_ids"), 0)),
                     "asiakas-17");
    cr_expect_eq(json_integer_value(json_object_get(row, "status")), 200);
    json_decref(row);
    free(text);
}

Test(api_access, a_key_and_a_list_without_client_are_valid)
{
    struct actor a = {.sub = "apikey:0190a0b0-0000-7000-8000-0000000000cc",
                      .role = ROLE_PROVIDER,
                      .provider = "0190a0b0-0000-7000-8000-000000000002"};
    struct access_rec r = {.actor = &a,
                           .action = "read",
                           .resource_type = "settlement",
                           .resource_id = "0190a0b0-0000-7000-8000-0000000000dd",
                           .status = 403};
    const char *key = NULL;
    char *text = access_record(&r, &key);
    cr_expect_str_eq(key, "0190a0b0-0000-7000-8000-0000000000dd");
    cr_expect_not_null(strstr(text, "\"key_id\":\"0190a0b0-0000-7000-8000-0000000000cc\""));
    char err[256];
    json_t *row = audit_row(reg, text, strlen(text), err, sizeof(err));
    cr_assert_not_null(row, "%s", err);
    cr_expect_eq(json_array_size(json_object_get(row, "client_ids")), 0);
    json_decref(row);
    free(text);
}

Test(api_access, broken_records_are_refused)
{
    char err[256];
    const char *bad[] = {"{", "{}", "{\"id\":\"x\",\"status\":200}", "[1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_null(audit_row(reg, bad[i], strlen(bad[i]), err, sizeof(err)), "%s", bad[i]);
}

Test(api_access, commands_about_a_client_are_the_voucher_order_and_mandate_ones)
{
    size_t n;
    const struct route *rows = router_routes(&n);
    int about = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = access_command_resource(&rows[i]);
        if (!t)
            continue;
        about++;
        bool mandate = strncmp(rows[i].type, "mandate.", 8) == 0;
        cr_expect(strncmp(rows[i].type, "voucher.", 8) == 0 ||
                      strncmp(rows[i].type, "order.", 6) == 0 ||
                      strncmp(rows[i].type, "service_event.", 14) == 0 || mandate,
                  "%s", rows[i].type);
        cr_expect_str_eq(t,
                         mandate ? "mandate"
                         : strncmp(rows[i].type, "order.", 6) == 0 ||
                                 strcmp(rows[i].topic, TOPIC_CMD_ORDER) == 0
                             ? "order"
                             : "voucher",
                         "%s", rows[i].type);
        cr_expect_neq(strcmp(rows[i].type, "service_event.auto_approve"), 0);
    }
    cr_expect_geq(about, 18, "%d commands about a client", about);
}

/* The front keys a record on psop.audit as a worker keys the record a
 * command carried (wire/access_key.h): client, else resource, else sub. */
Test(api_access, the_front_and_a_worker_key_a_record_alike)
{
    struct actor a = {.sub = "hoitaja",
                      .role = ROLE_PROVIDER,
                      .provider = "0190a0b0-0000-7000-8000-000000000002"};
    const struct {
        const char *client, *resource, *want;
    } cases[] = {
        {"asiakas-3", "0190a0b0-0000-7000-8000-0000000000aa", "asiakas-3"},
        {NULL, "0190a0b0-0000-7000-8000-0000000000aa", "0190a0b0-0000-7000-8000-0000000000aa"},
        {"", NULL, "hoitaja"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct access_rec r = {.actor = &a,
                               .action = "command",
                               .resource_type = "voucher",
                               .resource_id = cases[i].resource,
                               .client_id = cases[i].client,
                               .status = 202};
        const char *key = NULL;
        char *text = access_record(&r, &key);
        json_t *rec = json_loads(text, 0, NULL);
        cr_expect_str_eq(key, cases[i].want, "case %zu", i);
        cr_expect_str_eq(access_record_key(rec), cases[i].want, "case %zu", i);
        json_decref(rec);
        free(text);
    }
}
