/* Unit tests of api/command.c: validation order, path parameters, batches,
 * ids (and their reuse by an idempotent retry), envelopes. */
#include <criterion/criterion.h>
#include <string.h>

#include "command.h"
#include "schemas.h"

#define ORG "0190a0b0-0000-7000-8000-00000000000a"
#define VOU "0190a0b0-0000-7000-8000-00000000000c"
#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static struct actor org = {.sub = "u1", .role = ROLE_ORGANISER, .org = ORG};

/* A version-1 origin without key or trace: what the id tests need. */
static const struct cmd_origin V1_ORIGIN = {.received_at = "t", .envelope_version = 1};

TestSuite(api_command, .init = t_schemas_setup, .fini = t_schemas_teardown);

static int from_route(const char *method, const char *path, const char *body,
                      const struct actor *ac, struct cmd_batch *b, struct cmd_error *e)
{
    struct route_match m;
    cr_assert_eq(router_match(method, path, &m, NULL, 0), ROUTER_FOUND);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    return cmd_from_route(&m, j, ac, reg, b, e);
}

/* The path of the first error. */
static const char *first_error_path(const struct cmd_error *e)
{
    return json_string_value(json_object_get(json_array_get(e->errors, 0), "path"));
}

/* Revokes VOU through its route into b, with ids; voucher_id comes from the
 * path. */
static void revocation(struct cmd_batch *b)
{
    struct cmd_error e = {0};
    cr_assert_eq(from_route("POST", "/v1/vouchers/" VOU "/revocation",
                            "{\"effective_date\":\"2025-03-01\",\"reason\":\"x\"}", &org, b, &e),
                 0, "%s", e.detail);
    cr_expect_str_eq(json_string_value(json_object_get(b->items[0].data, "voucher_id")), VOU);
    cmd_assign_ids(b, NULL);
}

/* b finalized from origin o; its first envelope, parsed. */
static json_t *first_envelope(struct cmd_batch *b, const struct cmd_origin *o)
{
    struct cmd_error e = {0};
    cr_assert_eq(cmd_finalize(b, &org, o, &e), 0, "%s", e.detail);
    return json_loads(b->items[0].payload, 0, NULL);
}

Test(api_command, path_parameters_fill_the_data)
{
    struct cmd_batch b;
    revocation(&b);
    json_t *env = first_envelope(&b, &(struct cmd_origin){.received_at = "2025-01-01T00:00:00.000Z",
                                                          .idem_key = "k1",
                                                          .traceparent = TP,
                                                          .envelope_version = 2,
                                                          .request_digest = NULL});
    cr_expect_str_eq(b.items[0].key, VOU);
    cr_expect_str_eq(b.items[0].resource_id, VOU);
    cr_expect_str_eq(json_string_value(json_object_get(env, "type")), "voucher.revoke");
    cr_expect_str_eq(json_string_value(json_object_get(env, "idempotency_key")), "k1");
    cr_expect_eq(json_integer_value(json_object_get(env, "schema_version")), 2);
    cr_expect_str_eq(json_string_value(json_object_get(env, "traceparent")), TP);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(env, "actor"), "org")), ORG);
    json_decref(env);
    cmd_batch_free(&b);
}

Test(api_command, path_and_body_disagreeing_is_422)
{
    struct cmd_batch b;
    struct cmd_error e = {0};
    cr_assert_eq(from_route("POST", "/v1/vouchers/" VOU "/revocation",
                            "{\"voucher_id\":\"" ORG "\",\"effective_date\":\"2025-03-01\","
                            "\"reason\":\"x\"}",
                            &org, &b, &e),
                 -1);
    cr_expect_eq(e.status, 422);
    cr_expect_str_eq(first_error_path(&e), "/voucher_id");
    cmd_error_clear(&e);
}

Test(api_command, claims_are_checked_before_the_schema)
{
    struct cmd_batch b;
    struct cmd_error e = {0};
    /* invalid and contradicting: the token rules it out first (403) */
    cr_assert_eq(from_route("POST", "/v1/settlements/runs",
                            "{\"organiser_id\":\"0190a0b0-0000-7000-8000-0000000000ff\"}", &org, &b,
                            &e),
                 -1);
    cr_expect_eq(e.status, 403);
    cmd_error_clear(&e);
}

Test(api_command, generated_ids_are_reused_by_a_retry)
{
    const char *body = "{\"organiser_id\":\"" ORG "\",\"client_id\":\"c\",\"service_type\":"
                       "\"kotihoito\",\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\","
                       "\"unit_value_cents\":1}";
    struct cmd_batch a, b;
    struct cmd_error e = {0};
    cr_assert_eq(from_route("POST", "/v1/vouchers", body, &org, &a, &e), 0, "%s", e.detail);
    cmd_assign_ids(&a, NULL);
    json_t *ids = cmd_ids_json(&a);
    cr_assert_eq(from_route("POST", "/v1/vouchers", body, &org, &b, &e), 0);
    cmd_assign_ids(&b, NULL); /* fresh ids first, as the server does */
    cmd_assign_ids(&b, ids);  /* then the first attempt's, on IDEM_RETRY */
    cr_assert_eq(cmd_finalize(&a, &org, &V1_ORIGIN, &e), 0);
    cr_assert_eq(cmd_finalize(&b, &org, &V1_ORIGIN, &e), 0);
    cr_expect_str_eq(a.items[0].command_id, b.items[0].command_id);
    cr_expect_str_eq(a.items[0].resource_id, b.items[0].resource_id);
    cr_expect_str_eq(b.items[0].key, b.items[0].resource_id);
    json_decref(ids);
    cmd_batch_free(&a);
    cmd_batch_free(&b);
}

Test(api_command, batch_errors_are_indexed)
{
    struct cmd_batch b;
    struct cmd_error e = {0};
    json_t *body = json_loads(
        "{\"commands\":[{\"type\":\"settlement.run\",\"data\":{\"organiser_id\":\"" ORG
        "\",\"period\":\"2025-01\"}},{\"type\":\"settlement.run\",\"data\":{\"organiser_id\":\"" ORG
        "\",\"period\":\"2025-1\"}},{\"type\":\"nope\",\"data\":{}}]}",
        0, NULL);
    cr_assert_eq(cmd_from_commands(body, &org, reg, &b, &e), -1);
    cr_expect_eq(e.status, 422);
    /* the shape error of item 2 is reported first; schemas run only on a sound batch */
    cr_expect_str_eq(first_error_path(&e), "/commands/2/type");
    cmd_error_clear(&e);

    body =
        json_loads("{\"commands\":[{\"type\":\"settlement.run\",\"data\":{\"organiser_id\":\"" ORG
                   "\",\"period\":\"2025-01\"}},{\"type\":\"settlement.run\",\"data\":{"
                   "\"organiser_id\":\"" ORG "\",\"period\":\"2025-1\"}}]}",
                   0, NULL);
    cr_assert_eq(cmd_from_commands(body, &org, reg, &b, &e), -1);
    cr_expect_str_eq(first_error_path(&e), "/commands/1/data/period");
    cmd_error_clear(&e);
}

Test(api_command, accepted_shapes)
{
    struct cmd_batch b;
    struct cmd_error e = {0};
    json_t *body = json_loads("{\"commands\":[{\"type\":\"settlement.confirm\",\"data\":{"
                              "\"settlement_id\":\"" VOU "\"}}]}",
                              0, NULL);
    cr_assert_eq(cmd_from_commands(body, &org, reg, &b, &e), 0, "%s", e.detail);
    cmd_assign_ids(&b, NULL);
    cr_assert_eq(cmd_finalize(&b, &org, &V1_ORIGIN, &e), 0);
    json_t *acc = cmd_accepted_json(&b);
    cr_expect_eq(json_array_size(json_object_get(acc, "commands")), 1);
    json_decref(acc);
    cmd_batch_free(&b);
}

Test(api_command, a_version_1_envelope_has_no_traceparent)
{
    struct cmd_batch b;
    revocation(&b);
    json_t *env = first_envelope(&b, &(struct cmd_origin){.received_at = "2025-01-01T00:00:00Z",
                                                          .idem_key = NULL,
                                                          .traceparent = TP,
                                                          .envelope_version = 1,
                                                          .request_digest = NULL});
    cr_expect_eq(json_integer_value(json_object_get(env, "schema_version")), 1);
    cr_expect_null(json_object_get(env, "traceparent"));
    json_decref(env);
    /* An empty traceparent is no traceparent (it would not match the schema). */
    free(b.items[0].payload);
    env = first_envelope(&b, &(struct cmd_origin){.received_at = "2025-01-01T00:00:00Z",
                                                  .idem_key = NULL,
                                                  .traceparent = "",
                                                  .envelope_version = 2,
                                                  .request_digest = NULL});
    cr_expect_null(json_object_get(env, "traceparent"));
    json_decref(env);
    cmd_batch_free(&b);
}

/* A stand-in for the front's command_record: a record naming the key. */
static json_t *record_of(void *ctx, const struct cmd_item *it)
{
    (*(int *)ctx)++;
    return json_pack("{s:s, s:s}", "action", "command", "resource_id", it->key);
}

/* From envelope version 5 the access record goes inside the envelope; below
 * it the front is not asked and produces the record beside the command. */
Test(api_command, a_version_5_envelope_carries_the_access_record)
{
    for (int v = 4; v <= 5; v++) {
        struct cmd_batch b;
        revocation(&b);
        int asked = 0;
        json_t *env = first_envelope(&b, &(struct cmd_origin){.received_at = "t",
                                                              .traceparent = TP,
                                                              .envelope_version = v,
                                                              .access_of = record_of,
                                                              .access_ctx = &asked});
        json_t *acc = json_object_get(env, "access");
        if (v == 5) {
            cr_expect_eq(asked, 1);
            cr_expect(b.items[0].access_inside);
            cr_expect_str_eq(json_string_value(json_object_get(acc, "resource_id")), VOU);
        } else {
            cr_expect_eq(asked, 0);
            cr_expect_not(b.items[0].access_inside);
            cr_expect_null(acc);
        }
        json_decref(env);
        cmd_batch_free(&b);
    }
}
