/*
 * End-to-end tests of issue 4 (vouchers and service events) on the real
 * running stack, ONLY through the HTTP API at $PSOP_API_URL (HAProxy in front
 * of the psop-api replicas), every command with Prefer: wait=10: 200 with
 * status "applied", or 422 "rejected" with the worker's reason
 * (docs/vouchers.md). Tokens are minted with the stack's secret
 * (jwt_token_mint). Every organiser, service type, provider (Y-tunnus),
 * client and voucher is new, so the file runs again and again on the same
 * database; the only shared fact it writes is a real holiday (Ascension Day
 * 2026-05-14, a Thursday).
 *
 * Dates are in May 2026 (in the past; today is read from the clock only for
 * the "future date" rule):
 *   Mon 05-04, Tue 05-05, Wed 05-06, Thu 05-07 weekdays; Sat 05-09; Sun 05-10;
 *   Thu 05-14 Ascension Day (a holiday: counts as Sunday).
 *
 * If a test here fails, the product disagrees with /work/shared/spec/domain.md
 * (the expectations are the spec's): do not "fix" the expectation.
 *
 * Run: source .run/stack.env; cd /work/main;
 *      build-e2e/tests/integration/integration_e2e_voucher
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"

#define HOLIDAY "2026-05-14"

/* ----------------------------------------------------------------- world */

struct world {
    struct e2e e;
    char *org, *org_b;   /* organisers A and B */
    char *st, *st_plain; /* hourly banded + income model; per visit, no share */
    char *admin, *orga, *orgb;
    char *p1, *tp1, *p2, *tp2; /* providers approved for A from 2026-04-01 */
};

static void prov_apply(struct world *w, const char *id, const char *token, const char *st)
{
    e2e_ok(&w->e, "POST", e2e_fmt(&w->e, "/v1/providers/%s/applications", id), token,
           e2e_fmt(&w->e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                   "\"rulebook_version\":\"2026-1\"}",
                   w->org, st));
}

static void prov_approve(struct world *w, const char *id, const char *st, const char *from)
{
    e2e_ok(&w->e, "POST", e2e_fmt(&w->e, "/v1/providers/%s/decisions", id), w->orga,
           e2e_fmt(&w->e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"decision\":\"approved\","
                   "\"valid_from\":\"%s\"}",
                   w->org, st, from));
}

/* bands: a JSON object for band_prices_cents or NULL. */
static void prov_price(struct world *w, const char *id, const char *token, const char *st,
                       const char *from, long price, const char *bands)
{
    e2e_ok(&w->e, "POST", e2e_fmt(&w->e, "/v1/providers/%s/prices", id), token,
           e2e_fmt(&w->e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"valid_from\":\"%s\","
                   "\"price_cents\":%ld%s%s}",
                   w->org, st, from, price, bands ? ",\"band_prices_cents\":" : "",
                   bands ? bands : ""));
}

/*
 * The admin creates organisers A and B, an hourly service type with band
 * coefficients (evening 1.15, saturday 1.25, sunday 1.50) and an income model
 * (max 32.00, min 10.00 per hour, divisor 100; household 1: limit 600.00 €,
 * 15 %; household 2: limit 1100.00 €, 12 %; +200.00 € and -1 % per extra
 * person), a per-visit service type without bands and without client share,
 * and the holiday. Provider P1 registers, applies for both types, is
 * approved from 2026-04-01 and sets prices: hourly 34.90 with band prices
 * saturday 39.90 and sunday 44.90 (evening has no price of its own: 34.90),
 * per visit 25.00. Provider P2: hourly 33.00 in every band.
 */
static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_init(e);
    w->org = e2e_uuid(e);
    w->org_b = e2e_uuid(e);
    w->st = e2e_code(e, "e2ek_");
    w->st_plain = e2e_code(e, "e2ef_");
    w->admin = e2e_tok(e, "admin", "e2e-admin", NULL, NULL, NULL);
    w->orga = e2e_tok(e, "organiser", "kasittelija-a", w->org, NULL, NULL);
    w->orgb = e2e_tok(e, "organiser", "kasittelija-b", w->org_b, NULL, NULL);

    e2e_organiser(&w->e, w->admin, w->org, "E2E-kunta A", 0);
    e2e_organiser(&w->e, w->admin, w->org_b, "E2E-kunta B", 0);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Kotihoito (e2e)\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":true,"
           "\"band_coefficients\":{\"evening\":1.15,\"saturday\":1.25,\"sunday\":1.5},"
           "\"income_model\":{\"max_value_cents\":3200,\"min_value_cents\":1000,"
           "\"divisor\":100,\"table\":[{\"household_size\":1,\"limit_cents\":60000,"
           "\"pct_bp\":1500},{\"household_size\":2,\"limit_cents\":110000,\"pct_bp\":1200}],"
           "\"extra_person_limit_cents\":20000,\"extra_person_pct_bp\":100}}");
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st_plain), w->admin,
           "{\"name\":\"Fysioterapia (e2e)\",\"unit\":\"visit\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":false}");
    e2e_ok(e, "PUT", "/v1/holidays/" HOLIDAY, w->admin, "{\"name\":\"Helatorstai\"}");

    e2e_provider(&w->e, &w->p1, &w->tp1, "Hoiva Yksi");
    prov_apply(w, w->p1, w->tp1, w->st);
    prov_apply(w, w->p1, w->tp1, w->st_plain);
    prov_approve(w, w->p1, w->st, "2026-04-01");
    prov_approve(w, w->p1, w->st_plain, "2026-04-01");
    prov_price(w, w->p1, w->tp1, w->st, "2026-04-01", 3490, "{\"saturday\":3990,\"sunday\":4490}");
    prov_price(w, w->p1, w->tp1, w->st_plain, "2026-04-01", 2500, NULL);

    e2e_provider(&w->e, &w->p2, &w->tp2, "Hoiva Kaksi");
    prov_apply(w, w->p2, w->tp2, w->st);
    prov_approve(w, w->p2, w->st, "2026-04-01");
    prov_price(w, w->p2, w->tp2, w->st, "2026-04-01", 3300, NULL);
}

static void world_fini(struct world *w)
{
    e2e_fini(&w->e);
}

/* A client token of organiser A (kept until world_fini). */
static char *client_tok(struct world *w, const char *client)
{
    return e2e_tok(&w->e, "client", client, w->org, NULL, client);
}

/* Grants a flat voucher of organiser A; quota and provider may be NULL. */
static char *grant(struct world *w, const char *client, const char *st, long value,
                   const char *quota, const char *valid_from, const char *provider)
{
    struct e2e *e = &w->e;
    char *vid = e2e_uuid(e);
    json_t *s = e2e_ok_j(e, "POST", "/v1/vouchers", w->orga,
                         e2e_fmt(e,
                                 "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                                 "\"service_type\":\"%s\",\"decision_number\":\"PS-E2E-%s\","
                                 "\"valid_from\":\"%s\",\"unit_value_cents\":%ld%s%s%s%s%s}",
                                 vid, w->org, client, st, vid + 24, valid_from, value,
                                 quota ? ",\"monthly_quota\":" : "", quota ? quota : "",
                                 provider ? ",\"provider_id\":\"" : "", provider ? provider : "",
                                 provider ? "\"" : ""));
    cr_expect_str_eq(e2e_str(s, "resource_id"), vid);
    cr_expect_str_eq(e2e_str(s, "type"), "voucher.grant");
    json_decref(s);
    return vid;
}

static char *events_path(struct world *w, const char *vid)
{
    return e2e_fmt(&w->e, "/v1/vouchers/%s/service-events", vid);
}

/* service_event.record body; qty as JSON text ("2.5"), band/price optional. */
static char *event_body(struct world *w, const char *eid, const char *date, const char *qty,
                        const char *band, long price)
{
    return e2e_fmt(&w->e, "{%s%s%s\"date\":\"%s\",\"quantity\":%s%s%s%s%s}", eid ? "\"id\":\"" : "",
                   eid ? eid : "", eid ? "\"," : "", date, qty, band ? ",\"band\":\"" : "",
                   band ? band : "", band ? "\"" : "",
                   price >= 0 ? e2e_fmt(&w->e, ",\"unit_price_cents\":%ld", price) : "");
}

/* Records an event that must be applied; returns its id. */
static char *record(struct world *w, const char *vid, const char *ptok, const char *date,
                    const char *qty, const char *band, long price)
{
    char *eid = e2e_uuid(&w->e);
    json_t *s = e2e_ok_j(&w->e, "POST", events_path(w, vid), ptok,
                         event_body(w, eid, date, qty, band, price));
    cr_expect_str_eq(e2e_str(s, "resource_id"), eid);
    json_decref(s);
    return eid;
}

/* Records an event that must be rejected with prefix; returns the reason. */
static const char *record_rej(struct world *w, const char *vid, const char *ptok, const char *date,
                              const char *qty, const char *band, long price, const char *prefix)
{
    return e2e_rej(&w->e, "POST", events_path(w, vid), ptok,
                   event_body(w, NULL, date, qty, band, price), prefix);
}

/* ready(): the event arg->id shows state arg->state. */
struct ev_state {
    const char *id, *state;
};

static bool event_in_state(const json_t *doc, const void *arg)
{
    const struct ev_state *x = arg;
    json_t *ev = e2e_find(json_object_get(doc, "events"), "id", x->id);
    return ev && strcmp(e2e_str(ev, "state"), x->state) == 0;
}

/* ready(): the month's usage counts arg events. */
static bool usage_has_events(const json_t *doc, const void *arg)
{
    return json_integer_value(json_object_get(doc, "events")) == *(const long long *)arg;
}

/* ready(): the voucher list shows n providers, all with a weekday price. */
static bool providers_priced(const json_t *doc, const void *arg)
{
    const json_t *ps = json_object_get(doc, "providers");
    if (json_array_size(ps) != *(const size_t *)arg)
        return false;
    size_t i;
    json_t *p;
    json_array_foreach(ps, i, p)
    {
        if (!json_is_integer(json_object_get(p, "unit_price_cents")))
            return false;
    }
    return true;
}

/* Expects an event with exactly these amounts and state. */
static void expect_event(struct world *w, const json_t *events, const char *eid, const char *what,
                         const char *date, long qty_h, const char *band, long price, long vu,
                         long gross, long org, long client, const char *state)
{
    json_t *ev = e2e_find(events, "id", eid);
    cr_assert_not_null(ev, "%s: event %s missing in %s", what, eid, e2e_dump(&w->e, events));
    const char *d = e2e_dump(&w->e, ev);
    cr_expect_str_eq(e2e_str(ev, "date"), date, "%s: %s", what, d);
    cr_expect_eq(e2e_h(ev, "quantity"), qty_h, "%s quantity: %s", what, d);
    cr_expect_str_eq(e2e_str(ev, "band"), band, "%s band: %s", what, d);
    cr_expect_eq(e2e_int(ev, "unit_price_cents"), price, "%s unit price: %s", what, d);
    cr_expect_eq(e2e_int(ev, "value_unit_cents"), vu, "%s value_unit: %s", what, d);
    cr_expect_eq(e2e_int(ev, "gross_cents"), gross, "%s gross: %s", what, d);
    cr_expect_eq(e2e_int(ev, "organiser_part_cents"), org, "%s organiser part: %s", what, d);
    cr_expect_eq(e2e_int(ev, "client_share_cents"), client, "%s client share: %s", what, d);
    cr_expect_eq(e2e_int(ev, "gross_cents"),
                 e2e_int(ev, "organiser_part_cents") + e2e_int(ev, "client_share_cents"),
                 "%s: gross = organiser part + client share: %s", what, d);
    cr_expect_str_eq(e2e_str(ev, "state"), state, "%s state: %s", what, d);
}

/* Per-unit figures of one band of one provider in GET .../providers. */
static void expect_unit(struct world *w, const json_t *p, const char *band, long price, long value,
                        long share)
{
    const json_t *b = band ? json_object_get(json_object_get(p, "bands"), band) : p;
    const char *d = e2e_dump(&w->e, p);
    cr_assert_not_null(b, "band %s missing: %s", band, d);
    cr_expect_eq(e2e_int(b, "unit_price_cents"), price, "%s price: %s", band ? band : "top", d);
    cr_expect_eq(e2e_int(b, "voucher_value_cents"), value, "%s value: %s", band ? band : "top", d);
    cr_expect_eq(e2e_int(b, "client_share_cents"), share, "%s share: %s", band ? band : "top", d);
}

/* ------------------------------------------------------------ 1. story */

Test(e2e_voucher, whole_voucher_story)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;

    /* The provider document shows the approval and the prices. */
    json_t *pd = e2e_get(e, e2e_fmt(e, "/v1/providers/%s", w.p1), w.tp1);
    json_t *ap = e2e_find(json_object_get(pd, "approvals"), "service_type", w.st);
    cr_expect_str_eq(e2e_str(ap, "status"), "approved", "%s", e2e_dump(e, pd));
    cr_expect_str_eq(e2e_str(ap, "valid_from"), "2026-04-01", "%s", e2e_dump(e, pd));
    json_decref(pd);

    /* The organiser grants a flat voucher: 30.00 € per hour, 12 h a month. */
    char *c1 = e2e_code(e, "as-");
    char *tc1 = client_tok(&w, c1);
    char *v1 = grant(&w, c1, w.st, 3000, "12", "2026-05-01", NULL);

    /* ... and an income-related one: household 2, income 2500.50 € a month:
     * limit 1100.00 €, excess 1400.50 €, reduction round(140050 x 1200 /
     * 10000 / 100) = round(168.06) = 1.68 €, value 32.00 - 1.68 = 30.32 €. */
    char *c2 = e2e_code(e, "as-");
    char *tc2 = client_tok(&w, c2);
    char *v2 = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w.orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-E2E-TULO\","
                   "\"valid_from\":\"2026-05-01\",\"income\":{\"household_size\":2,"
                   "\"monthly_income_cents\":250050}}",
                   v2, w.org, c2, w.st));
    json_t *d2 = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s", v2), tc2);
    const char *s2 = e2e_dump(e, d2);
    cr_expect_str_eq(e2e_str(d2, "value_basis"), "income", "%s", s2);
    cr_expect_eq(e2e_int(d2, "unit_value_cents"), 3032, "%s", s2);
    cr_expect_str_eq(e2e_str(d2, "status"), "active", "%s", s2);
    const json_t *inc = json_object_get(d2, "income");
    cr_assert_not_null(inc, "no income basis: %s", s2);
    cr_expect_eq(e2e_int(inc, "household_size"), 2, "%s", s2);
    cr_expect_eq(e2e_int(inc, "monthly_income_cents"), 250050, "%s", s2);
    cr_expect_eq(e2e_int(inc, "limit_cents"), 110000, "%s", s2);
    cr_expect_eq(e2e_int(inc, "pct_bp"), 1200, "%s", s2);
    cr_expect_eq(e2e_int(inc, "excess_cents"), 140050, "%s", s2);
    cr_expect_eq(e2e_int(inc, "max_value_cents"), 3200, "%s", s2);
    cr_expect_eq(e2e_int(inc, "min_value_cents"), 1000, "%s", s2);
    cr_expect_eq(e2e_int(inc, "divisor"), 100, "%s", s2);
    cr_expect_eq(e2e_int(inc, "value_cents"), 3032, "%s", s2);
    const json_t *vh = json_array_get(json_object_get(d2, "value_history"), 0);
    cr_expect_str_eq(e2e_str(vh, "from"), "2026-05-01", "%s", s2);
    cr_expect_eq(e2e_int(vh, "unit_value_cents"), 3032, "%s", s2);
    json_decref(d2);

    /* The flat one as its client sees it. */
    json_t *d1 = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s", v1), tc1);
    const char *s1 = e2e_dump(e, d1);
    cr_expect_str_eq(e2e_str(d1, "value_basis"), "flat", "%s", s1);
    cr_expect_eq(e2e_int(d1, "unit_value_cents"), 3000, "%s", s1);
    cr_expect_eq(e2e_h(d1, "monthly_quota"), 1200, "%s", s1);
    cr_expect_str_eq(e2e_str(d1, "client_id"), c1, "%s", s1);
    cr_expect_null(json_object_get(d1, "income"), "%s", s1);
    json_decref(d1);

    /* The client compares providers. Per unit on the 30.00 voucher
     * (value_unit = round(30.00 x coefficient), share = price - min(price,
     * value_unit)):
     *   P2 33.00 everywhere: weekday 33.00/30.00/3.00, evening 33.00/34.50/0,
     *      saturday 33.00/37.50/0, sunday 33.00/45.00/0
     *   P1 weekday 34.90/30.00/4.90, evening 34.90/34.50/0.40,
     *      saturday 39.90/37.50/2.40, sunday 44.90/45.00/0
     * cheapest own share (weekday) first: P2 (3.00) then P1 (4.90). */
    size_t two = 2;
    json_t *cmp =
        e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s/providers", v1), tc1, providers_priced, &two);
    const char *sc = e2e_dump(e, cmp);
    cr_expect_eq(e2e_int(cmp, "voucher_value_cents"), 3000, "%s", sc);
    cr_expect_str_eq(e2e_str(cmp, "unit"), "hour", "%s", sc);
    const json_t *ps = json_object_get(cmp, "providers");
    cr_assert_eq(json_array_size(ps), 2, "%s", sc);
    const json_t *first = json_array_get(ps, 0), *second = json_array_get(ps, 1);
    cr_expect_str_eq(e2e_str(first, "provider_id"), w.p2, "cheapest share first: %s", sc);
    cr_expect_str_eq(e2e_str(second, "provider_id"), w.p1, "%s", sc);
    expect_unit(&w, first, NULL, 3300, 3000, 300);
    expect_unit(&w, first, "weekday", 3300, 3000, 300);
    expect_unit(&w, first, "evening", 3300, 3450, 0);
    expect_unit(&w, first, "saturday", 3300, 3750, 0);
    expect_unit(&w, first, "sunday", 3300, 4500, 0);
    expect_unit(&w, second, NULL, 3490, 3000, 490);
    expect_unit(&w, second, "weekday", 3490, 3000, 490);
    expect_unit(&w, second, "evening", 3490, 3450, 40);
    expect_unit(&w, second, "saturday", 3990, 3750, 240);
    expect_unit(&w, second, "sunday", 4490, 4500, 0);
    json_decref(cmp);

    /* ... and chooses P1 (closer to home), the second client P2. */
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/vouchers/%s/provider", v1), tc1,
           e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p1));
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/vouchers/%s/provider", v2), tc2,
           e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p2));

    /* P1 records events on the 30.00 voucher:
     * e1 Mon weekday 2 h x 34.90: value_unit 30.00, gross 69.80,
     *    organiser 60.00, client 9.80 */
    char *e1 = record(&w, v1, w.tp1, "2026-05-04", "2", "weekday", -1);
    /* e2 Tue evening 2.5 h x 34.90 (no evening price: the base), coefficient
     *    1.15: value_unit 34.50, gross 87.25, organiser 2.5 x 34.50 = 86.25,
     *    client 1.00 */
    char *e2 = record(&w, v1, w.tp1, "2026-05-05", "2.5", "evening", -1);
    /* e3 Sat saturday 1 h x 39.90 (band price), 1.25: value_unit 37.50,
     *    gross 39.90, organiser 37.50, client 2.40 */
    char *e3 = record(&w, v1, w.tp1, "2026-05-09", "1", "saturday", -1);
    /* e4 Sun sunday 1.5 h x 44.90, 1.50: value_unit 45.00 > price:
     *    gross 67.35, organiser 1.5 x 44.90 = 67.35, client 0 */
    char *e4 = record(&w, v1, w.tp1, "2026-05-10", "1.5", "sunday", -1);
    /* e5 Ascension Day (Thursday, a holiday) as sunday 1 h x 44.90:
     *    value_unit 45.00, gross 44.90, organiser 44.90, client 0 */
    char *e5 = record(&w, v1, w.tp1, HOLIDAY, "1", "sunday", -1);
    /* e6 Wed weekday 1.25 h at an agreed 32.00 (below the list 34.90):
     *    gross 40.00, organiser 37.50, client 2.50; edited below */
    char *e6 = record(&w, v1, w.tp1, "2026-05-06", "1.25", "weekday", 3200);
    /* e7 Thu weekday 1 h, deleted below */
    char *e7 = record(&w, v1, w.tp1, "2026-05-07", "1", NULL, -1);

    /* The provider edits e6 to 1.5 h: the agreed price stays (same date and
     * band): gross 1.5 x 32.00 = 48.00, organiser 1.5 x 30.00 = 45.00,
     * client 3.00. */
    json_t *u = e2e_ok_j(e, "PATCH", e2e_fmt(e, "/v1/vouchers/%s/service-events/%s", v1, e6), w.tp1,
                         "{\"quantity\":1.5,\"note\":\"korjattu 1,5 h\"}");
    cr_expect_str_eq(e2e_str(u, "resource_id"), e6);
    json_decref(u);
    /* ... deletes e7 */
    e2e_ok(e, "DELETE", e2e_fmt(e, "/v1/vouchers/%s/service-events/%s", v1, e7), w.tp1, NULL);
    /* ... and the organiser approves e1. */
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/service-events/%s/approval", v1, e1), w.orga,
           NULL);

    /* P2 records on the income voucher: Mon weekday 1 h x 33.00 on 30.32:
     * value_unit 30.32, gross 33.00, organiser 30.32, client 2.68. */
    char *f1 = record(&w, v2, w.tp2, "2026-05-04", "1", NULL, -1);

    /* The month's events, exact cents. */
    struct ev_state last = {e1, "approved"};
    json_t *evs = e2e_get_until(e, e2e_fmt(e, "%s?month=2026-05", events_path(&w, v1)), w.orga,
                                event_in_state, &last);
    const json_t *list = json_object_get(evs, "events");
    cr_expect_eq(json_array_size(list), 7, "deleted events are listed too: %s", e2e_dump(e, evs));
    expect_event(&w, list, e1, "e1 weekday", "2026-05-04", 200, "weekday", 3490, 3000, 6980, 6000,
                 980, "approved");
    expect_event(&w, list, e2, "e2 evening", "2026-05-05", 250, "evening", 3490, 3450, 8725, 8625,
                 100, "recorded");
    expect_event(&w, list, e3, "e3 saturday", "2026-05-09", 100, "saturday", 3990, 3750, 3990, 3750,
                 240, "recorded");
    expect_event(&w, list, e4, "e4 sunday", "2026-05-10", 150, "sunday", 4490, 4500, 6735, 6735, 0,
                 "recorded");
    expect_event(&w, list, e5, "e5 holiday", HOLIDAY, 100, "sunday", 4490, 4500, 4490, 4490, 0,
                 "recorded");
    expect_event(&w, list, e6, "e6 agreed, edited", "2026-05-06", 150, "weekday", 3200, 3000, 4800,
                 4500, 300, "recorded");
    expect_event(&w, list, e7, "e7 deleted", "2026-05-07", 100, "weekday", 3490, 3000, 3490, 3000,
                 490, "deleted");
    cr_expect_str_eq(e2e_str(e2e_find(list, "id", e6), "note"), "korjattu 1,5 h");
    /* The provider sees the same list. */
    json_t *evs_p = e2e_get(e, e2e_fmt(e, "%s?month=2026-05", events_path(&w, v1)), w.tp1);
    cr_expect(json_equal(evs, evs_p), "provider's list differs:\n%s\n%s", e2e_dump(e, evs),
              e2e_dump(e, evs_p));
    json_decref(evs_p);
    json_decref(evs);

    /* The month's usage: 2 + 2.5 + 1 + 1.5 + 1 + 1.5 = 9.5 h of 12 (e7
     * deleted), 2.5 h left; the voucher's part 60.00 + 86.25 + 37.50 + 67.35 +
     * 44.90 + 45.00 = 341.00 €. */
    long long six = 6;
    json_t *m = e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-05", v1), w.orga,
                              usage_has_events, &six);
    const char *sm = e2e_dump(e, m);
    cr_expect_str_eq(e2e_str(m, "month"), "2026-05", "%s", sm);
    cr_expect_eq(e2e_h(m, "used_quantity"), 950, "%s", sm);
    cr_expect_eq(e2e_h(m, "remaining_quantity"), 250, "%s", sm);
    cr_expect_eq(e2e_int(m, "voucher_used_cents"), 34100, "%s", sm);
    cr_expect_eq(e2e_int(m, "events"), 6, "%s", sm);
    cr_expect_str_eq(e2e_str(m, "provider_id"), w.p1, "%s", sm);
    json_decref(m);
    /* A month without events: zeros, the whole quota left. */
    m = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-06", v1), tc1);
    sm = e2e_dump(e, m);
    cr_expect_eq(e2e_h(m, "used_quantity"), 0, "%s", sm);
    cr_expect_eq(e2e_h(m, "remaining_quantity"), 1200, "%s", sm);
    cr_expect_eq(e2e_int(m, "voucher_used_cents"), 0, "%s", sm);
    json_decref(m);

    /* The income voucher's event, read by its provider. */
    struct ev_state f1_rec = {f1, "recorded"};
    evs = e2e_get_until(e, e2e_fmt(e, "%s?month=2026-05", events_path(&w, v2)), w.tp2,
                        event_in_state, &f1_rec);
    expect_event(&w, json_object_get(evs, "events"), f1, "f1 income voucher", "2026-05-04", 100,
                 "weekday", 3300, 3032, 3300, 3032, 268, "recorded");
    json_decref(evs);
    long long one = 1;
    m = e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-05", v2), tc2, usage_has_events,
                      &one);
    sm = e2e_dump(e, m);
    cr_expect_eq(e2e_h(m, "used_quantity"), 100, "%s", sm);
    cr_expect_null(json_object_get(m, "remaining_quantity"), "no quota, no remaining: %s", sm);
    cr_expect_eq(e2e_int(m, "voucher_used_cents"), 3032, "%s", sm);
    json_decref(m);
    world_fini(&w);
}

/* ------------------------------------------------ 2. every record rule */

Test(e2e_voucher, every_service_event_rejection)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    /* V: hourly 30.00 from 2026-05-01, P1 chosen at the grant; VP: per
     * visit 20.00 (no client share allowed, P1's list price 25.00). */
    char *v = grant(&w, e2e_code(e, "as-"), w.st, 3000, NULL, "2026-05-01", w.p1);
    char *vp = grant(&w, e2e_code(e, "as-"), w.st_plain, 2000, NULL, "2026-05-01", w.p1);

    /* unknown voucher */
    record_rej(&w, e2e_uuid(e), w.tp1, "2026-05-04", "1", NULL, -1, "not_found:");
    /* not active on the date: before valid_from */
    const char *r = record_rej(&w, v, w.tp1, "2026-04-30", "1", NULL, -1, "voucher_not_active:");
    cr_expect(strstr(r, "2026-05-01") != NULL, "reason names valid_from: %s", r);
    /* a different provider than the chosen one */
    record_rej(&w, v, w.tp2, "2026-05-04", "1", NULL, -1, "forbidden:");
    /* the date is in the future (tomorrow, Helsinki) */
    record_rej(&w, v, w.tp1, e2e_day(e, 1), "1", NULL, -1, "date_in_future:");
    /* bands against the calendar */
    record_rej(&w, v, w.tp1, "2026-05-09", "1", "weekday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-10", "1", "weekday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-09", "1", "evening", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-10", "1", "evening", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-04", "1", "saturday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-10", "1", "saturday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-04", "1", "sunday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-09", "1", "sunday", -1, "band_not_allowed_on_date:");
    /* a holiday weekday is a Sunday: weekday/evening are wrong there, and no
     * band (= weekday) on a Saturday is wrong too */
    record_rej(&w, v, w.tp1, HOLIDAY, "1", "weekday", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, HOLIDAY, "1", "evening", -1, "band_not_allowed_on_date:");
    record_rej(&w, v, w.tp1, "2026-05-09", "1", NULL, -1, "band_not_allowed_on_date:");
    /* a band on a service type without band coefficients */
    record_rej(&w, vp, w.tp1, "2026-05-04", "1", "weekday", 2000, "band_not_applicable:");
    record_rej(&w, vp, w.tp1, "2026-05-09", "1", "saturday", 2000, "band_not_applicable:");
    /* price above the list (weekday 34.90, saturday band price 39.90) */
    r = record_rej(&w, v, w.tp1, "2026-05-04", "1", "weekday", 3491, "price_above_list:");
    cr_expect_str_eq(r, "price_above_list: 34.91 asked, the list price for weekday on 2026-05-04 "
                        "is 34.90");
    record_rej(&w, v, w.tp1, "2026-05-09", "1", "saturday", 3991, "price_above_list:");
    /* no client share allowed: the list price 25.00 > value_unit 20.00, and
     * an agreed 20.01; an agreed 20.00 is fine: 2 visits, gross 40.00 all
     * the organiser's */
    record_rej(&w, vp, w.tp1, "2026-05-04", "1", NULL, -1, "price_exceeds_voucher_value:");
    record_rej(&w, vp, w.tp1, "2026-05-04", "1", NULL, 2001, "price_exceeds_voucher_value:");
    char *pe = record(&w, vp, w.tp1, "2026-05-04", "2", NULL, 2000);

    /* Nothing rejected left an event on V. */
    json_t *evs = e2e_get(e, events_path(&w, v), w.orga);
    cr_expect_eq(json_array_size(json_object_get(evs, "events")), 0, "%s", e2e_dump(e, evs));
    json_decref(evs);
    struct ev_state pe_rec = {pe, "recorded"};
    evs = e2e_get_until(e, events_path(&w, vp), w.orga, event_in_state, &pe_rec);
    json_t *pl = json_object_get(evs, "events");
    cr_expect_eq(json_array_size(pl), 1, "%s", e2e_dump(e, evs));
    json_t *pev = e2e_find(pl, "id", pe);
    cr_expect_eq(e2e_int(pev, "value_unit_cents"), 2000);
    cr_expect_eq(e2e_int(pev, "gross_cents"), 4000);
    cr_expect_eq(e2e_int(pev, "organiser_part_cents"), 4000);
    cr_expect_eq(e2e_int(pev, "client_share_cents"), 0);
    cr_expect_null(json_object_get(pev, "band"), "no band on an unbanded type: %s",
                   e2e_dump(e, pev));
    json_decref(evs);

    /* The month's quota: 4 h. 3 h, then 1.5 more is too much, exactly 1 more
     * reaches the quota and is fine, then nothing more (0.01). */
    char *vq = grant(&w, e2e_code(e, "as-"), w.st, 3000, "4", "2026-05-01", w.p1);
    record(&w, vq, w.tp1, "2026-05-04", "3", NULL, -1);
    r = record_rej(&w, vq, w.tp1, "2026-05-05", "1.5", NULL, -1, "quota_exceeded:");
    cr_expect_str_eq(r, "quota_exceeded: 3.00 used of 4.00, 1.50 more asked");
    record(&w, vq, w.tp1, "2026-05-05", "1", "evening", -1);
    record_rej(&w, vq, w.tp1, "2026-05-06", "0.01", NULL, -1, "quota_exceeded:");
    /* another month has its own quota */
    record(&w, vq, w.tp1, "2026-06-01", "4", NULL, -1);
    long long two = 2;
    json_t *m = e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-05", vq), w.orga,
                              usage_has_events, &two);
    cr_expect_eq(e2e_h(m, "used_quantity"), 400, "%s", e2e_dump(e, m));
    cr_expect_eq(e2e_h(m, "remaining_quantity"), 0, "%s", e2e_dump(e, m));
    json_decref(m);

    /* The provider's approval is not in force on the date: P4 approved from
     * 2026-05-20 (its price from 2026-04-01). */
    char *p4, *tp4;
    e2e_provider(&w.e, &p4, &tp4, "Hoiva Nelja");
    prov_apply(&w, p4, tp4, w.st);
    prov_approve(&w, p4, w.st, "2026-05-20");
    prov_price(&w, p4, tp4, w.st, "2026-04-01", 3300, NULL);
    char *v4 = grant(&w, e2e_code(e, "as-"), w.st, 3000, NULL, "2026-05-01", p4);
    record_rej(&w, v4, tp4, "2026-05-18", "1", NULL, -1, "provider_not_approved:");
    record(&w, v4, tp4, "2026-05-20", "1", NULL, -1);

    /* A suspended provider: P5 approved from 2026-04-01, suspended by the
     * organiser from 2026-05-20: events up to the day before only. */
    char *p5, *tp5;
    e2e_provider(&w.e, &p5, &tp5, "Hoiva Viisi");
    prov_apply(&w, p5, tp5, w.st);
    prov_approve(&w, p5, w.st, "2026-04-01");
    prov_price(&w, p5, tp5, w.st, "2026-04-01", 3300, NULL);
    char *v5 = grant(&w, e2e_code(e, "as-"), w.st, 3000, NULL, "2026-05-01", p5);
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/suspensions", p5), w.orga,
           e2e_fmt(e,
                   "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"from\":\"2026-05-20\","
                   "\"reason\":\"valvontakaynti: puutteita\"}",
                   w.org, w.st));
    record(&w, v5, tp5, "2026-05-19", "1", NULL, -1);
    record_rej(&w, v5, tp5, "2026-05-20", "1", NULL, -1, "provider_suspended:");
    record_rej(&w, v5, tp5, "2026-05-21", "1", NULL, -1, "provider_suspended:");
    /* ... and takes no new voucher choices */
    char *cs = e2e_code(e, "as-");
    char *vs = grant(&w, cs, w.st, 3000, NULL, "2026-05-01", NULL);
    e2e_rej(e, "PUT", e2e_fmt(e, "/v1/vouchers/%s/provider", vs), client_tok(&w, cs),
            e2e_fmt(e, "{\"provider_id\":\"%s\"}", p5), "provider_suspended:");

    /* Not active after the revocation date: an event on 05-15, revoking from
     * 05-14 is refused (an event after it), from 05-15 applied; then 05-18 is
     * rejected and the revocation day itself still fine. */
    char *vr = grant(&w, e2e_code(e, "as-"), w.st, 3000, NULL, "2026-05-01", w.p1);
    record(&w, vr, w.tp1, "2026-05-15", "1", NULL, -1);
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/revocation", vr), w.orga,
            "{\"effective_date\":\"2026-05-14\",\"reason\":\"muutto toiseen kuntaan\"}",
            "events_after_date:");
    e2e_ok(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/revocation", vr), w.orga,
           "{\"effective_date\":\"2026-05-15\",\"reason\":\"muutto toiseen kuntaan\"}");
    record_rej(&w, vr, w.tp1, "2026-05-18", "1", NULL, -1, "voucher_not_active:");
    record(&w, vr, w.tp1, "2026-05-15", "0.5", NULL, -1);
    json_t *rd = e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-05", vr), w.orga,
                               usage_has_events, &two);
    cr_expect_str_eq(e2e_str(rd, "status"), "revoked", "%s", e2e_dump(e, rd));
    cr_expect_str_eq(e2e_str(rd, "revoke_date"), "2026-05-15", "%s", e2e_dump(e, rd));
    json_decref(rd);

    /* Not active after valid_to. */
    char *vt = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w.orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-E2E-VT\","
                   "\"valid_from\":\"2026-05-01\",\"valid_to\":\"2026-05-10\","
                   "\"unit_value_cents\":3000,\"provider_id\":\"%s\"}",
                   vt, w.org, e2e_code(e, "as-"), w.st, w.p1));
    record(&w, vt, w.tp1, "2026-05-04", "1", NULL, -1);
    record_rej(&w, vt, w.tp1, "2026-05-11", "1", NULL, -1, "voucher_not_active:");
    world_fini(&w);
}

/* ------------------------------------------------------ voucher rules */

Test(e2e_voucher, voucher_rules)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    /* P3 has applied but no decision yet. */
    char *p3, *tp3;
    e2e_provider(&w.e, &p3, &tp3, "Hoiva Kolme");
    prov_apply(&w, p3, tp3, w.st);
    prov_price(&w, p3, tp3, w.st, "2026-04-01", 2900, NULL);

    char *c = e2e_code(e, "as-");
    char *tc = client_tok(&w, c);
    char *v = grant(&w, c, w.st, 3000, NULL, "2026-05-01", NULL);
    char *choose = e2e_fmt(e, "/v1/vouchers/%s/provider", v);
    /* choosing a provider that is not approved, or not registered */
    e2e_rej(e, "PUT", choose, tc, e2e_fmt(e, "{\"provider_id\":\"%s\"}", p3),
            "provider_not_approved:");
    e2e_rej(e, "PUT", choose, tc, e2e_fmt(e, "{\"provider_id\":\"%s\"}", e2e_uuid(e)),
            "not_found:");
    /* P3 is not in the comparison either */
    size_t two = 2;
    json_t *cmp =
        e2e_get_until(e, e2e_fmt(e, "/v1/vouchers/%s/providers", v), tc, providers_priced, &two);
    cr_expect_null(e2e_find(json_object_get(cmp, "providers"), "provider_id", p3), "%s",
                   e2e_dump(e, cmp));
    cr_expect_eq(json_array_size(json_object_get(cmp, "providers")), 2, "%s", e2e_dump(e, cmp));
    json_decref(cmp);
    /* a grant naming it */
    e2e_rej(e, "POST", "/v1/vouchers", w.orga,
            e2e_fmt(e,
                    "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"service_type\":\"%s\","
                    "\"decision_number\":\"PS-E2E-X\",\"valid_from\":\"2026-05-01\","
                    "\"unit_value_cents\":3000,\"provider_id\":\"%s\"}",
                    w.org, c, w.st, p3),
            "provider_not_approved:");
    /* income value on a service type without an income model */
    e2e_rej(e, "POST", "/v1/vouchers", w.orga,
            e2e_fmt(e,
                    "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"service_type\":\"%s\","
                    "\"decision_number\":\"PS-E2E-X\",\"valid_from\":\"2026-05-01\","
                    "\"income\":{\"household_size\":1,\"monthly_income_cents\":100000}}",
                    w.org, c, w.st_plain),
            "no_income_model:");
    /* an amendment before valid_from */
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/amendments", v), w.orga,
            "{\"effective_from\":\"2026-04-01\",\"unit_value_cents\":3100}",
            "invalid_effective_from:");

    /* The client chooses P1, P1 records; refusing is then too late. */
    e2e_ok(e, "PUT", choose, tc, e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p1));
    char *ev = record(&w, v, w.tp1, "2026-05-04", "1", NULL, -1);
    char *refuse = e2e_fmt(e, "/v1/vouchers/%s/refusal", v);
    e2e_rej(e, "POST", refuse, tc, "{\"reason\":\"omainen hoitaa\"}", "voucher_has_events:");
    /* Once the event is deleted it counts no more: the refusal applies. */
    e2e_ok(e, "DELETE", e2e_fmt(e, "/v1/vouchers/%s/service-events/%s", v, ev), w.tp1, NULL);
    e2e_ok(e, "POST", refuse, tc, "{\"reason\":\"omainen hoitaa\"}");
    /* a refused voucher takes no events and no choices */
    record_rej(&w, v, w.tp1, "2026-05-05", "1", NULL, -1, "voucher_not_active:");
    e2e_rej(e, "PUT", choose, tc, e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p2),
            "voucher_not_active:");
    json_t *d = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s", v), tc);
    cr_expect_str_eq(e2e_str(d, "status"), "refused", "%s", e2e_dump(e, d));
    cr_expect_str_eq(e2e_str(d, "refuse_reason"), "omainen hoitaa", "%s", e2e_dump(e, d));
    json_decref(d);
    world_fini(&w);
}

/* ------------------------------------------ 3. roles and ownership */

Test(e2e_voucher, roles_and_ownership)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *c = e2e_code(e, "as-");
    char *tc = client_tok(&w, c);
    char *other_c = e2e_code(e, "as-");
    char *tother = client_tok(&w, other_c);
    char *v = grant(&w, c, w.st, 3000, "10", "2026-05-01", NULL);
    char *vo = grant(&w, other_c, w.st, 3000, NULL, "2026-05-01", NULL);
    char *vpath = e2e_fmt(e, "/v1/vouchers/%s", v);
    e2e_ok(e, "PUT", e2e_fmt(e, "%s/provider", vpath), tc,
           e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p1));
    char *ev = record(&w, v, w.tp1, "2026-05-04", "1", NULL, -1);
    char *evpath = e2e_fmt(e, "%s/service-events/%s", vpath, ev);
    struct ev_state rec = {ev, "recorded"};
    json_t *before =
        e2e_get_until(e, e2e_fmt(e, "%s/service-events", vpath), w.orga, event_in_state, &rec);
    json_t *vbefore = e2e_get(e, vpath, w.orga);

    /* Another organiser: the token names no organiser of the voucher, so the
     * front lets these through and the worker rejects them (422 forbidden). */
    e2e_rej(e, "POST", e2e_fmt(e, "%s/amendments", vpath), w.orgb,
            "{\"effective_from\":\"2026-05-01\",\"unit_value_cents\":1}", "forbidden:");
    e2e_rej(e, "POST", e2e_fmt(e, "%s/approval", evpath), w.orgb, NULL, "forbidden:");
    e2e_rej(e, "POST", e2e_fmt(e, "%s/revocation", vpath), w.orgb,
            "{\"effective_date\":\"2026-05-01\",\"reason\":\"x\"}", "forbidden:");
    e2e_rej(e, "PUT", e2e_fmt(e, "%s/provider", vpath), w.orgb,
            e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p2), "forbidden:");
    /* ... a grant in A's name is ruled out by the token alone: 403 */
    e2e_status(e, "POST", "/v1/vouchers", w.orgb,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"service_type\":\"%s\","
                       "\"decision_number\":\"PS-X\",\"valid_from\":\"2026-05-01\","
                       "\"unit_value_cents\":100}",
                       w.org, c, w.st),
               403, "organiser B granting in A's name");
    /* ... a decision on A's providers too */
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/decisions", w.p1), w.orgb,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                       "\"decision\":\"rejected\",\"reason\":\"x\"}",
                       w.org, w.st),
               403, "organiser B deciding for A");

    /* Another provider on P1's event: edit and delete are rejected. */
    e2e_rej(e, "PATCH", evpath, w.tp2, "{\"quantity\":5}", "forbidden:");
    e2e_rej(e, "DELETE", evpath, w.tp2, NULL, "forbidden:");
    /* ... recording on a voucher that chose P1, too */
    record_rej(&w, v, w.tp2, "2026-05-05", "1", NULL, -1, "forbidden:");
    /* ... and setting P1's prices is ruled out by the token: 403 */
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/prices", w.p1), w.tp2,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                       "\"valid_from\":\"2026-05-01\",\"price_cents\":1}",
                       w.org, w.st),
               403, "provider B pricing for P1");
    /* A provider may not approve its own event, a client may not choose for
     * someone else's voucher or refuse it. */
    e2e_status(e, "POST", e2e_fmt(e, "%s/approval", evpath), w.tp1, NULL, 403,
               "approval is not a provider's route");
    e2e_rej(e, "PUT", e2e_fmt(e, "%s/provider", vpath), tother,
            e2e_fmt(e, "{\"provider_id\":\"%s\"}", w.p2), "forbidden:");
    e2e_rej(e, "POST", e2e_fmt(e, "%s/refusal", vpath), tother, "{}", "forbidden:");

    /* Nothing changed: the same voucher (value 30.00, no amendments, P1,
     * active) and the same event. */
    json_t *vafter = e2e_get(e, vpath, w.orga);
    cr_expect(json_equal(vbefore, vafter), "the voucher changed:\n%s\n%s", e2e_dump(e, vbefore),
              e2e_dump(e, vafter));
    cr_expect_eq(e2e_int(vafter, "unit_value_cents"), 3000);
    cr_expect_eq(json_array_size(json_object_get(vafter, "amendments")), 0, "%s",
                 e2e_dump(e, vafter));
    cr_expect_str_eq(e2e_str(vafter, "provider_id"), w.p1);
    cr_expect_str_eq(e2e_str(vafter, "status"), "active");
    json_t *after = e2e_get(e, e2e_fmt(e, "%s/service-events", vpath), w.orga);
    cr_expect(json_equal(before, after), "the events changed:\n%s\n%s", e2e_dump(e, before),
              e2e_dump(e, after));
    json_t *ea = e2e_find(json_object_get(after, "events"), "id", ev);
    cr_expect_str_eq(e2e_str(ea, "state"), "recorded");
    cr_expect_eq(e2e_h(ea, "quantity"), 100);
    json_decref(vafter);
    json_decref(after);

    /* Reads. A client reading someone else's voucher: 404 (its existence
     * must not leak), also its provider list; its own: 200. */
    e2e_status(e, "GET", vpath, tother, NULL, 404, "another client's voucher");
    e2e_status(e, "GET", e2e_fmt(e, "%s/providers", vpath), tother, NULL, 404,
               "another client's provider comparison");
    e2e_status(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", vo), tother, NULL, 200,
               "the client's own voucher");
    e2e_status(e, "GET", e2e_fmt(e, "/v1/vouchers/%s", vo), tc, NULL, 404, "the other way round");
    /* A provider it was not chosen for: 404 on the voucher and its events. */
    e2e_status(e, "GET", vpath, w.tp2, NULL, 404, "a provider not chosen");
    e2e_status(e, "GET", e2e_fmt(e, "%s/service-events", vpath), w.tp2, NULL, 404,
               "events for a provider not chosen");
    e2e_status(e, "GET", vpath, w.tp1, NULL, 200, "the chosen provider");
    /* Another organiser: 404. */
    e2e_status(e, "GET", vpath, w.orgb, NULL, 404, "another organiser's voucher");
    e2e_status(e, "GET", e2e_fmt(e, "%s/service-events", vpath), w.orgb, NULL, 404,
               "another organiser's events");

    /* Anonymous: 401, reads and commands alike. */
    e2e_status(e, "GET", vpath, NULL, NULL, 401, "anonymous read");
    e2e_status(e, "GET", e2e_fmt(e, "%s/service-events", vpath), NULL, NULL, 401,
               "anonymous events");
    e2e_status(e, "POST", e2e_fmt(e, "%s/service-events", vpath), NULL,
               "{\"date\":\"2026-05-05\",\"quantity\":1}", 401, "anonymous record");
    e2e_status(e, "POST", "/v1/vouchers", NULL, "{}", 401, "anonymous grant");

    /* The wrong role for the route: 403. */
    e2e_status(e, "POST", e2e_fmt(e, "%s/service-events", vpath), tc,
               "{\"date\":\"2026-05-05\",\"quantity\":1}", 403, "a client recording");
    e2e_status(e, "POST", e2e_fmt(e, "%s/service-events", vpath), w.orga,
               "{\"date\":\"2026-05-05\",\"quantity\":1}", 403, "an organiser recording");
    e2e_status(e, "POST", "/v1/vouchers", w.tp1,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"client_id\":\"%s\",\"service_type\":\"%s\","
                       "\"decision_number\":\"PS-X\",\"valid_from\":\"2026-05-01\","
                       "\"unit_value_cents\":100}",
                       w.org, c, w.st),
               403, "a provider granting");
    e2e_status(e, "POST", e2e_fmt(e, "%s/approval", evpath), tc, NULL, 403, "a client approving");
    e2e_status(e, "PATCH", evpath, w.orga, "{\"quantity\":2}", 403, "an organiser editing");
    e2e_status(e, "POST", e2e_fmt(e, "%s/refusal", vpath), w.orga, "{}", 403,
               "an organiser refusing");
    e2e_status(e, "GET", e2e_fmt(e, "%s/providers", vpath), w.tp1, NULL, 403,
               "a provider comparing");
    e2e_status(e, "GET", e2e_fmt(e, "%s/service-events", vpath), tc, NULL, 403,
               "a client listing events");
    e2e_status(e, "GET", vpath, w.admin, NULL, 403, "admin is not in the voucher read's roles");
    e2e_status(e, "PUT", e2e_fmt(e, "/v1/holidays/%s", HOLIDAY), w.orga,
               "{\"name\":\"Helatorstai\"}", 403, "an organiser on reference data");

    /* After all that, the event is still P1's and intact. */
    json_t *last = e2e_get(e, e2e_fmt(e, "%s/service-events", vpath), w.tp1);
    cr_expect(json_equal(before, last), "the events changed:\n%s\n%s", e2e_dump(e, before),
              e2e_dump(e, last));
    json_decref(last);
    json_decref(before);
    json_decref(vbefore);
    world_fini(&w);
}
