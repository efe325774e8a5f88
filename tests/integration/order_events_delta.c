/*
 * Issue 19: an order's events document (psop:order-events:{id}) is patched
 * with the events each worker batch changed instead of rebuilt whole
 * (lib/views/view_events_delta.c, workers/read_models.c), as a voucher's is.
 * The commands go through the HTTP API of the running stack (Prefer: wait);
 * the stored document is then compared with the one PostgreSQL builds whole,
 * and it must have been patched, not only written whole.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"
#include "rds_test.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_order.h"

struct world {
    struct e2e e;
    char *org, *st, *admin, *orga, *p, *tp, *cid, *oid;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_init(e);
    w->org = e2e_uuid(e);
    w->st = e2e_code(e, "oed_");
    w->admin = e2e_tok(e, "admin", "oed-admin", NULL, NULL, NULL);
    w->orga = e2e_tok(e, "organiser", "oed-hankinnat", w->org, NULL, NULL);
    e2e_organiser(e, w->admin, w->org, "Deltakunta", 0);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Kotihoito (delta)\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":true,"
           "\"band_coefficients\":{\"evening\":1.15,\"saturday\":1.25,\"sunday\":1.5}}");
    e2e_provider(e, &w->p, &w->tp, "Deltahoiva");
    w->cid = e2e_uuid(e);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/contracts/%s", w->cid), w->orga,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"provider_id\":\"%s\",\"service_type\":\"%s\","
                   "\"valid_from\":\"2026-04-01\",\"price_cents\":4000,"
                   "\"band_prices_cents\":{\"evening\":4600,\"saturday\":5000,\"sunday\":6000}}",
                   w->org, w->p, w->st));
    w->oid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/orders", w->orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"contract_id\":\"%s\",\"decision_number\":\"MS-D-%s\","
                   "\"valid_from\":\"2026-04-01\",\"client_fee_cents\":1250}",
                   w->oid, w->org, e2e_code(e, "oed-c-"), w->cid, w->oid + 24));
}

static long long events_field(struct rds *r, const char *oid, const char *field)
{
    return st_redis_hfield(r, VIEW_ORDER_EVENTS_KEY_FMT, oid, field);
}

/* The stored events document equals the one PostgreSQL builds whole;
 * returns how many events it has. */
static size_t expect_events_whole(struct rds *r, struct pgc *pg, const char *oid)
{
    char err[256], key[128];
    snprintf(key, sizeof(key), VIEW_ORDER_EVENTS_KEY_FMT, oid);
    char *text = NULL;
    long long ver = 0;
    cr_assert_eq(rds_get_versioned(r, key, &text, &ver, err, sizeof(err)), RDS_FOUND,
                 "order %s: no events document: %s", oid, err);
    json_error_t je;
    json_t *stored = json_loads(text, 0, &je);
    cr_assert_not_null(stored, "stored text is not JSON (%s): %s", je.text, text);
    free(text);
    json_t *whole = view_order_events(pg, oid, NULL, err, sizeof(err));
    cr_assert_not_null(whole, "%s", err);
    return st_expect_same_events(stored, whole, "order", oid);
}

Test(order_events_delta, kept_by_delta_equals_the_whole_one, .timeout = 300)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *path = e2e_fmt(e, "/v1/orders/%s/service-events", w.oid);
    enum { N = 40 };
    struct {
        char *id;
        int state; /* 0 recorded, 1 approved, 2 deleted */
    } evs[N];
    int nev = 0;
    static const char *const days[] = {"2026-05-04", "2026-05-05", "2026-05-06", "2026-05-07",
                                       "2026-05-11", "2026-05-12", "2026-06-01", "2026-06-02"};
    srand(20261207);
    for (int i = 0; i < N; i++) {
        int op = nev == 0 ? 0 : rand() % 4; /* record, edit, delete, approve */
        int pick = -1;
        for (int tries = 0; op != 0 && pick < 0 && tries < 20; tries++) {
            int j = rand() % nev;
            if (evs[j].state == 0)
                pick = j;
        }
        if (pick < 0)
            op = 0;
        const char *date = days[rand() % (int)(sizeof(days) / sizeof(days[0]))];
        const char *qty[] = {"0.5", "1", "1.25", "2"};
        if (op == 0) {
            char *eid = e2e_uuid(e);
            e2e_ok(e, "POST", path, w.tp,
                   e2e_fmt(e, "{\"id\":\"%s\",\"date\":\"%s\",\"quantity\":%s%s}", eid, date,
                           qty[rand() % 4], rand() % 3 == 0 ? ",\"band\":\"evening\"" : ""));
            evs[nev].id = eid;
            evs[nev++].state = 0;
        } else if (op == 1) {
            e2e_ok(e, "PATCH", e2e_fmt(e, "%s/%s", path, evs[pick].id), w.tp,
                   e2e_fmt(e, "{\"date\":\"%s\",\"quantity\":%s}", date, qty[rand() % 4]));
        } else if (op == 2) {
            e2e_ok(e, "DELETE", e2e_fmt(e, "%s/%s", path, evs[pick].id), w.tp, NULL);
            evs[pick].state = 2;
        } else {
            e2e_ok(e, "POST", e2e_fmt(e, "%s/%s/approval", path, evs[pick].id), w.orga, NULL);
            evs[pick].state = 1;
        }
    }
    /* An order command between event commands: the next event's batch
     * cannot patch over a document it did not start from (whole write). */
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/orders/%s/end", w.oid), w.orga,
           "{\"effective_date\":\"2026-06-30\",\"reason\":\"Palvelu päättyy\"}");
    char *last = e2e_uuid(e);
    e2e_ok(e, "POST", path, w.tp,
           e2e_fmt(e, "{\"id\":\"%s\",\"date\":\"2026-06-03\",\"quantity\":1}", last));
    char *after = e2e_uuid(e);
    e2e_ok(e, "POST", path, w.tp,
           e2e_fmt(e, "{\"id\":\"%s\",\"date\":\"2026-05-13\",\"quantity\":1}", after));

    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(pg, "%s", err);
    size_t n = expect_events_whole(r, pg, w.oid);
    cr_expect_gt(n, 10, "the order has %zu events", n);
    long long patches = events_field(r, w.oid, "p");
    cr_assert(patches >= 0, "not stored itemised");
    cr_expect_gt(patches, 0, "last written whole, not patched");
    cr_expect_eq(events_field(r, w.oid, "d"), -1, "itemised, no whole text");
    /* Through the API too: the answer lists what PostgreSQL has. */
    json_t *got = e2e_get(e, path, w.orga);
    cr_expect_eq(json_array_size(json_object_get(got, "events")), n, "%s", e2e_dump(e, got));
    cr_expect_str_eq(e2e_str(got, "contract_id"), w.cid);
    json_decref(got);
    pgc_free(pg);
    rds_free(r);
    e2e_fini(e);
}
