/*
 * End-to-end test of the read-model cache on the real running stack: a
 * voucher created through the HTTP API ($PSOP_API_URL, Prefer: wait=10),
 * the stack's whole Redis flushed (FLUSHALL: allowed here only; ONE test in
 * this file so nothing of ours runs beside it), the same documents answered
 * from PostgreSQL, `psopctl cache rebuild` putting the keys back with their
 * versions, and an out-of-order older write refused by the compare-and-set.
 *
 * Run: source .run/stack.env; cd /work/main;
 *      build-e2e/tests/integration/integration_e2e_cache
 * (psopctl is PSOP_BINARY_DIR/tools/psopctl: build its target too.)
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"
#include "store/pgc.h"
#include "read_models.h"
#include "store/rds.h"

static struct rds *redis(void)
{
    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 3000, err, sizeof(err));
    cr_assert_not_null(r, "redis %s: %s", h_config()->redis_url, err);
    return r;
}

/* The stored version of key (-1 when absent) and, when doc is not NULL,
 * its document (caller frees). */
static long long stored(struct rds *r, const char *key, char **doc)
{
    char err[256], *d = NULL;
    long long v = -1;
    int rc = rds_get_versioned(r, key, &d, &v, err, sizeof(err));
    cr_assert_neq(rc, -1, "GET %s: %s", key, err);
    if (rc == 0)
        v = -1;
    if (doc)
        *doc = d;
    else
        free(d);
    return v;
}

static bool has_provider(const json_t *doc, const void *arg)
{
    return strcmp(e2e_str(doc, "provider_id"), (const char *)arg) == 0;
}

Test(e2e_cache, flushall_fallback_rebuild_and_stale_write)
{
    struct e2e e;
    e2e_init(&e);
    char *admin = e2e_tok(&e, "admin", "e2e-cache-admin", NULL, NULL, NULL);
    char *org = e2e_uuid(&e), *prov = e2e_uuid(&e), *vid = e2e_uuid(&e);
    char *st = e2e_code(&e, "e2ec_");
    char *client = e2e_code(&e, "as-");
    char *orgt = e2e_tok(&e, "organiser", "e2e-cache-org", org, NULL, NULL);
    char *provt = e2e_tok(&e, "provider", "e2e-cache-erp", NULL, prov, NULL);
    char *clientt = e2e_tok(&e, "client", client, org, NULL, client);

    /* Through the API: an organiser, a service type, a provider approved
     * with a price, a voucher granted with that provider. */
    char yt[10], iban[19], prefix[11];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = 'C';
    tc_alnum(prefix + 1, 9);
    e2e_ok(&e, "PUT", e2e_fmt(&e, "/v1/organisers/%s", org), admin,
           e2e_fmt(&e,
                   "{\"name\":\"Valimuistikunta\",\"business_id\":\"%s\",\"iban\":\"%s\","
                   "\"invoice_prefix\":\"%s\",\"settlement_day\":5,\"auto_approve_days\":0}",
                   yt, iban, prefix));
    e2e_ok(&e, "PUT", e2e_fmt(&e, "/v1/service-types/%s", st), admin,
           "{\"name\":\"Siivous (e2e)\",\"unit\":\"hour\",\"vat_rate_bp\":2550,"
           "\"client_share_allowed\":true}");
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    e2e_ok(&e, "POST", "/v1/providers", provt,
           e2e_fmt(&e,
                   "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"Valimuisti Oy\","
                   "\"iban\":\"%s\"}",
                   prov, yt, iban));
    e2e_ok(&e, "POST", e2e_fmt(&e, "/v1/providers/%s/applications", prov), provt,
           e2e_fmt(&e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"rulebook_version\":\"2026-1\"}",
                   org, st));
    e2e_ok(&e, "POST", e2e_fmt(&e, "/v1/providers/%s/decisions", prov), orgt,
           e2e_fmt(&e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"decision\":\"approved\","
                   "\"valid_from\":\"2026-01-01\"}",
                   org, st));
    e2e_ok(&e, "POST", e2e_fmt(&e, "/v1/providers/%s/prices", prov), provt,
           e2e_fmt(&e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"valid_from\":\"2026-01-01\",\"price_cents\":3100}",
                   org, st));
    e2e_ok(&e, "POST", "/v1/vouchers", orgt,
           e2e_fmt(&e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-CACHE-1\","
                   "\"valid_from\":\"2026-05-01\",\"monthly_quota\":8,"
                   "\"unit_value_cents\":2800,\"provider_id\":\"%s\"}",
                   vid, org, client, st, prov));
    /* The provider and the voucher record one event, so the document has
     * usage; version: grant + record. */
    e2e_ok(&e, "POST", e2e_fmt(&e, "/v1/vouchers/%s/service-events", vid), provt,
           "{\"date\":\"2026-05-04\",\"quantity\":2}");

    char *vkey = e2e_fmt(&e, "psop:voucher:%s", vid);
    char *ekey = e2e_fmt(&e, "psop:voucher-events:%s", vid);
    char *pkey = e2e_fmt(&e, "psop:provider:%s", prov);
    char *vpath = e2e_fmt(&e, "/v1/vouchers/%s?month=2026-05", vid);
    char *ppath = e2e_fmt(&e, "/v1/providers/%s", prov);
    char *evpath = e2e_fmt(&e, "/v1/vouchers/%s/service-events", vid);
    struct rds *r = redis();

    /* Read through the API once the workers have written the read models
     * (the verdict is announced just before the refresh). */
    long long v_ver = -1, p_ver = -1;
    json_t *v1 = NULL, *p1 = NULL;
    double until = h_now() + E2E_POLL_S;
    for (;;) {
        json_decref(v1);
        json_decref(p1);
        v1 = e2e_get(&e, vpath, clientt);
        p1 = e2e_get(&e, ppath, provt);
        v_ver = stored(r, vkey, NULL);
        p_ver = stored(r, pkey, NULL);
        if ((json_integer_value(json_object_get(v1, "events")) == 1 &&
             v_ver == json_integer_value(json_object_get(v1, "version")) &&
             p_ver == json_integer_value(json_object_get(p1, "version"))) ||
            h_now() > until)
            break;
        h_sleep_ms(100);
    }
    cr_assert_eq(json_integer_value(json_object_get(v1, "events")), 1, "%s", e2e_dump(&e, v1));
    cr_assert_eq(e2e_h(v1, "used_quantity"), 200, "%s", e2e_dump(&e, v1));
    cr_assert_eq(e2e_int(v1, "voucher_used_cents"), 5600, "2 h x 28.00: %s", e2e_dump(&e, v1));
    cr_assert_gt(v_ver, 0, "%s not written by the worker", vkey);
    cr_assert_eq(v_ver, json_integer_value(json_object_get(v1, "version")),
                 "%s version %lld vs the answer %s", vkey, v_ver, e2e_dump(&e, v1));
    cr_assert_eq(p_ver, json_integer_value(json_object_get(p1, "version")),
                 "%s version %lld vs the answer %s", pkey, p_ver, e2e_dump(&e, p1));
    json_t *ev1 = e2e_get(&e, evpath, orgt);
    cr_assert_eq(json_array_size(json_object_get(ev1, "events")), 1, "%s", e2e_dump(&e, ev1));

    /* FLUSHALL the stack's Redis (this test only). */
    redisReply *rep = rds_command(r, "FLUSHALL");
    cr_assert_not_null(rep, "FLUSHALL: no answer");
    cr_assert(rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0, "FLUSHALL: %s",
              rep->str ? rep->str : "?");
    freeReplyObject(rep);
    cr_assert_eq(stored(r, vkey, NULL), -1);
    cr_assert_eq(stored(r, pkey, NULL), -1);

    /* The same documents, from PostgreSQL; the api writes nothing back. */
    json_t *v2 = e2e_get(&e, vpath, clientt);
    cr_expect(json_equal(v1, v2), "voucher from PostgreSQL differs:\n%s\n%s", e2e_dump(&e, v1),
              e2e_dump(&e, v2));
    json_t *p2 = e2e_get(&e, ppath, provt);
    cr_expect(json_equal(p1, p2), "provider from PostgreSQL differs:\n%s\n%s", e2e_dump(&e, p1),
              e2e_dump(&e, p2));
    json_t *ev2 = e2e_get(&e, evpath, orgt);
    cr_expect(json_equal(ev1, ev2), "events from PostgreSQL differ:\n%s\n%s", e2e_dump(&e, ev1),
              e2e_dump(&e, ev2));
    cr_expect_eq(stored(r, vkey, NULL), -1, "the api wrote %s back", vkey);
    cr_expect_eq(stored(r, pkey, NULL), -1, "the api wrote %s back", pkey);

    /* psopctl cache rebuild puts them back, with the documents' versions. */
    char *log = e2e_fmt(&e, "/tmp/e2e_cache_rebuild_%d.log", (int)getpid());
    char *cmd = e2e_fmt(&e, "%s/tools/psopctl cache rebuild >%s 2>&1", PSOP_BINARY_DIR, log);
    int rc = system(cmd);
    cr_assert_eq(rc, 0, "%s -> %d (see %s)", cmd, rc, log);
    char *vdoc = NULL, *pdoc = NULL;
    long long v_after = stored(r, vkey, &vdoc);
    long long p_after = stored(r, pkey, &pdoc);
    cr_expect_eq(v_after, v_ver, "%s version after the rebuild", vkey);
    cr_expect_eq(p_after, p_ver, "%s version after the rebuild", pkey);
    cr_expect_eq(stored(r, ekey, NULL), v_ver, "%s version after the rebuild", ekey);
    json_t *vj = vdoc ? json_loads(vdoc, 0, NULL) : NULL;
    json_t *pj = pdoc ? json_loads(pdoc, 0, NULL) : NULL;
    cr_assert_not_null(vj, "%s: %s", vkey, vdoc ? vdoc : "(absent)");
    cr_assert_not_null(pj, "%s: %s", pkey, pdoc ? pdoc : "(absent)");
    cr_expect_str_eq(e2e_str(vj, "id"), vid);
    cr_expect_eq(json_integer_value(json_object_get(vj, "version")), v_ver);
    cr_expect_str_eq(e2e_str(pj, "id"), prov);
    cr_expect_eq(json_integer_value(json_object_get(pj, "version")), p_ver);
    /* ... and the api answers the same documents from them. */
    json_t *v3 = e2e_get(&e, vpath, clientt);
    cr_expect(json_equal(v1, v3), "voucher after the rebuild differs:\n%s\n%s", e2e_dump(&e, v1),
              e2e_dump(&e, v3));
    json_t *p3 = e2e_get(&e, ppath, provt);
    cr_expect(json_equal(p1, p3), "provider after the rebuild differs:\n%s\n%s", e2e_dump(&e, p1),
              e2e_dump(&e, p3));

    /* An out-of-order older write does not overwrite the newer document. */
    char err[256];
    const char *stale = "{\"stale\":true}";
    cr_expect_eq(rds_put_versioned(r, vkey, v_ver - 1, stale, 0, err, sizeof(err)), 0,
                 "an older voucher write was taken: %s", err);
    cr_expect_eq(rds_put_versioned(r, pkey, p_ver - 1, stale, 0, err, sizeof(err)), 0,
                 "an older provider write was taken: %s", err);
    /* the same version is not newer either */
    cr_expect_eq(rds_put_versioned(r, vkey, v_ver, stale, 0, err, sizeof(err)), 0,
                 "a same-version voucher write was taken: %s", err);
    char *vdoc2 = NULL, *pdoc2 = NULL;
    cr_expect_eq(stored(r, vkey, &vdoc2), v_ver);
    cr_expect_eq(stored(r, pkey, &pdoc2), p_ver);
    cr_expect_str_eq(vdoc2 ? vdoc2 : "", vdoc, "%s was overwritten", vkey);
    cr_expect_str_eq(pdoc2 ? pdoc2 : "", pdoc, "%s was overwritten", pkey);
    json_t *v4 = e2e_get(&e, vpath, clientt);
    cr_expect(json_equal(v1, v4), "voucher after the stale write differs:\n%s\n%s",
              e2e_dump(&e, v1), e2e_dump(&e, v4));

    /* A newer write still goes through the worker path: one more command
     * bumps the version and the document follows. */
    e2e_ok(&e, "POST", e2e_fmt(&e, "/v1/vouchers/%s/amendments", vid), orgt,
           "{\"effective_from\":\"2026-06-01\",\"monthly_quota\":9}");
    long long want = v_ver + 1;
    json_t *v5 = e2e_get_until(&e, vpath, clientt, e2e_version_at_least, &want);
    cr_expect_eq(json_integer_value(json_object_get(v5, "version")), want, "%s", e2e_dump(&e, v5));
    cr_expect_eq(e2e_h(v5, "monthly_quota"), 900, "%s", e2e_dump(&e, v5));
    cr_expect_eq(stored(r, vkey, NULL), want);
    json_t *v6 = e2e_get_until(&e, vpath, clientt, has_provider, prov);
    cr_expect_str_eq(e2e_str(v6, "provider_id"), prov);

    /* A batch that touched more vouchers than it rebuilds (a settlement
     * run) leaves stale markers at the new versions; the api answers from
     * PostgreSQL and writes the documents back (read-through). */
    char perr[256];
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, perr, sizeof(perr));
    cr_assert_not_null(pg, "%s", perr);
    /* what the run does to each voucher it settled: a new version */
    const char *bp[] = {vid};
    PGresult *bump = pgc_query(pg,
                               "UPDATE psop.vouchers SET version = version + 1 "
                               "WHERE id = $1::uuid RETURNING version",
                               1, bp, perr, sizeof(perr));
    cr_assert_not_null(bump, "%s", perr);
    want = strtoll(PQgetvalue(bump, 0, 0), NULL, 10);
    PQclear(bump);
    json_object_set_new(v6, "version", json_integer(want));
    json_t *touched = json_pack("[[ss]]", "voucher", vid);
    rm_refresh(r, pg, touched, 0);
    json_decref(touched);
    char *mdoc = NULL;
    long long mver = 0;
    cr_assert_eq(rds_get_versioned(r, vkey, &mdoc, &mver, err, sizeof(err)), RDS_STALE,
                 "%s: no stale marker", vkey);
    cr_assert_eq(mver, want);
    cr_assert_eq(rds_get_versioned(r, ekey, &mdoc, &mver, err, sizeof(err)), RDS_STALE,
                 "%s: no stale marker", ekey);
    json_t *v7 = e2e_get(&e, vpath, clientt);
    cr_expect(json_equal(v6, v7), "voucher read over a stale marker differs:\n%s\n%s",
              e2e_dump(&e, v6), e2e_dump(&e, v7));
    json_t *ev3 = e2e_get(&e, evpath, orgt);
    cr_expect_eq(json_array_size(json_object_get(ev3, "events")), 1, "%s", e2e_dump(&e, ev3));
    char *fdoc = NULL;
    cr_assert_eq(stored(r, vkey, &fdoc), want, "%s not written back", vkey);
    json_t *fj = fdoc ? json_loads(fdoc, 0, NULL) : NULL;
    cr_assert_not_null(fj, "%s: %s", vkey, fdoc ? fdoc : "(absent)");
    cr_expect_str_eq(e2e_str(fj, "id"), vid);
    cr_expect_eq(stored(r, ekey, NULL), want, "%s not written back", ekey);
    /* the marker's version is not newer than the document written back */
    cr_expect_eq(rds_put_versioned(r, vkey, want, "", 0, err, sizeof(err)), 0);
    cr_expect_eq(rds_put_versioned(r, vkey, want - 1, stale, 0, err, sizeof(err)), 0);
    json_t *v8 = e2e_get(&e, vpath, clientt);
    cr_expect(json_equal(v6, v8), "voucher from the written-back document differs:\n%s\n%s",
              e2e_dump(&e, v6), e2e_dump(&e, v8));
    pgc_free(pg);
    free(fdoc);

    json_t *all[] = {v1, v2, v3, v4, v5, v6, v7, v8, ev3, fj, p1, p2, p3, ev1, ev2, vj, pj};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        json_decref(all[i]);
    free(vdoc);
    free(pdoc);
    free(vdoc2);
    free(pdoc2);
    rds_free(r);
    e2e_fini(&e);
}
