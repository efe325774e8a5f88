/*
 * Integration tests of the settlement commands (workers/h_settlement.c), the
 * settlement document (lib/views/view_settlement.c) and the settlement reads
 * (api/read_settlement.c) on the real stack: reference data, vouchers and
 * service events go through the running reference and voucher workers,
 * settlement.* onto psop.commands.settlement for the running settlement
 * workers; the tests look at PostgreSQL (exact cents), Redis,
 * psop.events.settlement and the api ($PSOP_API_URL). Every test creates
 * its own organisers, providers and service types, so they run again and
 * again on the same stack. Event dates are in August-October 2026, periods
 * before today's month.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api_testlib.h"
#include "commands.h"
#include "core/date.h"
#include "domain/settlement.h"
#include "harness.h"
#include "wire/jschema.h"
#include "store/rds.h"
#include "store/topics.h"
#include "views/view_settlement.h"
#include "voucher_world.h"
#include "schemas.h"

/* A third service type: per visit, VAT 25.5 %, client share allowed. */
struct sworld {
    struct vworld w;
    char tax[32];
    int year; /* the year settlements made today are numbered in */
    char prefix_a[16];
};

static void sw_init(struct sworld *s)
{
    vw_init(&s->w);
    vw_code(s->tax, sizeof(s->tax), "vtx_");
    char id[UUID_STR_LEN];
    tc_send(s->w.t, TOPIC_CMD_REFERENCE, s->tax, "service_type.upsert", &s->w.admin,
            json_pack("{s:s, s:s, s:s, s:i, s:b}", "code", s->tax, "name", "Siivous (tilitystesti)",
                      "unit", "visit", "vat_rate_bp", 2550, "client_share_allowed", 1),
            id);
    tc_expect_applied(s->w.pg, id);
    s->year = date_to_ymd(date_today_helsinki()).y;
    char *p = h_pg_value(s->w.pg, "SELECT invoice_prefix FROM psop.organisers WHERE id = '%s'",
                         s->w.org_a);
    snprintf(s->prefix_a, sizeof(s->prefix_a), "%s", p);
    free(p);
}

/* A provider approved for organiser A and all three service types from
 * 2026-01-01 (list prices VW_PRICE*, tax_price on the taxable type). */
static void sw_provider(struct sworld *s, char pid[UUID_STR_LEN], long tax_price)
{
    vw_provider(&s->w, pid, "2026-01-01");
    vw_approve(&s->w, pid, s->w.org_a, s->tax, "2026-01-01");
    vw_price(&s->w, pid, s->w.org_a, s->tax, "2026-01-01", tax_price, -1, -1, -1);
}

static void record(struct sworld *s, const char *vid, const char *pid, char eid[UUID_STR_LEN],
                   const char *date, double qty, const char *band)
{
    struct tc_actor p = vw_prov_actor(pid);
    vw_applied(&s->w, vid, "service_event.record", &p, vw_event(eid, date, qty, band, -1));
}

static void approve(struct sworld *s, const char *vid, const char *eid)
{
    vw_applied(&s->w, vid, "service_event.approve", &s->w.orgs_a,
               json_pack("{s:s}", "event_id", eid));
}

static void record_approved(struct sworld *s, const char *vid, const char *pid,
                            char eid[UUID_STR_LEN], const char *date, double qty, const char *band)
{
    record(s, vid, pid, eid, date, qty, band);
    approve(s, vid, eid);
}

/* settlement.run / confirm / mark_paid; the command id in id. */
static void run_send(struct sworld *s, const char *key, const struct tc_actor *a, const char *org,
                     const char *period, char id[UUID_STR_LEN])
{
    tc_send(s->w.t, TOPIC_CMD_SETTLEMENT, key, "settlement.run", a,
            json_pack("{s:s, s:s}", "organiser_id", org, "period", period), id);
}

static void run_ok(struct sworld *s, const char *period, char id[UUID_STR_LEN])
{
    run_send(s, s->w.org_a, &s->w.orgs_a, s->w.org_a, period, id);
    tc_expect_applied(s->w.pg, id);
}

static char *settle_cmd(struct sworld *s, const char *type, const struct tc_actor *a,
                        const char *sid, const char *paid_date, const char *expect_prefix)
{
    char id[UUID_STR_LEN];
    json_t *d = json_pack("{s:s}", "settlement_id", sid);
    if (paid_date)
        json_object_set_new(d, "paid_date", json_string(paid_date));
    tc_send(s->w.t, TOPIC_CMD_SETTLEMENT, sid, type, a, d, id);
    if (!expect_prefix) {
        tc_expect_applied(s->w.pg, id);
        return NULL;
    }
    return tc_expect_rejected(s->w.pg, id, expect_prefix);
}

/* The settlement a run made for a provider ("" when none; caller frees). */
static char *sid_of(struct sworld *s, const char *run_id, const char *pid)
{
    return h_pg_value(s->w.pg,
                      "SELECT coalesce((SELECT id::text FROM psop.settlements WHERE run_id = '%s' "
                      "AND provider_id = '%s'), '')",
                      run_id, pid);
}

static long long sv(struct sworld *s, const char *sid, const char *col)
{
    return vw_ll(&s->w, "SELECT %s FROM psop.settlements WHERE id = '%s'", col, sid);
}

static void expect_totals(struct sworld *s, const char *sid, long long lines, long long gross,
                          long long org, long long client, long long credit, long long payable)
{
    cr_expect_eq(sv(s, sid, "line_count"), lines, "line_count of %s", sid);
    cr_expect_eq(sv(s, sid, "gross_cents"), gross, "gross of %s", sid);
    cr_expect_eq(sv(s, sid, "organiser_cents"), org, "organiser of %s", sid);
    cr_expect_eq(sv(s, sid, "client_share_cents"), client, "client share of %s", sid);
    cr_expect_eq(sv(s, sid, "credit_cents"), credit, "credit of %s", sid);
    cr_expect_eq(sv(s, sid, "payable_cents"), payable, "payable of %s", sid);
}

/* amount and vat at rate; -1/-1 expects no row. */
static void expect_vat(struct sworld *s, const char *sid, int rate, long long amount, long long vat)
{
    long long n = vw_ll(&s->w,
                        "SELECT count(*) FROM psop.settlement_vat WHERE settlement_id = '%s' "
                        "AND rate_bp = %d",
                        sid, rate);
    if (amount == -1) {
        cr_expect_eq(n, 0, "no VAT row %d on %s", rate, sid);
        return;
    }
    cr_expect_eq(n, 1, "VAT row %d on %s", rate, sid);
    cr_expect_eq(vw_ll(&s->w,
                       "SELECT amount_cents FROM psop.settlement_vat WHERE settlement_id = '%s' "
                       "AND rate_bp = %d",
                       sid, rate),
                 amount, "VAT %d amount of %s", rate, sid);
    cr_expect_eq(vw_ll(&s->w,
                       "SELECT vat_cents FROM psop.settlement_vat WHERE settlement_id = '%s' "
                       "AND rate_bp = %d",
                       sid, rate),
                 vat, "VAT %d of %s", rate, sid);
}

static void expect_event_state(struct sworld *s, const char *eid, const char *state,
                               const char *sid)
{
    char *st = h_pg_value(s->w.pg,
                          "SELECT state || '/' || coalesce(settlement_id::text, '') "
                          "FROM psop.service_events WHERE id = '%s'",
                          eid);
    char want[96];
    snprintf(want, sizeof(want), "%s/%s", state, sid ? sid : "");
    cr_expect_str_eq(st, want, "event %s", eid);
    free(st);
}

static char *sstr(struct sworld *s, const char *sid, const char *col)
{
    return h_pg_value(
        s->w.pg, "SELECT coalesce(%s::text, '') FROM psop.settlements WHERE id = '%s'", col, sid);
}

static long long count_org(struct sworld *s, const char *org)
{
    return vw_ll(&s->w, "SELECT count(*) FROM psop.settlements WHERE organiser_id = '%s'", org);
}

/* --------------------------------------------------------------- api */

static char *tok(const char *role, const char *org, const char *provider)
{
    char *out = NULL, err[256];
    cr_assert_eq(jwt_token_mint_at(h_config(), role, "settle-test", org, provider, NULL, 600,
                                   time(NULL), &out, err, sizeof(err)),
                 0, "token: %s", err);
    return out;
}

static json_t *api_get(const char *path, const char *token, int *status)
{
    struct tl_resp r;
    cr_assert_eq(tl_request(h_api_port(), "GET", path, token, NULL, NULL, NULL, &r), 0,
                 "GET %s: no answer", path);
    *status = r.status;
    json_t *j = json_incref(r.json);
    tl_resp_free(&r);
    return j;
}

static const char *jstr(const json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v ? v : "";
}

static long long jint(const json_t *j, const char *k)
{
    return (long long)json_integer_value(json_object_get(j, k));
}

/* Every event of evs (tc_events_by_key of key on psop.events.settlement) is
 * valid against schemas/events/<type>.json and has subject = key. */
static void expect_valid_events(const json_t *evs, const char *key)
{
    struct jschema_registry *reg = t_schemas();
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        char *name = xasprintf("events/%s", type ? type : "?");
        json_t *errs = NULL;
        if (jschema_validate(reg, name, ev, "", &errs) != 0) {
            char *e = errs ? json_dumps(errs, JSON_COMPACT) : xstrdup("no schema");
            char *d = json_dumps(ev, JSON_COMPACT);
            cr_expect_fail("%s of %s is not valid against schemas/%s.json: %s\n  event: %s", type,
                           key, name, e, d);
            free(e);
            free(d);
        }
        json_decref(errs);
        free(name);
        cr_expect_str_eq(jstr(ev, "subject"), key, "%s: subject is not the settlement id", type);
    }
    jschema_registry_free(reg);
}

/* The event of type in evs (borrowed; NULL when none). */
static const json_t *event_of(const json_t *evs, const char *type)
{
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        if (strcmp(jstr(ev, "type"), type) == 0)
            return ev;
    }
    return NULL;
}

/* -------------------------------------------------------------- tests */

Test(settlement, run_supplementary_credit_confirm_pay)
{
    struct sworld s;
    sw_init(&s);
    struct vworld *w = &s.w;
    char p1[UUID_STR_LEN], p2[UUID_STR_LEN];
    sw_provider(&s, p1, 2500);
    sw_provider(&s, p2, 2200);
    char v1[UUID_STR_LEN], v2[UUID_STR_LEN], v3[UUID_STR_LEN], v4[UUID_STR_LEN];
    vw_grant(w, v1, w->banded, 3000, 0, p1, "2026-01-01", "set-c1");
    vw_grant(w, v2, s.tax, 2000, 0, p1, "2026-01-01", "set-c2");
    vw_grant(w, v3, w->plain, 2500, 0, p2, "2026-01-01", "set-c3");
    vw_grant(w, v4, s.tax, 1800, 0, p2, "2026-01-01", "set-c4");

    char e1[UUID_STR_LEN], e2[UUID_STR_LEN], e3[UUID_STR_LEN], e4[UUID_STR_LEN], e5[UUID_STR_LEN],
        e6[UUID_STR_LEN], e7[UUID_STR_LEN], e8[UUID_STR_LEN], e9[UUID_STR_LEN];
    /* P1, banded VAT 0: weekday 2.5 h at 34.90, value 30.00 -> 87.25 / 75.00 / 12.25;
     * Saturday 1 h at 39.90, value 30.00 x 1.25 = 37.50 -> 39.90 / 37.50 / 2.40;
     * an October event (not in September's run). */
    record_approved(&s, v1, p1, e1, "2026-09-01", 2.5, NULL);
    record_approved(&s, v1, p1, e2, "2026-09-05", 1.0, "saturday");
    record_approved(&s, v1, p1, e3, "2026-10-06", 1.0, NULL);
    /* P1, taxable: 25.00 per visit, value 20.00 -> 25.00 / 20.00 / 5.00 and
     * 1.5 visits -> 37.50 / 30.00 / 7.50. */
    record_approved(&s, v2, p1, e4, "2026-09-10", 1.0, NULL);
    record_approved(&s, v2, p1, e5, "2026-09-11", 1.5, NULL);
    /* P2, plain VAT 0, no client share: 25.00 and 50.00; taxable at 22.00,
     * value 18.00 -> 22.00 / 18.00 / 4.00; e9 only recorded. */
    record_approved(&s, v3, p2, e6, "2026-09-15", 1.0, NULL);
    record_approved(&s, v3, p2, e7, "2026-09-16", 2.0, NULL);
    record_approved(&s, v4, p2, e8, "2026-09-20", 1.0, NULL);
    record(&s, v3, p2, e9, "2026-09-17", 1.0, NULL);

    long long seq0 = vw_ll(w,
                           "SELECT coalesce((SELECT last_seq FROM psop.settlement_counters "
                           "WHERE organiser_id = '%s' AND year = %d), 0)",
                           w->org_a, s.year);
    cr_assert_eq(seq0, 0);

    /* ---- the first run of September */
    char r1[UUID_STR_LEN];
    char *env = NULL;
    {
        char id[UUID_STR_LEN];
        tc_uuid(id);
        json_t *d = json_pack("{s:s, s:s}", "organiser_id", w->org_a, "period", "2026-09");
        env = tc_envelope(id, "settlement.run", &w->orgs_a, d);
        json_decref(d);
        tc_send_raw(w->t, TOPIC_CMD_SETTLEMENT, w->org_a, env);
        tc_expect_applied(w->pg, id);
        memcpy(r1, id, UUID_STR_LEN);
    }
    char *s1 = sid_of(&s, r1, p1), *s2 = sid_of(&s, r1, p2);
    cr_assert(s1[0] && s2[0], "one settlement per provider");
    cr_expect_eq(vw_ll(w, "SELECT count(*) FROM psop.settlements WHERE run_id = '%s'", r1), 2);
    expect_totals(&s, s1, 4, 8725 + 3990 + 2500 + 3750, 7500 + 3750 + 2000 + 3000,
                  1225 + 240 + 500 + 750, 0, 16250);
    expect_vat(&s, s1, 0, 11250, 0);
    expect_vat(&s, s1, 2550, 5000, 1016);
    expect_totals(&s, s2, 3, 2500 + 5000 + 2200, 2500 + 5000 + 1800, 400, 0, 9300);
    expect_vat(&s, s2, 0, 7500, 0);
    expect_vat(&s, s2, 2550, 1800, 366);
    expect_event_state(&s, e1, "settled", s1);
    expect_event_state(&s, e5, "settled", s1);
    expect_event_state(&s, e8, "settled", s2);
    expect_event_state(&s, e3, "approved", NULL); /* October */
    expect_event_state(&s, e9, "recorded", NULL); /* not approved */
    cr_expect_eq(vw_ll(w,
                       "SELECT settlement_count * 1000 + event_count * 10 + credit_count "
                       "FROM psop.settlement_runs WHERE id = '%s'",
                       r1),
                 2070);

    /* numbers in the order of the providers' business ids, references */
    char *by1 = h_pg_value(w->pg, "SELECT business_id FROM psop.providers WHERE id = '%s'", p1);
    char *by2 = h_pg_value(w->pg, "SELECT business_id FROM psop.providers WHERE id = '%s'", p2);
    int p1_first = strcmp(by1, by2) < 0;
    char num1[40], num2[40], ref1[24];
    snprintf(num1, sizeof(num1), "%s-%d-%06d", s.prefix_a, s.year, p1_first ? 1 : 2);
    snprintf(num2, sizeof(num2), "%s-%d-%06d", s.prefix_a, s.year, p1_first ? 2 : 1);
    cr_assert_eq(settlement_reference(s.year, p1_first ? 1 : 2, ref1, sizeof(ref1), NULL, 0), 0);
    char *n1 = sstr(&s, s1, "number"), *n2 = sstr(&s, s2, "number");
    char *rf1 = sstr(&s, s1, "reference"), *due1 = sstr(&s, s1, "due_date");
    cr_expect_str_eq(n1, num1);
    cr_expect_str_eq(n2, num2);
    cr_expect_str_eq(rf1, ref1);
    {
        char want[11];
        date_format(date_today_helsinki() + h_config()->settlement_due_days, want);
        cr_expect_str_eq(due1, want, "due date = today + settlement_due_days");
    }
    /* lines: events first, by date */
    cr_expect_eq(vw_ll(w,
                       "SELECT count(*) FROM psop.settlement_lines WHERE settlement_id = '%s' "
                       "AND kind = 'event' AND source = 'voucher'",
                       s1),
                 4);
    char *l1 = h_pg_value(w->pg,
                          "SELECT event_id::text || '/' || quantity || '/' || "
                          "organiser_part_cents || '/' || vat_rate_bp FROM psop.settlement_lines "
                          "WHERE settlement_id = '%s' AND line_no = 1",
                          s1);
    char want_l1[96];
    snprintf(want_l1, sizeof(want_l1), "%s/250/7500/0", e1);
    cr_expect_str_eq(l1, want_l1);
    free(l1);

    /* ---- replaying the same command changes nothing */
    tc_send_raw(w->t, TOPIC_CMD_SETTLEMENT, w->org_a, env);
    free(env);
    char r_probe[UUID_STR_LEN];
    run_ok(&s, "2026-09", r_probe); /* behind the replay in the partition: nothing new */
    cr_expect_eq(count_org(&s, w->org_a), 2, "replay and an empty run create nothing");
    cr_expect_eq(
        vw_ll(w, "SELECT count(*) FROM psop.processed_commands WHERE command_id = '%s'", r1), 1);
    cr_expect_eq(
        vw_ll(w, "SELECT settlement_count FROM psop.settlement_runs WHERE id = '%s'", r_probe), 0,
        "a run with nothing new is recorded with no settlements");
    cr_expect_eq(vw_ll(w,
                       "SELECT last_seq FROM psop.settlement_counters WHERE organiser_id = '%s' "
                       "AND year = %d",
                       w->org_a, s.year),
                 2, "an empty run takes no number");

    /* ---- a credit after settlement and a late approval: the supplementary run */
    vw_applied(w, v2, "service_event.credit", &w->orgs_a,
               json_pack("{s:s, s:f, s:s, s:s}", "event_id", e5, "quantity", 0.5, "reason_code",
                         "wrong_quantity", "explanation", "half a visit too much"));
    approve(&s, v3, e9);
    char r2[UUID_STR_LEN];
    run_ok(&s, "2026-09", r2);
    char *s3 = sid_of(&s, r2, p1), *s4 = sid_of(&s, r2, p2);
    cr_assert(s3[0] && s4[0]);
    /* credit only: -12.50 gross, -10.00 organiser, -2.50 client on the line;
     * totals: credit -10.00, payable -10.00, VAT 25.5 % of -10.00 = -2.03 */
    expect_totals(&s, s3, 1, 0, 0, 0, -1000, -1000);
    expect_vat(&s, s3, 2550, -1000, -203);
    expect_vat(&s, s3, 0, -1, -1);
    char *cl = h_pg_value(w->pg,
                          "SELECT kind || '/' || event_id || '/' || quantity || '/' || "
                          "gross_cents || '/' || organiser_part_cents || '/' || "
                          "client_share_cents FROM psop.settlement_lines WHERE settlement_id = "
                          "'%s' AND line_no = 1",
                          s3);
    char want_cl[128];
    snprintf(want_cl, sizeof(want_cl), "credit/%s/50/-1250/-1000/-250", e5);
    cr_expect_str_eq(cl, want_cl);
    free(cl);
    expect_totals(&s, s4, 1, 2500, 2500, 0, 0, 2500);
    expect_vat(&s, s4, 0, 2500, 0);
    expect_event_state(&s, e9, "settled", s4);
    cr_expect_eq(count_org(&s, w->org_a), 4);
    cr_expect_eq(vw_ll(w,
                       "SELECT count(*) FROM psop.settlements WHERE organiser_id = '%s' AND "
                       "seq BETWEEN 1 AND 4",
                       w->org_a),
                 4, "numbers 1-4, gapless");
    cr_expect_eq(vw_ll(w,
                       "SELECT count(*) FROM psop.credits WHERE event_id = '%s' AND "
                       "settlement_id = '%s'",
                       e5, s3),
                 1);

    /* ---- a third run with nothing new creates nothing */
    char r3[UUID_STR_LEN];
    run_ok(&s, "2026-09", r3);
    cr_expect_eq(count_org(&s, w->org_a), 4);
    cr_expect_eq(vw_ll(w, "SELECT count(*) FROM psop.settlement_runs WHERE id = '%s'", r3), 1);

    /* ---- refusals */
    char id[UUID_STR_LEN];
    char thism[8];
    {
        struct ymd t = date_to_ymd(date_today_helsinki());
        snprintf(thism, sizeof(thism), "%04d-%02d", t.y, t.m);
    }
    run_send(&s, w->org_a, &w->orgs_a, w->org_a, thism, id);
    free(tc_expect_rejected(w->pg, id, "period_not_past:"));
    run_send(&s, w->org_a, &w->orgs_b, w->org_a, "2026-09", id);
    free(tc_expect_rejected(w->pg, id, "forbidden:"));
    struct tc_actor prov = vw_prov_actor(p1);
    run_send(&s, w->org_a, &prov, w->org_a, "2026-09", id);
    free(tc_expect_rejected(w->pg, id, "forbidden:"));
    char nobody[UUID_STR_LEN];
    tc_uuid(nobody);
    free(settle_cmd(&s, "settlement.confirm", &w->orgs_a, nobody, NULL, "not_found:"));
    free(settle_cmd(&s, "settlement.mark_paid", &w->orgs_a, s2, "2026-11-01",
                    "invalid_transition:"));
    free(settle_cmd(&s, "settlement.confirm", &w->orgs_b, s1, NULL, "forbidden:"));

    /* ---- confirm and pay: the events become paid */
    settle_cmd(&s, "settlement.confirm", &w->orgs_a, s1, NULL, NULL);
    free(settle_cmd(&s, "settlement.confirm", &w->orgs_a, s1, NULL, "invalid_transition:"));
    /* issue 14 item 8: never paid before the settlement was made */
    free(
        settle_cmd(&s, "settlement.mark_paid", &w->orgs_a, s1, "1900-01-01", "invalid_paid_date:"));
    char paid[11];
    date_format(date_today_helsinki(), paid); /* not before the settlement was made */
    settle_cmd(&s, "settlement.mark_paid", &w->orgs_a, s1, paid, NULL);
    char *st1 = sstr(&s, s1, "state"), *pd1 = sstr(&s, s1, "paid_date");
    cr_expect_str_eq(st1, "paid");
    cr_expect_str_eq(pd1, paid);
    cr_expect_eq(sv(&s, s1, "version"), 3);
    expect_event_state(&s, e1, "paid", s1);
    expect_event_state(&s, e2, "paid", s1);
    expect_event_state(&s, e4, "paid", s1);
    expect_event_state(&s, e5, "paid", s1);
    expect_event_state(&s, e6, "settled", s2);
    free(settle_cmd(&s, "settlement.mark_paid", &w->orgs_a, s1, paid, "invalid_transition:"));

    /* ---- domain events */
    json_t *evs = tc_events_by_key(TOPIC_EVT_SETTLEMENT, s1);
    cr_expect_eq(tc_count_type(evs, "settlement.created"), 1);
    cr_expect_eq(tc_count_type(evs, "settlement.confirmed"), 1);
    cr_expect_eq(tc_count_type(evs, "settlement.paid"), 1);
    expect_valid_events(evs, s1);
    const json_t *created = json_object_get(event_of(evs, "settlement.created"), "data");
    cr_expect_str_eq(jstr(created, "number"), num1);
    cr_expect_str_eq(jstr(created, "reference"), ref1);
    cr_expect_str_eq(jstr(created, "due_date"), due1);
    cr_expect_str_eq(jstr(created, "run_id"), r1);
    cr_expect_eq(jint(created, "line_count"), 4);
    /* Lines, not (kind, VAT rate) groups: 4 events at two rates. */
    cr_expect_eq(jint(created, "event_lines"), 4);
    cr_expect_eq(jint(created, "credit_lines"), 0);
    cr_expect_eq(jint(created, "version"), 1);
    const json_t *etotals = json_object_get(created, "totals");
    cr_expect_eq(jint(etotals, "payable_cents"), 16250);
    cr_expect_eq(jint(etotals, "client_share_cents"), 1225 + 240 + 500 + 750);
    /* VAT rows by rate: 0 % 112.50, 25.5 % 50.00 of which 10.16 VAT. */
    const json_t *evat = json_object_get(etotals, "vat");
    cr_expect_eq(json_array_size(evat), 2);
    cr_expect_eq(jint(json_array_get(evat, 0), "rate_bp"), 0);
    cr_expect_eq(jint(json_array_get(evat, 0), "amount_cents"), 11250);
    cr_expect_eq(jint(json_array_get(evat, 1), "rate_bp"), 2550);
    cr_expect_eq(jint(json_array_get(evat, 1), "amount_cents"), 5000);
    cr_expect_eq(jint(json_array_get(evat, 1), "vat_cents"), 1016);
    const json_t *conf = json_object_get(event_of(evs, "settlement.confirmed"), "data");
    cr_expect_str_eq(jstr(conf, "state"), "confirmed");
    cr_expect_eq(jint(conf, "version"), 2);
    const json_t *pay = json_object_get(event_of(evs, "settlement.paid"), "data");
    cr_expect_str_eq(jstr(pay, "paid_date"), paid);
    cr_expect_eq(jint(pay, "events_paid"), 4);
    cr_expect_eq(jint(pay, "version"), 3);
    json_decref(evs);
    /* The supplementary settlement of a credit only: negative payable and
     * VAT (-10.00, of which -2.03), still valid. */
    evs = tc_events_by_key(TOPIC_EVT_SETTLEMENT, s3);
    cr_expect_eq(tc_count_type(evs, "settlement.created"), 1);
    cr_expect_eq(json_array_size(evs), 1, "s3 is a draft: only settlement.created");
    expect_valid_events(evs, s3);
    created = json_object_get(event_of(evs, "settlement.created"), "data");
    etotals = json_object_get(created, "totals");
    cr_expect_eq(jint(created, "event_lines"), 0);
    cr_expect_eq(jint(created, "credit_lines"), 1);
    cr_expect_eq(jint(etotals, "payable_cents"), -1000);
    cr_expect_eq(jint(etotals, "credit_cents"), -1000);
    evat = json_object_get(etotals, "vat");
    cr_expect_eq(json_array_size(evat), 1);
    cr_expect_eq(jint(json_array_get(evat, 0), "vat_cents"), -203);
    json_decref(evs);

    /* ---- the read model and the api */
    char err[256];
    struct rds *rds = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(rds, "redis: %s", err);
    char key[96], *doc = NULL;
    long long ver = 0;
    snprintf(key, sizeof(key), VIEW_SETTLEMENT_KEY_FMT, s1);
    for (int i = 0; i < 300; i++) {
        free(doc);
        doc = NULL;
        if (rds_get_versioned(rds, key, &doc, &ver, err, sizeof(err)) == 1 && ver == 3)
            break;
        h_sleep_ms(100);
    }
    cr_expect_eq(ver, 3, "psop:settlement:%s at version 3", s1);
    free(doc);
    rds_free(rds);

    char *to = tok("organiser", w->org_a, NULL), *tp1 = tok("provider", NULL, p1),
         *tp2 = tok("provider", NULL, p2), *tb = tok("organiser", w->org_b, NULL);
    char path[128];
    snprintf(path, sizeof(path), "/v1/settlements/%s", s1);
    int st;
    json_t *d = api_get(path, to, &st);
    cr_assert_eq(st, 200, "GET %s: %d", path, st);
    cr_expect_str_eq(jstr(d, "number"), num1);
    cr_expect_str_eq(jstr(d, "reference"), ref1);
    cr_expect_str_eq(jstr(d, "period"), "2026-09");
    cr_expect_str_eq(jstr(d, "state"), "paid");
    cr_expect_str_eq(jstr(d, "paid_date"), paid);
    cr_expect_str_eq(jstr(d, "due_date"), due1);
    cr_expect(json_object_get(d, "confirmed_at") != NULL);
    cr_expect_eq(jint(d, "version"), 3);
    json_t *seller = json_object_get(d, "seller"), *buyer = json_object_get(d, "buyer");
    cr_expect_str_eq(jstr(seller, "provider_id"), p1);
    cr_expect_str_eq(jstr(seller, "business_id"), by1);
    cr_expect_str_eq(jstr(buyer, "organiser_id"), w->org_a);
    cr_expect_str_eq(jstr(buyer, "name"), "Setelikunta A");
    json_t *t = json_object_get(d, "totals");
    cr_expect_eq(jint(t, "gross_cents"), 18965);
    cr_expect_eq(jint(t, "organiser_cents"), 16250);
    cr_expect_eq(jint(t, "client_share_cents"), 2715);
    cr_expect_eq(jint(t, "credit_cents"), 0);
    cr_expect_eq(jint(t, "payable_cents"), 16250);
    json_t *vat = json_object_get(t, "vat");
    cr_expect_eq(json_array_size(vat), 2);
    cr_expect_eq(jint(json_array_get(vat, 1), "rate_bp"), 2550);
    cr_expect_eq(jint(json_array_get(vat, 1), "amount_cents"), 5000);
    cr_expect_eq(jint(json_array_get(vat, 1), "vat_cents"), 1016);
    json_t *lines = json_object_get(d, "lines");
    cr_expect_eq(json_array_size(lines), 4);
    json_t *L1 = json_array_get(lines, 0), *L2 = json_array_get(lines, 1);
    cr_expect_eq(jint(L1, "line_no"), 1);
    cr_expect_str_eq(jstr(L1, "kind"), "event");
    cr_expect_str_eq(jstr(L1, "source"), "voucher");
    cr_expect_str_eq(jstr(L1, "voucher_id"), v1);
    cr_expect_str_eq(jstr(L1, "event_id"), e1);
    cr_expect_str_eq(jstr(L1, "date"), "2026-09-01");
    cr_expect_str_eq(jstr(L1, "service_type"), w->banded);
    cr_expect_str_eq(jstr(L1, "unit"), "hour");
    cr_expect_str_eq(jstr(L1, "band"), "weekday");
    cr_expect(json_real_value(json_object_get(L1, "quantity")) == 2.5);
    cr_expect_eq(jint(L1, "unit_price_cents"), 3490);
    cr_expect_eq(jint(L1, "gross_cents"), 8725);
    cr_expect_eq(jint(L1, "organiser_cents"), 7500);
    cr_expect_eq(jint(L1, "client_share_cents"), 1225);
    cr_expect_eq(jint(L1, "vat_rate_bp"), 0);
    cr_expect_eq(json_object_get(L1, "order_id"), NULL);
    cr_expect_eq(json_object_get(L1, "credit_id"), NULL);
    cr_expect_str_eq(jstr(L2, "band"), "saturday");
    cr_expect_eq(jint(L2, "organiser_cents"), 3750);
    json_decref(d);

    d = api_get(path, tp1, &st);
    cr_expect_eq(st, 200, "its provider reads it");
    json_decref(d);
    d = api_get(path, tp2, &st);
    cr_expect_eq(st, 404, "another provider: 404");
    json_decref(d);
    d = api_get(path, tb, &st);
    cr_expect_eq(st, 404, "another organiser: 404");
    json_decref(d);

    /* the credit line through the api */
    snprintf(path, sizeof(path), "/v1/settlements/%s", s3);
    d = api_get(path, to, &st);
    cr_assert_eq(st, 200);
    json_t *C1 = json_array_get(json_object_get(d, "lines"), 0);
    cr_expect_str_eq(jstr(C1, "kind"), "credit");
    cr_expect(json_object_get(C1, "credit_id") != NULL);
    cr_expect_eq(jint(C1, "gross_cents"), -1250);
    cr_expect_eq(jint(json_object_get(d, "totals"), "payable_cents"), -1000);
    cr_expect_eq(
        jint(json_array_get(json_object_get(json_object_get(d, "totals"), "vat"), 0), "vat_cents"),
        -203);
    json_decref(d);

    /* lists */
    snprintf(path, sizeof(path), "/v1/settlements?period=2026-09");
    d = api_get(path, to, &st);
    cr_assert_eq(st, 200);
    cr_expect_eq(json_array_size(json_object_get(d, "settlements")), 4);
    cr_expect_eq(json_object_get(json_array_get(json_object_get(d, "settlements"), 0), "lines"),
                 NULL, "lists carry no lines");
    json_decref(d);
    d = api_get("/v1/settlements", tp2, &st);
    cr_assert_eq(st, 200);
    cr_expect_eq(json_array_size(json_object_get(d, "settlements")), 2, "P2's own two");
    json_decref(d);
    snprintf(path, sizeof(path), "/v1/settlements?organiser_id=%s", w->org_a);
    d = api_get(path, tb, &st);
    cr_expect_eq(st, 403, "another organiser's list: 403");
    json_decref(d);
    d = api_get("/v1/settlements?period=2026-13", to, &st);
    cr_expect_eq(st, 422);
    json_decref(d);

    free(to);
    free(tp1);
    free(tp2);
    free(tb);
    free(st1);
    free(pd1);
    free(n1);
    free(n2);
    free(rf1);
    free(due1);
    free(by1);
    free(by2);
    free(s1);
    free(s2);
    free(s3);
    free(s4);
    vw_fini(w);
}

/* Two runs of one organiser (August and October) sent at once, keyed so
 * that they land on different partitions and likely different settlement
 * workers: both applied, numbers 1..6 gapless and unique. */
Test(settlement, racing_runs_keep_numbers_gapless)
{
    struct sworld s;
    sw_init(&s);
    struct vworld *w = &s.w;
    char p[3][UUID_STR_LEN], v[3][UUID_STR_LEN], e[UUID_STR_LEN];
    for (int i = 0; i < 3; i++) {
        sw_provider(&s, p[i], 2500);
        char client[32];
        snprintf(client, sizeof(client), "race-%d", i);
        vw_grant(w, v[i], w->plain, 2500, 0, p[i], "2026-01-01", client);
        record_approved(&s, v[i], p[i], e, "2026-08-04", 1.0, NULL);
        record_approved(&s, v[i], p[i], e, "2026-10-07", 2.0, NULL);
    }
    char a[UUID_STR_LEN], b[UUID_STR_LEN], other_key[UUID_STR_LEN];
    tc_uuid(other_key);
    run_send(&s, w->org_a, &w->orgs_a, w->org_a, "2026-08", a);
    run_send(&s, other_key, &w->orgs_a, w->org_a, "2026-10", b);
    tc_expect_applied(w->pg, a);
    tc_expect_applied(w->pg, b);
    cr_expect_eq(count_org(&s, w->org_a), 6);
    cr_expect_eq(vw_ll(w,
                       "SELECT count(DISTINCT seq) FROM psop.settlements WHERE organiser_id = "
                       "'%s' AND year = %d AND seq BETWEEN 1 AND 6",
                       w->org_a, s.year),
                 6, "numbers 1..6, each once");
    cr_expect_eq(vw_ll(w,
                       "SELECT last_seq FROM psop.settlement_counters WHERE organiser_id = '%s' "
                       "AND year = %d",
                       w->org_a, s.year),
                 6);
    /* each run's numbers are contiguous: the counter row is held to COMMIT */
    cr_expect_eq(vw_ll(w,
                       "SELECT count(*) FROM (SELECT run_id, max(seq) - min(seq) AS span "
                       "FROM psop.settlements WHERE organiser_id = '%s' GROUP BY run_id) x "
                       "WHERE span = 2",
                       w->org_a),
                 2);
    cr_expect_eq(vw_ll(w, "SELECT sum(payable_cents) FROM psop.settlements WHERE run_id = '%s'", b),
                 3 * 5000);
    vw_fini(w);
}

/* ------------------------------------------------------------------
 * The counter under real concurrency: the handler itself on two
 * PostgreSQL connections in two threads, each in its own transaction (as
 * two worker processes would be). A holds its run open while B runs: B
 * waits on the counter row and numbers after A. Then a run that rolls back
 * gives its numbers back. */

#include <pthread.h>
#include <stdatomic.h>

#include "apply.h"
#include "handlers.h"
#include "wire/jschema.h"

struct racer {
    struct jschema_registry *reg;
    const char *org, *period;
    const struct tc_actor *actor;
    long delay_ms, hold_ms;
    int commit;
    char cmd_id[UUID_STR_LEN];
    enum apply_result result;
    char why[1100];
    double done_at;
    atomic_int *applied; /* set once this racer's apply returned (it holds the row) */
    atomic_int *after;   /* start only once this is set (another racer's applied) */
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    char err[512];
    h_sleep_ms(r->delay_ms);
    for (double until = h_now() + 60; r->after && !atomic_load(r->after) && h_now() < until;)
        h_sleep_ms(10);
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    if (!pg || pgc_begin(pg, err, sizeof(err)) < 0) {
        r->result = APPLY_FAILED;
        snprintf(r->why, sizeof(r->why), "%s", err);
        pgc_free(pg);
        return NULL;
    }
    tc_uuid(r->cmd_id);
    json_t *d = json_pack("{s:s, s:s}", "organiser_id", r->org, "period", r->period);
    char *env = tc_envelope(r->cmd_id, "settlement.run", r->actor, d);
    json_decref(d);
    struct envelope c;
    if (envelope_parse(r->reg, ENVELOPE_VERSION_CURRENT, env, strlen(env), &c, err, sizeof(err)) <
        0) {
        r->result = APPLY_FAILED;
        snprintf(r->why, sizeof(r->why), "parse: %s", err);
    } else {
        struct apply_ctx ctx = {.pg = pg, .cfg = h_config(), .cmd = &c, .source = "test"};
        r->result = apply_lookup("settlement.run")(&ctx);
        if (r->applied)
            atomic_store(r->applied, 1);
        snprintf(r->why, sizeof(r->why), "%s%s", ctx.reason, ctx.err);
        json_decref(ctx.events);
        json_decref(ctx.touched);
        envelope_free(&c);
        h_sleep_ms(r->hold_ms);
        if (r->result == APPLY_OK && r->commit) {
            if (pgc_commit(pg, err, sizeof(err)) < 0) {
                r->result = APPLY_FAILED;
                snprintf(r->why, sizeof(r->why), "commit: %s", err);
            }
        } else {
            pgc_rollback(pg);
        }
    }
    r->done_at = h_now();
    free(env);
    pgc_free(pg);
    return NULL;
}

Test(settlement, concurrent_transactions_number_in_commit_order)
{
    struct sworld s;
    sw_init(&s);
    struct vworld *w = &s.w;
    char p[3][UUID_STR_LEN], v[3][UUID_STR_LEN], e[UUID_STR_LEN];
    for (int i = 0; i < 3; i++) {
        sw_provider(&s, p[i], 2500);
        char client[32];
        snprintf(client, sizeof(client), "conc-%d", i);
        vw_grant(w, v[i], w->plain, 2500, 0, p[i], "2026-01-01", client);
        record_approved(&s, v[i], p[i], e, "2026-08-04", 1.0, NULL);
        record_approved(&s, v[i], p[i], e, "2026-10-07", 2.0, NULL);
    }
    char err[512];
    struct jschema_registry *reg = jschema_registry_load(h_config()->schemas_dir, err, sizeof(err));
    cr_assert_not_null(reg, "schemas: %s", err);

    /* a rolled-back run takes no number for good */
    struct racer rb = {reg, w->org_a,     "2026-08", &w->orgs_a, 0,    0,   0,
                       "",  APPLY_FAILED, "",        0,          NULL, NULL};
    race_one(&rb);
    cr_assert_eq(rb.result, APPLY_OK, "%s", rb.why);
    cr_expect_eq(count_org(&s, w->org_a), 0, "rolled back");

    /* B starts once A's run is applied and A holds the counter row (not
     * after a fixed head start: a loaded machine may be slower than that). */
    atomic_int a_applied = 0;
    struct racer a = {reg, w->org_a,     "2026-08", &w->orgs_a, 0,          800, 1,
                      "",  APPLY_FAILED, "",        0,          &a_applied, NULL};
    struct racer b = {reg, w->org_a,     "2026-10", &w->admin, 0,    0,         1,
                      "",  APPLY_FAILED, "",        0,         NULL, &a_applied};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race_one, &a);
    pthread_create(&tb, NULL, race_one, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.result, APPLY_OK, "A: %s", a.why);
    cr_assert_eq(b.result, APPLY_OK, "B: %s", b.why);
    cr_expect(b.done_at >= a.done_at, "B waited for A's commit on the counter row");
    cr_expect_eq(vw_ll(w,
                       "SELECT min(seq) * 10 + max(seq) FROM psop.settlements WHERE run_id = '%s'",
                       a.cmd_id),
                 13, "A: numbers 1-3 (the rolled-back run gave its numbers back)");
    cr_expect_eq(vw_ll(w,
                       "SELECT min(seq) * 10 + max(seq) FROM psop.settlements WHERE run_id = '%s'",
                       b.cmd_id),
                 46, "B: numbers 4-6");
    cr_expect_eq(
        vw_ll(w, "SELECT sum(payable_cents) FROM psop.settlements WHERE run_id = '%s'", b.cmd_id),
        15000);
    jschema_registry_free(reg);
    vw_fini(w);
}
