/*
 * End-to-end tests of issue 6 (purchased services, ostopalvelu) on the real
 * running stack, ONLY through the HTTP API at $PSOP_API_URL, every command
 * with Prefer: wait=10: 200 "applied" or 422 "rejected" with the worker's
 * reason (docs/orders.md). Every organiser, service type, provider, client,
 * contract and order is new, so the file runs again and again on the same
 * database; the only shared fact written is the holiday 2026-05-14
 * (Ascension Day), which e2e_voucher writes too.
 *
 * Dates are in May 2026 (a settled past month):
 *   Mon 05-04, Tue 05-05, Wed 05-06, Thu 05-07; Sat 05-09; Thu 05-14 holiday.
 *
 * The world: an hourly service type with band coefficients, VAT 0 %.
 * Contract C (provider P1) from 2026-04-01: 40.00 per hour, evening 46.00,
 * saturday 50.00, sunday 60.00, monthly volume cap 10.00 hours over all its
 * orders. Order A: client fee 12.50 per hour, quota 4.50 h a month.
 * Order B: no client fee (0), no quota. P1 also serves a voucher of the same
 * organiser (flat 30.00 per hour, P1's list price 34.90), so P1's May
 * settlement mixes voucher and order lines.
 *
 * If a test here fails, the product disagrees with domain.md "Purchased
 * services": do not "fix" the expectation.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e_http.h"

#define HOLIDAY "2026-05-14"

struct world {
    struct e2e e;
    char *org, *st, *admin, *orga, *orgb, *org_b;
    char *p1, *tp1, *p2, *tp2;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_init(e);
    w->org = e2e_uuid(e);
    w->org_b = e2e_uuid(e);
    w->st = e2e_code(e, "e2eo_");
    w->admin = e2e_tok(e, "admin", "e2e-admin", NULL, NULL, NULL);
    w->orga = e2e_tok(e, "organiser", "hankinnat-a", w->org, NULL, NULL);
    w->orgb = e2e_tok(e, "organiser", "hankinnat-b", w->org_b, NULL, NULL);
    e2e_organiser(&w->e, w->admin, w->org, "E2E-ostokunta A", 0);
    e2e_organiser(&w->e, w->admin, w->org_b, "E2E-ostokunta B", 0);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Kotihoito (e2e ostopalvelu)\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":true,"
           "\"band_coefficients\":{\"evening\":1.15,\"saturday\":1.25,\"sunday\":1.5}}");
    e2e_ok(e, "PUT", "/v1/holidays/" HOLIDAY, w->admin, "{\"name\":\"Helatorstai\"}");
    e2e_provider(&w->e, &w->p1, &w->tp1, "Ostohoiva");
    e2e_provider(&w->e, &w->p2, &w->tp2, "Muuhoiva");
}

static void world_fini(struct world *w)
{
    e2e_fini(&w->e);
}

static char *contract(struct world *w, const char *provider, const char *cap)
{
    struct e2e *e = &w->e;
    char *cid = e2e_uuid(e);
    json_t *s = e2e_ok_j(
        e, "PUT", e2e_fmt(e, "/v1/contracts/%s", cid), w->orga,
        e2e_fmt(e,
                "{\"organiser_id\":\"%s\",\"provider_id\":\"%s\",\"service_type\":\"%s\","
                "\"valid_from\":\"2026-04-01\",\"price_cents\":4000,"
                "\"band_prices_cents\":{\"evening\":4600,\"saturday\":5000,\"sunday\":6000}%s%s}",
                w->org, provider, w->st, cap ? ",\"monthly_volume_cap\":" : "", cap ? cap : ""));
    cr_expect_str_eq(e2e_str(s, "resource_id"), cid);
    json_decref(s);
    return cid;
}

static char *order(struct world *w, const char *cid, const char *client, long fee,
                   const char *quota)
{
    struct e2e *e = &w->e;
    char *oid = e2e_uuid(e);
    json_t *s = e2e_ok_j(e, "POST", "/v1/orders", w->orga,
                         e2e_fmt(e,
                                 "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                                 "\"contract_id\":\"%s\",\"decision_number\":\"MS-%s\","
                                 "\"valid_from\":\"2026-04-01\",\"client_fee_cents\":%ld%s%s}",
                                 oid, w->org, client, cid, oid + 24, fee,
                                 quota ? ",\"monthly_quota\":" : "", quota ? quota : ""));
    cr_expect_str_eq(e2e_str(s, "resource_id"), oid);
    cr_expect_str_eq(e2e_str(s, "type"), "order.create");
    json_decref(s);
    return oid;
}

static char *ev_path(struct world *w, const char *oid)
{
    return e2e_fmt(&w->e, "/v1/orders/%s/service-events", oid);
}

static char *ev_body(struct world *w, const char *eid, const char *date, const char *qty,
                     const char *band)
{
    return e2e_fmt(&w->e, "{%s%s%s\"date\":\"%s\",\"quantity\":%s%s%s%s}", eid ? "\"id\":\"" : "",
                   eid ? eid : "", eid ? "\"," : "", date, qty, band ? ",\"band\":\"" : "",
                   band ? band : "", band ? "\"" : "");
}

static char *record(struct world *w, const char *oid, const char *tok, const char *date,
                    const char *qty, const char *band)
{
    char *eid = e2e_uuid(&w->e);
    json_t *s = e2e_ok_j(&w->e, "POST", ev_path(w, oid), tok, ev_body(w, eid, date, qty, band));
    cr_expect_str_eq(e2e_str(s, "resource_id"), eid);
    json_decref(s);
    return eid;
}

static const char *record_rej(struct world *w, const char *oid, const char *tok, const char *date,
                              const char *qty, const char *band, const char *prefix)
{
    return e2e_rej(&w->e, "POST", ev_path(w, oid), tok, ev_body(w, NULL, date, qty, band), prefix);
}

struct ev_count {
    size_t n;
};

static bool has_n_events(const json_t *doc, const void *arg)
{
    return json_array_size(json_object_get(doc, "events")) >= ((const struct ev_count *)arg)->n;
}

/* The event eid of an events answer with its amounts. */
static void expect_amounts(const json_t *events, const char *eid, const char *state, long price,
                           long fee, long gross, long org, long client)
{
    json_t *ev = e2e_find(json_object_get(events, "events"), "id", eid);
    cr_assert_not_null(ev, "event %s not listed", eid);
    cr_expect_str_eq(e2e_str(ev, "state"), state, "event %s state", eid);
    cr_expect_eq(e2e_int(ev, "unit_price_cents"), price, "event %s unit price %lld, want %ld", eid,
                 e2e_int(ev, "unit_price_cents"), price);
    cr_expect_eq(e2e_int(ev, "client_fee_cents"), fee, "event %s fee", eid);
    cr_expect_eq(e2e_int(ev, "gross_cents"), gross, "event %s gross %lld, want %ld", eid,
                 e2e_int(ev, "gross_cents"), gross);
    cr_expect_eq(e2e_int(ev, "organiser_part_cents"), org, "event %s organiser part %lld, want %ld",
                 eid, e2e_int(ev, "organiser_part_cents"), org);
    cr_expect_eq(e2e_int(ev, "client_share_cents"), client, "event %s client share %lld, want %ld",
                 eid, e2e_int(ev, "client_share_cents"), client);
}

/* GET path until its events list has n events; returns it. */
static json_t *events_n(struct world *w, const char *oid, size_t n)
{
    struct ev_count c = {n};
    json_t *d = e2e_get_until(&w->e, ev_path(w, oid), w->orga, has_n_events, &c);
    cr_assert_eq(json_array_size(json_object_get(d, "events")), n, "%s", e2e_dump(&w->e, d));
    return d;
}

/*
 * The whole purchased-service flow with exact cents: a contract shared by
 * two orders under a volume cap, a client fee and none, the contract price
 * only, the contract's provider only, quota, the end of an order, reads,
 * and a settlement mixing voucher and order lines (then a credit of an
 * order event in the supplementary settlement).
 */
Test(e2e_orders, contract_orders_events_and_settlement)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *cid = contract(&w, w.p1, "10");
    char *ca = e2e_code(e, "os-a-"), *cb = e2e_code(e, "os-b-");
    char *oa = order(&w, cid, ca, 1250, "4.5");
    char *ob = order(&w, cid, cb, 0, NULL);

    /* The contract read: its organiser and provider; price history. */
    json_t *cd = e2e_get(e, e2e_fmt(e, "/v1/contracts/%s", cid), w.tp1);
    cr_expect_str_eq(e2e_str(cd, "provider_id"), w.p1);
    cr_expect_eq(e2e_h(cd, "monthly_volume_cap"), 1000);
    json_t *ph = json_array_get(json_object_get(cd, "price_history"), 0);
    cr_expect_eq(e2e_int(ph, "price_cents"), 4000);
    cr_expect_eq(e2e_int(json_object_get(ph, "band_prices_cents"), "sunday"), 6000);
    json_decref(cd);
    e2e_status(e, "GET", e2e_fmt(e, "/v1/contracts/%s", cid), w.tp2, NULL, 404,
               "another provider does not see the contract");
    e2e_status(e, "GET", e2e_fmt(e, "/v1/contracts/%s", cid), w.orgb, NULL, 404,
               "another organiser does not see the contract");

    /* Order A (fee 12.50): weekday 2.5 h at 40.00 = 100.00, client 31.25;
     * evening 1.5 h at 46.00 = 69.00, client 18.75. */
    char *e1 = record(&w, oa, w.tp1, "2026-05-04", "2.5", NULL);
    char *e2 = record(&w, oa, w.tp1, "2026-05-05", "1.5", "evening");
    /* Order B (no fee): saturday 2 h at 50.00, the holiday as sunday
     * 1.25 h at 60.00. */
    char *e3 = record(&w, ob, w.tp1, "2026-05-09", "2", "saturday");
    char *e4 = record(&w, ob, w.tp1, HOLIDAY, "1.25", "sunday");

    /* A price other than the contract's never gets in: the worker compares
     * a given unit_price_cents with the contract price for the date and
     * band (a provider ERP that always sends its price list gets a clear
     * rejection, not a schema error). */
    int st;
    char *raw;
    const char *why_price =
        e2e_rej(e, "POST", ev_path(&w, oa), w.tp1,
                "{\"date\":\"2026-05-06\",\"quantity\":1,\"unit_price_cents\":3500}",
                "price_not_contract_price");
    cr_expect(strstr(why_price, "35,00") || strstr(why_price, "35.00"),
              "the reason names the price given: %s", why_price);
    cr_expect(strstr(why_price, "40,00") || strstr(why_price, "40.00"),
              "the reason names the contract price: %s", why_price);
    /* ... and neither does a band the date does not allow. */
    record_rej(&w, oa, w.tp1, "2026-05-06", "1", "saturday", "band_not_allowed_on_date");

    /* Only the contract's provider records; P2 is refused. */
    const char *why = record_rej(&w, oa, w.tp2, "2026-05-06", "1", NULL, "forbidden:");
    cr_expect(strstr(why, cid) != NULL, "the reason names the contract: %s", why);

    /* Order A's quota: 4.00 used of 4.50, 1 more is too much. */
    record_rej(&w, oa, w.tp1, "2026-05-07", "1", NULL, "quota_exceeded");

    /* The volume cap over both orders: 7.25 used of 10.00; 3 more on
     * order B would cross it, 2.75 reaches it exactly. */
    why = record_rej(&w, ob, w.tp1, "2026-05-06", "3", NULL, "volume_cap_exceeded");
    cr_expect(strstr(why, "7.25") != NULL, "the reason shows the usage: %s", why);
    char *e5 = record(&w, ob, w.tp1, "2026-05-06", "2.75", NULL);
    /* Now order A has quota left (0.50) but the contract has none. */
    record_rej(&w, oa, w.tp1, "2026-05-07", "0.25", NULL, "volume_cap_exceeded");

    /* Amounts as stored, through the reads. */
    json_t *ea = events_n(&w, oa, 2);
    expect_amounts(ea, e1, "recorded", 4000, 1250, 10000, 6875, 3125);
    expect_amounts(ea, e2, "recorded", 4600, 1250, 6900, 5025, 1875);
    json_decref(ea);
    json_t *eb = events_n(&w, ob, 3);
    expect_amounts(eb, e3, "recorded", 5000, 0, 10000, 10000, 0);
    expect_amounts(eb, e4, "recorded", 6000, 0, 7500, 7500, 0);
    expect_amounts(eb, e5, "recorded", 4000, 0, 11000, 11000, 0);
    json_decref(eb);

    /* The order with the month's usage, for its client too. */
    char *ctok = e2e_tok(e, "client", ca, w.org, NULL, ca);
    json_t *od = e2e_get(e, e2e_fmt(e, "/v1/orders/%s?month=2026-05", oa), ctok);
    cr_expect_str_eq(e2e_str(od, "contract_id"), cid);
    cr_expect_str_eq(e2e_str(od, "provider_id"), w.p1);
    cr_expect_str_eq(e2e_str(od, "status"), "active");
    cr_expect_eq(e2e_int(od, "client_fee_cents"), 1250);
    cr_expect_eq(e2e_h(od, "used_quantity"), 400, "%s", e2e_dump(e, od));
    cr_expect_eq(e2e_h(od, "remaining_quantity"), 50);
    cr_expect_eq(e2e_int(od, "organiser_used_cents"), 11900);
    cr_expect_eq(e2e_int(od, "client_fee_used_cents"), 5000);
    json_decref(od);
    json_t *ol = e2e_get(e, e2e_fmt(e, "/v1/orders?client_id=%s", ca), w.orga);
    cr_expect_eq(json_array_size(json_object_get(ol, "orders")), 1, "%s", e2e_dump(e, ol));
    json_decref(ol);
    e2e_status(e, "GET", e2e_fmt(e, "/v1/orders/%s", oa), w.tp2, NULL, 404,
               "another provider does not see the order");
    e2e_status(e, "GET", ev_path(&w, oa), w.orgb, NULL, 404,
               "another organiser does not see the order's events");

    /* Ending order A on 05-20: an event after that is refused, one on the
     * day is fine (the quota still allows 0.50; the cap does not, so the
     * check shows the end first). An end before recorded events is refused. */
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/orders/%s/end", oa), w.orga,
            "{\"effective_date\":\"2026-05-04\",\"reason\":\"Asiakas muutti\"}",
            "events_after_date");
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/orders/%s/end", oa), w.orga,
           "{\"effective_date\":\"2026-05-20\",\"reason\":\"Asiakas muutti\"}");
    record_rej(&w, oa, w.tp1, "2026-05-21", "0.25", NULL, "order_not_active");
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/orders/%s/end", oa), w.orga,
            "{\"effective_date\":\"2026-05-25\",\"reason\":\"Toistamiseen\"}", "order_not_active");

    /* A voucher of the same organiser served by P1 in May: flat 30.00,
     * P1's list price 34.90; 2 h on Monday = 69.80, voucher 60.00. */
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/applications", w.p1), w.tp1,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"rulebook_version\":\"2026-1\"}",
                   w.org, w.st));
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/decisions", w.p1), w.orga,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"decision\":\"approved\",\"valid_from\":\"2026-04-01\"}",
                   w.org, w.st));
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/prices", w.p1), w.tp1,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"valid_from\":\"2026-04-01\",\"price_cents\":3490}",
                   w.org, w.st));
    char *vid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w.orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-%s\","
                   "\"valid_from\":\"2026-04-01\",\"unit_value_cents\":3000,"
                   "\"provider_id\":\"%s\"}",
                   vid, w.org, e2e_code(e, "vs-"), w.st, vid + 24, w.p1));
    char *ev = e2e_uuid(e);
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/service-events", vid), w.tp1,
           e2e_fmt(e, "{\"id\":\"%s\",\"date\":\"2026-05-04\",\"quantity\":2}", ev));

    /* Approve everything; the organiser of another municipality cannot. */
    e2e_rej(e, "POST", e2e_fmt(e, "%s/%s/approval", ev_path(&w, oa), e1), w.orgb, NULL,
            "forbidden:");
    const char *oevs[][2] = {{oa, e1}, {oa, e2}, {ob, e3}, {ob, e4}, {ob, e5}};
    for (size_t i = 0; i < 5; i++)
        e2e_ok(e, "POST", e2e_fmt(e, "%s/%s/approval", ev_path(&w, oevs[i][0]), oevs[i][1]), w.orga,
               NULL);
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/service-events/%s/approval", vid, ev), w.orga,
           NULL);

    /* The May settlement: one for P1 with 1 voucher line and 5 order lines.
     * gross 69.80 + 100.00 + 69.00 + 100.00 + 75.00 + 110.00 = 523.80,
     * organiser 60.00 + 68.75 + 50.25 + 100.00 + 75.00 + 110.00 = 464.00,
     * client 9.80 + 31.25 + 18.75 = 59.80. */
    e2e_ok(e, "POST", "/v1/settlements/runs", w.orga,
           e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2026-05\"}", w.org));
    json_t *sl =
        e2e_get(e, e2e_fmt(e, "/v1/settlements?organiser_id=%s&period=2026-05", w.org), w.orga);
    json_t *ss = json_object_get(sl, "settlements");
    cr_assert_eq(json_array_size(ss), 1, "%s", e2e_dump(e, sl));
    char *sid = e2e_fmt(e, "%s", e2e_str(json_array_get(ss, 0), "id"));
    json_decref(sl);
    json_t *sd = e2e_get(e, e2e_fmt(e, "/v1/settlements/%s", sid), w.tp1);
    cr_expect_str_eq(e2e_str(sd, "provider_id"), w.p1);
    json_t *tot = json_object_get(sd, "totals");
    cr_expect_eq(e2e_int(tot, "gross_cents"), 52380, "%s", e2e_dump(e, tot));
    cr_expect_eq(e2e_int(tot, "organiser_cents"), 46400, "%s", e2e_dump(e, tot));
    cr_expect_eq(e2e_int(tot, "client_share_cents"), 5980, "%s", e2e_dump(e, tot));
    cr_expect_eq(e2e_int(tot, "credit_cents"), 0);
    cr_expect_eq(e2e_int(tot, "payable_cents"), 46400);
    json_t *lines = json_object_get(sd, "lines");
    cr_expect_eq(json_array_size(lines), 6, "%s", e2e_dump(e, lines));
    int vouchers = 0, orders = 0;
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        const char *src = e2e_str(l, "source");
        if (strcmp(src, "voucher") == 0) {
            vouchers++;
            cr_expect_str_eq(e2e_str(l, "voucher_id"), vid);
            cr_expect_null(json_object_get(l, "contract_id"));
            cr_expect_eq(e2e_int(l, "organiser_cents"), 6000);
        } else {
            orders++;
            cr_expect_str_eq(src, "order");
            cr_expect_str_eq(e2e_str(l, "contract_id"), cid);
            const char *o = e2e_str(l, "order_id");
            cr_expect(strcmp(o, oa) == 0 || strcmp(o, ob) == 0, "line order %s", o);
            if (strcmp(e2e_str(l, "event_id"), e1) == 0) {
                cr_expect_eq(e2e_int(l, "gross_cents"), 10000);
                cr_expect_eq(e2e_int(l, "organiser_cents"), 6875);
                cr_expect_eq(e2e_int(l, "client_share_cents"), 3125);
            }
        }
    }
    cr_expect_eq(vouchers, 1);
    cr_expect_eq(orders, 5);
    json_decref(sd);

    /* Finvoice rows name the order and the contract. */
    json_decref(e2e_call(e, "GET", e2e_fmt(e, "/v1/settlements/%s/finvoice", sid), w.orga, NULL,
                         NULL, &st, &raw));
    cr_expect_eq(st, 200, "finvoice: %d %s", st, raw);
    cr_expect(strstr(raw, cid) != NULL, "finvoice names the contract");
    cr_expect(strstr(raw, ob) != NULL, "finvoice names order B");
    cr_expect(strstr(raw, vid) != NULL, "finvoice names the voucher");

    /* The order events are settled now; P1 cannot edit them. */
    json_t *eb2 = events_n(&w, ob, 3);
    expect_amounts(eb2, e3, "settled", 5000, 0, 10000, 10000, 0);
    json_decref(eb2);
    e2e_rej(e, "DELETE", e2e_fmt(e, "%s/%s", ev_path(&w, ob), e3), w.tp1, NULL,
            "event_not_deletable");

    /* A credit of 0.5 h of e3 (saturday 50.00, no fee): -25.00, all the
     * organiser's; it goes into the supplementary May settlement. */
    e2e_ok(e, "POST", e2e_fmt(e, "%s/%s/credits", ev_path(&w, ob), e3), w.orga,
           "{\"quantity\":0.5,\"reason_code\":\"wrong_quantity\","
           "\"explanation\":\"Käynti kesti 1,5 h\"}");
    e2e_ok(e, "POST", "/v1/settlements/runs", w.orga,
           e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2026-05\"}", w.org));
    sl = e2e_get(e, e2e_fmt(e, "/v1/settlements?organiser_id=%s&period=2026-05", w.org), w.orga);
    ss = json_object_get(sl, "settlements");
    cr_assert_eq(json_array_size(ss), 2, "%s", e2e_dump(e, sl));
    json_t *s2 = NULL;
    json_array_foreach(ss, i, l)
    {
        if (strcmp(e2e_str(l, "id"), sid) != 0)
            s2 = l;
    }
    cr_assert_not_null(s2);
    json_t *sd2 = e2e_get(e, e2e_fmt(e, "/v1/settlements/%s", e2e_str(s2, "id")), w.orga);
    json_decref(sl);
    tot = json_object_get(sd2, "totals");
    cr_expect_eq(e2e_int(tot, "gross_cents"), 0, "%s", e2e_dump(e, tot));
    cr_expect_eq(e2e_int(tot, "credit_cents"), -2500, "%s", e2e_dump(e, tot));
    cr_expect_eq(e2e_int(tot, "payable_cents"), -2500);
    l = json_array_get(json_object_get(sd2, "lines"), 0);
    cr_expect_str_eq(e2e_str(l, "kind"), "credit");
    cr_expect_str_eq(e2e_str(l, "source"), "order");
    cr_expect_str_eq(e2e_str(l, "contract_id"), cid);
    cr_expect_eq(e2e_int(l, "gross_cents"), -2500);
    cr_expect_eq(e2e_int(l, "client_share_cents"), 0);
    json_decref(sd2);
    world_fini(&w);
}

/* A credit on an order with a client fee splits like the event: 1 h of the
 * evening event (46.00, fee 12.50) is -46.00 gross, -12.50 client, -33.50
 * organiser. Also: contract rules (another organiser's contract, a changed
 * provider, a cap on the same month after an edit). */
Test(e2e_orders, contract_rules)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *cid = contract(&w, w.p1, NULL);
    /* A contract's provider never changes; another organiser cannot use or
     * overwrite it. */
    e2e_rej(e, "PUT", e2e_fmt(e, "/v1/contracts/%s", cid), w.orga,
            e2e_fmt(e,
                    "{\"organiser_id\":\"%s\",\"provider_id\":\"%s\",\"service_type\":\"%s\","
                    "\"valid_from\":\"2026-04-01\",\"price_cents\":4000}",
                    w.org, w.p2, w.st),
            "contract_immutable");
    e2e_rej(e, "POST", "/v1/orders", w.orgb,
            e2e_fmt(e,
                    "{\"organiser_id\":\"%s\",\"client_id\":\"x-1\",\"contract_id\":\"%s\","
                    "\"decision_number\":\"MS-1\",\"valid_from\":\"2026-04-01\","
                    "\"client_fee_cents\":0}",
                    w.org_b, cid),
            "not_found:");
    e2e_status(e, "POST", "/v1/orders", w.orgb,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"client_id\":\"x-1\",\"contract_id\":\"%s\","
                       "\"decision_number\":\"MS-1\",\"valid_from\":\"2026-04-01\","
                       "\"client_fee_cents\":0}",
                       w.org, cid),
               403, "an organiser_id that contradicts the token");
    /* A new price from 2026-06-01: May keeps 40.00. */
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/contracts/%s", cid), w.orga,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"provider_id\":\"%s\",\"service_type\":\"%s\","
                   "\"valid_from\":\"2026-06-01\",\"price_cents\":4200,"
                   "\"monthly_volume_cap\":2}",
                   w.org, w.p1, w.st));
    json_t *cd = e2e_get(e, e2e_fmt(e, "/v1/contracts/%s", cid), w.orga);
    cr_expect_str_eq(e2e_str(cd, "valid_from"), "2026-04-01", "%s", e2e_dump(e, cd));
    cr_expect_eq(json_array_size(json_object_get(cd, "price_history")), 2);
    json_decref(cd);
    char *ca = e2e_code(e, "os-c-");
    char *oa = order(&w, cid, ca, 1250, NULL);
    char *e1 = record(&w, oa, w.tp1, "2026-05-05", "1.5", "evening");
    char *e2 = record(&w, oa, w.tp1, "2026-06-01", "0.5", NULL);
    /* Editing e1 to 2.5 h would cross the May cap (2.00). */
    e2e_rej(e, "PATCH", e2e_fmt(e, "%s/%s", ev_path(&w, oa), e1), w.tp1, "{\"quantity\":2.5}",
            "volume_cap_exceeded");
    e2e_ok(e, "PATCH", e2e_fmt(e, "%s/%s", ev_path(&w, oa), e1), w.tp1, "{\"quantity\":2}");
    json_t *ea = events_n(&w, oa, 2);
    expect_amounts(ea, e1, "recorded", 4600, 1250, 9200, 6700, 2500);
    expect_amounts(ea, e2, "recorded", 4200, 1250, 2100, 1475, 625);
    json_decref(ea);
    world_fini(&w);
}

/* The volume cap holds when the contract's orders (different partitions,
 * maybe different workers) record at once: 40 concurrent events of 0.25 h
 * on two orders under a cap of 5.00 h a month: exactly 20 get in, 20 are
 * rejected volume_cap_exceeded, and the month sums to the cap. */
Test(e2e_orders, volume_cap_holds_under_concurrent_recording)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *cid = contract(&w, w.p1, "5");
    char *o[2] = {order(&w, cid, e2e_code(e, "os-p-"), 0, NULL),
                  order(&w, cid, e2e_code(e, "os-q-"), 0, NULL)};
    enum { N = 40 };
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        char *path = ev_path(&w, o[i % 2]);
        kids[i] = fork();
        cr_assert_neq(kids[i], -1);
        if (kids[i] == 0) {
            struct tl_resp r;
            int rc = tl_request(e->port, "POST", path, w.tp1, "application/json",
                                "{\"date\":\"2026-05-04\",\"quantity\":0.25}", E2E_WAIT, &r);
            if (rc == 0)
                tl_await_verdict(e->port, w.tp1, &r, E2E_VERDICT_S);
            int code = 3;
            if (rc == 0 && r.status == 200)
                code = 0;
            else if (rc == 0 && r.status == 422 && r.body && strstr(r.body, "volume_cap_exceeded"))
                code = 1;
            _exit(code);
        }
    }
    int applied = 0, capped = 0, other = 0;
    for (int i = 0; i < N; i++) {
        int st = 0;
        waitpid(kids[i], &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 3;
        applied += code == 0;
        capped += code == 1;
        other += code > 1;
    }
    cr_expect_eq(applied, 20, "applied %d, capped %d, other %d", applied, capped, other);
    cr_expect_eq(capped, 20, "applied %d, capped %d, other %d", applied, capped, other);
    cr_expect_eq(other, 0);
    /* The read models follow the verdicts within moments. */
    long used = 0;
    double until = h_now() + E2E_POLL_S;
    do {
        used = 0;
        for (int k = 0; k < 2; k++) {
            json_t *od = e2e_get(e, e2e_fmt(e, "/v1/orders/%s?month=2026-05", o[k]), w.orga);
            used += e2e_h(od, "used_quantity");
            json_decref(od);
        }
        if (used != 500)
            h_sleep_ms(100);
    } while (used != 500 && h_now() < until);
    cr_expect_eq(used, 500, "the two orders' May usage sums to %ld hundredths, the cap is 500",
                 used);
    world_fini(&w);
}
