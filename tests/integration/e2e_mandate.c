/*
 * End-to-end tests of mandates (docs/domain.md, "Access log and
 * representation"; issue 18) on the running stack, through HAProxy
 * ($PSOP_API_URL):
 *
 *  - a proxy (a client token) reads the represented client's voucher, list
 *    and providers and chooses its provider with On-Behalf-Of while the
 *    organiser's mandate is in force; every such access is recorded with
 *    on_behalf_of and shows in the represented client's own access log;
 *  - before the mandate, after its revocation and before its first day the
 *    same requests are refused (404 for a stranger, 403 for a proxy whose
 *    mandate is not in force), and nothing is applied;
 *  - the mandate rules the worker keeps (own proxy, dates, organiser only,
 *    revocation day, twice revoked) and GET /v1/mandates for the organiser,
 *    the client and the proxy; mandate.granted and mandate.revoked events;
 *  - a command that reaches Kafka without the front (an on_behalf_of for a
 *    client the voucher does not belong to, or without a mandate) is
 *    rejected by the worker: ownership stays where the voucher is known.
 *
 * Every organiser, client and voucher is new: the file runs again and again.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "e2e_http.h"
#include "store/topics.h"

#define RECORD_S 30.0

struct world {
    struct e2e e;
    PGconn *pg;
    char *org, *st, *admin, *orga, *pid, *ptok;
    char *client, *ctok; /* the represented client */
    char *proxy, *xtok;  /* its guardian, a client of the same organiser */
    char *other, *otok;  /* a client without any mandate */
    char *vid, *today;
};

static char *client_tok(struct world *w, const char *client)
{
    return e2e_tok(&w->e, "client", e2e_fmt(&w->e, "kansalainen-%s", client), w->org, NULL, client);
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_start(e, &w->pg, &w->org, &w->admin, &w->orga, "Edunvalvontakunta", "kasittelija-m");
    w->st = e2e_code(e, "edunv_");
    w->today = e2e_day(e, 0);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Kotihoito (edunvalvonta)\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":true}");
    e2e_provider(e, &w->pid, &w->ptok, "Hoiva");
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/applications", w->pid), w->ptok,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"rulebook_version\":\"1\"}",
                   w->org, w->st));
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/decisions", w->pid), w->orga,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"decision\":\"approved\","
                   "\"valid_from\":\"2026-01-01\"}",
                   w->org, w->st));
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/prices", w->pid), w->ptok,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"valid_from\":\"2026-01-01\","
                   "\"price_cents\":4200}",
                   w->org, w->st));
    w->client = e2e_code(e, "huollettava-");
    w->proxy = e2e_code(e, "edunvalvoja-");
    w->other = e2e_code(e, "sivullinen-");
    w->ctok = client_tok(w, w->client);
    w->xtok = client_tok(w, w->proxy);
    w->otok = client_tok(w, w->other);
    w->vid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w->orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-M-%s\","
                   "\"valid_from\":\"%s\",\"valid_to\":\"%s\",\"unit_value_cents\":3800}",
                   w->vid, w->org, w->client, w->st, w->vid + 24, e2e_day(e, -30), e2e_day(e, 60)));
}

static void world_fini(struct world *w)
{
    PQfinish(w->pg);
    e2e_fini(&w->e);
}

/* POST /v1/mandates for proxy -> client from..to (to NULL: open); applied;
 * the mandate id. */
static char *grant(struct world *w, const char *from, const char *to)
{
    struct e2e *e = &w->e;
    json_t *s =
        e2e_ok_j(e, "POST", "/v1/mandates", w->orga,
                 e2e_fmt(e,
                         "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"proxy_client_id\":\"%s\","
                         "\"kind\":\"guardian\",\"valid_from\":\"%s\"%s}",
                         w->org, w->client, w->proxy, from,
                         to ? e2e_fmt(e, ",\"valid_to\":\"%s\"", to) : ""));
    char *id = e2e_fmt(e, "%s", e2e_str(s, "resource_id"));
    json_decref(s);
    return id;
}

static char *on_behalf(struct world *w, const char *client)
{
    return e2e_fmt(&w->e, E2E_WAIT "On-Behalf-Of: %s\r\n", client);
}

/* The answer's status of GET path with token and extra headers. */
static int get_status(struct world *w, const char *path, const char *token, const char *extra)
{
    int st;
    json_decref(e2e_call(&w->e, "GET", path, token, NULL, extra, &st, NULL));
    return st;
}

/* The answer's status of PUT path with body, acting for client. */
static int put_status(struct world *w, const char *path, const char *token, const char *body,
                      const char *client)
{
    int st;
    char *raw;
    json_decref(e2e_call(&w->e, "PUT", path, token, body, on_behalf(w, client), &st, &raw));
    cr_log_info("PUT %s -> %d %s", path, st, raw);
    return st;
}

/* A fresh traceparent header line, its id in *tp. */
static char *trace_header(struct world *w, char **tp)
{
    char *u = e2e_uuid(&w->e), hex[33];
    size_t n = 0;
    for (const char *p = u; *p && n < 32; p++)
        if (*p != '-')
            hex[n++] = *p;
    hex[n] = '\0';
    *tp = e2e_fmt(&w->e, "00-%s-%.16s-01", hex, hex);
    return e2e_fmt(&w->e, "traceparent: %s\r\n", *tp);
}

/* "actor_client on_behalf_of client_ids[1] action status" of the one record
 * with traceparent tp, once the audit worker wrote it ("" if never). */
static char *record_of(struct world *w, const char *tp)
{
    double until = h_now() + RECORD_S;
    for (;;) {
        char *v = h_pg_value(w->pg,
                             "SELECT coalesce((SELECT string_agg(coalesce(actor_client, '-') || "
                             "' ' || coalesce(on_behalf_of, '-') || ' ' || client_ids[1] || ' ' "
                             "|| action || ' ' || status, '|') FROM psop.access_log WHERE "
                             "traceparent = '%s'), '')",
                             tp);
        if (v[0] || h_now() > until) {
            char *out = e2e_fmt(&w->e, "%s", v);
            free(v);
            return out;
        }
        free(v);
        h_sleep_ms(100);
    }
}

/* The voucher's provider_id in PostgreSQL ("" when none). */
static char *chosen(struct world *w)
{
    char *v = h_pg_value(
        w->pg, "SELECT coalesce(provider_id::text, '') FROM psop.vouchers WHERE id = '%s'", w->vid);
    char *out = e2e_fmt(&w->e, "%s", v);
    free(v);
    return out;
}

Test(e2e_mandate, a_proxy_reads_and_acts_for_the_client_while_the_mandate_is_in_force,
     .timeout = 240)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *vpath = e2e_fmt(e, "/v1/vouchers/%s", w.vid);
    char *lpath = e2e_fmt(e, "/v1/vouchers?client_id=%s", w.client);
    char *ppath = e2e_fmt(e, "/v1/vouchers/%s/provider", w.vid);
    char *choose = e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.pid);

    /* No mandate yet: the would-be proxy is a stranger. */
    cr_expect_eq(get_status(&w, vpath, w.xtok, NULL), 404);
    cr_expect_eq(get_status(&w, lpath, w.xtok, NULL), 403);
    cr_expect_eq(put_status(&w, ppath, w.xtok, choose, w.client), 403,
                 "On-Behalf-Of without a mandate");

    char *mid = grant(&w, e2e_day(e, -1), NULL);
    json_t *ml = e2e_get(e, e2e_fmt(e, "/v1/mandates?client_id=%s", w.client), w.orga);
    json_t *m = e2e_find(json_object_get(ml, "mandates"), "mandate_id", mid);
    cr_assert_not_null(m, "the organiser lists the mandate: %s", e2e_dump(e, ml));
    cr_expect_str_eq(e2e_str(m, "proxy_client_id"), w.proxy);
    cr_expect_str_eq(e2e_str(m, "kind"), "guardian");
    cr_expect(json_is_true(json_object_get(m, "in_force")));
    json_decref(ml);
    const char *toks[] = {w.ctok, w.xtok};
    for (int i = 0; i < 2; i++) { /* the represented client and the proxy see it too */
        ml = e2e_get(e, "/v1/mandates", toks[i]);
        cr_expect_not_null(e2e_find(json_object_get(ml, "mandates"), "mandate_id", mid), "%s",
                           e2e_dump(e, ml));
        json_decref(ml);
    }
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/mandates?client_id=%s", w.client), w.otok, NULL),
                 403, "a client lists its own mandates only");

    /* The proxy reads the voucher, the list and the providers. */
    char *tp;
    char *th = trace_header(&w, &tp);
    int st;
    json_t *v = e2e_call(e, "GET", vpath, w.xtok, NULL, th, &st, NULL);
    cr_assert_eq(st, 200);
    cr_expect_str_eq(e2e_str(v, "client_id"), w.client);
    json_decref(v);
    cr_expect_str_eq(record_of(&w, tp),
                     e2e_fmt(e, "%s %s %s read 200", w.proxy, w.client, w.client));
    json_t *l = e2e_get(e, lpath, w.xtok);
    cr_expect_not_null(e2e_find(json_object_get(l, "vouchers"), "id", w.vid), "%s", e2e_dump(e, l));
    json_decref(l);
    json_decref(e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s/providers", w.vid), w.xtok));
    /* ... but not another client's data, nor the events (organiser and provider only). */
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/vouchers?client_id=%s", w.other), w.xtok, NULL),
                 403);
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/vouchers/%s/service-events", w.vid), w.xtok, NULL),
                 403);

    /* The proxy chooses the provider for the client; recorded on its behalf. */
    th = trace_header(&w, &tp);
    int cst;
    char *raw;
    json_decref(e2e_call(e, "PUT", ppath, w.xtok, choose,
                         e2e_fmt(e, "%s%s", on_behalf(&w, w.client), th), &cst, &raw));
    cr_expect_eq(cst, 200, "%s", raw);
    cr_expect_str_eq(chosen(&w), w.pid);
    cr_expect_str_eq(record_of(&w, tp),
                     e2e_fmt(e, "%s %s %s command 202", w.proxy, w.client, w.client));
    /* Without On-Behalf-Of the proxy acts as itself: the worker refuses. */
    e2e_rej(e, "PUT", ppath, w.xtok, choose, "forbidden:");
    /* A stranger naming the client: refused at the front. */
    json_decref(e2e_call(e, "PUT", ppath, w.otok, choose, on_behalf(&w, w.client), &cst, &raw));
    cr_expect_eq(cst, 403, "%s", raw);
    /* Another role may not act on behalf of anyone. */
    json_decref(e2e_call(e, "PUT", ppath, w.orga, choose, on_behalf(&w, w.client), &cst, &raw));
    cr_expect_eq(cst, 403, "%s", raw);

    /* The represented client sees its proxy in its own access log. */
    json_t *log = e2e_get(e, "/v1/me/access-log?limit=500", w.ctok);
    bool seen = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(log, "items"), i, it)
    {
        json_t *actor = json_object_get(it, "actor");
        if (strcmp(e2e_str(actor, "client"), w.proxy) == 0 &&
            strcmp(e2e_str(it, "on_behalf_of"), w.client) == 0)
            seen = true;
    }
    cr_expect(seen, "the client's access log names its proxy: %s", e2e_dump(e, log));
    json_decref(log);

    /* Revoked from today: 403 for the proxy, nothing applied. */
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/mandates/%s/revocation", mid), w.orga,
           e2e_fmt(e, "{\"effective_date\":\"%s\"}", w.today));
    cr_expect_eq(get_status(&w, vpath, w.xtok, NULL), 403);
    cr_expect_eq(get_status(&w, lpath, w.xtok, NULL), 403);
    json_decref(e2e_call(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/refusal", w.vid), w.xtok, "{}",
                         on_behalf(&w, w.client), &cst, &raw));
    cr_expect_eq(cst, 403, "%s", raw);
    char *status = h_pg_value(w.pg, "SELECT status FROM psop.vouchers WHERE id = '%s'", w.vid);
    cr_expect_str_eq(status, "active");
    free(status);
    ml = e2e_get(e, e2e_fmt(e, "/v1/mandates?client_id=%s", w.proxy), w.orga);
    m = e2e_find(json_object_get(ml, "mandates"), "mandate_id", mid);
    cr_assert_not_null(m);
    cr_expect(json_is_false(json_object_get(m, "in_force")));
    cr_expect_str_eq(e2e_str(m, "revoked_from"), w.today);
    json_decref(ml);

    /* mandate.granted and mandate.revoked, published, keyed by the mandate. */
    char *evs = NULL;
    double until = h_now() + RECORD_S;
    do {
        free(evs);
        h_sleep_ms(100);
        evs = h_pg_value(w.pg,
                         "SELECT coalesce(string_agg(payload->>'type', ' ' ORDER BY id), '') || "
                         "' ' || count(published_at) FROM psop.outbox WHERE key = '%s' "
                         "AND topic LIKE 'psop.events.%%'",
                         mid);
    } while (strcmp(evs, "mandate.granted mandate.revoked 2") != 0 && h_now() < until);
    cr_expect_str_eq(evs, "mandate.granted mandate.revoked 2");
    free(evs);
    world_fini(&w);
}

Test(e2e_mandate, the_worker_keeps_the_mandate_rules, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    const char *fmt = "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"proxy_client_id\":\"%s\","
                      "\"kind\":\"trustee\",\"valid_from\":\"%s\"%s}";
    e2e_rej(e, "POST", "/v1/mandates", w.orga,
            e2e_fmt(e, fmt, w.org, w.client, w.client, w.today, ""), "invalid_mandate:");
    e2e_rej(e, "POST", "/v1/mandates", w.orga,
            e2e_fmt(e, fmt, w.org, w.client, w.proxy, w.today, ",\"valid_to\":\"2026-01-01\""),
            "invalid_mandate:");
    char *stranger = e2e_tok(e, "organiser", "toinen-kunta", e2e_uuid(e), NULL, NULL);
    e2e_status(e, "POST", "/v1/mandates", stranger,
               e2e_fmt(e, fmt, w.org, w.client, w.proxy, w.today, ""), 403,
               "another organiser's mandate");
    e2e_status(e, "POST", "/v1/mandates", w.ctok,
               e2e_fmt(e, fmt, w.org, w.client, w.proxy, w.today, ""), 403,
               "a client registers no mandate");

    /* A mandate from tomorrow is not in force today: 403, nothing chosen. */
    char *mid = grant(&w, e2e_day(e, 1), e2e_day(e, 30));
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/vouchers/%s", w.vid), w.xtok, NULL), 403);
    cr_expect_eq(put_status(&w, e2e_fmt(e, "/v1/vouchers/%s/provider", w.vid), w.xtok,
                            e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.pid), w.client),
                 403, "a mandate from tomorrow");
    cr_expect_str_eq(chosen(&w), "");

    char *rev = e2e_fmt(e, "/v1/mandates/%s/revocation", mid);
    e2e_rej(e, "POST", rev, stranger, e2e_fmt(e, "{\"effective_date\":\"%s\"}", e2e_day(e, 5)),
            "forbidden:");
    e2e_rej(e, "POST", rev, w.orga, e2e_fmt(e, "{\"effective_date\":\"%s\"}", w.today),
            "invalid_effective_date:");
    e2e_ok(e, "POST", rev, w.orga, e2e_fmt(e, "{\"effective_date\":\"%s\"}", e2e_day(e, 5)));
    e2e_rej(e, "POST", rev, w.orga, e2e_fmt(e, "{\"effective_date\":\"%s\"}", e2e_day(e, 9)),
            "already_revoked:");
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/mandates/%s/revocation", e2e_uuid(e)), w.orga,
            e2e_fmt(e, "{\"effective_date\":\"%s\"}", w.today), "not_found:");
    world_fini(&w);
}

/* The command as a front that skipped its checks would send it: envelope v4
 * with on_behalf_of, straight to Kafka. Returns "status:reason". */
static char *send_direct(struct world *w, const char *actor_client, const char *behalf)
{
    struct tc *t = tc_open();
    struct tc_actor a = {.sub = "suora", .role = "client", .org = w->org, .client = actor_client};
    char id[UUID_STR_LEN];
    tc_uuid(id);
    json_t *data = json_pack("{s:s, s:s}", "voucher_id", w->vid, "provider_id", w->pid);
    char *s = tc_envelope(id, "voucher.choose_provider", &a, data);
    json_decref(data);
    json_t *env = json_loads(s, 0, NULL);
    free(s);
    json_object_set_new(env, "schema_version", json_integer(4));
    json_object_set_new(env, "on_behalf_of", json_string(behalf));
    s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    tc_send_raw(t, TOPIC_CMD_VOUCHER, w->vid, s);
    free(s);
    tc_close(t);
    return e2e_verdict(&w->e, w->pg, id, 60);
}

Test(e2e_mandate, the_worker_checks_what_reaches_kafka_without_the_front, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    /* A proxy with a mandate for the client ... */
    grant(&w, e2e_day(e, -1), NULL);
    /* ... naming another client than the voucher's: refused. */
    char *r = send_direct(&w, w.proxy, w.other);
    cr_expect(strncmp(r, "rejected:forbidden:", 19) == 0, "%s", r);
    /* A client without any mandate naming the voucher's client: refused. */
    r = send_direct(&w, w.other, w.client);
    cr_expect(strncmp(r, "rejected:forbidden:", 19) == 0, "%s", r);
    cr_expect_str_eq(chosen(&w), "");
    /* The proxy naming the voucher's client under its mandate: applied. */
    r = send_direct(&w, w.proxy, w.client);
    cr_expect(strncmp(r, "applied", 7) == 0, "%s", r);
    cr_expect_str_eq(chosen(&w), w.pid);
    world_fini(&w);
}

/* "<choices made for a represented client> <all choices>" published for
 * the voucher (kept until e2e_fini). */
static char *choices(struct world *w)
{
    char *v = h_pg_value(w->pg,
                         "SELECT count(*) FILTER (WHERE payload->'data'->>'on_behalf_of' IS NOT "
                         "NULL) || ' ' || count(*) FROM psop.outbox WHERE key = '%s' AND "
                         "payload->>'type' = 'voucher.provider_chosen'",
                         w->vid);
    char *out = e2e_fmt(&w->e, "%s", v);
    free(v);
    return out;
}

/* A replica of our own whose PostgreSQL is a closed port (the stack's Redis
 * and Kafka are up): the mandate cannot be looked up, so a proxy's reads and
 * commands answer 503 with Retry-After and nothing is published for them;
 * the client itself reads its voucher (from Redis) and sends its own
 * commands as before. Counted over ROUNDS requests of each kind. */
#define ROUNDS 10
Test(e2e_mandate, without_postgresql_a_proxy_is_503_and_the_client_is_served, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    grant(&w, e2e_day(e, -1), NULL);
    char *vpath = e2e_fmt(e, "/v1/vouchers/%s", w.vid);
    /* The voucher's document in Redis, as the stack's replicas read it. */
    json_decref(e2e_get(e, vpath, w.ctok));
    int port = tl_port(0), dead = tl_port(1);
    char dsn[96], secret[300];
    snprintf(dsn, sizeof(dsn),
             "PSOP_PG_DSN=host=127.0.0.1 port=%d dbname=psop user=psop "
             "connect_timeout=1",
             dead);
    snprintf(secret, sizeof(secret), "PSOP_JWT_SECRET=%s", h_config()->jwt_secret);
    const char *env[] = {dsn, secret, "PSOP_API_RATE_LIMIT_RPS=0", NULL};
    pid_t pid = tl_api_start(port, env);
    cr_assert_gt(pid, 0, "the private api did not start");
    char *choose = e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.pid);
    char *ppath = e2e_fmt(e, "/v1/vouchers/%s/provider", w.vid);
    char *obo = e2e_fmt(e, "On-Behalf-Of: %s\r\n", w.client);
    int proxy_503 = 0, proxy_retry = 0, proxy_cmd_503 = 0, own_200 = 0, own_202 = 0;
    for (int i = 0; i < ROUNDS; i++) {
        struct tl_resp r;
        char ra[16] = "";
        cr_assert_eq(tl_request(port, "GET", vpath, w.xtok, NULL, NULL, NULL, &r), 0);
        proxy_503 += r.status == 503;
        tl_header(&r, "Retry-After", ra, sizeof(ra));
        proxy_retry += ra[0] != '\0';
        tl_resp_free(&r);
        cr_assert_eq(tl_request(port, "PUT", ppath, w.xtok, "application/json", choose, obo, &r),
                     0);
        proxy_cmd_503 += r.status == 503;
        tl_resp_free(&r);
        cr_assert_eq(tl_request(port, "GET", vpath, w.ctok, NULL, NULL, NULL, &r), 0);
        own_200 += r.status == 200;
        tl_resp_free(&r);
        cr_assert_eq(tl_request(port, "PUT", ppath, w.ctok, "application/json", choose, NULL, &r),
                     0);
        own_202 += r.status == 202;
        tl_resp_free(&r);
    }
    tl_api_stop(pid);
    cr_log_info("without PostgreSQL, %d rounds: proxy reads 503 %d (Retry-After %d), proxy "
                "commands 503 %d; the client's reads 200 %d, commands 202 %d",
                ROUNDS, proxy_503, proxy_retry, proxy_cmd_503, own_200, own_202);
    cr_expect_eq(proxy_503, ROUNDS);
    cr_expect_eq(proxy_retry, ROUNDS);
    cr_expect_eq(proxy_cmd_503, ROUNDS);
    cr_expect_eq(own_200, ROUNDS);
    cr_expect_eq(own_202, ROUNDS);
    /* Nothing of the proxy's reached the workers: every applied choice is
     * the client's own (chosen_by its sub). */
    char *want = e2e_fmt(e, "0 %d", ROUNDS), *got = choices(&w);
    for (double until = h_now() + RECORD_S; strcmp(got, want) != 0 && h_now() < until;) {
        h_sleep_ms(200);
        got = choices(&w);
    }
    cr_expect_str_eq(got, want, "proxy choices / all choices published");
    world_fini(&w);
}
