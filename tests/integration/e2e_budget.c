/*
 * End-to-end tests of budget vouchers (docs/domain.md, "Budget vouchers") on
 * the real running stack: commands through the HTTP API ($PSOP_API_URL) with
 * Prefer: wait=10, reads through the API, and PostgreSQL to check that the
 * pot adds up to the cent. The race test puts commands straight onto
 * psop.commands.voucher under different keys, so the stack's two voucher
 * workers apply them at the same time (what a partition rebalance can do):
 * the pot's row lock and conditional UPDATE must let exactly one win.
 *
 * Every organiser, service type, provider, client and voucher is new, so the
 * file runs again and again on the same database. Dates are in June 2026 (in
 * the past): Mon 06-01 .. Fri 06-05, Mon 06-08, Tue 06-09.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"
#include "store/topics.h"

struct world {
    struct e2e e;
    PGconn *pg;
    char *org, *st, *st_visit, *admin, *orga;
    char *p1, *tp1, *p2, *tp2;
};

static void provider(struct world *w, char **id, char **tok, const char *name, long hour_price)
{
    struct e2e *e = &w->e;
    *id = e2e_uuid(e);
    *tok = e2e_tok(e, "provider", e2e_fmt(e, "erp-%s", *id + 24), NULL, *id, NULL);
    char yt[10], iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    e2e_ok(e, "POST", "/v1/providers", *tok,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"%s %s Oy\",\"iban\":\"%s\"}",
                   *id, yt, name, *id + 28, iban));
    const char *sts[] = {w->st, w->st_visit};
    long prices[] = {hour_price, 2500};
    for (int i = 0; i < 2; i++) {
        e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/applications", *id), *tok,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                       "\"rulebook_version\":\"2026-1\"}",
                       w->org, sts[i]));
        e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/decisions", *id), w->orga,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                       "\"decision\":\"approved\",\"valid_from\":\"2026-05-01\"}",
                       w->org, sts[i]));
        e2e_ok(e, "POST", e2e_fmt(e, "/v1/providers/%s/prices", *id), *tok,
               e2e_fmt(e,
                       "{\"organiser_id\":\"%s\",\"service_type\":\"%s\","
                       "\"valid_from\":\"2026-05-01\",\"price_cents\":%ld}",
                       w->org, sts[i], prices[i]));
    }
}

/* An organiser, an hourly cleaning service (client share allowed, VAT
 * 25.5 %), a per-visit service without client share; P1 at 34.90/h and P2
 * at 33.00/h, both 25.00 per visit. */
static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_start(e, &w->pg, &w->org, &w->admin, &w->orga, "Budjettikunta", "kasittelija-b");
    w->st = e2e_code(e, "bsiivous_");
    w->st_visit = e2e_code(e, "bkaynti_");
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st), w->admin,
           "{\"name\":\"Siivous (budjetti)\",\"unit\":\"hour\",\"vat_rate_bp\":2550,"
           "\"client_share_allowed\":true}");
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/service-types/%s", w->st_visit), w->admin,
           "{\"name\":\"Kotikäynti (budjetti)\",\"unit\":\"visit\",\"vat_rate_bp\":0,"
           "\"client_share_allowed\":false}");
    provider(w, &w->p1, &w->tp1, "Siivous Yksi", 3490);
    provider(w, &w->p2, &w->tp2, "Siivous Kaksi", 3300);
}

static void world_fini(struct world *w)
{
    PQfinish(w->pg);
    e2e_fini(&w->e);
}

#define sql_ll(w, ...) h_pg_ll((w)->pg, __VA_ARGS__)

/* Grants a budget voucher of budget cents for June-August with provider. */
static char *grant_budget(struct world *w, const char *st, long budget, const char *provider)
{
    struct e2e *e = &w->e;
    char *vid = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w->orga,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"organiser_id\":\"%s\",\"client_id\":\"%s\","
                   "\"service_type\":\"%s\",\"decision_number\":\"PS-B-%s\","
                   "\"valid_from\":\"2026-06-01\",\"valid_to\":\"2026-08-31\","
                   "\"budget_cents\":%ld,\"provider_id\":\"%s\"}",
                   vid, w->org, e2e_code(e, "asiakas-"), st, vid + 24, budget, provider));
    return vid;
}

static char *ev_path(struct world *w, const char *vid, const char *eid)
{
    return eid ? e2e_fmt(&w->e, "/v1/vouchers/%s/service-events/%s", vid, eid)
               : e2e_fmt(&w->e, "/v1/vouchers/%s/service-events", vid);
}

static char *record(struct world *w, const char *vid, const char *date, const char *qty, long price)
{
    char *eid = e2e_uuid(&w->e);
    e2e_ok(&w->e, "POST", ev_path(w, vid, NULL), w->tp1,
           e2e_fmt(&w->e, "{\"id\":\"%s\",\"date\":\"%s\",\"quantity\":%s%s}", eid, date, qty,
                   price >= 0 ? e2e_fmt(&w->e, ",\"unit_price_cents\":%ld", price) : ""));
    return eid;
}

/* The pot in PostgreSQL: budget, used; and used must equal the organiser
 * parts of the non-deleted events plus the credits'. */
static void expect_pot(struct world *w, const char *vid, long budget, long used, const char *what)
{
    cr_expect_eq(sql_ll(w, "SELECT budget_cents FROM psop.vouchers WHERE id = '%s'", vid), budget,
                 "%s: budget", what);
    cr_expect_eq(sql_ll(w, "SELECT budget_used_cents FROM psop.vouchers WHERE id = '%s'", vid),
                 used, "%s: used", what);
    cr_expect_eq(sql_ll(w,
                        "SELECT coalesce(sum(organiser_part_cents), 0) + coalesce((SELECT "
                        "sum(c.organiser_part_cents) FROM psop.credits c JOIN "
                        "psop.service_events x ON x.id = c.event_id WHERE x.voucher_id = "
                        "v.id), 0) FROM psop.vouchers v LEFT JOIN psop.service_events e ON "
                        "e.voucher_id = v.id AND e.state <> 'deleted' WHERE v.id = '%s' "
                        "GROUP BY v.id",
                        vid),
                 used, "%s: used = sum of the organiser parts and credits", what);
}

struct amounts {
    const char *id, *what;
    long gross, org, client;
    const char *state;
};

static void expect_events(struct world *w, const char *vid, const struct amounts *a, size_t n)
{
    json_t *doc =
        e2e_get(&w->e, e2e_fmt(&w->e, "%s?month=2026-06", ev_path(w, vid, NULL)), w->orga);
    const json_t *list = json_object_get(doc, "events");
    for (size_t i = 0; i < n; i++) {
        json_t *ev = e2e_find(list, "id", a[i].id);
        cr_assert_not_null(ev, "%s missing: %s", a[i].what, e2e_dump(&w->e, doc));
        const char *d = e2e_dump(&w->e, ev);
        cr_expect_eq(e2e_int(ev, "gross_cents"), a[i].gross, "%s gross: %s", a[i].what, d);
        cr_expect_eq(e2e_int(ev, "organiser_part_cents"), a[i].org, "%s organiser: %s", a[i].what,
                     d);
        cr_expect_eq(e2e_int(ev, "client_share_cents"), a[i].client, "%s client: %s", a[i].what, d);
        cr_expect_str_eq(e2e_str(ev, "state"), a[i].state, "%s state: %s", a[i].what, d);
        cr_expect_null(json_object_get(ev, "value_unit_cents"), "%s: no value per unit: %s",
                       a[i].what, d);
    }
    json_decref(doc);
}

/* ready(): the voucher document shows budget_used_cents == *arg. */
static bool used_is(const json_t *doc, const void *arg)
{
    const json_t *u = json_object_get(doc, "budget_used_cents");
    return json_is_integer(u) && json_integer_value(u) == *(const long long *)arg;
}

/* The voucher read: the three budget figures (waits for the read model). */
static void expect_read(struct world *w, const char *vid, long long budget, long long used)
{
    json_t *v = e2e_get_until(&w->e, e2e_fmt(&w->e, "/v1/vouchers/%s?month=2026-06", vid), w->orga,
                              used_is, &used);
    const char *d = e2e_dump(&w->e, v);
    cr_expect_str_eq(e2e_str(v, "value_basis"), "budget", "%s", d);
    cr_expect_eq(e2e_int(v, "budget_cents"), budget, "%s", d);
    cr_expect_eq(e2e_int(v, "budget_used_cents"), used, "%s", d);
    cr_expect_eq(e2e_int(v, "budget_remaining_cents"), budget - used, "%s", d);
    cr_expect_null(json_object_get(v, "unit_value_cents"), "%s", d);
    json_decref(v);
}

/* The organiser's only June settlement so far, read by the provider. */
static json_t *first_settlement(struct world *w)
{
    json_t *sl = e2e_get(
        &w->e, e2e_fmt(&w->e, "/v1/settlements?organiser_id=%s&period=2026-06", w->org), w->orga);
    json_t *ss = json_object_get(sl, "settlements");
    cr_assert_eq(json_array_size(ss), 1, "%s", e2e_dump(&w->e, sl));
    json_t *sd = e2e_get(
        &w->e, e2e_fmt(&w->e, "/v1/settlements/%s", e2e_str(json_array_get(ss, 0), "id")), w->tp1);
    json_decref(sl);
    return sd;
}

/* ------------------------------------------------------- 1. the month */

Test(e2e_budget, whole_budget_month)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;

    /* 990.00 € of cleaning for June-August, provider P1. */
    char *v = grant_budget(&w, w.st, 99000, w.p1);
    expect_read(&w, v, 99000, 0);
    char *gb = h_pg_value(w.pg,
                          "SELECT payload->'data'->>'value_basis' || '/' || "
                          "(payload->'data'->>'budget_cents') FROM psop.outbox WHERE key = '%s' "
                          "AND payload->>'type' = 'voucher.granted'",
                          v);
    cr_expect_str_eq(gb, "budget/99000", "voucher.granted says which kind");
    free(gb);

    /* The comparison: P2 at 33.00 covers 990.00 / 33.00 = 30.00 h, P1 at
     * 34.90 covers 28.366.. -> 28.36 h; cheaper first. */
    json_t *cmp = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s/providers", v), w.orga);
    const char *cd = e2e_dump(e, cmp);
    json_t *ps = json_object_get(cmp, "providers");
    cr_assert_eq(json_array_size(ps), 2, "%s", cd);
    cr_expect_str_eq(e2e_str(json_array_get(ps, 0), "provider_id"), w.p2, "%s", cd);
    cr_expect_eq(e2e_int(json_array_get(ps, 0), "unit_price_cents"), 3300, "%s", cd);
    cr_expect_eq(e2e_h(json_array_get(ps, 0), "budget_covers_quantity"), 3000, "%s", cd);
    cr_expect_eq(e2e_int(json_array_get(ps, 1), "unit_price_cents"), 3490, "%s", cd);
    cr_expect_eq(e2e_h(json_array_get(ps, 1), "budget_covers_quantity"), 2836, "%s", cd);
    json_decref(cmp);

    /* e1 4 h x 34.90 = 139.60                      used 139.60 */
    char *e1 = record(&w, v, "2026-06-01", "4", -1);
    /* e2 3.5 h at an agreed 32.00 = 112.00          used 251.60 */
    char *e2 = record(&w, v, "2026-06-02", "3.5", 3200);
    /* e3 10 h = 349.00                              used 600.60 */
    char *e3 = record(&w, v, "2026-06-03", "10", -1);
    /* e4 2 h = 69.80                                used 670.40 */
    char *e4 = record(&w, v, "2026-06-04", "2", -1);
    expect_pot(&w, v, 99000, 67040, "after e1-e4");
    /* The delete returns e4's draw:                 used 600.60 */
    e2e_ok(e, "DELETE", ev_path(&w, v, e4), w.tp1, NULL);
    expect_pot(&w, v, 99000, 60060, "e4 deleted");
    /* e2 edited to 4 h (agreed price kept): 128.00; only e2 re-charged:
     * 600.60 - 112.00 + 128.00 =                    used 616.60 */
    e2e_ok(e, "PATCH", ev_path(&w, v, e2), w.tp1, "{\"quantity\":4}");
    expect_pot(&w, v, 99000, 61660, "e2 edited");
    /* e5 10 h = 349.00                              used 965.60, 24.40 left */
    char *e5 = record(&w, v, "2026-06-05", "10", -1);
    /* e6 3 h = 104.70 with 24.40 left: organiser 24.40, client 80.30;
     *                                               used 990.00 */
    char *e6 = record(&w, v, "2026-06-08", "3", -1);
    expect_pot(&w, v, 99000, 99000, "pot emptied by e6");
    /* e7: nothing left. */
    e2e_rej(e, "POST", ev_path(&w, v, NULL), w.tp1, "{\"date\":\"2026-06-09\",\"quantity\":1}",
            "budget_exhausted:");
    /* e1 edited down to 3 h (104.70): its old 139.60 back first, then the
     * new 104.70 charged; e6's split does not change: used 955.10 */
    e2e_ok(e, "PATCH", ev_path(&w, v, e1), w.tp1, "{\"quantity\":3}");
    expect_pot(&w, v, 99000, 95510, "e1 edited down");
    expect_read(&w, v, 99000, 95510);

    const struct amounts month[] = {
        {e1, "e1", 10470, 10470, 0, "recorded"}, {e2, "e2", 12800, 12800, 0, "recorded"},
        {e3, "e3", 34900, 34900, 0, "recorded"}, {e4, "e4 deleted", 6980, 6980, 0, "deleted"},
        {e5, "e5", 34900, 34900, 0, "recorded"}, {e6, "e6", 10470, 2440, 8030, "recorded"},
    };
    expect_events(&w, v, month, sizeof(month) / sizeof(month[0]));

    /* Amendments: never below what is charged; the kind stays. */
    const char *am = e2e_fmt(e, "/v1/vouchers/%s/amendments", v);
    e2e_rej(e, "POST", am, w.orga, "{\"effective_from\":\"2026-06-01\",\"budget_cents\":95509}",
            "budget_below_charged:");
    e2e_rej(e, "POST", am, w.orga, "{\"effective_from\":\"2026-06-01\",\"unit_value_cents\":3000}",
            "value_basis_mismatch:");
    e2e_rej(e, "POST", am, w.orga, "{\"effective_from\":\"2026-06-01\",\"monthly_quota\":10}",
            "value_basis_mismatch:");
    /* Exactly what is charged is fine; then up to 1000.00 €: 44.90 left. */
    e2e_ok(e, "POST", am, w.orga, "{\"effective_from\":\"2026-06-01\",\"budget_cents\":95510}");
    expect_pot(&w, v, 95510, 95510, "budget = charged");
    e2e_ok(e, "POST", am, w.orga, "{\"effective_from\":\"2026-06-15\",\"budget_cents\":100000}");
    expect_read(&w, v, 100000, 95510);

    /* Approval and the June settlement: 5 lines, gross 1035.40, organiser
     * 955.10 (= what the pot paid), client 80.30; VAT 25.5 % of 955.10 =
     * round(95510 x 2550 / 12550) = 194.06. */
    const char *ok[] = {e1, e2, e3, e5, e6};
    for (int i = 0; i < 5; i++)
        e2e_ok(e, "POST", e2e_fmt(e, "%s/approval", ev_path(&w, v, ok[i])), w.orga, NULL);
    e2e_ok(e, "POST", "/v1/settlements/runs", w.orga,
           e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2026-06\"}", w.org));
    json_t *sd = first_settlement(&w);
    const char *sds = e2e_dump(e, sd);
    json_t *tot = json_object_get(sd, "totals");
    cr_expect_eq(e2e_int(tot, "gross_cents"), 103540, "%s", sds);
    cr_expect_eq(e2e_int(tot, "organiser_cents"), 95510, "%s", sds);
    cr_expect_eq(e2e_int(tot, "client_share_cents"), 8030, "%s", sds);
    cr_expect_eq(e2e_int(tot, "credit_cents"), 0, "%s", sds);
    cr_expect_eq(e2e_int(tot, "payable_cents"), 95510, "%s", sds);
    json_t *vat = json_array_get(json_object_get(tot, "vat"), 0);
    cr_expect_eq(e2e_int(vat, "rate_bp"), 2550, "%s", sds);
    cr_expect_eq(e2e_int(vat, "vat_cents"), 19406, "%s", sds);
    cr_expect_eq(json_array_size(json_object_get(sd, "lines")), 5, "%s", sds);
    char *sid = e2e_fmt(e, "%s", e2e_str(sd, "id"));
    json_decref(sd);
    int st;
    char *raw = NULL;
    json_decref(e2e_call(e, "GET", e2e_fmt(e, "/v1/settlements/%s/finvoice", sid), w.orga, NULL,
                         NULL, &st, &raw));
    cr_expect_eq(st, 200, "finvoice: %d %s", st, raw ? raw : "");
    cr_expect(raw && strstr(raw, v) != NULL, "finvoice names the voucher");
    cr_expect(raw && strstr(raw, "955,10") != NULL, "finvoice pays 955,10: %s", raw ? raw : "");

    /* Credits refill the pot by their organiser part:
     *   e3, 2 h of 10: gross -69.80, organiser -round(349.00 x 2/10) = -69.80
     *   e6, 1 h of 3:  gross -34.90, organiser -round(24.40 / 3) = -8.13,
     *                  client -26.77
     * used 955.10 - 69.80 - 8.13 = 877.17, 122.83 left. */
    e2e_ok(e, "POST", e2e_fmt(e, "%s/credits", ev_path(&w, v, e3)), w.orga,
           "{\"quantity\":2,\"reason_code\":\"wrong_quantity\",\"explanation\":\"8 h, ei 10\"}");
    e2e_ok(e, "POST", e2e_fmt(e, "%s/credits", ev_path(&w, v, e6)), w.orga,
           "{\"quantity\":1,\"reason_code\":\"not_delivered\",\"explanation\":\"Peruttu\"}");
    expect_pot(&w, v, 100000, 87717, "after the credits");
    char *cr =
        h_pg_value(w.pg,
                   "SELECT string_agg(c.gross_cents || '/' || c.organiser_part_cents || '/' || "
                   "c.client_share_cents, ' ' ORDER BY c.gross_cents) FROM psop.credits c "
                   "JOIN psop.service_events x ON x.id = c.event_id WHERE x.voucher_id = "
                   "'%s'",
                   v);
    cr_expect_str_eq(cr, "-6980/-6980/0 -3490/-813/-2677");
    free(cr);
    expect_read(&w, v, 100000, 87717);
    json_t *m = e2e_get(e, e2e_fmt(e, "/v1/vouchers/%s?month=2026-06", v), w.orga);
    cr_expect_eq(e2e_int(m, "voucher_used_cents"), 87717, "%s", e2e_dump(e, m));
    json_decref(m);

    /* The supplementary June settlement: the two credits, -77.93. */
    e2e_ok(e, "POST", "/v1/settlements/runs", w.orga,
           e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2026-06\"}", w.org));
    char *sup = h_pg_value(w.pg,
                           "SELECT credit_cents || '/' || payable_cents FROM psop.settlements "
                           "WHERE organiser_id = '%s' AND id <> '%s'",
                           w.org, sid);
    cr_expect_str_eq(sup, "-7793/-7793");
    free(sup);

    /* And the freed euros are spendable: 3 h more (104.70) on 122.83. */
    char *e8 = record(&w, v, "2026-06-09", "3", -1);
    expect_pot(&w, v, 100000, 98187, "spent again");
    (void)e8;
    world_fini(&w);
}

/* ---------------------------------------------------------- 2. the rules */

Test(e2e_budget, grant_and_record_rules)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    const char *base = e2e_fmt(e,
                               "\"organiser_id\":\"%s\",\"client_id\":\"asiakas-1\","
                               "\"service_type\":\"%s\",\"decision_number\":\"PS-1\","
                               "\"valid_from\":\"2026-06-01\"",
                               w.org, w.st);
    /* A budget needs valid_to, takes no quota, is exactly one of the three,
     * and is 1 .. 10 000 000 cents: the api refuses the rest (422). */
    const char *bad[] = {
        e2e_fmt(e, "{%s,\"budget_cents\":99000}", base),
        e2e_fmt(e, "{%s,\"valid_to\":\"2026-08-31\",\"budget_cents\":99000,\"monthly_quota\":10}",
                base),
        e2e_fmt(e,
                "{%s,\"valid_to\":\"2026-08-31\",\"budget_cents\":99000,"
                "\"unit_value_cents\":3000}",
                base),
        e2e_fmt(e, "{%s,\"valid_to\":\"2026-08-31\",\"budget_cents\":0}", base),
        e2e_fmt(e, "{%s,\"valid_to\":\"2026-08-31\",\"budget_cents\":10000001}", base),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        e2e_status(e, "POST", "/v1/vouchers", w.orga, bad[i], 422, "budget grant rule");
    /* A flat voucher cannot be amended with a budget. */
    char *flat = e2e_uuid(e);
    e2e_ok(e, "POST", "/v1/vouchers", w.orga,
           e2e_fmt(e, "{\"id\":\"%s\",%s,\"unit_value_cents\":3000}", flat, base));
    e2e_rej(e, "POST", e2e_fmt(e, "/v1/vouchers/%s/amendments", flat), w.orga,
            "{\"effective_from\":\"2026-06-01\",\"budget_cents\":5000}", "value_basis_mismatch:");

    /* No client share allowed: 50.00 for visits at 25.00. 3 visits (75.00)
     * do not fit; 2 do, exactly; then nothing is left. */
    char *v = grant_budget(&w, w.st_visit, 5000, w.p1);
    e2e_rej(e, "POST", ev_path(&w, v, NULL), w.tp1, "{\"date\":\"2026-06-01\",\"quantity\":3}",
            "budget_insufficient:");
    char *x = record(&w, v, "2026-06-01", "2", -1);
    expect_pot(&w, v, 5000, 5000, "visits");
    e2e_rej(e, "POST", ev_path(&w, v, NULL), w.tp1, "{\"date\":\"2026-06-02\",\"quantity\":1}",
            "budget_exhausted:");
    /* An edit to 3 visits would need 75.00 of 50.00 (its own 50.00 back). */
    e2e_rej(e, "PATCH", ev_path(&w, v, x), w.tp1, "{\"quantity\":3}", "budget_insufficient:");
    /* An edit to 1 visit returns 25.00. */
    e2e_ok(e, "PATCH", ev_path(&w, v, x), w.tp1, "{\"quantity\":1}");
    expect_pot(&w, v, 5000, 2500, "visit edited down");
    /* Outside valid_to: not active. */
    e2e_rej(e, "POST", ev_path(&w, v, NULL), w.tp1, "{\"date\":\"2026-09-01\",\"quantity\":1}",
            "voucher_not_active:");
    world_fini(&w);
}

/* ------------------------------------------------------------ 3. the race */

struct racer {
    const char *vid, *pid;
    char cmd_id[UUID_STR_LEN];
    const char *qty;
};

/* Two providers' ERPs (the voucher's P1 and, after a change of provider,
 * nothing else may record; so: P1's two integrations) send at once. Each
 * command goes under its own Kafka key, so the commands spread over the
 * partitions of psop.commands.voucher and both voucher workers apply them
 * concurrently against the same pot. */
static void race(struct world *w, const char *vid, const char *qty, int n, long budget,
                 long used_before, long want_org, long want_client)
{
    struct tc *t = tc_open();
    struct tc_actor a = {.sub = "erp-race", .role = "provider", .provider = w->p1};
    char(*ids)[UUID_STR_LEN] = calloc((size_t)n, UUID_STR_LEN);
    for (int i = 0; i < n; i++) {
        char key[UUID_STR_LEN], eid[UUID_STR_LEN];
        tc_uuid(key);
        tc_uuid(eid);
        tc_send(t, TOPIC_CMD_VOUCHER, key, "service_event.record", &a,
                json_pack("{s:s, s:s, s:s, s:o}", "voucher_id", vid, "id", eid, "date",
                          "2026-06-10", "quantity", json_loads(qty, JSON_DECODE_ANY, NULL)),
                ids[i]);
    }
    int applied = 0, exhausted = 0;
    for (int i = 0; i < n; i++) {
        const char *st = e2e_verdict(&w->e, w->pg, ids[i], 60);
        if (strncmp(st, "applied", 7) == 0)
            applied++;
        else if (strstr(st, "budget_exhausted:") || strstr(st, "budget_insufficient:"))
            exhausted++;
        else
            cr_expect(0, "command %d: %s", i, st);
    }
    cr_expect_eq(applied, 1, "exactly one wins what is left (%d applied, %d rejected)", applied,
                 exhausted);
    cr_expect_eq(exhausted, n - 1, "the others are told the pot is empty");
    expect_pot(w, vid, budget, budget, "after the race");
    char *split = h_pg_value(w->pg,
                             "SELECT string_agg(organiser_part_cents || '/' || client_share_cents, "
                             "' ') FROM psop.service_events WHERE voucher_id = '%s' AND date = "
                             "'2026-06-10'",
                             vid);
    char want[64];
    snprintf(want, sizeof(want), "%ld/%ld", want_org, want_client);
    cr_expect_str_eq(split, want, "the winner took the last %ld cents", budget - used_before);
    free(split);
    cr_expect_eq(sql_ll(w,
                        "SELECT count(*) FROM psop.vouchers WHERE id = '%s' AND (budget_used_cents "
                        "< 0 OR budget_used_cents > budget_cents)",
                        vid),
                 0, "nothing negative, nothing overdrawn");
    free(ids);
    tc_close(t);
}

Test(e2e_budget, racing_for_the_last_euros)
{
    struct world w;
    world_init(&w);
    /* Client share allowed: 100.00, 2 h (69.80) charged, 30.20 left; eight
     * 1 h events (34.90) at once: one gets 30.20 + 4.70 client share. */
    char *v = grant_budget(&w, w.st, 10000, w.p1);
    record(&w, v, "2026-06-01", "2", -1);
    race(&w, v, "1", 8, 10000, 6980, 3020, 470);
    /* No client share: 75.00, 1 visit charged, 50.00 left; eight 2-visit
     * events (50.00) at once: exactly one fits. */
    char *v2 = grant_budget(&w, w.st_visit, 7500, w.p1);
    record(&w, v2, "2026-06-01", "1", -1);
    race(&w, v2, "2", 8, 7500, 2500, 5000, 0);
    world_fini(&w);
}
