/*
 * voucher_world.h - setup shared by the voucher integration tests
 * (worker_voucher.c, worker_crash.c, ...; worker_provider.c and events.c take
 * its pieces vw_open, vw_send_organisers, vw_banded_type): header-only, like
 * commands.h.
 *
 * Reference data goes through psop.commands.reference (the reference
 * workers apply it); providers, approvals, suspensions and prices are
 * inserted straight into PostgreSQL (less coupled than the provider worker).
 * Every id and code is new, so the tests run again and again on the same
 * database.
 *
 *   struct vworld w;
 *   vw_init(&w);                        // organisers A and B, two service types
 *   char p[UUID_STR_LEN];
 *   vw_provider(&w, p, "2025-12-01");   // approved for A x both types, prices
 *   ...
 *   vw_fini(&w);
 */
#ifndef PSOP_TEST_VOUCHER_WORLD_H
#define PSOP_TEST_VOUCHER_WORLD_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "harness.h"
#include "store/topics.h"

/* The banded (hourly) service type's prices of vw_provider(): weekday and
 * evening 34.90, saturday 39.90, sunday 44.90; the per-visit one 25.00. */
#define VW_PRICE 3490
#define VW_PRICE_SAT 3990
#define VW_PRICE_SUN 4490
#define VW_PRICE_VISIT 2500

struct vworld {
    struct tc *t;
    PGconn *pg;
    char org_a[UUID_STR_LEN], org_b[UUID_STR_LEN];
    /* hourly, coefficients 1.15/1.25/1.50, client share allowed, income
     * model; per visit, no bands, no client share allowed. */
    char banded[32], plain[32];
    struct tc_actor admin, orgs_a, orgs_b;
};

/* Runs SQL (printf format) on the stack's database, failing the test on error. */
static inline void vw_sql(struct vworld *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void vw_sql(struct vworld *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(h_pg_vvalue(w->pg, fmt, ap));
    va_end(ap);
}

/* First column of the first row as a number (0 when NULL or no row). */
#define vw_ll(w, ...) h_pg_ll((w)->pg, __VA_ARGS__)

static inline void vw_code(char *out, size_t n, const char *prefix)
{
    char u[UUID_STR_LEN];
    tc_uuid(u);
    snprintf(out, n, "%s%s", prefix, u + 24);
}

/* The world's connections, actors, organiser ids and service type codes
 * (prefix + random tail); nothing is sent yet. */
static inline void vw_open(struct vworld *w, const char *banded_prefix, const char *plain_prefix)
{
    memset(w, 0, sizeof(*w));
    w->t = tc_open();
    w->pg = h_pg();
    w->admin = (struct tc_actor){.sub = "test-admin", .role = "admin"};
    tc_uuid(w->org_a);
    tc_uuid(w->org_b);
    w->orgs_a = (struct tc_actor){.sub = "kasittelija-a", .role = "organiser", .org = w->org_a};
    w->orgs_b = (struct tc_actor){.sub = "kasittelija-b", .role = "organiser", .org = w->org_b};
    vw_code(w->banded, sizeof(w->banded), banded_prefix);
    vw_code(w->plain, sizeof(w->plain), plain_prefix);
}

/* Sends organiser.upsert for organisers A and B ("<name> A", "<name> B",
 * invoice prefixes starting with letter); the command ids go to ids[0..1]. */
static inline void vw_send_organisers(struct vworld *w, const char *name, char letter,
                                      int auto_approve_days, char ids[][UUID_STR_LEN])
{
    const char *orgs[] = {w->org_a, w->org_b};
    for (int i = 0; i < 2; i++) {
        char yt[10], iban[19], prefix[11], full[64];
        tc_ytunnus(yt);
        tc_iban_fi(iban);
        prefix[0] = letter;
        tc_alnum(prefix + 1, 9);
        snprintf(full, sizeof(full), "%s %c", name, i ? 'B' : 'A');
        tc_send(w->t, TOPIC_CMD_REFERENCE, orgs[i], "organiser.upsert", &w->admin,
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", orgs[i], "name", full,
                          "business_id", yt, "iban", iban, "invoice_prefix", prefix,
                          "settlement_day", 5, "auto_approve_days", auto_approve_days),
                ids[i]);
    }
}

/* service_type.upsert data of an hourly type with band coefficients
 * 1.15/1.25/1.50, client share allowed, and an income model: max 32.00,
 * min 10.00 per hour, divisor 100; sizes 1-2. */
static inline json_t *vw_banded_type(const char *code, const char *name)
{
    return json_pack(
        "{s:s, s:s, s:s, s:i, s:b, s:{s:f, s:f, s:f}, s:{s:i, s:i, s:i, "
        "s:[{s:i, s:i, s:i}, {s:i, s:i, s:i}], s:i, s:i}}",
        "code", code, "name", name, "unit", "hour", "vat_rate_bp", 0, "client_share_allowed", 1,
        "band_coefficients", "evening", 1.15, "saturday", 1.25, "sunday", 1.5, "income_model",
        "max_value_cents", 3200, "min_value_cents", 1000, "divisor", 100, "table", "household_size",
        1, "limit_cents", 60000, "pct_bp", 1500, "household_size", 2, "limit_cents", 110000,
        "pct_bp", 1200, "extra_person_limit_cents", 20000, "extra_person_pct_bp", 100);
}

static inline void vw_init(struct vworld *w)
{
    vw_open(w, "vkh_", "vsi_");
    char ids[5][UUID_STR_LEN];
    vw_send_organisers(w, "Setelikunta", 'V', 14, ids);
    tc_send(w->t, TOPIC_CMD_REFERENCE, w->banded, "service_type.upsert", &w->admin,
            vw_banded_type(w->banded, "Kotihoito (setelitesti)"), ids[2]);
    tc_send(w->t, TOPIC_CMD_REFERENCE, w->plain, "service_type.upsert", &w->admin,
            json_pack("{s:s, s:s, s:s, s:i, s:b}", "code", w->plain, "name",
                      "Fysioterapia (setelitesti)", "unit", "visit", "vat_rate_bp", 0,
                      "client_share_allowed", 0),
            ids[3]);
    /* A real Finnish holiday (Epiphany, a Tuesday): right for everyone. */
    tc_send(w->t, TOPIC_CMD_REFERENCE, "2026-01-06", "holiday.upsert", &w->admin,
            json_pack("{s:s, s:s}", "date", "2026-01-06", "name", "Loppiainen"), ids[4]);
    for (int i = 0; i < 5; i++)
        tc_expect_applied(w->pg, ids[i]);
}

static inline void vw_fini(struct vworld *w)
{
    tc_close(w->t);
    PQfinish(w->pg);
}

/* A registered provider without approvals. */
static inline void vw_provider_bare(struct vworld *w, char pid[UUID_STR_LEN])
{
    char yt[10], iban[19];
    tc_uuid(pid);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    vw_sql(w,
           "INSERT INTO psop.providers (id, business_id, name, iban, registered_by) "
           "VALUES ('%s', '%s', 'Hoiva %s Oy', '%s', 'test')",
           pid, yt, pid + 30, iban);
}

/* Approves pid for (org, st) from valid_from (decided a day ago, so a
 * suspension inserted now counts as later). */
static inline void vw_approve(struct vworld *w, const char *pid, const char *org, const char *st,
                              const char *valid_from)
{
    vw_sql(w,
           "INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, "
           "decision, valid_from, decided_by, decided_at) VALUES ('%s', '%s', '%s', 'approved', "
           "'%s', 'test', now() - interval '1 day')",
           pid, org, st, valid_from);
}

/* A price from valid_from; band prices < 0 are left NULL (= the base). */
static inline void vw_price(struct vworld *w, const char *pid, const char *org, const char *st,
                            const char *valid_from, long base, long eve, long sat, long sun)
{
    char e[24] = "NULL", s[24] = "NULL", u[24] = "NULL";
    if (eve >= 0)
        snprintf(e, sizeof(e), "%ld", eve);
    if (sat >= 0)
        snprintf(s, sizeof(s), "%ld", sat);
    if (sun >= 0)
        snprintf(u, sizeof(u), "%ld", sun);
    vw_sql(w,
           "INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, "
           "valid_from, price_cents, price_evening_cents, price_saturday_cents, "
           "price_sunday_cents, set_by) VALUES ('%s', '%s', '%s', '%s', %ld, %s, %s, %s, 'test')",
           pid, org, st, valid_from, base, e, s, u);
}

/* A provider approved for organiser A and both service types from
 * valid_from, with the VW_PRICE* list prices. */
static inline void vw_provider(struct vworld *w, char pid[UUID_STR_LEN], const char *valid_from)
{
    vw_provider_bare(w, pid);
    vw_approve(w, pid, w->org_a, w->banded, valid_from);
    vw_approve(w, pid, w->org_a, w->plain, valid_from);
    vw_price(w, pid, w->org_a, w->banded, valid_from, VW_PRICE, -1, VW_PRICE_SAT, VW_PRICE_SUN);
    vw_price(w, pid, w->org_a, w->plain, valid_from, VW_PRICE_VISIT, -1, -1, -1);
}

static inline struct tc_actor vw_prov_actor(const char *pid)
{
    return (struct tc_actor){.sub = "erp-test", .role = "provider", .provider = pid};
}

/* Sends a voucher-topic command keyed by voucher id (voucher_id is added
 * to data unless the type is voucher.grant). data is taken. */
static inline void vw_send(struct vworld *w, const char *vid, const char *type,
                           const struct tc_actor *a, json_t *data, char id[UUID_STR_LEN])
{
    if (strcmp(type, "voucher.grant") != 0 && !json_object_get(data, "voucher_id"))
        json_object_set_new(data, "voucher_id", json_string(vid));
    tc_send(w->t, TOPIC_CMD_VOUCHER, vid, type, a, data, id);
}

static inline void vw_applied(struct vworld *w, const char *vid, const char *type,
                              const struct tc_actor *a, json_t *data)
{
    char id[UUID_STR_LEN];
    vw_send(w, vid, type, a, data, id);
    tc_expect_applied(w->pg, id);
}

/* Expects a rejection starting with prefix; returns the reason (free it). */
static inline char *vw_rejected(struct vworld *w, const char *vid, const char *type,
                                const struct tc_actor *a, json_t *data, const char *prefix)
{
    char id[UUID_STR_LEN];
    vw_send(w, vid, type, a, data, id);
    return tc_expect_rejected(w->pg, id, prefix);
}

static inline void vw_rejected_free(struct vworld *w, const char *vid, const char *type,
                                    const struct tc_actor *a, json_t *data, const char *prefix)
{
    free(vw_rejected(w, vid, type, a, data, prefix));
}

/* Grants a flat voucher of organiser A (vid filled). quota_h 0 = none;
 * provider may be NULL. */
static inline void vw_grant(struct vworld *w, char vid[UUID_STR_LEN], const char *st, long value,
                            long quota_h, const char *provider, const char *valid_from,
                            const char *client)
{
    tc_uuid(vid);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", vid, "organiser_id",
                          w->org_a, "client_id", client, "service_type", st, "decision_number",
                          "PS-2026-001", "valid_from", valid_from, "unit_value_cents", (int)value);
    if (quota_h)
        json_object_set_new(d, "monthly_quota", json_real((double)quota_h / 100.0));
    if (provider)
        json_object_set_new(d, "provider_id", json_string(provider));
    vw_applied(w, vid, "voucher.grant", &w->orgs_a, d);
}

/* service_event.record data with a new event id (eid filled). band may be
 * NULL, price < 0 = none. */
static inline json_t *vw_event(char eid[UUID_STR_LEN], const char *date, double qty,
                               const char *band, long price)
{
    tc_uuid(eid);
    json_t *d = json_pack("{s:s, s:s, s:f}", "id", eid, "date", date, "quantity", qty);
    if (band)
        json_object_set_new(d, "band", json_string(band));
    if (price >= 0)
        json_object_set_new(d, "unit_price_cents", json_integer(price));
    return d;
}

#endif
