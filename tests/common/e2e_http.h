/*
 * e2e_http.h - helpers of the end-to-end tests (tests/integration/e2e_*.c):
 * everything goes through the HTTP API of the running stack ($PSOP_API_URL,
 * HAProxy in front of the api replicas), commands with Prefer: wait=10.
 * Header-only, like harness.h (every test file is its own binary); builds
 * on api_testlib.h (raw HTTP client) and commands.h (unique ids, Y-tunnus,
 * IBANs).
 *
 *   struct e2e e;
 *   e2e_init(&e);
 *   char *admin = e2e_tok(&e, "admin", "e2e-admin", NULL, NULL, NULL);
 *   e2e_ok(&e, "PUT", "/v1/holidays/2026-05-14", admin, "{\"name\":\"Helatorstai\"}");
 *   char *why = e2e_rej(&e, "POST", path, token, body, "quota_exceeded:");
 *   e2e_fini(&e);                       // frees every string e2e_* made
 *
 * Failures name the request and the answer, so a report can quote them.
 */
#ifndef PSOP_TEST_E2E_HTTP_H
#define PSOP_TEST_E2E_HTTP_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_testlib.h"
#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "wire/jwt.h"
#include "core/xmalloc.h"

#define E2E_WAIT "Prefer: wait=10\r\n"
/* How long a test polls a read model for a change it expects, and how long
 * it waits for a verdict the 10 s of Prefer: wait did not bring (a loaded
 * machine; tl_await_verdict). Generous: a passing run never waits them out. */
#define E2E_POLL_S 30.0
#define E2E_VERDICT_S 60.0

struct e2e {
    int port;
    char **owned; /* strings freed by e2e_fini */
    size_t n_owned, cap_owned;
};

/* Keeps s until e2e_fini; returns it. */
static inline char *e2e_keep(struct e2e *e, char *s)
{
    if (e->n_owned == e->cap_owned) {
        e->cap_owned = e->cap_owned ? e->cap_owned * 2 : 64;
        e->owned = xrealloc(e->owned, e->cap_owned * sizeof(*e->owned));
    }
    e->owned[e->n_owned++] = s;
    return s;
}

/* printf into a string kept until e2e_fini. */
static inline char *e2e_fmt(struct e2e *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline char *e2e_fmt(struct e2e *e, const char *fmt, ...)
{
    char *s;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return e2e_keep(e, s);
}

static inline void e2e_init(struct e2e *e)
{
    memset(e, 0, sizeof(*e));
    const char *url = getenv("PSOP_API_URL");
    cr_assert(url && *url, "PSOP_API_URL is not set: source .run/stack.env");
    const char *colon = strrchr(url, ':');
    cr_assert_not_null(colon, "PSOP_API_URL %s has no port", url);
    e->port = atoi(colon + 1);
    cr_assert_gt(e->port, 0, "PSOP_API_URL %s", url);
}

static inline void e2e_fini(struct e2e *e)
{
    for (size_t i = 0; i < e->n_owned; i++)
        free(e->owned[i]);
    free(e->owned);
    memset(e, 0, sizeof(*e));
}

/* A token signed with the stack's configured secret (jwt_token_mint), kept
 * until e2e_fini. role admin|organiser|provider|client. */
static inline char *e2e_tok(struct e2e *e, const char *role, const char *sub, const char *org,
                            const char *provider, const char *client)
{
    char *out = NULL, err[256];
    cr_assert_eq(
        jwt_token_mint(h_config(), role, sub, org, provider, client, 3600, &out, err, sizeof(err)),
        0, "token: %s", err);
    return e2e_keep(e, out);
}

/* A fresh UUIDv7 kept until e2e_fini. */
static inline char *e2e_uuid(struct e2e *e)
{
    char *u = xmalloc(UUID_STR_LEN);
    tc_uuid(u);
    return e2e_keep(e, u);
}

/* prefix + 10 lower-case letters/digits, unique per run (codes, client ids). */
static inline char *e2e_code(struct e2e *e, const char *prefix)
{
    char tail[11];
    tc_alnum(tail, 10);
    for (char *p = tail; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    return e2e_fmt(e, "%s%s", prefix, tail);
}

static inline const char *e2e_str(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static inline long long e2e_int(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    cr_expect(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

/* A JSON number as hundredths (2.5 -> 250), -1 when absent. */
static inline long e2e_h(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v) * 100.0;
    return (long)(d < 0 ? d - 0.5 : d + 0.5);
}

static inline char *e2e_dump(struct e2e *e, const json_t *j)
{
    return e2e_keep(e, j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("(no JSON)"));
}

/* One request; the answer's status in *status and its body kept in *body
 * (both may be NULL). Returns the parsed JSON (new reference, may be NULL).
 * Fails the test on a transport error. */
static inline json_t *e2e_call(struct e2e *e, const char *method, const char *path,
                               const char *token, const char *body, const char *extra, int *status,
                               char **raw)
{
    struct tl_resp r;
    cr_assert_eq(
        tl_request(e->port, method, path, token, body ? "application/json" : NULL, body, extra, &r),
        0, "%s %s: no answer from the api", method, path);
    if (extra && strstr(extra, "Prefer: wait="))
        tl_await_verdict(e->port, token, &r, E2E_VERDICT_S);
    if (status)
        *status = r.status;
    if (raw)
        *raw = e2e_keep(e, xstrdup(r.body ? r.body : ""));
    json_t *j = json_incref(r.json);
    tl_resp_free(&r);
    return j;
}

/* A command with Prefer: wait=10 that must be applied: 200 with status
 * "applied". Returns the command status document (new reference). */
static inline json_t *e2e_ok_j(struct e2e *e, const char *method, const char *path,
                               const char *token, const char *body)
{
    int st;
    char *raw;
    json_t *j = e2e_call(e, method, path, token, body, E2E_WAIT, &st, &raw);
    cr_assert_eq(st, 200, "%s %s %s\n  -> %d %s", method, path, body ? body : "", st, raw);
    cr_assert_str_eq(e2e_str(j, "status"), "applied", "%s %s %s\n  -> %d %s", method, path,
                     body ? body : "", st, raw);
    return j;
}

static inline void e2e_ok(struct e2e *e, const char *method, const char *path, const char *token,
                          const char *body)
{
    json_decref(e2e_ok_j(e, method, path, token, body));
}

/* A command with Prefer: wait=10 that the workers must reject: 422 of type
 * "rejected" whose detail starts with prefix. Non-fatal (cr_expect), so
 * every rule is reported. Returns the detail (kept until e2e_fini; "" when
 * the answer was not a rejection). */
static inline const char *e2e_rej(struct e2e *e, const char *method, const char *path,
                                  const char *token, const char *body, const char *prefix)
{
    int st;
    char *raw;
    json_t *j = e2e_call(e, method, path, token, body, E2E_WAIT, &st, &raw);
    const char *detail = e2e_fmt(e, "%s", e2e_str(j, "detail"));
    cr_expect_eq(st, 422, "expected a rejection \"%s\":\n  %s %s %s\n  -> %d %s", prefix, method,
                 path, body ? body : "", st, raw);
    if (st == 422) {
        cr_expect_str_eq(e2e_str(j, "type"), "https://psop.fi/problems/rejected",
                         "%s %s %s\n  -> %s", method, path, body ? body : "", raw);
        cr_expect(strncmp(detail, prefix, strlen(prefix)) == 0,
                  "expected reason \"%s...\":\n  %s %s %s\n  -> %d %s", prefix, method, path,
                  body ? body : "", st, raw);
    }
    json_decref(j);
    return detail;
}

/* A request the front itself must refuse with status (401, 403, 404, ...),
 * nothing published. Non-fatal. */
static inline void e2e_status(struct e2e *e, const char *method, const char *path,
                              const char *token, const char *body, int want, const char *why)
{
    int st;
    char *raw;
    json_decref(e2e_call(e, method, path, token, body, E2E_WAIT, &st, &raw));
    cr_expect_eq(st, want, "%s: %s %s %s\n  -> %d %s (expected %d)", why, method, path,
                 body ? body : "", st, raw, want);
}

/* GET path that must answer 200; returns the document (new reference). */
static inline json_t *e2e_get(struct e2e *e, const char *path, const char *token)
{
    int st;
    char *raw;
    json_t *j = e2e_call(e, "GET", path, token, NULL, NULL, &st, &raw);
    cr_assert_eq(st, 200, "GET %s -> %d %s", path, st, raw);
    return j;
}

/* GETs path until ready(doc, arg) holds or E2E_POLL_S pass: the workers
 * announce a verdict (ending Prefer: wait) just before they refresh the read
 * models, so a read right after a 200 may still be one version behind.
 * Returns the last document (new reference); the caller asserts on it. */
static inline json_t *e2e_get_until(struct e2e *e, const char *path, const char *token,
                                    bool (*ready)(const json_t *doc, const void *arg),
                                    const void *arg)
{
    double until = h_now() + E2E_POLL_S;
    json_t *j = NULL;
    for (;;) {
        int st;
        json_decref(j);
        j = e2e_call(e, "GET", path, token, NULL, NULL, &st, NULL);
        if (st == 200 && ready(j, arg))
            return j;
        if (h_now() > until)
            return j;
        h_sleep_ms(100);
    }
}

/* ready(): the document's "version" is at least *(long long *)arg. */
static inline bool e2e_version_at_least(const json_t *doc, const void *arg)
{
    return json_integer_value(json_object_get(doc, "version")) >= *(const long long *)arg;
}

/* The element of array arr whose field key equals value, or NULL. */
static inline json_t *e2e_find(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (strcmp(e2e_str(x, key), value) == 0)
            return x;
    }
    return NULL;
}

/* Creates organiser org (name, a fresh Y-tunnus, IBAN and invoice prefix,
 * settlement day 5, auto_approve_days) as admin; the command must apply. */
static inline void e2e_organiser(struct e2e *e, const char *admin, const char *org,
                                 const char *name, int auto_approve_days)
{
    char yt[10], iban[19], prefix[11];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = name[0] >= 'A' && name[0] <= 'Z' ? name[0] : 'K';
    tc_alnum(prefix + 1, 9);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/organisers/%s", org), admin,
           e2e_fmt(e,
                   "{\"name\":\"%s\",\"business_id\":\"%s\",\"iban\":\"%s\","
                   "\"invoice_prefix\":\"%s\",\"settlement_day\":5,\"auto_approve_days\":%d}",
                   name, yt, iban, prefix, auto_approve_days));
}

/* "status:reason" of command id once a worker decided it (psop.processed_commands),
 * or "" after seconds. Kept until e2e_fini. */
static inline char *e2e_verdict(struct e2e *e, PGconn *pg, const char *id, double seconds)
{
    double until = h_now() + seconds;
    for (;;) {
        char *st = h_pg_value(pg,
                              "SELECT coalesce((SELECT status || ':' || coalesce(reason, '') FROM "
                              "psop.processed_commands WHERE command_id = '%s'), '')",
                              id);
        char *out = e2e_fmt(e, "%s", st);
        free(st);
        if (out[0] || h_now() > until)
            return out;
        h_sleep_ms(50);
    }
}

/* The start of every e2e world: e2e_init, a PostgreSQL connection, and a
 * new organiser named name (created by an admin, auto approval off) with
 * its case worker's token (sub worker). Strings kept until e2e_fini. */
static inline void e2e_start(struct e2e *e, PGconn **pg, char **org, char **admin, char **orga,
                             const char *name, const char *worker)
{
    e2e_init(e);
    *pg = h_pg();
    *org = e2e_uuid(e);
    *admin = e2e_tok(e, "admin", "e2e-admin", NULL, NULL, NULL);
    *orga = e2e_tok(e, "organiser", worker, *org, NULL, NULL);
    e2e_organiser(e, *admin, *org, name, 0);
}

/* A provider registered through the API with its own token (an ERP's):
 * *id and *token, kept until e2e_fini. */
static inline void e2e_provider(struct e2e *e, char **id, char **token, const char *name)
{
    *id = e2e_uuid(e);
    *token = e2e_tok(e, "provider", e2e_fmt(e, "erp-%s", *id + 24), NULL, *id, NULL);
    char yt[10], iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    json_t *s = e2e_ok_j(e, "POST", "/v1/providers", *token,
                         e2e_fmt(e,
                                 "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"%s %s Oy\","
                                 "\"iban\":\"%s\",\"email\":\"laskutus@example.fi\"}",
                                 *id, yt, name, *id + 28, iban));
    cr_expect_str_eq(e2e_str(s, "resource_id"), *id);
    json_decref(s);
}

/* Today (Helsinki) + days as YYYY-MM-DD, kept until e2e_fini. */
static inline char *e2e_day(struct e2e *e, int days)
{
    char d[11];
    date_format(date_today_helsinki() + days, d);
    return e2e_fmt(e, "%s", d);
}

#endif
