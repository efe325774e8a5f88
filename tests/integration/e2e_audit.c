/*
 * End-to-end tests of the access log (docs/domain.md, "Access log and
 * representation"; issue 18) on the running stack, through HAProxy
 * ($PSOP_API_URL):
 *
 *  - the route table: every read route of client data carries `audit`, and
 *    every such route, read once with its own traceparent, leaves exactly
 *    one record in psop.access_log (a route that leaves none fails);
 *  - a command about a client leaves one record naming the client, a
 *    rejected one too;
 *  - GET /v1/audit: an organiser sees its own clients' records, paged by
 *    cursor, another organiser none; GET /v1/me/access-log: the client sees
 *    who read its data, without addresses;
 *  - psop.access_log refuses UPDATE, DELETE and TRUNCATE;
 *  - with Kafka unreachable, a client-data read is 503 and a public read 200.
 *
 * Every organiser, client and voucher is new: the file runs again and again.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"
#include "router.h"

/* How long the audit worker may take to write a record (it polls 200 ms). */
#define RECORD_S 30.0

struct world {
    struct e2e e;
    PGconn *pg;
    char *org, *st, *admin, *orga, *client, *ctok, *vid;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_start(e, &w->pg, &w->org, &w->admin, &w->orga, "Lokikunta", "kasittelija-a");
    w->st = e2e_code(e, "audit_");
    w->client = e2e_code(e, "asiakas-");
    w->ctok =
        e2e_tok(e, "client", e2e_fmt(e, "kansalainen-%s", w->client), w->org, NULL, w->client);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Siivous (loki)\",\"unit\":\"hour\",\"vat_rate_bp\":2550,"
           "\"client_share_allowed\":true}");
    w->vid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w->orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-L-%s\","
                   "\"valid_from\":\"2026-06-01\",\"valid_to\":\"2026-08-31\","
                   "\"budget_cents\":50000}",
                   w->vid, w->org, w->client, w->st, w->vid + 24));
}

static void world_fini(struct world *w)
{
    PQfinish(w->pg);
    e2e_fini(&w->e);
}

/* A fresh traceparent, kept until e2e_fini. */
static char *new_trace(struct e2e *e)
{
    char *u1 = e2e_uuid(e), *u2 = e2e_uuid(e);
    char hex[49];
    size_t n = 0;
    for (const char *p = u1; *p && n < 32; p++)
        if (*p != '-')
            hex[n++] = *p;
    for (const char *p = u2 + 19; *p && n < 48; p++)
        if (*p != '-')
            hex[n++] = *p;
    hex[n] = '\0';
    return e2e_fmt(e, "00-%.32s-%.16s-01", hex, hex + 32);
}

/* The number of records with traceparent tp once the worker had RECORD_S to
 * write them (returns as soon as there is one, then looks again for doubles). */
static long records_of(struct world *w, const char *tp)
{
    double until = h_now() + RECORD_S;
    long n = 0;
    for (;;) {
        char *v =
            h_pg_value(w->pg, "SELECT count(*) FROM psop.access_log WHERE traceparent = '%s'", tp);
        n = atol(v);
        free(v);
        if (n > 0 || h_now() > until)
            break;
        h_sleep_ms(100);
    }
    if (n > 0) {
        h_sleep_ms(300);
        char *v =
            h_pg_value(w->pg, "SELECT count(*) FROM psop.access_log WHERE traceparent = '%s'", tp);
        n = atol(v);
        free(v);
    }
    return n;
}

/* The columns (an SQL text expression) of the one record with traceparent
 * tp (malloc'd). */
static char *record_text(struct world *w, const char *tp, const char *columns)
{
    return h_pg_value(w->pg, "SELECT %s FROM psop.access_log WHERE traceparent = '%s'", columns,
                      tp);
}

/* True when a read route's pattern is about clients' data: a voucher, an
 * order, a settlement's lines, a client's list, the access log. */
static bool client_data_route(const struct route *rt)
{
    static const char *marks[] = {
        "{voucher_id}", "{order_id}", "{settlement_id}", "/v1/audit", "/access-log",
        "/v1/mandates", NULL};
    if (strcmp(rt->pattern, "/v1/vouchers") == 0 || strcmp(rt->pattern, "/v1/orders") == 0)
        return true;
    for (int i = 0; marks[i]; i++)
        if (strstr(rt->pattern, marks[i]))
            return true;
    return false;
}

/* The route's path with its parameters filled and the query it needs. */
static char *route_path(struct world *w, const struct route *rt)
{
    struct e2e *e = &w->e;
    char *out = e2e_fmt(e, "%s", "");
    for (const char *p = rt->pattern; *p;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            bool voucher = strncmp(p, "{voucher_id}", 12) == 0;
            out = e2e_fmt(e, "%s%s", out, voucher ? w->vid : e2e_uuid(e));
            p = end + 1;
        } else {
            out = e2e_fmt(e, "%s%c", out, *p++);
        }
    }
    if (strcmp(rt->pattern, "/v1/vouchers") == 0 || strcmp(rt->pattern, "/v1/orders") == 0 ||
        strcmp(rt->pattern, "/v1/mandates") == 0)
        out = e2e_fmt(e, "%s?client_id=%s", out, w->client);
    return out;
}

Test(e2e_audit, every_client_data_read_leaves_exactly_one_record, .timeout = 240)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    size_t n;
    const struct route *rows = router_routes(&n);
    int walked = 0;
    for (size_t i = 0; i < n; i++) {
        const struct route *rt = &rows[i];
        if (rt->kind != ROUTE_READ)
            continue;
        if (client_data_route(rt))
            cr_expect_not_null(rt->audit, "%s reads client data but leaves no access record",
                               rt->pattern);
        if (!rt->audit)
            continue;
        const char *tok = (rt->roles & ROLE_ORGANISER) ? w.orga : w.ctok;
        char *path = route_path(&w, rt);
        char *tp = new_trace(e);
        int st;
        char *raw;
        json_decref(
            e2e_call(e, "GET", path, tok, NULL, e2e_fmt(e, "traceparent: %s\r\n", tp), &st, &raw));
        cr_expect(st == 200 || st == 404, "GET %s -> %d %s", path, st, raw);
        long nrec = records_of(&w, tp);
        cr_expect_eq(nrec, 1, "GET %s (%d) left %ld records, expected 1", path, st, nrec);
        walked++;
    }
    cr_expect_geq(walked, 11, "only %d client-data routes walked", walked);

    /* The voucher's own read names its client and organiser. */
    char *tp = new_trace(e);
    json_decref(e2e_call(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", w.vid), w.orga, NULL,
                         e2e_fmt(e, "traceparent: %s\r\n", tp), NULL, NULL));
    cr_assert_eq(records_of(&w, tp), 1);
    char *who = record_text(&w, tp,
                            "client_ids[1] || ' ' || organiser_id || ' ' || actor_sub || ' ' || "
                            "action || ' ' || resource_type || ' ' || status");
    cr_expect_str_eq(who, e2e_fmt(e, "%s %s kasittelija-a read voucher 200", w.client, w.org));
    free(who);
    world_fini(&w);
}

Test(e2e_audit, a_denied_read_and_a_command_are_recorded_with_the_client, .timeout = 120)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    /* Another organiser's read of this voucher: 404, recorded, about this client. */
    char *other = e2e_tok(e, "organiser", "uteliaisuus", e2e_uuid(e), NULL, NULL);
    char *tp = new_trace(e);
    int st;
    json_decref(e2e_call(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", w.vid), other, NULL,
                         e2e_fmt(e, "traceparent: %s\r\n", tp), &st, NULL));
    cr_expect_eq(st, 404);
    cr_assert_eq(records_of(&w, tp), 1);
    char *v = record_text(&w, tp, "client_ids[1] || ' ' || organiser_id || ' ' || status");
    cr_expect_str_eq(v, e2e_fmt(e, "%s %s 404", w.client, w.org), "the owner sees the denial");
    free(v);
    /* The grant of world_init: one command record naming the client. */
    v = h_pg_value(w.pg,
                   "SELECT count(*) || ' ' || min(client_ids[1]) FROM psop.access_log WHERE "
                   "action = 'command' AND resource_type = 'voucher' AND resource_id = '%s'",
                   w.vid);
    double until = h_now() + RECORD_S;
    while (strcmp(v, e2e_fmt(e, "1 %s", w.client)) != 0 && h_now() < until) {
        free(v);
        h_sleep_ms(200);
        v = h_pg_value(w.pg,
                       "SELECT count(*) || ' ' || min(client_ids[1]) FROM psop.access_log WHERE "
                       "action = 'command' AND resource_type = 'voucher' AND resource_id = '%s'",
                       w.vid);
    }
    cr_expect_str_eq(v, e2e_fmt(e, "1 %s", w.client));
    free(v);
    world_fini(&w);
}

/* A command the worker rejects leaves its record too, once: the record
 * travels inside the command (envelope v5) and the worker writes it with the
 * verdict, whatever the verdict. */
Test(e2e_audit, a_rejected_command_leaves_one_record, .timeout = 120)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *tp = new_trace(e);
    int st;
    char *raw;
    json_decref(e2e_call(e, "PUT", e2e_fmt(e, "/v1/vouchers/%s/provider", w.vid), w.ctok,
                         e2e_fmt(e, "{\"provider_id\":\"%s\"}", e2e_uuid(e)),
                         e2e_fmt(e, "traceparent: %s\r\n%s", tp, E2E_WAIT), &st, &raw));
    cr_expect_eq(st, 422, "a provider that does not exist: %s", raw);
    cr_assert_eq(records_of(&w, tp), 1);
    char *v = record_text(&w, tp,
                          "action || ' ' || resource_type || ' ' || resource_id || ' ' || status "
                          "|| ' ' || client_ids[1] || ' ' || actor_role");
    cr_expect_str_eq(v, e2e_fmt(e, "command voucher %s 202 %s client", w.vid, w.client));
    free(v);
    world_fini(&w);
}

Test(e2e_audit, organisers_and_clients_read_the_log_paged, .timeout = 120)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *tps[3];
    for (int i = 0; i < 3; i++) {
        tps[i] = new_trace(e);
        json_decref(e2e_call(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", w.vid), w.orga, NULL,
                             e2e_fmt(e, "traceparent: %s\r\n", tps[i]), NULL, NULL));
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(records_of(&w, tps[i]), 1);
    /* Page by page, one record each, newest first, no record twice. */
    char *path = e2e_fmt(e, "/v1/audit?client_id=%s&limit=1", w.client);
    char *seen = e2e_fmt(e, "%s", "");
    int pages = 0;
    for (;;) {
        json_t *j = e2e_get(e, path, w.orga);
        json_t *items = json_object_get(j, "items");
        cr_assert_leq(json_array_size(items), 1);
        if (json_array_size(items) == 1) {
            json_t *it = json_array_get(items, 0);
            cr_expect_null(strstr(seen, e2e_str(it, "id")), "record %s twice", e2e_str(it, "id"));
            seen = e2e_fmt(e, "%s %s", seen, e2e_str(it, "id"));
            cr_expect_str_eq(e2e_str(it, "organiser_id"), w.org);
            pages++;
        }
        const char *next = e2e_str(j, "next_cursor");
        if (!*next) {
            json_decref(j);
            break;
        }
        path = e2e_fmt(e, "/v1/audit?client_id=%s&limit=1&cursor=%s", w.client, next);
        json_decref(j);
        cr_assert_lt(pages, 50);
    }
    /* 3 voucher reads + the grant's command, at least (reads of the log too). */
    cr_expect_geq(pages, 4, "%d records paged", pages);
    /* Another organiser sees none of them, and may not ask for ours. */
    char *org2 = e2e_uuid(e);
    char *other = e2e_tok(e, "organiser", "toinen", org2, NULL, NULL);
    json_t *j = e2e_get(e, e2e_fmt(e, "/v1/audit?client_id=%s", w.client), other);
    cr_expect_eq(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    e2e_status(e, "GET", e2e_fmt(e, "/v1/audit?organiser_id=%s", w.org), other, NULL, 403,
               "another organiser's log");
    e2e_status(e, "GET", "/v1/audit?limit=0", w.orga, NULL, 422, "limit 0");
    e2e_status(e, "GET", "/v1/audit?cursor=nonsense", w.orga, NULL, 422, "a made-up cursor");
    e2e_status(e, "GET", "/v1/audit?from=2026-02-31", w.orga, NULL, 422,
               "a day that does not exist");
    e2e_status(e, "GET", "/v1/audit", w.ctok, NULL, 403, "a client reads its own log only");
    /* The client: who read its data, without addresses. */
    j = e2e_get(e, "/v1/me/access-log?limit=500", w.ctok);
    json_t *items = json_object_get(j, "items");
    cr_expect_geq(json_array_size(items), 4);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        cr_expect_null(json_object_get(it, "ip"));
        json_t *cl = json_object_get(it, "client_ids");
        cr_expect_str_eq(json_string_value(json_array_get(cl, 0)), w.client);
    }
    json_decref(j);
    world_fini(&w);
}

Test(e2e_audit, the_log_is_append_only)
{
    PGconn *pg = h_pg();
    const char *sql[] = {"UPDATE psop.access_log SET status = 200", "DELETE FROM psop.access_log",
                         "TRUNCATE psop.access_log", NULL};
    for (int i = 0; sql[i]; i++) {
        PGresult *r = PQexec(pg, sql[i]);
        cr_expect_eq(PQresultStatus(r), PGRES_FATAL_ERROR, "%s was allowed", sql[i]);
        cr_expect_not_null(strstr(PQresultErrorMessage(r), "append-only"), "%s: %s", sql[i],
                           PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(pg);
}

/* A replica of our own whose Kafka is a closed port: client data is not
 * answered without its record, the public list is. */
Test(e2e_audit, without_kafka_client_data_is_503_and_public_reads_answer, .timeout = 120)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    int port = tl_port(0), dead = tl_port(1);
    char brokers[64], secret[300];
    snprintf(brokers, sizeof(brokers), "PSOP_KAFKA_BROKERS=127.0.0.1:%d", dead);
    snprintf(secret, sizeof(secret), "PSOP_JWT_SECRET=%s", h_config()->jwt_secret);
    const char *env[] = {brokers, secret, "PSOP_PRODUCE_TIMEOUT_MS=1500",
                         "PSOP_API_RATE_LIMIT_RPS=0", NULL};
    pid_t pid = tl_api_start(port, env);
    cr_assert_gt(pid, 0, "the private api did not start");
    struct tl_resp r;
    cr_assert_eq(
        tl_request(port, "GET", e2e_fmt(e, "/v1/vouchers/%s", w.vid), w.orga, NULL, NULL, NULL, &r),
        0);
    int st = r.status;
    char ra[16] = "";
    tl_header(&r, "Retry-After", ra, sizeof(ra));
    tl_resp_free(&r);
    cr_expect_eq(st, 503, "a voucher read without Kafka: %d", st);
    cr_expect(ra[0], "503 without Retry-After");
    cr_assert_eq(
        tl_request(port, "GET",
                   e2e_fmt(e, "/v1/public/providers?organiser_id=%s&service_type=%s", w.org, w.st),
                   NULL, NULL, NULL, NULL, &r),
        0);
    st = r.status;
    tl_resp_free(&r);
    cr_expect_eq(st, 200, "the public list without Kafka: %d", st);
    tl_api_stop(pid);
    world_fini(&w);
}
