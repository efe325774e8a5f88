/* Unit tests of lib/wire/envelope.c: which version knows which field, how a
 * reader of an older version sees a newer envelope, traceparent. */
#include <criterion/criterion.h>
#include <string.h>

#include "wire/envelope.h"
#include "wire/traceparent.h"

Test(envelope, fields_have_the_version_that_introduced_them)
{
    cr_expect_eq(envelope_field_version("id"), 1);
    cr_expect_eq(envelope_field_version("data"), 1);
    cr_expect_eq(envelope_field_version("idempotency_key"), 1);
    cr_expect_eq(envelope_field_version("traceparent"), 2);
    cr_expect_eq(envelope_field_version("request_digest"), 3);
    cr_expect_eq(envelope_field_version("on_behalf_of"), 4);
    cr_expect_eq(envelope_field_version("access"), 5);
    cr_expect_eq(envelope_field_version("color"), 0);
}

static json_t *v2_envelope(void)
{
    return json_pack("{s:s, s:s, s:i, s:{s:s, s:s}, s:s, s:s, s:{}}", "id", "x", "type",
                     "holiday.upsert", "schema_version", 2, "actor", "sub", "a", "role", "admin",
                     "received_at", "2026-01-01T00:00:00Z", "traceparent",
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "data");
}

Test(envelope, a_version_1_reader_drops_what_version_2_added)
{
    json_t *env = v2_envelope();
    cr_expect_eq(envelope_downgrade(env, 1), 1);
    cr_expect_null(json_object_get(env, "traceparent"));
    cr_expect_eq(json_object_size(env), 6);
    cr_expect_not_null(json_object_get(env, "actor")); /* nested objects untouched */
    json_decref(env);
}

Test(envelope, a_version_2_reader_keeps_everything_it_knows)
{
    json_t *env = v2_envelope();
    cr_expect_eq(envelope_downgrade(env, 2), 0);
    cr_expect_not_null(json_object_get(env, "traceparent"));
    json_decref(env);
}

Test(envelope, fields_of_unknown_future_versions_are_dropped)
{
    json_t *env = v2_envelope();
    json_object_set_new(env, "tenant_region", json_string("fi-south"));
    json_object_set_new(env, "schema_version", json_integer(3));
    cr_expect_eq(envelope_downgrade(env, 2), 1);
    cr_expect_null(json_object_get(env, "tenant_region"));
    cr_expect_not_null(json_object_get(env, "traceparent"));
    json_decref(env);
}

Test(envelope, downgrade_of_a_non_object_does_nothing)
{
    json_t *a = json_array();
    cr_expect_eq(envelope_downgrade(a, 1), 0);
    cr_expect_eq(envelope_downgrade(NULL, 1), 0);
    json_decref(a);
}

Test(envelope, traceparent_validity)
{
    cr_expect(traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    cr_expect(traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
    cr_expect_not(traceparent_valid(NULL));
    cr_expect_not(traceparent_valid(""));
    /* upper case, other version, zero ids, wrong lengths, wrong separators */
    cr_expect_not(traceparent_valid("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"));
    cr_expect_not(traceparent_valid("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    cr_expect_not(traceparent_valid("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
    cr_expect_not(traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
    cr_expect_not(traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1"));
    cr_expect_not(traceparent_valid("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011"));
    cr_expect_not(traceparent_valid("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    cr_expect_not(traceparent_valid("00-0af7651916cd43dd8448eb211c80319cxb7ad6b7169203331-01"));
}

Test(envelope, new_traceparents_are_valid_and_differ)
{
    char a[TRACEPARENT_LEN], b[TRACEPARENT_LEN];
    traceparent_new(a);
    traceparent_new(b);
    cr_expect(traceparent_valid(a), "%s", a);
    cr_expect(traceparent_valid(b), "%s", b);
    cr_expect_str_neq(a, b);
}
