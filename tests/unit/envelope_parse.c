/* Unit tests of lib/wire/envelope.c's reading and writing: how a reader of each
 * envelope version parses envelopes of every version, the front's envelope
 * read back by a worker, and the one actor both sides share. */
#include <criterion/criterion.h>
#include <string.h>

#include "wire/envelope.h"
#include "wire/jschema.h"
#include "schemas.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TestSuite(envelope_parse, .init = t_schemas_setup, .fini = t_schemas_teardown);

#define ACCESS_ID "0190a0b0-0000-7000-8000-0000000000cc"

/* A command's access record, as the front writes it (api/access.c). */
static json_t *access_rec(void)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:{s:s, s:s}, s:[s], s:i, s:s}", "id",
                     ACCESS_ID, "at", "2026-01-01T00:00:00.000Z", "actor", "sub", "k", "role",
                     "organiser", "org", "0190a0b0-0000-7000-8000-000000000001", "action",
                     "command", "resource", "type", "voucher", "id",
                     "0190a0b0-0000-7000-8000-0000000000dd", "client_ids", "asiakas-7", "status",
                     202, "ip", "127.0.0.1");
}

/* A holiday.upsert envelope of version v: 2 adds traceparent, 3 a
 * request_digest (with an Idempotency-Key), 4 on_behalf_of, 5 access, 6 a
 * field this build does not know. */
#define NEWEST_WRITTEN 6
static char *envelope(int v)
{
    json_t *env =
        json_pack("{s:s, s:s, s:i, s:{s:s, s:s}, s:s, s:{s:s, s:s}}", "id",
                  "0190a0b0-0000-7000-8000-0000000000aa", "type", "holiday.upsert",
                  "schema_version", v, "actor", "sub", "a", "role", "admin", "received_at",
                  "2026-01-01T00:00:00Z", "data", "date", "2026-12-06", "name", "Itsenäisyyspäivä");
    if (v >= 2)
        json_object_set_new(env, "traceparent", json_string(TP));
    if (v >= 3) {
        json_object_set_new(env, "idempotency_key", json_string("k-1"));
        json_object_set_new(env, "request_digest", json_string(DIGEST));
    }
    if (v >= 4)
        json_object_set_new(env, "on_behalf_of", json_string("asiakas-7"));
    if (v >= 5)
        json_object_set_new(env, "access", access_rec());
    if (v >= 6)
        json_object_set_new(env, "tenant_region", json_string("fi-south"));
    char *s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return s;
}

static int parse(int reader, int v, struct envelope *c, char *err, size_t n)
{
    char *s = envelope(v);
    int rc = envelope_parse(reg, reader, s, strlen(s), c, err, n);
    free(s);
    return rc;
}

Test(envelope_parse, every_reader_reads_every_version)
{
    for (int reader = ENVELOPE_VERSION_MIN; reader <= ENVELOPE_VERSION_CURRENT; reader++) {
        for (int v = 1; v <= NEWEST_WRITTEN; v++) {
            struct envelope c;
            char err[256] = "";
            cr_assert_eq(parse(reader, v, &c, err, sizeof(err)), 0, "reader %d, v%d: %s", reader, v,
                         err);
            cr_expect_str_eq(c.type, "holiday.upsert");
            cr_expect_str_eq(envelope_str(&c, "name"), "Itsenäisyyspäivä");
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
            if (reader >= 4 && v >= 4)
                cr_expect_str_eq(c.on_behalf_of, "asiakas-7");
            else
                cr_expect_null(c.on_behalf_of, "reader %d saw on_behalf_of in v%d", reader, v);
            if (reader >= 5 && v >= 5)
                cr_expect_str_eq(json_string_value(json_object_get(c.access, "id")), ACCESS_ID);
            else
                cr_expect_null(c.access, "reader %d saw access in v%d", reader, v);
            envelope_free(&c);
        }
    }
}

Test(envelope_parse, an_unknown_field_of_the_own_version_is_poison)
{
    /* Tolerance is for newer versions only: a v2 envelope with a field v2
     * does not have was not written by any psop front. */
    char *v2 = envelope(2);
    json_t *env = json_loads(v2, 0, NULL);
    free(v2);
    json_object_set_new(env, "tenant_region", json_string("fi-south"));
    char *s = json_dumps(env, JSON_COMPACT);
    struct envelope c;
    char err[256] = "";
    cr_expect_eq(envelope_parse(reg, 2, s, strlen(s), &c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "envelope invalid") != NULL, "%s", err);
    free(s);
    json_decref(env);
}

Test(envelope_parse, a_version_below_the_minimum_is_poison)
{
    struct envelope c;
    char err[256] = "";
    cr_expect_eq(parse(2, 0, &c, err, sizeof(err)), -1);
    cr_expect(strstr(err, "schema_version") != NULL, "%s", err);
}

Test(envelope_parse, a_bad_traceparent_is_poison)
{
    char *v2 = envelope(2);
    json_t *env = json_loads(v2, 0, NULL);
    free(v2);
    json_object_set_new(env, "traceparent", json_string("not-a-trace"));
    char *s = json_dumps(env, JSON_COMPACT);
    struct envelope c;
    char err[256] = "";
    cr_expect_eq(envelope_parse(reg, 2, s, strlen(s), &c, err, sizeof(err)), -1, "accepted");
    free(s);
    json_decref(env);
}

/* What the front writes (envelope_build) a worker reads back (envelope_parse)
 * with the same actor, enum role included, for every role. */
Test(envelope_parse, the_fronts_envelope_reads_back_with_the_same_actor)
{
    const struct {
        enum role role;
        const char *org, *provider, *client;
    } who[] = {
        {ROLE_ADMIN, "", "", ""},
        {ROLE_ORGANISER, "0190a0b0-0000-7000-8000-000000000001", "", ""},
        {ROLE_PROVIDER, "", "0190a0b0-0000-7000-8000-000000000002", ""},
        {ROLE_CLIENT, "0190a0b0-0000-7000-8000-000000000001", "", "asiakas-17"},
    };
    for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++) {
        struct actor a = {.role = who[i].role};
        snprintf(a.sub, sizeof(a.sub), "user-%zu", i);
        snprintf(a.org, sizeof(a.org), "%s", who[i].org);
        snprintf(a.provider, sizeof(a.provider), "%s", who[i].provider);
        snprintf(a.client, sizeof(a.client), "%s", who[i].client);
        json_t *data = json_pack("{s:s, s:s}", "date", "2026-12-06", "name", "Itsenäisyyspäivä");
        json_t *rec = access_rec();
        struct envelope_head h = {.id = "0190a0b0-0000-7000-8000-0000000000bb",
                                  .type = "holiday.upsert",
                                  .version = ENVELOPE_VERSION_CURRENT,
                                  .actor = &a,
                                  .received_at = "2026-01-01T00:00:00Z",
                                  .idempotency_key = "k-2",
                                  .traceparent = TP,
                                  .request_digest = DIGEST,
                                  .on_behalf_of = who[i].role == ROLE_CLIENT ? "asiakas-18" : NULL,
                                  .access = rec};
        char *s = envelope_build(&h, data);
        json_decref(data);
        cr_assert_not_null(s);
        struct envelope e;
        char err[256];
        cr_assert_eq(
            envelope_parse(reg, ENVELOPE_VERSION_CURRENT, s, strlen(s), &e, err, sizeof(err)), 0,
            "role %s: %s", role_name(who[i].role), err);
        cr_expect_eq(memcmp(&e.actor, &a, sizeof(a)), 0, "role %s", role_name(who[i].role));
        cr_expect_str_eq(e.traceparent, TP);
        cr_expect_str_eq(e.request_digest, DIGEST);
        if (who[i].role == ROLE_CLIENT)
            cr_expect_str_eq(e.on_behalf_of, "asiakas-18");
        else
            cr_expect_null(e.on_behalf_of);
        cr_expect_str_eq(envelope_str(&e, "date"), "2026-12-06");
        cr_expect(json_equal(e.access, rec), "the access record reads back as written");
        json_decref(rec);
        envelope_free(&e);
        free(s);
    }
}

/* A version-1 writer leaves out what later versions added. */
Test(envelope_parse, an_older_writer_leaves_out_later_fields)
{
    struct actor a = {.sub = "u", .role = ROLE_ADMIN};
    json_t *data = json_object();
    struct envelope_head h = {.id = "x",
                              .type = "holiday.upsert",
                              .version = 1,
                              .actor = &a,
                              .received_at = "2026-01-01T00:00:00Z",
                              .idempotency_key = "k",
                              .traceparent = TP,
                              .request_digest = DIGEST,
                              .on_behalf_of = "asiakas-19",
                              .access = access_rec()};
    char *s = envelope_build(&h, data);
    json_decref(data);
    json_decref(h.access);
    cr_assert_not_null(s);
    cr_expect_null(strstr(s, "access"));
    cr_expect_null(strstr(s, "on_behalf_of"));
    cr_expect_null(strstr(s, "traceparent"));
    cr_expect_null(strstr(s, "request_digest"));
    cr_expect_not_null(strstr(s, "\"idempotency_key\":\"k\""));
    free(s);
}

Test(envelope_parse, an_actor_the_schema_would_refuse_is_not_read)
{
    struct actor a;
    json_t *bad[] = {
        json_pack("{s:s, s:s}", "sub", "u", "role", "superuser"),
        json_pack("{s:s, s:i}", "sub", "u", "role", 1),
        json_pack("{s:s, s:s, s:i}", "sub", "u", "role", "admin", "org", 7),
        json_string("admin"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(actor_from_json(bad[i], &a), -1, "case %zu", i);
        cr_expect_eq(a.role, ROLE_NONE);
        json_decref(bad[i]);
    }
    char longsub[ACTOR_FIELD_MAX + 2];
    memset(longsub, 'x', sizeof(longsub) - 1);
    longsub[sizeof(longsub) - 1] = '\0';
    json_t *tl = json_pack("{s:s, s:s}", "sub", longsub, "role", "admin");
    cr_expect_eq(actor_from_json(tl, &a), -1);
    json_decref(tl);
    json_t *nul = json_pack("{s:s#, s:s}", "sub", "a\0b", (size_t)3, "role", "admin");
    cr_expect_eq(actor_from_json(nul, &a), -1);
    json_decref(nul);
    json_t *ok = json_pack("{s:s, s:s}", "sub", "u", "role", "provider");
    cr_expect_eq(actor_from_json(ok, &a), 0);
    cr_expect_eq(a.role, ROLE_PROVIDER);
    cr_expect_null(actor_opt(a.org));
    cr_expect_str_eq(actor_opt(a.sub), "u");
    json_decref(ok);
}

/* An access record the schema refuses makes the command poison: a worker
 * never writes to psop.audit what the audit worker would skip. */
Test(envelope_parse, a_broken_access_record_is_poison)
{
    char *v5 = envelope(5);
    json_t *env = json_loads(v5, 0, NULL);
    free(v5);
    json_object_del(json_object_get(env, "access"), "status");
    char *s = json_dumps(env, JSON_COMPACT);
    struct envelope c;
    char err[256] = "";
    cr_expect_eq(envelope_parse(reg, 5, s, strlen(s), &c, err, sizeof(err)), -1, "accepted");
    cr_expect(strstr(err, "envelope invalid") != NULL, "%s", err);
    free(s);
    json_decref(env);
}
