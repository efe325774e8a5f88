/* Unit tests of workers/command.c: how a worker of each envelope version
 * parses envelopes of every version. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../workers/command.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static struct jschema_registry *reg;

static void setup(void)
{
    char err[256];
    reg = jschema_registry_load(PSOP_SOURCE_DIR "/schemas", err, sizeof(err));
    cr_assert_not_null(reg, "%s", err);
}

static void teardown(void)
{
    jschema_registry_free(reg);
}

#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TestSuite(worker_command, .init = setup, .fini = teardown);

/* A holiday.upsert envelope of version v: 2 adds traceparent, 3 a
 * request_digest (with an Idempotency-Key), 4 a field this build does not
 * know. */
static char *envelope(int v)
{
    json_t *env = json_pack("{s:s, s:s, s:i, s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "id",
                            "0190a0b0-0000-7000-8000-0000000000aa", "type", "holiday.upsert",
                            "schema_version", v, "actor", "sub", "a", "role", "admin",
                            "received_at", "2026-01-01T00:00:00Z", "data", "date", "2026-12-06",
                            "name", "Itsenäisyyspäivä");
    if (v >= 2)
        json_object_set_new(env, "traceparent", json_string(TP));
    if (v >= 3) {
        json_object_set_new(env, "idempotency_key", json_string("k-1"));
        json_object_set_new(env, "request_digest", json_string(DIGEST));
    }
    if (v >= 4)
        json_object_set_new(env, "tenant_region", json_string("fi-south"));
    char *s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return s;
}

static int parse(int reader, int v, struct cmd *c, char *err, size_t n)
{
    char *s = envelope(v);
    int rc = cmd_parse(reg, reader, s, strlen(s), c, err, n);
    free(s);
    return rc;
}

Test(worker_command, every_reader_reads_every_version)
{
    for (int reader = ENVELOPE_VERSION_MIN; reader <= ENVELOPE_VERSION_CURRENT; reader++) {
        for (int v = 1; v <= 4; v++) {
            struct cmd c;
            char err[256] = "";
            cr_assert_eq(parse(reader, v, &c, err, sizeof(err)), 0, "reader %d, v%d: %s", reader,
                         v, err);
            cr_expect_str_eq(c.type, "holiday.upsert");
            cr_expect_str_eq(cmd_str(&c, "name"), "Itsenäisyyspäivä");
            cr_expect_eq(c.schema_version, v);
            if (reader >= 2 && v >= 2)
                cr_expect_str_eq(c.traceparent, TP);
            else
                cr_expect_null(c.traceparent, "reader %d saw a traceparent in v%d", reader, v);
            if (reader >= 3 && v >= 3)
                cr_expect_str_eq(c.request_digest, DIGEST);
            else
                cr_expect_null(c.request_digest, "reader %d saw a request_digest in v%d", reader,
                               v);
            cmd_free(&c);
        }
    }
}

Test(worker_command, an_unknown_field_of_the_own_version_is_poison)
{
    /* Tolerance is for newer versions only: a v2 envelope with a field v2
     * does not have was not written by any psop front. */
    char *v2 = envelope(2);
    json_t *env = json_loads(v2, 0, NULL);
    free(v2);
    json_object_set_new(env, "tenant_region", json_string("fi-south"));
    char *s = json_dumps(env, JSON_COMPACT);
    struct cmd c;
    char err[256] = "";
    cr_expect_eq(cmd_parse(reg, 2, s, strlen(s), &c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "envelope invalid") != NULL, "%s", err);
    free(s);
    json_decref(env);
}

Test(worker_command, a_version_below_the_minimum_is_poison)
{
    struct cmd c;
    char err[256] = "";
    cr_expect_eq(parse(2, 0, &c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "schema_version") != NULL, "%s", err);
}

Test(worker_command, a_bad_traceparent_is_poison)
{
    char *v2 = envelope(2);
    json_t *env = json_loads(v2, 0, NULL);
    free(v2);
    json_object_set_new(env, "traceparent", json_string("not-a-trace"));
    char *s = json_dumps(env, JSON_COMPACT);
    struct cmd c;
    char err[256] = "";
    cr_expect_eq(cmd_parse(reg, 2, s, strlen(s), &c, err, sizeof(err)), -1, "accepted");
    free(s);
    json_decref(env);
}
