/*
 * Integration tests of the voucher and service-event commands
 * (workers/h_voucher.c, workers/h_service_event.c) and their read models
 * (lib/views/view_voucher.c) on the real stack: envelopes go onto
 * psop.commands.voucher, the running voucher workers apply them, and the
 * tests look at PostgreSQL (exact cents), Redis and psop.events.voucher.
 * The tests start no workers. Dates are in 2026 before today, so they stay
 * in the past.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "rds_test.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "store/topics.h"
#include "views/view_voucher.h"
#include "voucher_world.h"

/* A column of a service event, as a number. */
static long long ev(struct vworld *w, const char *eid, const char *col)
{
    return vw_ll(w, "SELECT %s FROM psop.service_events WHERE id = '%s'", col, eid);
}

static char *ev_s(struct vworld *w, const char *eid, const char *col)
{
    return h_pg_value(
        w->pg, "SELECT coalesce(%s::text, '') FROM psop.service_events WHERE id = '%s'", col, eid);
}

static void expect_state(struct vworld *w, const char *eid, const char *state)
{
    char *s = ev_s(w, eid, "state");
    cr_expect_str_eq(s, state, "event %s", eid);
    free(s);
}

/* value_unit, gross, organiser part, client share of an event. */
static void expect_amounts(struct vworld *w, const char *eid, long vu, long gross, long org,
                           long client)
{
    cr_expect_eq(ev(w, eid, "value_unit_cents"), vu, "value_unit of %s", eid);
    cr_expect_eq(ev(w, eid, "gross_cents"), gross, "gross of %s", eid);
    cr_expect_eq(ev(w, eid, "organiser_part_cents"), org, "organiser part of %s", eid);
    cr_expect_eq(ev(w, eid, "client_share_cents"), client, "client share of %s", eid);
}

static void record_ok(struct vworld *w, const char *vid, const char *pid, char eid[UUID_STR_LEN],
                      const char *date, double qty, const char *band, long price)
{
    struct tc_actor p = vw_prov_actor(pid);
    vw_applied(w, vid, "service_event.record", &p, vw_event(eid, date, qty, band, price));
}

static char *record_rej(struct vworld *w, const char *vid, const char *pid, const char *date,
                        double qty, const char *band, long price, const char *prefix)
{
    char eid[UUID_STR_LEN];
    struct tc_actor p = vw_prov_actor(pid);
    return vw_rejected(w, vid, "service_event.record", &p, vw_event(eid, date, qty, band, price),
                       prefix);
}

static void record_rej_free(struct vworld *w, const char *vid, const char *pid, const char *date,
                            double qty, const char *band, long price, const char *prefix)
{
    free(record_rej(w, vid, pid, date, qty, band, price, prefix));
}

static json_t *ev_ref(const char *eid)
{
    return json_pack("{s:s}", "event_id", eid);
}

Test(voucher, grant_flat_and_income)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v1[UUID_STR_LEN], v2[UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");

    /* Flat, with a provider and a quota. */
    vw_grant(&w, v1, w.banded, 3000, 1200, p, "2026-01-01", "ASIAKAS-1");
    char *s = h_pg_value(w.pg,
                         "SELECT value_basis || ' ' || status || ' ' || monthly_quota || ' ' || "
                         "provider_id || ' ' || (SELECT string_agg(effective::text || '=' || "
                         "unit_value_cents, ',') FROM psop.voucher_values WHERE voucher_id = v.id) "
                         "FROM psop.vouchers v WHERE id = '%s'",
                         v1);
    char *want = xasprintf("flat active 1200 %s [2026-01-01,)=3000", p);
    cr_expect_str_eq(s, want);
    free(s);
    free(want);

    /* Income-related: household 2, income 2500.50 €: excess 1400.50 €,
     * reduction round(140050 * 1200 / 10000 / 100) = 168, value 32.00 - 1.68. */
    tc_uuid(v2);
    vw_applied(&w, v2, "voucher.grant", &w.orgs_a,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "id", v2, "organiser_id",
                         w.org_a, "client_id", "ASIAKAS-2", "service_type", w.banded,
                         "decision_number", "PS-2026-002", "valid_from", "2026-01-01", "income",
                         "household_size", 2, "monthly_income_cents", 250050));
    s = h_pg_value(w.pg,
                   "SELECT concat_ws(' ', value_basis, household_size, monthly_income_cents, "
                   "income_limit_cents, income_pct_bp, income_excess_cents, "
                   "income_max_value_cents, income_min_value_cents, income_divisor, "
                   "income_value_cents, (SELECT unit_value_cents FROM psop.voucher_values "
                   "WHERE voucher_id = v.id)) FROM psop.vouchers v WHERE id = '%s'",
                   v2);
    cr_expect_str_eq(s, "income 2 250050 110000 1200 140050 3200 1000 100 3032 3032");
    free(s);

    /* Household of 4 beyond the table: limit 1100 + 2 x 200, pct 12 - 2 x 1. */
    char v3[UUID_STR_LEN];
    tc_uuid(v3);
    vw_applied(&w, v3, "voucher.grant", &w.orgs_a,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "id", v3, "organiser_id",
                         w.org_a, "client_id", "ASIAKAS-3", "service_type", w.banded,
                         "decision_number", "PS-2026-003", "valid_from", "2026-01-01", "income",
                         "household_size", 4, "monthly_income_cents", 300000));
    cr_expect_eq(vw_ll(&w, "SELECT income_limit_cents FROM psop.vouchers WHERE id = '%s'", v3),
                 150000);
    cr_expect_eq(vw_ll(&w, "SELECT income_pct_bp FROM psop.vouchers WHERE id = '%s'", v3), 1000);
    /* 32.00 - round(150000 * 1000 / 10000 / 100) = 32.00 - 1.50 */
    cr_expect_eq(vw_ll(&w, "SELECT income_value_cents FROM psop.vouchers WHERE id = '%s'", v3),
                 3050);

    /* Income on a service type without an income model. */
    char v4[UUID_STR_LEN];
    tc_uuid(v4);
    vw_rejected_free(&w, v4, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "id", v4,
                               "organiser_id", w.org_a, "client_id", "ASIAKAS-4", "service_type",
                               w.plain, "decision_number", "PS-4", "valid_from", "2026-01-01",
                               "income", "household_size", 1, "monthly_income_cents", 100000),
                     "no_income_model:");
    /* Unknown service type, unknown provider, valid_to before valid_from,
     * an unapproved provider, an existing id. */
    vw_rejected_free(&w, v4, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", v4, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", "ei_ole_olemassa",
                               "decision_number", "PS-4", "valid_from", "2026-01-01",
                               "unit_value_cents", 100),
                     "not_found:");
    char nobody[UUID_STR_LEN], unapproved[UUID_STR_LEN];
    tc_uuid(nobody);
    vw_rejected_free(&w, v4, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "id", v4, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", w.plain,
                               "decision_number", "PS-4", "valid_from", "2026-01-01",
                               "unit_value_cents", 100, "provider_id", nobody),
                     "not_found:");
    vw_provider_bare(&w, unapproved);
    vw_rejected_free(&w, v4, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "id", v4, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", w.plain,
                               "decision_number", "PS-4", "valid_from", "2026-01-01",
                               "unit_value_cents", 100, "provider_id", unapproved),
                     "provider_not_approved:");
    vw_rejected_free(&w, v4, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", v4, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", w.plain,
                               "decision_number", "PS-4", "valid_from", "2026-05-01", "valid_to",
                               "2026-04-30", "unit_value_cents", 100),
                     "invalid_valid_to:");
    vw_rejected_free(&w, v1, "voucher.grant", &w.orgs_a,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", v1, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", w.plain,
                               "decision_number", "PS-4", "valid_from", "2026-01-01",
                               "unit_value_cents", 100),
                     "already_exists:");

    /* voucher.granted on psop.events.voucher, keyed by the voucher. */
    json_t *evs = tc_events_by_key(TOPIC_EVT_VOUCHER, v2);
    cr_expect_eq(tc_count_type(evs, "voucher.granted"), 1);
    json_t *data = json_object_get(json_array_get(evs, 0), "data");
    cr_expect_eq(json_integer_value(json_object_get(data, "unit_value_cents")), 3032);
    cr_expect_eq(
        json_integer_value(json_object_get(json_object_get(data, "income"), "reduction_cents")),
        168);
    json_decref(evs);
    vw_fini(&w);
}

/* The example of the brief and every band, with edit, delete and approve. */
Test(voucher, events_in_bands)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[8][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, NULL, "2026-01-01", "ASIAKAS-B1");
    /* The client chooses the provider. */
    struct tc_actor client = {
        .sub = "asiakas", .role = "client", .client = "ASIAKAS-B1", .org = w.org_a};
    vw_applied(&w, v, "voucher.choose_provider", &client, json_pack("{s:s}", "provider_id", p));
    char *s = h_pg_value(w.pg,
                         "SELECT provider_id || ' ' || provider_chosen_by FROM "
                         "psop.vouchers WHERE id = '%s'",
                         v);
    char *want = xasprintf("%s asiakas", p);
    cr_expect_str_eq(s, want);
    free(s);
    free(want);

    /* weekday Monday: 2 h x 34.90 on a 30.00 voucher */
    record_ok(&w, v, p, e[0], "2026-10-05", 2, "weekday", -1);
    expect_amounts(&w, e[0], 3000, 6980, 6000, 980);
    /* evening: 2.5 h x 34.90, coefficient 1.15: 34.50, 87.25, 86.25, 1.00 */
    record_ok(&w, v, p, e[1], "2026-10-06", 2.5, "evening", -1);
    expect_amounts(&w, e[1], 3450, 8725, 8625, 100);
    cr_expect_eq(ev(&w, e[1], "band_coefficient"), 115);
    cr_expect_eq(ev(&w, e[1], "voucher_value_cents"), 3000);
    /* Saturday 1 h x 39.90, value 37.50 */
    record_ok(&w, v, p, e[2], "2026-10-10", 1, "saturday", -1);
    expect_amounts(&w, e[2], 3750, 3990, 3750, 240);
    /* Sunday 1.5 h x 44.90, value 45.00 > price: no client share */
    record_ok(&w, v, p, e[3], "2026-10-11", 1.5, "sunday", -1);
    expect_amounts(&w, e[3], 4500, 6735, 6735, 0);
    /* A holiday on a Tuesday counts as Sunday */
    record_ok(&w, v, p, e[4], "2026-01-06", 1, "sunday", -1);
    expect_amounts(&w, e[4], 4500, 4490, 4490, 0);
    /* No band on a banded type = weekday (coefficient 1.00 stored) */
    record_ok(&w, v, p, e[5], "2026-10-07", 1, NULL, -1);
    expect_amounts(&w, e[5], 3000, 3490, 3000, 490);
    s = ev_s(&w, e[5], "band");
    cr_expect_str_eq(s, "weekday");
    free(s);
    /* An agreed lower price: 1.25 h x 32.00 */
    record_ok(&w, v, p, e[6], "2026-10-08", 1.25, "weekday", 3200);
    expect_amounts(&w, e[6], 3000, 4000, 3750, 250);

    /* Edit the quantity: amounts follow; the agreed price stays. */
    struct tc_actor pa = vw_prov_actor(p);
    json_t *upd = ev_ref(e[6]);
    json_object_set_new(upd, "quantity", json_real(3.33));
    json_object_set_new(upd, "note", json_string("korjattu"));
    vw_applied(&w, v, "service_event.update", &pa, upd);
    expect_amounts(&w, e[6], 3000, 10656, 9990, 666);
    cr_expect_eq(ev(&w, e[6], "quantity"), 333);
    /* Move it to an evening: the list price (34.90) applies again. */
    upd = ev_ref(e[6]);
    json_object_set_new(upd, "band", json_string("evening"));
    json_object_set_new(upd, "quantity", json_real(2.0));
    vw_applied(&w, v, "service_event.update", &pa, upd);
    expect_amounts(&w, e[6], 3450, 6980, 6900, 80);

    /* Approve (organiser), then the provider can no longer edit it. */
    vw_applied(&w, v, "service_event.approve", &w.orgs_a, ev_ref(e[0]));
    expect_state(&w, e[0], "approved");
    s = ev_s(&w, e[0], "approved_by");
    cr_expect_str_eq(s, "kasittelija-a");
    free(s);
    upd = ev_ref(e[0]);
    json_object_set_new(upd, "quantity", json_real(1.0));
    vw_rejected_free(&w, v, "service_event.update", &pa, upd, "event_not_editable:");
    vw_rejected_free(&w, v, "service_event.approve", &w.orgs_a, ev_ref(e[0]),
                     "event_not_approvable:");
    /* Delete an approved and a recorded one; a deleted one cannot go again. */
    vw_applied(&w, v, "service_event.delete", &pa, ev_ref(e[0]));
    vw_applied(&w, v, "service_event.delete", &pa, ev_ref(e[5]));
    expect_state(&w, e[0], "deleted");
    expect_state(&w, e[5], "deleted");
    vw_rejected_free(&w, v, "service_event.delete", &pa, ev_ref(e[5]), "event_not_deletable:");
    /* The admin may approve too. */
    vw_applied(&w, v, "service_event.approve", &w.admin, ev_ref(e[1]));
    expect_state(&w, e[1], "approved");

    /* Events on psop.events.voucher */
    json_t *evs = tc_events_by_key(TOPIC_EVT_VOUCHER, v);
    cr_expect_eq(tc_count_type(evs, "voucher.granted"), 1);
    cr_expect_eq(tc_count_type(evs, "voucher.provider_chosen"), 1);
    cr_expect_eq(tc_count_type(evs, "service_event.recorded"), 7);
    cr_expect_eq(tc_count_type(evs, "service_event.updated"), 2);
    cr_expect_eq(tc_count_type(evs, "service_event.approved"), 2);
    cr_expect_eq(tc_count_type(evs, "service_event.deleted"), 2);
    size_t i;
    json_t *x;
    json_array_foreach(evs, i, x)
    {
        json_t *d = json_object_get(x, "data");
        if (strcmp(json_string_value(json_object_get(x, "type")), "service_event.recorded") == 0 &&
            strcmp(json_string_value(json_object_get(d, "id")), e[1]) == 0) {
            cr_expect_eq(json_integer_value(json_object_get(d, "gross_cents")), 8725);
            cr_expect_eq(json_integer_value(json_object_get(d, "organiser_part_cents")), 8625);
            cr_expect_eq(json_integer_value(json_object_get(d, "client_share_cents")), 100);
            cr_expect_eq(json_real_value(json_object_get(d, "quantity")), 2.5);
        }
    }
    json_decref(evs);
    vw_fini(&w);
}

/* Every rejection rule of domain.md "Service events", with its reason. */
Test(voucher, record_rejections)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], late[UUID_STR_LEN], susp[UUID_STR_LEN], noprice[UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_provider(&w, late, "2026-10-01");
    vw_provider(&w, susp, "2025-12-01");
    vw_provider_bare(&w, noprice);
    vw_approve(&w, noprice, w.org_a, w.banded, "2025-12-01");
    char v[UUID_STR_LEN], vp[UUID_STR_LEN], vl[UUID_STR_LEN], vs[UUID_STR_LEN], vn[UUID_STR_LEN],
        unknown[UUID_STR_LEN];
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-03-01", "A1");
    vw_grant(&w, vp, w.plain, 2000, 0, p, "2026-01-01", "A2");
    vw_grant(&w, vl, w.banded, 3000, 0, late, "2026-09-01", "A3");
    vw_grant(&w, vs, w.banded, 3000, 0, susp, "2026-01-01", "A4");
    vw_grant(&w, vn, w.banded, 3000, 0, noprice, "2026-01-01", "A5");
    /* suspended from 2026-10-08 (after its approval) */
    vw_sql(&w,
           "INSERT INTO psop.provider_suspensions (provider_id, organiser_id, service_type, "
           "from_date, reason, suspended_by) VALUES ('%s', '%s', '%s', '2026-10-08', "
           "'valvonta', 'test')",
           susp, w.org_a, w.banded);

    tc_uuid(unknown);
    record_rej_free(&w, unknown, p, "2026-10-05", 1, NULL, -1, "not_found:");
    /* not active: before valid_from */
    char *r = record_rej(&w, v, p, "2026-02-27", 1, NULL, -1, "voucher_not_active:");
    cr_expect(strstr(r, "valid from 2026-03-01") != NULL, "%s", r);
    free(r);
    /* chosen a different provider */
    record_rej_free(&w, v, late, "2026-10-05", 1, NULL, -1, "forbidden:");
    /* approval not in force on the date / suspended */
    record_rej_free(&w, vl, late, "2026-09-15", 1, NULL, -1, "provider_not_approved:");
    char ok[UUID_STR_LEN];
    record_ok(&w, vl, late, ok, "2026-10-01", 1, NULL, -1);
    record_ok(&w, vs, susp, ok, "2026-10-07", 1, NULL, -1);
    record_rej_free(&w, vs, susp, "2026-10-08", 1, NULL, -1, "provider_suspended:");
    /* date in the future (tomorrow, Helsinki) */
    char tomorrow[11];
    date_format(date_today_helsinki() + 1, tomorrow);
    record_rej_free(&w, v, p, tomorrow, 1, NULL, -1, "date_in_future:");
    /* bands */
    record_rej_free(&w, v, p, "2026-10-10", 1, "weekday", -1, "band_not_allowed_on_date:");
    record_rej_free(&w, v, p, "2026-10-11", 1, "evening", -1, "band_not_allowed_on_date:");
    record_rej_free(&w, v, p, "2026-10-12", 1, "saturday", -1, "band_not_allowed_on_date:");
    record_rej_free(&w, v, p, "2026-10-12", 1, "sunday", -1, "band_not_allowed_on_date:");
    record_rej_free(&w, v, p, "2026-10-10", 1, NULL, -1, "band_not_allowed_on_date:");
    char vh[UUID_STR_LEN];
    vw_grant(&w, vh, w.banded, 3000, 0, p, "2026-01-01", "A6");
    r = record_rej(&w, vh, p, "2026-01-06", 1, "weekday", -1, "band_not_allowed_on_date:");
    cr_expect(strstr(r, "holiday") != NULL, "%s", r);
    free(r);
    record_rej_free(&w, vp, p, "2026-10-05", 1, "weekday", -1, "band_not_applicable:");
    /* price: above the list, no list price, above the value without client share */
    r = record_rej(&w, v, p, "2026-10-05", 1, "weekday", 3491, "price_above_list:");
    cr_expect_str_eq(r, "price_above_list: 34.91 asked, the list price for weekday on "
                        "2026-10-05 is 34.90");
    free(r);
    record_rej_free(&w, vn, noprice, "2026-10-05", 1, NULL, -1, "no_price_in_force:");
    record_rej_free(&w, vp, p, "2026-10-05", 1, NULL, -1, "price_exceeds_voucher_value:");
    char pe[UUID_STR_LEN];
    record_ok(&w, vp, p, pe, "2026-10-05", 2, NULL, 2000);
    expect_amounts(&w, pe, 2000, 4000, 4000, 0);
    /* a given id that exists already */
    struct tc_actor pa = vw_prov_actor(p);
    json_t *d = vw_event(ok, "2026-10-05", 1, NULL, 2000);
    json_object_set_new(d, "id", json_string(pe));
    vw_rejected_free(&w, vp, "service_event.record", &pa, d, "already_exists:");
    /* revoked from 2026-10-15: events up to that day only */
    vw_applied(&w, vp, "voucher.revoke", &w.orgs_a,
               json_pack("{s:s, s:s}", "effective_date", "2026-10-15", "reason", "muutto"));
    record_ok(&w, vp, p, ok, "2026-10-15", 1, NULL, 2000);
    record_rej_free(&w, vp, p, "2026-10-16", 1, NULL, -1, "voucher_not_active:");
    /* no rejected command left a row */
    cr_expect_eq(vw_ll(&w,
                       "SELECT count(*) FROM psop.service_events WHERE voucher_id IN "
                       "('%s', '%s')",
                       v, vh),
                 0);
    vw_fini(&w);
}

Test(voucher, ownership)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], p2[UUID_STR_LEN], v[UUID_STR_LEN], e[UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_provider(&w, p2, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-01-01", "OMA-1");
    record_ok(&w, v, p, e, "2026-10-05", 1, NULL, -1);
    struct tc_actor pa2 = vw_prov_actor(p2);

    /* another organiser: grant for A, amend, revoke, approve, credit */
    char v2[UUID_STR_LEN];
    tc_uuid(v2);
    vw_rejected_free(&w, v2, "voucher.grant", &w.orgs_b,
                     json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", v2, "organiser_id",
                               w.org_a, "client_id", "X", "service_type", w.banded,
                               "decision_number", "D", "valid_from", "2026-01-01",
                               "unit_value_cents", 100),
                     "forbidden:");
    vw_rejected_free(&w, v, "voucher.amend", &w.orgs_b,
                     json_pack("{s:s, s:i}", "effective_from", "2026-10-01", "unit_value_cents", 1),
                     "forbidden:");
    vw_rejected_free(&w, v, "voucher.revoke", &w.orgs_b,
                     json_pack("{s:s, s:s}", "effective_date", "2026-10-01", "reason", "x"),
                     "forbidden:");
    vw_rejected_free(&w, v, "service_event.approve", &w.orgs_b, ev_ref(e), "forbidden:");
    json_t *cd = ev_ref(e);
    json_object_set_new(cd, "quantity", json_real(1));
    json_object_set_new(cd, "reason_code", json_string("other"));
    json_object_set_new(cd, "explanation", json_string("x"));
    vw_rejected_free(&w, v, "service_event.credit", &w.orgs_b, cd, "forbidden:");
    /* a provider may not approve */
    struct tc_actor pa = vw_prov_actor(p);
    vw_rejected_free(&w, v, "service_event.approve", &pa, ev_ref(e), "forbidden:");
    /* another provider's event: edit, delete */
    json_t *u = ev_ref(e);
    json_object_set_new(u, "quantity", json_real(2));
    vw_rejected_free(&w, v, "service_event.update", &pa2, u, "forbidden:");
    vw_rejected_free(&w, v, "service_event.delete", &pa2, ev_ref(e), "forbidden:");
    /* an event id under another voucher is not found there */
    char vo[UUID_STR_LEN];
    vw_grant(&w, vo, w.banded, 3000, 0, p, "2026-01-01", "OMA-2");
    vw_rejected_free(&w, vo, "service_event.delete", &pa, ev_ref(e), "not_found:");
    /* clients: another client (or another organiser's client) may not choose
     * or refuse; a provider may not choose */
    struct tc_actor other = {.sub = "c", .role = "client", .client = "OMA-2", .org = w.org_a};
    struct tc_actor wrong_org = {.sub = "c", .role = "client", .client = "OMA-1", .org = w.org_b};
    vw_rejected_free(&w, v, "voucher.choose_provider", &other,
                     json_pack("{s:s}", "provider_id", p2), "forbidden:");
    vw_rejected_free(&w, v, "voucher.choose_provider", &wrong_org,
                     json_pack("{s:s}", "provider_id", p2), "forbidden:");
    vw_rejected_free(&w, v, "voucher.choose_provider", &pa2, json_pack("{s:s}", "provider_id", p2),
                     "forbidden:");
    vw_rejected_free(&w, v, "voucher.refuse", &other, json_pack("{}"), "forbidden:");
    vw_rejected_free(&w, v, "voucher.refuse", &w.orgs_a, json_pack("{}"), "forbidden:");
    /* auto-approval is the admin's */
    char id[UUID_STR_LEN];
    tc_send(
        w.t, TOPIC_CMD_VOUCHER, w.org_a, "service_event.auto_approve", &w.orgs_a,
        json_pack("{s:s, s:s}", "organiser_id", w.org_a, "recorded_before", "2030-01-01T00:00:00Z"),
        id);
    free(tc_expect_rejected(w.pg, id, "forbidden:"));
    /* after all that the event is untouched */
    expect_state(&w, e, "recorded");
    cr_expect_eq(ev(&w, e, "quantity"), 100);
    /* the organiser switches the provider: the old one can no longer record
     * or edit, the new one records */
    vw_applied(&w, v, "voucher.choose_provider", &w.orgs_a, json_pack("{s:s}", "provider_id", p2));
    record_rej_free(&w, v, p, "2026-10-06", 1, NULL, -1, "forbidden:");
    u = ev_ref(e);
    json_object_set_new(u, "quantity", json_real(2));
    vw_rejected_free(&w, v, "service_event.update", &pa, u, "forbidden:");
    record_ok(&w, v, p2, id, "2026-10-06", 1, NULL, -1);
    vw_fini(&w);
}

Test(voucher, quota_boundary)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[4][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 1200, p, "2026-01-01", "KIINTIO-1");
    record_ok(&w, v, p, e[0], "2026-10-05", 10, NULL, -1);
    char *r = record_rej(&w, v, p, "2026-10-06", 3, NULL, -1, "quota_exceeded:");
    cr_expect_str_eq(r, "quota_exceeded: 10.00 used of 12.00, 3.00 more asked");
    free(r);
    /* exactly reaching the quota is fine; then nothing more */
    record_ok(&w, v, p, e[1], "2026-10-31", 2, "saturday", -1);
    record_rej_free(&w, v, p, "2026-10-30", 0.01, NULL, -1, "quota_exceeded:");
    /* another month has its own quota */
    record_ok(&w, v, p, e[2], "2026-09-30", 12, NULL, -1);
    /* an edit counts without its own old quantity: 10 -> 10.5 is too much,
     * 10 -> 9 frees one hour */
    struct tc_actor pa = vw_prov_actor(p);
    json_t *u = ev_ref(e[0]);
    json_object_set_new(u, "quantity", json_real(10.5));
    vw_rejected_free(&w, v, "service_event.update", &pa, u, "quota_exceeded:");
    u = ev_ref(e[0]);
    json_object_set_new(u, "quantity", json_real(9));
    vw_applied(&w, v, "service_event.update", &pa, u);
    record_ok(&w, v, p, e[3], "2026-10-07", 1, NULL, -1);
    /* deleting frees quota */
    vw_applied(&w, v, "service_event.delete", &pa, ev_ref(e[3]));
    record_ok(&w, v, p, e[3], "2026-10-07", 1, NULL, -1);
    cr_expect_eq(vw_ll(&w,
                       "SELECT sum(quantity) FROM psop.service_events WHERE voucher_id = '%s' "
                       "AND state <> 'deleted' AND date >= '2026-10-01'",
                       v),
                 1200);
    /* the quota can be amended */
    vw_applied(&w, v, "voucher.amend", &w.orgs_a,
               json_pack("{s:s, s:f}", "effective_from", "2026-10-01", "monthly_quota", 13.5));
    record_ok(&w, v, p, e[3], "2026-10-08", 1.5, NULL, -1);
    vw_fini(&w);
}

/* An update of event eid to date and quantity. */
static json_t *move_to(const char *eid, const char *date, double qty)
{
    return json_pack("{s:s, s:s, s:f}", "event_id", eid, "date", date, "quantity", qty);
}

/* The quota of the month an edit moves an event into, credits given back,
 * and the commands of one batch counting each other. */
Test(voucher, quota_across_moves_credits_and_one_batch)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[4][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 1200, p, "2026-01-01", "KIINTIO-2");
    struct tc_actor pa = vw_prov_actor(p);
    record_ok(&w, v, p, e[0], "2026-09-10", 12, NULL, -1);
    record_ok(&w, v, p, e[1], "2026-10-05", 10, NULL, -1);
    /* into a full month, an event counts there: 12 + 1 > 12 */
    char *r = vw_rejected(&w, v, "service_event.update", &pa, move_to(e[1], "2026-09-11", 1),
                          "quota_exceeded:");
    cr_expect_str_eq(r, "quota_exceeded: 12.00 used of 12.00, 1.00 more asked");
    free(r);
    /* within its month, without itself: 12 -> 12 on another day fits */
    vw_applied(&w, v, "service_event.update", &pa, move_to(e[0], "2026-09-14", 12));
    /* moved out of October, it frees October */
    vw_applied(&w, v, "service_event.update", &pa, move_to(e[1], "2026-11-03", 10));
    record_ok(&w, v, p, e[2], "2026-10-06", 12, NULL, -1);
    /* a credit gives quota back (credits are for settled events) */
    char settlement[UUID_STR_LEN], c[UUID_STR_LEN];
    tc_uuid(settlement);
    vw_applied(&w, v, "service_event.approve", &w.orgs_a, ev_ref(e[0]));
    vw_sql(&w,
           "UPDATE psop.service_events SET state = 'settled', settlement_id = '%s', "
           "settled_at = now() WHERE id = '%s'",
           settlement, e[0]);
    tc_uuid(c);
    vw_applied(&w, v, "service_event.credit", &w.orgs_a,
               json_pack("{s:s, s:s, s:f, s:s, s:s}", "event_id", e[0], "id", c, "quantity", 2.0,
                         "reason_code", "wrong_quantity", "explanation", "Lyhyempi"));
    record_ok(&w, v, p, e[3], "2026-09-15", 2, NULL, -1);
    r = record_rej(&w, v, p, "2026-09-16", 0.01, NULL, -1, "quota_exceeded:");
    cr_expect_str_eq(r, "quota_exceeded: 12.00 used of 12.00, 0.01 more asked");
    free(r);
    /* three records of 1 h sent at once into November (10 used), as a rule
     * applied in one batch: in order, the first two fit, the third not */
    char ids[3][UUID_STR_LEN], eid[UUID_STR_LEN];
    for (int i = 0; i < 3; i++)
        vw_send(&w, v, "service_event.record", &pa, vw_event(eid, "2026-11-05", 1, NULL, -1),
                ids[i]);
    tc_expect_applied(w.pg, ids[0]);
    tc_expect_applied(w.pg, ids[1]);
    r = tc_expect_rejected(w.pg, ids[2], "quota_exceeded:");
    cr_expect_str_eq(r, "quota_exceeded: 12.00 used of 12.00, 1.00 more asked");
    free(r);
    cr_expect_eq(
        vw_ll(&w,
              "SELECT sum(quantity - credited_quantity) FROM psop.service_events "
              "WHERE voucher_id = '%s' AND state <> 'deleted' GROUP BY date_trunc('month', "
              "date) ORDER BY 1 DESC LIMIT 1",
              v),
        1200);
    vw_fini(&w);
}

Test(voucher, replayed_command_applies_once)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], eid[UUID_STR_LEN], cid[UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-01-01", "TOISTO-1");
    struct tc_actor pa = vw_prov_actor(p);
    json_t *d = vw_event(eid, "2026-10-05", 1.5, NULL, -1);
    json_object_set_new(d, "voucher_id", json_string(v));
    char *env = tc_send_env(w.t, TOPIC_CMD_VOUCHER, v, "service_event.record", &pa, d, cid);
    tc_expect_applied(w.pg, cid);
    long long version = vw_ll(&w, "SELECT version FROM psop.vouchers WHERE id = '%s'", v);
    /* the same envelope twice more, then a marker command behind it */
    tc_send_raw(w.t, TOPIC_CMD_VOUCHER, v, env);
    tc_send_raw(w.t, TOPIC_CMD_VOUCHER, v, env);
    free(env);
    char e2[UUID_STR_LEN];
    record_ok(&w, v, p, e2, "2026-10-06", 1, NULL, -1);
    cr_expect_eq(vw_ll(&w, "SELECT count(*) FROM psop.service_events WHERE voucher_id = '%s'", v),
                 2);
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.processed_commands WHERE command_id = '%s'", cid), 1);
    cr_expect_eq(vw_ll(&w, "SELECT version FROM psop.vouchers WHERE id = '%s'", v), version + 1);
    json_t *evs = tc_events_by_key(TOPIC_EVT_VOUCHER, v);
    cr_expect_eq(tc_count_type(evs, "service_event.recorded"), 2);
    json_decref(evs);
    vw_fini(&w);
}

Test(voucher, amend_revoke_refuse)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[3][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-01-01", "MUUTOS-1");
    record_ok(&w, v, p, e[0], "2026-10-07", 1, NULL, -1);
    /* 33.00 from 2026-10-08 */
    vw_applied(&w, v, "voucher.amend", &w.orgs_a,
               json_pack("{s:s, s:i}", "effective_from", "2026-10-08", "unit_value_cents", 3300));
    char *s = h_pg_value(w.pg,
                         "SELECT string_agg(effective::text || '=' || unit_value_cents, ',' "
                         "ORDER BY lower(effective)) FROM psop.voucher_values WHERE voucher_id = "
                         "'%s'",
                         v);
    cr_expect_str_eq(s, "[2026-01-01,2026-10-08)=3000,[2026-10-08,)=3300");
    free(s);
    /* 31.00 from 2026-09-01 replaces everything after it */
    vw_applied(&w, v, "voucher.amend", &w.orgs_a,
               json_pack("{s:s, s:i}", "effective_from", "2026-09-01", "unit_value_cents", 3100));
    vw_applied(&w, v, "voucher.amend", &w.orgs_a,
               json_pack("{s:s, s:i}", "effective_from", "2026-10-09", "unit_value_cents", 3300));
    s = h_pg_value(w.pg,
                   "SELECT string_agg(effective::text || '=' || unit_value_cents, ',' ORDER BY "
                   "lower(effective)) FROM psop.voucher_values WHERE voucher_id = '%s'",
                   v);
    cr_expect_str_eq(s, "[2026-01-01,2026-09-01)=3000,[2026-09-01,2026-10-09)=3100,"
                        "[2026-10-09,)=3300");
    free(s);
    /* events use the value in force on their date; stored ones keep theirs */
    record_ok(&w, v, p, e[1], "2026-10-08", 1, NULL, -1);
    record_ok(&w, v, p, e[2], "2026-10-09", 1, "evening", -1);
    expect_amounts(&w, e[0], 3000, 3490, 3000, 490);
    expect_amounts(&w, e[1], 3100, 3490, 3100, 390);
    expect_amounts(&w, e[2], 3795, 3490, 3490, 0);
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.voucher_amendments WHERE voucher_id = '%s'", v), 3);
    vw_rejected_free(&w, v, "voucher.amend", &w.orgs_a,
                     json_pack("{s:s, s:i}", "effective_from", "2025-12-31", "unit_value_cents", 1),
                     "invalid_effective_from:");
    /* valid_to before existing events, then a valid one */
    vw_rejected_free(
        &w, v, "voucher.amend", &w.orgs_a,
        json_pack("{s:s, s:s}", "effective_from", "2026-10-01", "valid_to", "2026-10-08"),
        "events_after_date:");
    vw_applied(&w, v, "voucher.amend", &w.orgs_a,
               json_pack("{s:s, s:s}", "effective_from", "2026-10-01", "valid_to", "2026-10-20"));
    record_rej_free(&w, v, p, "2026-10-21", 1, NULL, -1, "voucher_not_active:");
    /* revoke: not before events, then from 2026-10-10 */
    vw_rejected_free(&w, v, "voucher.revoke", &w.orgs_a,
                     json_pack("{s:s, s:s}", "effective_date", "2026-10-08", "reason", "x"),
                     "events_after_date:");
    vw_applied(&w, v, "voucher.revoke", &w.orgs_a,
               json_pack("{s:s, s:s}", "effective_date", "2026-10-10", "reason", "muutti pois"));
    s = h_pg_value(w.pg,
                   "SELECT status || ' ' || revoke_date || ' ' || revoke_reason FROM "
                   "psop.vouchers WHERE id = '%s'",
                   v);
    cr_expect_str_eq(s, "revoked 2026-10-10 muutti pois");
    free(s);
    record_rej_free(&w, v, p, "2026-10-12", 1, NULL, -1, "voucher_not_active:");
    vw_rejected_free(&w, v, "voucher.revoke", &w.orgs_a,
                     json_pack("{s:s, s:s}", "effective_date", "2026-10-11", "reason", "x"),
                     "voucher_not_active:");

    /* refuse: by the client, only before any event */
    char r1[UUID_STR_LEN], r2[UUID_STR_LEN], er[UUID_STR_LEN];
    vw_grant(&w, r1, w.banded, 3000, 0, NULL, "2026-01-01", "KIELTAYTYY-1");
    vw_grant(&w, r2, w.banded, 3000, 0, p, "2026-01-01", "KIELTAYTYY-2");
    record_ok(&w, r2, p, er, "2026-10-05", 1, NULL, -1);
    struct tc_actor c1 = {.sub = "c1", .role = "client", .client = "KIELTAYTYY-1", .org = w.org_a};
    struct tc_actor c2 = {.sub = "c2", .role = "client", .client = "KIELTAYTYY-2", .org = w.org_a};
    vw_applied(&w, r1, "voucher.refuse", &c1, json_pack("{s:s}", "reason", "omainen hoitaa"));
    s = h_pg_value(w.pg, "SELECT status || ' ' || refuse_reason FROM psop.vouchers WHERE id = '%s'",
                   r1);
    cr_expect_str_eq(s, "refused omainen hoitaa");
    free(s);
    vw_rejected_free(&w, r2, "voucher.refuse", &c2, json_pack("{}"), "voucher_has_events:");
    vw_rejected_free(&w, r1, "voucher.choose_provider", &c1, json_pack("{s:s}", "provider_id", p),
                     "voucher_not_active:");
    /* a suspended provider cannot be chosen */
    char sp[UUID_STR_LEN];
    vw_provider(&w, sp, "2025-12-01");
    vw_sql(&w,
           "INSERT INTO psop.provider_suspensions (provider_id, organiser_id, service_type, "
           "from_date, reason, suspended_by) VALUES ('%s', '%s', '%s', '2026-01-01', 'x', 't')",
           sp, w.org_a, w.banded);
    vw_rejected_free(&w, r2, "voucher.choose_provider", &c2, json_pack("{s:s}", "provider_id", sp),
                     "provider_suspended:");
    json_t *evs = tc_events_by_key(TOPIC_EVT_VOUCHER, v);
    cr_expect_eq(tc_count_type(evs, "voucher.amended"), 4);
    cr_expect_eq(tc_count_type(evs, "voucher.revoked"), 1);
    /* every rejection is keyed like its command, by the voucher: the four
     * voucher commands and the two service_event.record above */
    cr_expect_eq(tc_count_type(evs, "command.rejected"), 6);
    json_decref(evs);
    evs = tc_events_by_key(TOPIC_EVT_VOUCHER, r1);
    cr_expect_eq(tc_count_type(evs, "voucher.refused"), 1);
    json_decref(evs);
    vw_fini(&w);
}

Test(voucher, credit_and_auto_approve)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[4][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-01-01", "HYVITYS-1");
    record_ok(&w, v, p, e[0], "2026-10-06", 2.5, "evening", -1);
    record_ok(&w, v, p, e[1], "2026-10-07", 1, NULL, -1);
    record_ok(&w, v, p, e[2], "2026-10-08", 1, NULL, -1);
    vw_applied(&w, v, "service_event.approve", &w.orgs_a, ev_ref(e[0]));
    /* settled by hand (settlement is another issue) */
    tc_uuid(e[3]);
    vw_sql(&w,
           "UPDATE psop.service_events SET state = 'settled', settlement_id = '%s', "
           "settled_at = now() WHERE id = '%s'",
           e[3], e[0]);
    char c1[UUID_STR_LEN];
    tc_uuid(c1);
    json_t *cd =
        json_pack("{s:s, s:s, s:f, s:s, s:s}", "event_id", e[0], "id", c1, "quantity", 1.25,
                  "reason_code", "wrong_quantity", "explanation", "Käynti oli lyhyempi");
    vw_applied(&w, v, "service_event.credit", &w.orgs_a, cd);
    /* 1.25 h of 34.90 with value 34.50: -43.63, -43.13, -0.50 */
    char *s = h_pg_value(w.pg,
                         "SELECT concat_ws(' ', quantity, gross_cents, organiser_part_cents, "
                         "client_share_cents, reason_code, created_by) FROM psop.credits "
                         "WHERE id = '%s'",
                         c1);
    cr_expect_str_eq(s, "125 -4363 -4313 -50 wrong_quantity kasittelija-a");
    free(s);
    cr_expect_eq(ev(&w, e[0], "credited_quantity"), 125);
    /* more than what is left, on an unsettled event, by another role */
    cd = json_pack("{s:s, s:f, s:s, s:s}", "event_id", e[0], "quantity", 1.26, "reason_code",
                   "other", "explanation", "x");
    char *r =
        vw_rejected(&w, v, "service_event.credit", &w.orgs_a, cd, "credit_exceeds_remaining:");
    cr_expect_str_eq(r, "credit_exceeds_remaining: 1.26 asked, 1.25 of 2.50 already credited");
    free(r);
    cd = json_pack("{s:s, s:f, s:s, s:s}", "event_id", e[1], "quantity", 1.0, "reason_code",
                   "other", "explanation", "x");
    vw_rejected_free(&w, v, "service_event.credit", &w.orgs_a, cd, "event_not_creditable:");
    cd = json_pack("{s:s, s:f, s:s, s:s}", "event_id", e[0], "quantity", 1.25, "reason_code",
                   "duplicate", "explanation", "loput");
    vw_applied(&w, v, "service_event.credit", &w.orgs_a, cd);
    cr_expect_eq(ev(&w, e[0], "credited_quantity"), 250);
    /* a fully credited event no longer counts for the quota */
    cr_expect_eq(
        vw_ll(&w, "SELECT sum(organiser_part_cents) FROM psop.credits WHERE event_id = '%s'", e[0]),
        -8626); /* each credit rounds on its own: -43.13 twice */

    /* auto-approval: recorded events of organiser A recorded before now */
    char id[UUID_STR_LEN], ts[40];
    s = h_pg_value(w.pg, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                         "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    snprintf(ts, sizeof(ts), "%s", s);
    free(s);
    record_ok(&w, v, p, e[3], "2026-10-09", 1, NULL, -1); /* after the cut-off: stays */
    vw_sql(&w,
           "UPDATE psop.service_events SET recorded_at = '%s'::timestamptz + interval '1 s' "
           "WHERE id = '%s'",
           ts, e[3]);
    long long before = vw_ll(&w, "SELECT version FROM psop.vouchers WHERE id = '%s'", v);
    tc_send(w.t, TOPIC_CMD_VOUCHER, w.org_a, "service_event.auto_approve", &w.admin,
            json_pack("{s:s, s:s}", "organiser_id", w.org_a, "recorded_before", ts), id);
    tc_expect_applied(w.pg, id);
    expect_state(&w, e[1], "approved");
    expect_state(&w, e[2], "approved");
    expect_state(&w, e[3], "recorded");
    s = ev_s(&w, e[1], "approved_by");
    cr_expect_str_eq(s, "auto-approval");
    free(s);
    cr_expect_eq(vw_ll(&w, "SELECT version FROM psop.vouchers WHERE id = '%s'", v), before + 1);
    json_t *evs = tc_events_by_key(TOPIC_EVT_VOUCHER, v);
    cr_expect_eq(tc_count_type(evs, "service_event.credited"), 2);
    cr_expect_eq(tc_count_type(evs, "service_event.approved"), 3);
    json_decref(evs);
    vw_fini(&w);
}

/* Waits until the Redis key holds the voucher's current version; returns
 * the document (caller decrefs). */
static json_t *redis_doc(struct vworld *w, struct rds *r, const char *fmt, const char *vid)
{
    char key[128], err[256];
    snprintf(key, sizeof(key), fmt, vid);
    long long want = vw_ll(w, "SELECT version FROM psop.vouchers WHERE id = '%s'", vid);
    for (int i = 0; i < 300; i++) {
        char *doc = NULL;
        long long ver = 0;
        int rc = rds_get_versioned(r, key, &doc, &ver, err, sizeof(err));
        cr_assert(rc >= 0, "redis: %s", err);
        if (rc == 1 && ver == want) {
            json_t *j = json_loads(doc, 0, NULL);
            free(doc);
            cr_assert_not_null(j);
            return j;
        }
        free(doc);
        h_sleep_ms(100);
    }
    cr_assert_fail("%s never reached version %lld", key, want);
    return NULL;
}

static double num(const json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

Test(voucher, read_models)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], p2[UUID_STR_LEN], v[UUID_STR_LEN], e[4][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_provider_bare(&w, p2);
    vw_approve(&w, p2, w.org_a, w.banded, "2025-12-01");
    vw_price(&w, p2, w.org_a, w.banded, "2025-12-01", 3100, 3600, -1, -1);
    vw_grant(&w, v, w.banded, 3000, 1200, p, "2026-01-01", "LUKU-1");
    record_ok(&w, v, p, e[0], "2026-10-05", 2, NULL, -1);        /* 60.00 */
    record_ok(&w, v, p, e[1], "2026-10-06", 2.5, "evening", -1); /* 86.25 */
    record_ok(&w, v, p, e[2], "2026-10-07", 1, NULL, -1);        /* deleted */
    record_ok(&w, v, p, e[3], "2026-09-07", 1.25, NULL, -1);     /* 37.50 */
    struct tc_actor pa = vw_prov_actor(p);
    vw_applied(&w, v, "service_event.delete", &pa, ev_ref(e[2]));

    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    json_t *doc = redis_doc(&w, r, VIEW_VOUCHER_KEY_FMT, v);
    json_t *oct = json_object_get(json_object_get(doc, "usage"), "2026-10");
    cr_assert_not_null(oct);
    cr_expect_eq(num(oct, "used_quantity"), 4.5);
    cr_expect_eq(num(oct, "remaining_quantity"), 7.5);
    cr_expect_eq(num(oct, "voucher_used_cents"), 14625);
    cr_expect_eq(num(oct, "events"), 2);
    json_t *sep = json_object_get(json_object_get(doc, "usage"), "2026-09");
    cr_expect_eq(num(sep, "used_quantity"), 1.25);
    cr_expect_eq(num(sep, "voucher_used_cents"), 3750);
    cr_expect_eq(num(doc, "monthly_quota"), 12);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "provider_id")), p);
    cr_expect_eq(json_array_size(json_object_get(doc, "value_history")), 1);
    /* quantities are stored with two decimals */
    char key[128], *raw = NULL;
    snprintf(key, sizeof(key), VIEW_VOUCHER_KEY_FMT, v);
    cr_assert_eq(rds_get_versioned(r, key, &raw, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(raw, "\"used_quantity\" : 4.50") || strstr(raw, "\"used_quantity\":4.50"),
              "%s", raw);
    free(raw);

    /* the answer for a month, and for a month without events */
    day_t today = date_today_helsinki();
    json_t *a = view_voucher_answer(doc, "2026-10", today);
    cr_expect_eq(num(a, "used_quantity"), 4.5);
    cr_expect_eq(num(a, "remaining_quantity"), 7.5);
    cr_expect_eq(num(a, "voucher_used_cents"), 14625);
    cr_expect_eq(num(a, "unit_value_cents"), 3000);
    cr_expect_null(json_object_get(a, "usage"));
    json_decref(a);
    a = view_voucher_answer(doc, "2026-08", today);
    cr_expect_eq(num(a, "used_quantity"), 0);
    cr_expect_eq(num(a, "remaining_quantity"), 12);
    json_decref(a);
    json_decref(doc);

    /* the events list */
    json_t *evd = redis_doc(&w, r, VIEW_VOUCHER_EVENTS_KEY_FMT, v);
    cr_expect_eq(json_array_size(json_object_get(evd, "events")), 4);
    json_t *m = view_voucher_events_month(evd, "2026-10");
    json_t *events = json_object_get(m, "events");
    cr_assert_eq(json_array_size(events), 3);
    json_t *x = json_array_get(events, 1);
    cr_expect_str_eq(json_string_value(json_object_get(x, "id")), e[1]);
    cr_expect_str_eq(json_string_value(json_object_get(x, "state")), "recorded");
    cr_expect_str_eq(json_string_value(json_object_get(x, "band")), "evening");
    cr_expect_eq(num(x, "value_unit_cents"), 3450);
    cr_expect_eq(num(x, "gross_cents"), 8725);
    cr_expect_eq(num(x, "organiser_part_cents"), 8625);
    cr_expect_eq(num(x, "client_share_cents"), 100);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(events, 2), "state")),
                     "deleted");
    json_decref(m);
    json_decref(evd);

    /* the providers of the voucher, cheapest own share first: p2's 31.00
     * leaves 1.00 on weekdays, p's 34.90 leaves 4.90 */
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(pg, "%s", err);
    json_t *pv = view_voucher_providers(pg, v, today, err, sizeof(err));
    cr_assert_not_null(pv, "%s", err);
    json_t *list = json_object_get(pv, "providers");
    cr_assert_eq(json_array_size(list), 2);
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1);
    cr_expect_str_eq(json_string_value(json_object_get(first, "provider_id")), p2);
    cr_expect_eq(num(first, "unit_price_cents"), 3100);
    cr_expect_eq(num(first, "voucher_value_cents"), 3000);
    cr_expect_eq(num(first, "client_share_cents"), 100);
    json_t *eve = json_object_get(json_object_get(first, "bands"), "evening");
    cr_expect_eq(num(eve, "unit_price_cents"), 3600);
    cr_expect_eq(num(eve, "voucher_value_cents"), 3450);
    cr_expect_eq(num(eve, "client_share_cents"), 150);
    cr_expect_str_eq(json_string_value(json_object_get(second, "provider_id")), p);
    cr_expect_eq(num(second, "client_share_cents"), 490);
    json_t *sun = json_object_get(json_object_get(second, "bands"), "sunday");
    cr_expect_eq(num(sun, "unit_price_cents"), 4490);
    cr_expect_eq(num(sun, "voucher_value_cents"), 4500);
    cr_expect_eq(num(sun, "client_share_cents"), 0);
    json_decref(pv);
    pgc_free(pg);
    rds_free(r);
    vw_fini(&w);
}

/* Issue 19: a voucher's events document is patched with the events each
 * batch changed instead of rebuilt. After a random mix of records, edits,
 * deletions and approvals on two vouchers (sent without waiting, so batches
 * hold several commands of one voucher), a settlement run and credits on
 * settled events, the document in Redis equals the one built whole from
 * PostgreSQL, and the last write was a patch (the worker writes patched
 * documents compact; PostgreSQL's have " : "). */
/* The voucher document's usage, kept by delta in psop.voucher_usage
 * (schemas/sql/0013_voucher_usage.sql), equals the aggregate over every
 * event and credit that it replaced (the view voucher_usage_from_events is
 * the reference; the document strips its nulls). */
static void assert_usage_is_the_events_aggregate(struct pgc *pg, const char *voucher)
{
    static const char REFERENCE[] =
        "SELECT json_strip_nulls(coalesce((SELECT json_object_agg(u.month, json_build_object("
        "    'used_quantity', round((u.used) / 100.0, 2),"
        "    'remaining_quantity', CASE WHEN v.monthly_quota IS NOT NULL"
        "        THEN round((greatest(0, v.monthly_quota - u.used)) / 100.0, 2) END,"
        "    'voucher_used_cents', u.cents, 'events', u.events) ORDER BY u.month)"
        "  FROM psop.voucher_usage_from_events u WHERE u.voucher_id = v.id), '{}'))::text"
        " FROM psop.vouchers v WHERE v.id = $1::uuid";
    char err[256];
    const char *params[] = {voucher};
    PGresult *res = pgc_query(pg, REFERENCE, 1, params, err, sizeof(err));
    cr_assert_not_null(res, "%s", err);
    cr_assert_eq(PQntuples(res), 1);
    json_error_t je;
    json_t *want = json_loads(PQgetvalue(res, 0, 0), 0, &je);
    PQclear(res);
    cr_assert_not_null(want, "%s", je.text);
    long long ver = 0;
    json_t *doc = view_voucher(pg, voucher, &ver, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    char *a = json_dumps(json_object_get(doc, "usage"), JSON_SORT_KEYS | JSON_COMPACT);
    char *b = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect_str_eq(a, b,
                     "voucher %s: usage kept by delta differs from the events' aggregate:\n"
                     "kept %s\nwant %s",
                     voucher, a, b);
    cr_expect_gt(json_object_size(want), 1, "usage of %s: %s", voucher, b);
    free(a);
    free(b);
    json_decref(want);
    json_decref(doc);
}

static long long events_field(struct rds *r, const char *vid, const char *field)
{
    return st_redis_hfield(r, VIEW_VOUCHER_EVENTS_KEY_FMT, vid, field);
}

/* The stored events document must be the one PostgreSQL builds whole;
 * returns how many events it has. */
static size_t expect_events_whole(struct vworld *w, struct rds *r, struct pgc *pg, const char *vid)
{
    char err[256];
    json_t *stored = redis_doc(w, r, VIEW_VOUCHER_EVENTS_KEY_FMT, vid);
    json_t *whole = view_voucher_events(pg, vid, NULL, err, sizeof(err));
    cr_assert_not_null(whole, "%s", err);
    return st_expect_same_events(stored, whole, "voucher", vid);
}

Test(voucher, events_document_kept_by_delta_equals_the_whole_one, .timeout = 240)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[2][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v[0], w.banded, 3000, 0, p, "2026-01-01", "DELTA-1");
    vw_grant(&w, v[1], w.banded, 3000, 0, p, "2026-01-01", "DELTA-2");
    enum { N = 120, MAXEV = N };
    struct {
        char id[UUID_STR_LEN];
        int voucher;
        int state; /* 0 recorded, 1 approved, 2 deleted */
        char date[16];
    } evs[MAXEV];
    int nev = 0;
    char last[UUID_STR_LEN] = "";
    /* weekdays (no holiday) of September and October 2026: every command valid */
    static const char *const days[] = {
        "2026-09-01", "2026-09-02", "2026-09-08", "2026-09-10", "2026-09-15", "2026-09-17",
        "2026-09-22", "2026-09-24", "2026-09-29", "2026-10-01", "2026-10-05", "2026-10-07",
        "2026-10-13", "2026-10-15", "2026-10-20", "2026-10-22", "2026-10-27", "2026-10-29"};
    static const char *const bands[] = {NULL, "evening"};
    srand(20261206);
    struct tc_actor pa = vw_prov_actor(p);
    for (int i = 0; i < N; i++) {
        int k = rand() % 2, pick = -1, tries = 0;
        int op = nev == 0 ? 0 : rand() % 4; /* record, edit, delete, approve */
        while (op != 0 && pick < 0 && tries++ < 20) {
            int j = rand() % nev;
            if (evs[j].voucher == k && evs[j].state == 0)
                pick = j;
        }
        if (pick < 0)
            op = 0;
        const char *date = days[rand() % (int)(sizeof(days) / sizeof(days[0]))];
        const char *band = bands[rand() % 2];
        if (op == 0) {
            char eid[UUID_STR_LEN];
            json_t *d = vw_event(eid, date, 0.25 * (1 + rand() % 12), band, -1);
            vw_send(&w, v[k], "service_event.record", &pa, d, last);
            snprintf(evs[nev].id, sizeof(evs[nev].id), "%s", eid);
            snprintf(evs[nev].date, sizeof(evs[nev].date), "%s", date);
            evs[nev].voucher = k;
            evs[nev++].state = 0;
        } else if (op == 1) {
            json_t *d = json_pack("{s:s, s:s, s:f}", "event_id", evs[pick].id, "date", date,
                                  "quantity", 0.25 * (1 + rand() % 12));
            vw_send(&w, v[k], "service_event.update", &pa, d, last);
            snprintf(evs[pick].date, sizeof(evs[pick].date), "%s", date);
        } else if (op == 2) {
            vw_send(&w, v[k], "service_event.delete", &pa, ev_ref(evs[pick].id), last);
            evs[pick].state = 2;
        } else {
            vw_send(&w, v[k], "service_event.approve", &w.orgs_a, ev_ref(evs[pick].id), last);
            evs[pick].state = 1;
        }
    }
    /* An August whose only event moves to October (the month is gone from
     * usage) and a November whose only event is deleted (zeros). */
    char moved[UUID_STR_LEN], gone[UUID_STR_LEN];
    vw_send(&w, v[0], "service_event.record", &pa, vw_event(moved, "2026-08-04", 1.0, NULL, -1),
            last);
    vw_send(&w, v[0], "service_event.update", &pa,
            json_pack("{s:s, s:s, s:f}", "event_id", moved, "date", "2026-10-05", "quantity", 1.0),
            last);
    vw_send(&w, v[0], "service_event.record", &pa, vw_event(gone, "2026-11-03", 1.0, NULL, -1),
            last);
    vw_send(&w, v[0], "service_event.delete", &pa, ev_ref(gone), last);
    tc_expect_applied(w.pg, last);
    /* September settled (the whole rebuild: a settlement is not a patch),
     * then credits on settled events, sent without waiting (patched). */
    char run[UUID_STR_LEN];
    tc_send(w.t, TOPIC_CMD_SETTLEMENT, w.org_a, "settlement.run", &w.orgs_a,
            json_pack("{s:s, s:s}", "organiser_id", w.org_a, "period", "2026-09"), run);
    tc_expect_applied(w.pg, run);
    int credits = 0;
    for (int j = 0; j < nev && credits < 8; j++) {
        if (evs[j].state != 1 || strncmp(evs[j].date, "2026-09", 7) != 0)
            continue;
        char cid[UUID_STR_LEN];
        tc_uuid(cid);
        json_t *cd =
            json_pack("{s:s, s:s, s:f, s:s, s:s}", "event_id", evs[j].id, "id", cid, "quantity",
                      0.25, "reason_code", "wrong_quantity", "explanation", "Käynti oli lyhyempi");
        vw_send(&w, v[evs[j].voucher], "service_event.credit", &w.orgs_a, cd, last);
        credits++;
    }
    cr_assert_gt(credits, 1, "approved September events to credit: %d", credits);
    tc_expect_applied(w.pg, last);
    cr_expect_eq(vw_ll(&w,
                       "SELECT count(*) FROM psop.credits c JOIN psop.service_events e ON e.id = "
                       "c.event_id WHERE e.voucher_id IN ('%s', '%s')",
                       v[0], v[1]),
                 credits);
    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(pg, "%s", err);
    for (int k = 0; k < 2; k++) {
        size_t n = expect_events_whole(&w, r, pg, v[k]);
        cr_expect_gt(n, 10, "voucher %d has %zu events", k, n);
        long long patches = events_field(r, v[k], "p");
        cr_assert(patches >= 0, "voucher %d: not stored itemised", k);
        cr_expect_gt(patches, 0, "voucher %d: last written whole, not patched", k);
        assert_usage_is_the_events_aggregate(pg, v[k]);
    }
    long long ver = 0;
    json_t *d0 = view_voucher(pg, v[0], &ver, err, sizeof(err));
    cr_assert_not_null(d0, "%s", err);
    json_t *usage = json_object_get(d0, "usage");
    cr_expect_null(json_object_get(usage, "2026-08"), "a month whose only event moved away");
    json_t *nov = json_object_get(usage, "2026-11");
    cr_expect(nov && json_integer_value(json_object_get(nov, "events")) == 0 &&
                  json_integer_value(json_object_get(nov, "voucher_used_cents")) == 0,
              "a month whose only event was deleted shows zeros");
    json_decref(d0);
    pgc_free(pg);
    rds_free(r);
    vw_fini(&w);
}

/* A rollout: the events document as the release before itemised documents
 * wrote it (one whole text, "d") is read as it is, and the first command
 * after it writes the document whole in the itemised form, which the next
 * one patches. */
Test(voucher, events_document_of_the_earlier_release_is_taken_over)
{
    struct vworld w;
    vw_init(&w);
    char p[UUID_STR_LEN], v[UUID_STR_LEN], e[4][UUID_STR_LEN];
    vw_provider(&w, p, "2025-12-01");
    vw_grant(&w, v, w.banded, 3000, 0, p, "2026-01-01", "TAKEOVER-1");
    record_ok(&w, v, p, e[0], "2026-10-05", 1, NULL, -1);
    record_ok(&w, v, p, e[1], "2026-10-06", 2, "evening", -1);
    char err[256], key[128];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(pg, "%s", err);
    json_decref(redis_doc(&w, r, VIEW_VOUCHER_EVENTS_KEY_FMT, v));
    cr_expect_gt(events_field(r, v, "v"), 0);
    cr_expect_eq(events_field(r, v, "d"), -1, "written itemised");

    /* what the earlier release leaves at the key */
    long long ver = 0;
    char *text = view_voucher_events_text(pg, v, &ver, err, sizeof(err));
    cr_assert_not_null(text, "%s", err);
    snprintf(key, sizeof(key), VIEW_VOUCHER_EVENTS_KEY_FMT, v);
    redisReply *del = rds_command(r, "DEL %s", key);
    freeReplyObject(del);
    cr_assert_eq(rds_put_versioned(r, key, ver, text, 0, err, sizeof(err)), 1, "%s", err);
    free(text);
    expect_events_whole(&w, r, pg, v);

    record_ok(&w, v, p, e[2], "2026-10-07", 1.5, NULL, -1);
    expect_events_whole(&w, r, pg, v);
    cr_expect_eq(events_field(r, v, "d"), -1, "taken over: itemised");
    cr_expect_eq(events_field(r, v, "p"), 0, "written whole");
    record_ok(&w, v, p, e[3], "2026-10-01", 0.5, NULL, -1);
    expect_events_whole(&w, r, pg, v);
    cr_expect_eq(events_field(r, v, "p"), 1, "then patched");
    pgc_free(pg);
    rds_free(r);
    vw_fini(&w);
}
