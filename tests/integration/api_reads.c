/*
 * Integration tests of the api's read routes and Prefer: wait, on the real
 * stack: the running api replicas behind HAProxy ($PSOP_API_URL), the
 * reference and provider workers, PostgreSQL and Redis (source
 * .run/stack.env). Every test creates its own organiser, service type and
 * provider through the API, so tests run again and again on the same
 * stack. Redis keys are removed with DEL, one by one (others share this
 * Redis). The last tests start their own psop-api on a private port with
 * Redis (and PostgreSQL) pointing at a closed port.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api_testlib.h"
#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "store/rds.h"

/* ------------------------------------------------------------- helpers */

/* A token signed with the stack's secret. Caller frees. */
static char *tok(const char *role, const char *sub, const char *org, const char *provider,
                 const char *client)
{
    char *out = NULL, err[256];
    cr_assert_eq(jwt_token_mint_at(h_config(), role, sub, org, provider, client, 600, time(NULL),
                                   &out, err, sizeof(err)),
                 0, "token: %s", err);
    return out;
}

/* One request; fails the test on a transport error. The answer's JSON is
 * returned (new reference, may be NULL) and its status in *status. */
static json_t *call_h(int port, const char *method, const char *path, const char *token,
                      const char *body, const char *extra, int *status, struct tl_resp *keep)
{
    struct tl_resp r;
    cr_assert_eq(
        tl_request(port, method, path, token, body ? "application/json" : NULL, body, extra, &r), 0,
        "%s %s: no answer", method, path);
    *status = r.status;
    json_t *j = json_incref(r.json);
    if (keep)
        *keep = r;
    else
        tl_resp_free(&r);
    return j;
}

static json_t *call(int port, const char *method, const char *path, const char *token,
                    const char *body, const char *extra, int *status)
{
    return call_h(port, method, path, token, body, extra, status, NULL);
}

#define WAIT10 "Prefer: wait=10\r\n"

/* A command with Prefer: wait=10 that must be applied: returns the status
 * document (new reference). */
static json_t *applied(int port, const char *method, const char *path, const char *token,
                       const char *body)
{
    int st;
    struct tl_resp r;
    json_decref(call_h(port, method, path, token, body, WAIT10, &st, &r));
    tl_await_verdict(port, token, &r, 60); /* a loaded machine: 202 after the 10 s */
    st = r.status;
    json_t *j = json_incref(r.json);
    tl_resp_free(&r);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    cr_assert_eq(st, 200, "%s %s: %d %s", method, path, st, s ? s : "");
    free(s);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "applied");
    return j;
}

static const char *jstr(const json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "";
}

static char *dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("(null)");
}

static void expect_same(const json_t *a, const json_t *b, const char *what)
{
    char *sa = dump(a), *sb = dump(b);
    cr_expect(json_equal((json_t *)a, (json_t *)b), "%s differs:\n%s\n%s", what, sa, sb);
    free(sa);
    free(sb);
}

static void redis_cmd(const char *fmt, const char *arg, long long *integer)
{
    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    redisReply *rep = rds_command(r, fmt, arg);
    cr_assert_not_null(rep);
    if (integer)
        *integer = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    rds_free(r);
}

static long long redis_exists(const char *key)
{
    long long n;
    redis_cmd("EXISTS %s", key, &n);
    return n;
}

static void redis_del(const char *key)
{
    redis_cmd("DEL %s", key, NULL);
}

struct world;
static json_t *get_provider_current(const struct world *w, int port, const char *token, int *st);
static json_t *get_public(const struct world *w, int port, int *st);

/* An organiser, a service type and a provider approved for them from
 * 2020-01-01 with a price, all created through the API with Prefer: wait. */
struct world {
    int port;
    char org[UUID_STR_LEN], prov[UUID_STR_LEN], other_prov[UUID_STR_LEN];
    char st[32], yt[10], iban[19], name[64];
    char *admin, *organiser, *provider, *other_provider, *client;
    char register_cmd[UUID_STR_LEN];
};

/* POST /v1/providers/{prov}/<what> as token, for the world's organiser and
 * service type and the rest of the body (more_json: members without braces),
 * applied. */
static void provider_command(struct world *w, const char *what, const char *token,
                             const char *more_json)
{
    char path[160], body[1024];
    snprintf(path, sizeof(path), "/v1/providers/%s/%s", w->prov, what);
    snprintf(body, sizeof(body), "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",%s}", w->org,
             w->st, more_json);
    json_decref(applied(w->port, "POST", path, token, body));
}

/* psopctl cache rebuild, which must succeed. */
static void cache_rebuild(void)
{
    char *cmd = xasprintf("%s/tools/psopctl cache rebuild >/tmp/api_reads_rebuild_%d.log 2>&1",
                          PSOP_BINARY_DIR, (int)getpid());
    cr_expect_eq(system(cmd), 0, "%s", cmd);
    free(cmd);
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    w->port = h_api_port();
    tc_uuid(w->org);
    tc_uuid(w->prov);
    tc_uuid(w->other_prov);
    char tail[16];
    tc_alnum(tail, 8);
    for (char *p = tail; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(w->st, sizeof(w->st), "trd_%s", tail);
    snprintf(w->name, sizeof(w->name), "Lukutesti %s Oy", tail);
    char sub[64];
    snprintf(sub, sizeof(sub), "reads-admin-%d", (int)getpid());
    w->admin = tok("admin", sub, NULL, NULL, NULL);
    snprintf(sub, sizeof(sub), "reads-org-%d", (int)getpid());
    w->organiser = tok("organiser", sub, w->org, NULL, NULL);
    snprintf(sub, sizeof(sub), "reads-prov-%d", (int)getpid());
    w->provider = tok("provider", sub, NULL, w->prov, NULL);
    snprintf(sub, sizeof(sub), "reads-prov2-%d", (int)getpid());
    w->other_provider = tok("provider", sub, NULL, w->other_prov, NULL);
    w->client = tok("client", "reads-client", w->org, NULL, "asiakas-1");

    char yt[10], iban[19], prefix[11], path[160], body[1024];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = 'R';
    tc_alnum(prefix + 1, 9);
    snprintf(path, sizeof(path), "/v1/organisers/%s", w->org);
    snprintf(body, sizeof(body),
             "{\"name\":\"Lukukunta\",\"business_id\":\"%s\",\"iban\":\"%s\","
             "\"invoice_prefix\":\"%s\",\"settlement_day\":5,\"auto_approve_days\":14}",
             yt, iban, prefix);
    json_decref(applied(w->port, "PUT", path, w->admin, body));

    snprintf(path, sizeof(path), "/v1/service-types/%s", w->st);
    json_decref(applied(w->port, "PUT", path, w->admin,
                        "{\"name\":\"Lukupalvelu\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
                        "\"client_share_allowed\":true}"));

    tc_ytunnus(w->yt);
    tc_iban_fi(w->iban);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"%s\",\"iban\":\"%s\","
             "\"email\":\"laskut@example.fi\"}",
             w->prov, w->yt, w->name, w->iban);
    json_t *reg = applied(w->port, "POST", "/v1/providers", w->provider, body);
    cr_expect_str_eq(jstr(reg, "type"), "provider.register");
    cr_expect_str_eq(jstr(reg, "resource_id"), w->prov);
    snprintf(w->register_cmd, sizeof(w->register_cmd), "%s", jstr(reg, "command_id"));
    json_decref(reg);

    provider_command(w, "applications", w->provider, "\"rulebook_version\":\"2026-1\"");
    provider_command(w, "decisions", w->organiser,
                     "\"decision\":\"approved\",\"valid_from\":\"2020-01-01\"");
    provider_command(w, "prices", w->provider,
                     "\"valid_from\":\"2020-01-01\",\"price_cents\":3300");
    int st;
    json_decref(get_provider_current(w, w->port, w->admin, &st));
    for (int i = 0; i < 300; i++) { /* the same for the public list */
        json_t *l = get_public(w, w->port, &st);
        json_t *price =
            json_object_get(json_array_get(json_object_get(l, "providers"), 0), "price");
        bool current = json_is_object(price);
        json_decref(l);
        if (current)
            break;
        h_sleep_ms(100);
    }
}

static void world_free(struct world *w)
{
    free(w->admin);
    free(w->organiser);
    free(w->provider);
    free(w->other_provider);
    free(w->client);
}

static json_t *get_provider(const struct world *w, int port, const char *token, int *st)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/providers/%s", w->prov);
    return call(port, "GET", path, token, NULL, NULL, st);
}

/* The provider document once it shows every command of world_init.
 * Polled: the workers announce a verdict (ending Prefer: wait) before they
 * refresh the read models it touched (workers/worker.c), so a read right
 * after the 200 may still see the previous version for a moment. */
static json_t *get_provider_current(const struct world *w, int port, const char *token, int *st)
{
    json_t *p = NULL;
    for (int i = 0; i < 300; i++) {
        json_decref(p);
        p = get_provider(w, port, token, st);
        if (*st != 200 || json_integer_value(json_object_get(p, "version")) >= 4)
            break;
        h_sleep_ms(100);
    }
    return p;
}

static json_t *get_public(const struct world *w, int port, int *st)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/public/providers?organiser_id=%s&service_type=%s", w->org,
             w->st);
    return call(port, "GET", path, NULL, NULL, NULL, st);
}

static json_t *get_command(int port, const char *id, const char *token, int *st)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/commands/%s", id);
    return call(port, "GET", path, token, NULL, NULL, st);
}

static void expect_provider_doc(const struct world *w, const json_t *p)
{
    cr_assert_not_null(p);
    cr_expect_str_eq(jstr(p, "id"), w->prov);
    cr_expect_str_eq(jstr(p, "business_id"), w->yt);
    cr_expect_str_eq(jstr(p, "name"), w->name);
    cr_expect_str_eq(jstr(p, "iban"), w->iban);
    cr_expect_str_eq(jstr(p, "email"), "laskut@example.fi");
    cr_expect_eq(json_integer_value(json_object_get(p, "version")), 4);
    const json_t *app = json_array_get(json_object_get(p, "applications"), 0);
    cr_expect_eq(json_array_size(json_object_get(p, "applications")), 1);
    cr_expect_str_eq(jstr(app, "organiser_id"), w->org);
    cr_expect_str_eq(jstr(app, "service_type"), w->st);
    cr_expect_str_eq(jstr(app, "rulebook_version"), "2026-1");
    const json_t *dec = json_array_get(json_object_get(app, "decisions"), 0);
    cr_expect_str_eq(jstr(dec, "decision"), "approved");
    cr_expect_str_eq(jstr(dec, "valid_from"), "2020-01-01");
    const json_t *ap = json_array_get(json_object_get(p, "approvals"), 0);
    cr_expect_str_eq(jstr(ap, "status"), "approved");
    cr_expect_str_eq(jstr(ap, "valid_from"), "2020-01-01");
    cr_expect(json_is_false(json_object_get(ap, "application_pending")));
    cr_expect_eq(json_array_size(json_object_get(p, "suspensions")), 0);
    const json_t *pr = json_array_get(json_object_get(p, "prices"), 0);
    const json_t *h = json_array_get(json_object_get(pr, "history"), 0);
    cr_expect_eq(json_integer_value(json_object_get(h, "price_cents")), 3300);
    cr_expect_str_eq(jstr(h, "valid_from"), "2020-01-01");
}

static void expect_public_doc(const struct world *w, const json_t *l)
{
    char today[11];
    date_format(date_today_helsinki(), today);
    cr_assert_not_null(l);
    cr_expect_str_eq(jstr(l, "organiser_id"), w->org);
    cr_expect_str_eq(jstr(l, "service_type"), w->st);
    cr_expect_str_eq(jstr(l, "unit"), "hour");
    cr_expect_str_eq(jstr(l, "date"), today);
    const json_t *ps = json_object_get(l, "providers");
    cr_assert_eq(json_array_size(ps), 1);
    const json_t *p = json_array_get(ps, 0);
    cr_expect_str_eq(jstr(p, "provider_id"), w->prov);
    cr_expect_str_eq(jstr(p, "name"), w->name);
    cr_expect_str_eq(jstr(p, "business_id"), w->yt);
    cr_expect_str_eq(jstr(p, "approved_from"), "2020-01-01");
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(p, "price"), "price_cents")),
                 3300);
}

/* The same status document, applied_at close (the worker stamps its Redis
 * copy after COMMIT, PostgreSQL at the transaction's start: a batch apart,
 * seconds on a loaded machine). */
static void expect_same_status(const json_t *a, const json_t *b)
{
    json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
    cr_expect(json_is_string(json_object_get(x, "applied_at")));
    cr_expect(json_is_string(json_object_get(y, "applied_at")));
    struct tm ta = {0}, tb = {0};
    strptime(jstr(x, "applied_at"), "%Y-%m-%dT%H:%M:%SZ", &ta);
    strptime(jstr(y, "applied_at"), "%Y-%m-%dT%H:%M:%SZ", &tb);
    double d = difftime(timegm(&ta), timegm(&tb));
    cr_expect(d >= -30 && d <= 30, "applied_at %s vs %s", jstr(x, "applied_at"),
              jstr(y, "applied_at"));
    json_object_del(x, "applied_at");
    json_object_del(y, "applied_at");
    expect_same(x, y, "command status");
    json_decref(x);
    json_decref(y);
}

/* --------------------------------------------------------------- tests */

Test(api_reads, created_with_wait_and_read_back)
{
    struct world w;
    world_init(&w);
    int st;
    json_t *p = get_provider(&w, w.port, w.provider, &st);
    cr_assert_eq(st, 200);
    expect_provider_doc(&w, p);
    json_t *l = get_public(&w, w.port, &st);
    cr_assert_eq(st, 200);
    expect_public_doc(&w, l);

    /* The status of the registration, for its issuer. */
    json_t *c = get_command(w.port, w.register_cmd, w.provider, &st);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(jstr(c, "command_id"), w.register_cmd);
    cr_expect_str_eq(jstr(c, "type"), "provider.register");
    cr_expect_str_eq(jstr(c, "status"), "applied");
    cr_expect_str_eq(jstr(c, "resource_id"), w.prov);
    cr_expect(json_is_string(json_object_get(c, "applied_at")));
    cr_expect_null(json_object_get(c, "actor_sub"));
    cr_expect_null(json_object_get(c, "reason"));
    json_decref(c);
    json_decref(p);
    json_decref(l);
    world_free(&w);
}

Test(api_reads, rejected_command_is_422_with_the_reason)
{
    struct world w;
    world_init(&w);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"Toinen\",\"iban\":\"%s\"}", w.prov,
             w.yt, w.iban);
    int st;
    struct tl_resp r;
    json_t *j = call_h(w.port, "POST", "/v1/providers", w.provider, body, WAIT10, &st, &r);
    cr_assert_eq(st, 422, "%s", r.body);
    char ct[64];
    cr_expect(tl_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_expect_str_eq(ct, "application/problem+json");
    tl_resp_free(&r);
    cr_expect_str_eq(jstr(j, "type"), "https://psop.fi/problems/rejected");
    cr_expect_str_eq(jstr(j, "title"), "Unprocessable Content");
    cr_expect_eq(json_integer_value(json_object_get(j, "status")), 422);
    cr_expect(strncmp(jstr(j, "detail"), "already_registered", 18) == 0, "%s", jstr(j, "detail"));
    const char *cid = jstr(j, "command_id");
    cr_assert(ids_uuid_valid(cid));

    json_t *c = get_command(w.port, cid, w.provider, &st);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(jstr(c, "status"), "rejected");
    cr_expect_str_eq(jstr(c, "reason"), jstr(j, "detail"));
    cr_expect_str_eq(jstr(c, "type"), "provider.register");
    json_decref(c);

    /* The tests' fallback when a loaded machine answers 202 after the wait
     * (tl_await_verdict): the same rejection, found by polling the command;
     * and an applied one. Without Prefer: wait the answer is always 202. */
    cr_assert_eq(
        tl_request(w.port, "POST", "/v1/providers", w.provider, "application/json", body, NULL, &r),
        0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    tl_await_verdict(w.port, w.provider, &r, 60);
    cr_expect_eq(r.status, 422, "%s", r.body);
    cr_expect_str_eq(jstr(r.json, "type"), "https://psop.fi/problems/rejected");
    cr_expect_str_eq(jstr(r.json, "detail"), jstr(j, "detail"));
    tl_resp_free(&r);
    cr_assert_eq(tl_request(w.port, "PUT", "/v1/holidays/2095-12-26", w.admin, "application/json",
                            "{\"name\":\"Tapaninpäivä\"}", NULL, &r),
                 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    tl_await_verdict(w.port, w.admin, &r, 60);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(jstr(r.json, "status"), "applied");
    cr_expect_str_eq(jstr(r.json, "type"), "holiday.upsert");
    tl_resp_free(&r);
    json_decref(j);
    world_free(&w);
}

Test(api_reads, authorisation_of_each_read)
{
    struct world w;
    world_init(&w);
    int st;
    json_decref(get_provider(&w, w.port, w.other_provider, &st));
    cr_expect_eq(st, 403, "another provider");
    json_decref(get_provider(&w, w.port, w.client, &st));
    cr_expect_eq(st, 403, "a client");
    json_decref(get_provider(&w, w.port, NULL, &st));
    cr_expect_eq(st, 401, "no token");
    char *other_org =
        tok("organiser", "reads-other-org", "0195d000-0000-7000-8000-0000000000ff", NULL, NULL);
    json_t *p = get_provider(&w, w.port, other_org, &st);
    cr_expect_eq(st, 200, "any organiser");
    json_decref(p);
    p = get_provider(&w, w.port, w.admin, &st);
    cr_expect_eq(st, 200, "admin");
    expect_provider_doc(&w, p);
    json_decref(p);

    /* The public list needs no token. */
    json_t *l = get_public(&w, w.port, &st);
    cr_expect_eq(st, 200);
    json_decref(l);

    /* A command is its issuer's: another principal, even of the same role,
     * does not see it. */
    json_decref(get_command(w.port, w.register_cmd, w.other_provider, &st));
    cr_expect_eq(st, 404);
    json_decref(get_command(w.port, w.register_cmd, other_org, &st));
    cr_expect_eq(st, 404);
    json_decref(get_command(w.port, w.register_cmd, NULL, &st));
    cr_expect_eq(st, 401);
    json_t *c = get_command(w.port, w.register_cmd, w.admin, &st);
    cr_expect_eq(st, 200, "admin");
    json_decref(c);

    /* Unknown resources and bad queries. */
    char path[256];
    char unknown[UUID_STR_LEN];
    tc_uuid(unknown);
    json_t *j = get_command(w.port, unknown, w.admin, &st);
    cr_expect_eq(st, 404);
    cr_expect_str_eq(jstr(j, "type"), "https://psop.fi/problems/not-found");
    json_decref(j);
    json_decref(get_command(w.port, "not-a-uuid", w.admin, &st));
    cr_expect_eq(st, 404);
    snprintf(path, sizeof(path), "/v1/providers/%s", unknown);
    json_decref(call(w.port, "GET", path, w.admin, NULL, NULL, &st));
    cr_expect_eq(st, 404);
    snprintf(path, sizeof(path), "/v1/public/providers?organiser_id=%s&service_type=%s", unknown,
             w.st);
    json_decref(call(w.port, "GET", path, NULL, NULL, NULL, &st));
    cr_expect_eq(st, 404);
    snprintf(path, sizeof(path), "/v1/public/providers?organiser_id=nope&service_type=%s", w.st);
    j = call(w.port, "GET", path, NULL, NULL, NULL, &st);
    cr_expect_eq(st, 422);
    cr_expect_str_eq(jstr(json_array_get(json_object_get(j, "errors"), 0), "path"),
                     "?organiser_id");
    json_decref(j);
    json_decref(call(w.port, "GET", "/v1/public/providers", NULL, NULL, NULL, &st));
    cr_expect_eq(st, 422);
    free(other_org);
    world_free(&w);
}

Test(api_reads, fallback_to_postgres_and_cache_rebuild)
{
    struct world w;
    world_init(&w);
    int st;
    json_t *p1 = get_provider(&w, w.port, w.provider, &st);
    cr_assert_eq(st, 200);
    json_t *l1 = get_public(&w, w.port, &st);
    cr_assert_eq(st, 200);
    json_t *c1 = get_command(w.port, w.register_cmd, w.provider, &st);
    cr_assert_eq(st, 200);

    char kp[128], kl[192], kc[128];
    snprintf(kp, sizeof(kp), "psop:provider:%s", w.prov);
    snprintf(kl, sizeof(kl), "psop:public:%s:%s", w.org, w.st);
    snprintf(kc, sizeof(kc), "psop:cmd:%s", w.register_cmd);
    cr_assert_eq(redis_exists(kp), 1);
    cr_assert_eq(redis_exists(kl), 1);
    cr_assert_eq(redis_exists(kc), 1);
    redis_del(kp);
    redis_del(kl);
    redis_del(kc);

    /* From PostgreSQL: the same documents, and the api writes nothing back. */
    json_t *p2 = get_provider(&w, w.port, w.provider, &st);
    cr_expect_eq(st, 200);
    expect_same(p1, p2, "provider");
    json_t *l2 = get_public(&w, w.port, &st);
    cr_expect_eq(st, 200);
    expect_same(l1, l2, "public list");
    json_t *c2 = get_command(w.port, w.register_cmd, w.provider, &st);
    cr_expect_eq(st, 200);
    expect_same_status(c1, c2);
    cr_expect_eq(redis_exists(kp), 0);
    cr_expect_eq(redis_exists(kl), 0);

    /* psopctl cache rebuild puts them back. */
    cache_rebuild();
    cr_expect_eq(redis_exists(kp), 1);
    cr_expect_eq(redis_exists(kl), 1);
    cr_expect_eq(redis_exists(kc), 1);
    json_t *p3 = get_provider(&w, w.port, w.provider, &st);
    expect_same(p1, p3, "provider after rebuild");
    json_t *l3 = get_public(&w, w.port, &st);
    expect_same(l1, l3, "public list after rebuild");
    json_t *c3 = get_command(w.port, w.register_cmd, w.provider, &st);
    expect_same_status(c1, c3);

    json_t *docs[] = {p1, p2, p3, l1, l2, l3, c1, c2, c3};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
        json_decref(docs[i]);
    world_free(&w);
}

Test(api_reads, command_status_accepted_then_applied)
{
    int port = h_api_port();
    char sub[64];
    snprintf(sub, sizeof(sub), "reads-status-%d", (int)getpid());
    char *admin = tok("admin", sub, NULL, NULL, NULL);
    int st;
    /* No wait: 202, and a status exists at once (accepted, or already the
     * verdict when the worker was quicker than this GET). */
    json_t *a = call(port, "PUT", "/v1/holidays/2091-06-20", admin, "{\"name\":\"Juhannusaatto\"}",
                     NULL, &st);
    cr_assert_eq(st, 202);
    const char *cid = jstr(a, "command_id");
    char key[96];
    snprintf(key, sizeof(key), "psop:cmd:%s", cid);
    cr_expect_eq(redis_exists(key), 1, "the status was written before the 202");
    json_t *c = get_command(port, cid, admin, &st);
    cr_assert_eq(st, 200);
    const char *s = jstr(c, "status");
    cr_expect(strcmp(s, "accepted") == 0 || strcmp(s, "applied") == 0, "%s", s);
    cr_expect_str_eq(jstr(c, "type"), "holiday.upsert");
    cr_expect_str_eq(jstr(c, "resource_id"), "2091-06-20");
    cr_expect_null(json_object_get(c, "actor_sub"));
    if (strcmp(s, "accepted") == 0)
        cr_expect_null(json_object_get(c, "applied_at"));
    json_decref(c);
    for (int i = 0; i < 600; i++) {
        c = get_command(port, cid, admin, &st);
        bool done = strcmp(jstr(c, "status"), "applied") == 0;
        if (!done)
            json_decref(c);
        if (done)
            break;
        c = NULL;
        h_sleep_ms(100);
    }
    cr_assert_not_null(c, "never applied");
    cr_expect(json_is_string(json_object_get(c, "applied_at")));
    json_decref(c);
    json_decref(a);
    free(admin);
}

Test(api_reads, batch_waits_for_every_command)
{
    int port = h_api_port();
    char *admin = tok("admin", "reads-batch", NULL, NULL, NULL);
    char org[UUID_STR_LEN], yt[10], iban[19], prefix[11], body[2048];
    tc_uuid(org);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = 'B';
    tc_alnum(prefix + 1, 9);
    /* Two holidays and an organiser whose Y-tunnus the first organiser
     * already took: two applied, one rejected. */
    char org2[UUID_STR_LEN];
    tc_uuid(org2);
    snprintf(
        body, sizeof(body),
        "{\"commands\":["
        "{\"type\":\"holiday.upsert\",\"data\":{\"date\":\"2092-01-01\",\"name\":\"Uusivuosi\"}},"
        "{\"type\":\"organiser.upsert\",\"data\":{\"id\":\"%s\",\"name\":\"Eräkunta\","
        "\"business_id\":\"%s\",\"iban\":\"%s\",\"invoice_prefix\":\"%s\","
        "\"settlement_day\":1,\"auto_approve_days\":0}}]}",
        org, yt, iban, prefix);
    int st;
    json_t *j = call(port, "POST", "/v1/commands", admin, body, "Prefer: wait=99\r\n", &st);
    char *s = dump(j);
    cr_assert_eq(st, 200, "%s", s);
    free(s);
    json_t *cs = json_object_get(j, "commands");
    cr_assert_eq(json_array_size(cs), 2);
    cr_expect_str_eq(jstr(json_array_get(cs, 0), "type"), "holiday.upsert");
    cr_expect_str_eq(jstr(json_array_get(cs, 0), "status"), "applied");
    cr_expect_str_eq(jstr(json_array_get(cs, 1), "type"), "organiser.upsert");
    cr_expect_str_eq(jstr(json_array_get(cs, 1), "status"), "applied");
    json_decref(j);

    prefix[0] = 'C';
    snprintf(
        body, sizeof(body),
        "{\"commands\":["
        "{\"type\":\"holiday.upsert\",\"data\":{\"date\":\"2092-01-06\",\"name\":\"Loppiainen\"}},"
        "{\"type\":\"organiser.upsert\",\"data\":{\"id\":\"%s\",\"name\":\"Toinen\","
        "\"business_id\":\"%s\",\"iban\":\"%s\",\"invoice_prefix\":\"%s\","
        "\"settlement_day\":1,\"auto_approve_days\":0}}]}",
        org2, yt, iban, prefix);
    j = call(port, "POST", "/v1/commands", admin, body, WAIT10, &st);
    s = dump(j);
    cr_assert_eq(st, 200, "a batch answers 200 with rejections inside: %s", s);
    free(s);
    cs = json_object_get(j, "commands");
    cr_expect_str_eq(jstr(json_array_get(cs, 0), "status"), "applied");
    cr_expect_str_eq(jstr(json_array_get(cs, 1), "status"), "rejected");
    cr_expect(jstr(json_array_get(cs, 1), "reason")[0] != '\0');
    json_decref(j);
    free(admin);
}

Test(api_reads, idempotent_replay_waits_too)
{
    int port = h_api_port();
    char *admin = tok("admin", "reads-idem", NULL, NULL, NULL);
    char key[80], extra[160], u[UUID_STR_LEN];
    tc_uuid(u);
    snprintf(key, sizeof(key), "reads-%s", u);
    snprintf(extra, sizeof(extra), "Idempotency-Key: %s\r\n" WAIT10, key);
    int st;
    json_t *a =
        call(port, "PUT", "/v1/holidays/2093-05-01", admin, "{\"name\":\"Vappu\"}", extra, &st);
    cr_assert_eq(st, 200);
    struct tl_resp r;
    json_t *b = call_h(port, "PUT", "/v1/holidays/2093-05-01", admin, "{\"name\":\"Vappu\"}", extra,
                       &st, &r);
    cr_expect_eq(st, 200);
    char h[16];
    cr_expect(tl_header(&r, "Idempotent-Replayed", h, sizeof(h)));
    tl_resp_free(&r);
    expect_same(a, b, "replayed status");
    /* Without the wait the replay is the stored acceptance. */
    snprintf(extra, sizeof(extra), "Idempotency-Key: %s\r\n", key);
    json_t *c =
        call(port, "PUT", "/v1/holidays/2093-05-01", admin, "{\"name\":\"Vappu\"}", extra, &st);
    cr_expect_eq(st, 202);
    cr_expect_str_eq(jstr(c, "command_id"), jstr(a, "command_id"));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    free(admin);
}

/* A voucher of the world's organiser for a new client, its provider chosen
 * by the client, and one service event of 2 units this month. */
struct voucher {
    char id[UUID_STR_LEN], client[32], month[8], event[UUID_STR_LEN];
    char *client_tok, *other_client_tok;
};

static void voucher_init(struct world *w, struct voucher *v)
{
    memset(v, 0, sizeof(*v));
    tc_uuid(v->id);
    tc_uuid(v->event);
    char tail[12];
    tc_alnum(tail, 10);
    snprintf(v->client, sizeof(v->client), "as-%s", tail);
    v->client_tok = tok("client", v->client, w->org, NULL, v->client);
    v->other_client_tok = tok("client", "as-other", w->org, NULL, "as-other");
    day_t today = date_today_helsinki();
    char day[11];
    date_format(today, day);
    snprintf(v->month, sizeof(v->month), "%.7s", day);
    char body[1024], path[160];
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
             "\"service_type\":\"%s\",\"decision_number\":\"LT-1\","
             "\"valid_from\":\"2020-01-01\",\"monthly_quota\":20,\"unit_value_cents\":3000}",
             v->id, w->org, v->client, w->st);
    json_t *g = applied(w->port, "POST", "/v1/vouchers", w->organiser, body);
    cr_expect_str_eq(jstr(g, "resource_id"), v->id);
    json_decref(g);
    snprintf(path, sizeof(path), "/v1/vouchers/%s/provider", v->id);
    snprintf(body, sizeof(body), "{\"provider_id\":\"%s\"}", w->prov);
    json_decref(applied(w->port, "PUT", path, v->client_tok, body));
    snprintf(path, sizeof(path), "/v1/vouchers/%s/service-events", v->id);
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"date\":\"%s\",\"quantity\":2}", v->event, day);
    json_decref(applied(w->port, "POST", path, w->provider, body));
    /* The verdict is announced before the read models are refreshed
     * (see get_provider_current): wait for the event to show. */
    snprintf(path, sizeof(path), "/v1/vouchers/%s", v->id);
    for (int i = 0; i < 300; i++) {
        int st;
        json_t *j = call(w->port, "GET", path, w->organiser, NULL, NULL, &st);
        double used = json_number_value(json_object_get(j, "used_quantity"));
        json_decref(j);
        if (st == 200 && used > 1.99)
            break;
        h_sleep_ms(100);
    }
}

static void voucher_free(struct voucher *v)
{
    free(v->client_tok);
    free(v->other_client_tok);
}

static json_t *get_v(const struct world *w, const struct voucher *v, const char *suffix,
                     const char *token, int *st)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/vouchers/%s%s", v->id, suffix);
    return call(w->port, "GET", path, token, NULL, NULL, st);
}

Test(api_reads, voucher_reads_and_their_authorisation)
{
    struct world w;
    world_init(&w);
    struct voucher v;
    voucher_init(&w, &v);
    int st;

    json_t *j = get_v(&w, &v, "", w.organiser, &st);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(jstr(j, "id"), v.id);
    cr_expect_str_eq(jstr(j, "organiser_id"), w.org);
    cr_expect_str_eq(jstr(j, "client_id"), v.client);
    cr_expect_str_eq(jstr(j, "provider_id"), w.prov);
    cr_expect_str_eq(jstr(j, "month"), v.month);
    cr_expect_eq(json_integer_value(json_object_get(j, "unit_value_cents")), 3000);
    cr_expect_eq(json_number_value(json_object_get(j, "used_quantity")), 2.0);
    cr_expect_eq(json_number_value(json_object_get(j, "remaining_quantity")), 18.0);
    cr_expect_eq(json_integer_value(json_object_get(j, "voucher_used_cents")), 6000);
    cr_expect_null(json_object_get(j, "usage"));
    json_t *as_client = get_v(&w, &v, "", v.client_tok, &st);
    cr_expect_eq(st, 200, "its client");
    expect_same(j, as_client, "the client's voucher");
    json_t *as_provider = get_v(&w, &v, "", w.provider, &st);
    cr_expect_eq(st, 200, "its provider");
    expect_same(j, as_provider, "the provider's voucher");
    json_decref(as_client);
    json_decref(as_provider);

    /* Nobody else learns that it exists. */
    char *other_org =
        tok("organiser", "reads-other-org", "0195d000-0000-7000-8000-0000000000fe", NULL, NULL);
    json_decref(get_v(&w, &v, "", w.other_provider, &st));
    cr_expect_eq(st, 404, "another provider");
    json_decref(get_v(&w, &v, "", other_org, &st));
    cr_expect_eq(st, 404, "another organiser");
    json_decref(get_v(&w, &v, "", v.other_client_tok, &st));
    cr_expect_eq(st, 404, "another client");
    json_decref(get_v(&w, &v, "", w.admin, &st));
    cr_expect_eq(st, 403, "admin is not in the route's roles");

    /* Months. */
    json_t *old = get_v(&w, &v, "?month=2020-01", w.organiser, &st);
    cr_expect_eq(st, 200);
    cr_expect_str_eq(jstr(old, "month"), "2020-01");
    cr_expect_eq(json_number_value(json_object_get(old, "used_quantity")), 0.0);
    json_decref(old);
    json_t *bad = get_v(&w, &v, "?month=2020-13", w.organiser, &st);
    cr_expect_eq(st, 422);
    cr_expect_str_eq(jstr(json_array_get(json_object_get(bad, "errors"), 0), "path"), "?month");
    json_decref(bad);

    /* The client's list. */
    char path[256];
    snprintf(path, sizeof(path), "/v1/vouchers?client_id=%s", v.client);
    json_t *l = call(w.port, "GET", path, w.organiser, NULL, NULL, &st);
    cr_expect_eq(st, 200);
    cr_expect_str_eq(jstr(l, "client_id"), v.client);
    cr_assert_eq(json_array_size(json_object_get(l, "vouchers")), 1);
    expect_same(json_array_get(json_object_get(l, "vouchers"), 0), j, "the listed voucher");
    json_t *l2 = call(w.port, "GET", path, v.client_tok, NULL, NULL, &st);
    cr_expect_eq(st, 200, "the client itself");
    expect_same(l, l2, "the client's own list");
    json_decref(l2);
    json_decref(call(w.port, "GET", path, v.other_client_tok, NULL, NULL, &st));
    cr_expect_eq(st, 403, "another client's list");
    l2 = call(w.port, "GET", path, other_org, NULL, NULL, &st);
    cr_expect_eq(st, 200);
    cr_expect_eq(json_array_size(json_object_get(l2, "vouchers")), 0, "another org's list");
    json_decref(l2);
    json_decref(call(w.port, "GET", path, w.provider, NULL, NULL, &st));
    cr_expect_eq(st, 403, "providers do not list");
    json_decref(call(w.port, "GET", "/v1/vouchers", w.organiser, NULL, NULL, &st));
    cr_expect_eq(st, 422, "client_id is required");

    /* Providers for it, with the client's share. */
    json_t *pv = get_v(&w, &v, "/providers", v.client_tok, &st);
    cr_expect_eq(st, 200);
    const json_t *p0 = json_array_get(json_object_get(pv, "providers"), 0);
    cr_expect_str_eq(jstr(p0, "provider_id"), w.prov);
    cr_expect_eq(json_integer_value(json_object_get(p0, "unit_price_cents")), 3300);
    cr_expect_eq(json_integer_value(json_object_get(p0, "voucher_value_cents")), 3000);
    cr_expect_eq(json_integer_value(json_object_get(p0, "client_share_cents")), 300);
    json_decref(get_v(&w, &v, "/providers", w.provider, &st));
    cr_expect_eq(st, 403, "providers are not in the route's roles");
    json_decref(get_v(&w, &v, "/providers", v.other_client_tok, &st));
    cr_expect_eq(st, 404);

    /* Its service events. */
    json_t *ev = get_v(&w, &v, "/service-events", w.provider, &st);
    cr_expect_eq(st, 200);
    const json_t *e0 = json_array_get(json_object_get(ev, "events"), 0);
    cr_expect_str_eq(jstr(e0, "id"), v.event);
    cr_expect_eq(json_number_value(json_object_get(e0, "quantity")), 2.0);
    cr_expect_str_eq(jstr(e0, "state"), "recorded");
    json_t *ev2 = get_v(&w, &v, "/service-events", w.organiser, &st);
    cr_expect_eq(st, 200);
    expect_same(ev, ev2, "the organiser's events");
    json_decref(ev2);
    json_decref(get_v(&w, &v, "/service-events", v.client_tok, &st));
    cr_expect_eq(st, 403, "clients are not in the route's roles");
    json_decref(get_v(&w, &v, "/service-events", w.other_provider, &st));
    cr_expect_eq(st, 404);
    ev2 = get_v(&w, &v, "/service-events?month=2020-01", w.provider, &st);
    cr_expect_eq(st, 200);
    cr_expect_eq(json_array_size(json_object_get(ev2, "events")), 0);
    json_decref(ev2);

    /* Fallback: without the voucher's keys, the same answers. */
    char k1[96], k2[96];
    snprintf(k1, sizeof(k1), "psop:voucher:%s", v.id);
    snprintf(k2, sizeof(k2), "psop:voucher-events:%s", v.id);
    cr_expect_eq(redis_exists(k1), 1);
    cr_expect_eq(redis_exists(k2), 1);
    redis_del(k1);
    redis_del(k2);
    json_t *f = get_v(&w, &v, "", w.organiser, &st);
    expect_same(j, f, "voucher from PostgreSQL");
    json_decref(f);
    f = get_v(&w, &v, "/service-events", w.provider, &st);
    expect_same(ev, f, "events from PostgreSQL");
    json_decref(f);
    f = get_v(&w, &v, "/providers", v.client_tok, &st);
    expect_same(pv, f, "providers from PostgreSQL");
    json_decref(f);
    cache_rebuild();
    cr_expect_eq(redis_exists(k1), 1);
    cr_expect_eq(redis_exists(k2), 1);

    json_decref(j);
    json_decref(l);
    json_decref(pv);
    json_decref(ev);
    free(other_org);
    voucher_free(&v);
    world_free(&w);
}

/* ------------------------------------------- an api of our own, degraded */

static int closed_port(void)
{
    return tl_port(3); /* nothing listens there: the api below is on tl_port(1) */
}

static pid_t start_api(int port, const char *redis_url, const char *pg_dsn)
{
    static char e_redis[256], e_pg[512], e_secret[256], e_threads[32];
    snprintf(e_redis, sizeof(e_redis), "PSOP_REDIS_URL=%s", redis_url);
    snprintf(e_pg, sizeof(e_pg), "PSOP_PG_DSN=%s", pg_dsn);
    snprintf(e_secret, sizeof(e_secret), "PSOP_JWT_SECRET=%s", h_config()->jwt_secret);
    snprintf(e_threads, sizeof(e_threads), "PSOP_API_THREADS=2");
    const char *env[] = {e_redis, e_pg, e_secret, e_threads, NULL};
    pid_t pid = tl_api_start(port, env);
    cr_assert_gt(pid, 0, "psop-api did not start");
    return pid;
}

Test(api_reads, redis_unreachable_reads_answer_from_postgres)
{
    struct world w;
    world_init(&w);
    int st;
    json_t *p1 = get_provider(&w, w.port, w.provider, &st);
    json_t *l1 = get_public(&w, w.port, &st);
    json_t *c1 = get_command(w.port, w.register_cmd, w.provider, &st);

    char url[64];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", closed_port());
    int port = tl_port(1);
    pid_t pid = start_api(port, url, h_config()->pg_dsn);
    for (int i = 0; i < 3; i++) { /* the breaker's open and half-open paths */
        double t0 = h_now();
        json_t *p2 = get_provider(&w, port, w.provider, &st);
        cr_expect_eq(st, 200);
        expect_same(p1, p2, "provider without Redis");
        json_t *l2 = get_public(&w, port, &st);
        cr_expect_eq(st, 200);
        expect_same(l1, l2, "public list without Redis");
        json_t *c2 = get_command(port, w.register_cmd, w.provider, &st);
        cr_expect_eq(st, 200);
        expect_same_status(c1, c2);
        cr_expect_lt(h_now() - t0, 5.0, "reads without Redis must be quick (no connect waits)");
        json_decref(p2);
        json_decref(l2);
        json_decref(c2);
        h_sleep_ms(600);
    }
    /* Prefer: wait cannot learn the verdict: 202 once N passes. */
    double t0 = h_now();
    json_t *a = call(port, "PUT", "/v1/holidays/2094-12-24", w.admin, "{\"name\":\"Jouluaatto\"}",
                     "Prefer: wait=1\r\n", &st);
    double took = h_now() - t0;
    cr_expect_eq(st, 202);
    cr_expect(took >= 0.9 && took < 6.0, "answered after %.2f s", took);
    json_decref(a);
    cr_expect_eq(tl_api_stop(pid), 0);
    json_decref(p1);
    json_decref(l1);
    json_decref(c1);
    world_free(&w);
}

Test(api_reads, postgres_unreachable_is_503_never_a_hang)
{
    int port = tl_port(1);
    char url[64], dsn[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", closed_port());
    snprintf(dsn, sizeof(dsn), "host=127.0.0.1 port=%d dbname=psop user=psop", closed_port());
    pid_t pid = start_api(port, url, dsn);
    char *admin = tok("admin", "reads-pgdown", NULL, NULL, NULL);
    char u[UUID_STR_LEN], path[128];
    tc_uuid(u);
    snprintf(path, sizeof(path), "/v1/providers/%s", u);
    for (int i = 0; i < 3; i++) {
        double t0 = h_now();
        struct tl_resp r;
        int st;
        json_t *j = call_h(port, "GET", path, admin, NULL, NULL, &st, &r);
        cr_expect_eq(st, 503);
        char ra[16];
        cr_expect(tl_header(&r, "Retry-After", ra, sizeof(ra)));
        cr_expect_str_eq(jstr(j, "type"), "https://psop.fi/problems/unavailable");
        cr_expect_lt(h_now() - t0, 6.0, "a 503, not a hang");
        tl_resp_free(&r);
        json_decref(j);
    }
    free(admin);
    cr_expect_eq(tl_api_stop(pid), 0);
}
