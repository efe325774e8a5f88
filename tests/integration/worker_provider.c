/*
 * Integration tests of the provider commands (workers/h_provider.c) and their
 * read models (lib/views/view_provider.c) on the real stack: commands go onto
 * Kafka as envelopes, the running reference and provider workers apply them,
 * and the tests look at PostgreSQL, Redis and psop.events.provider.
 * The tests start no workers (scripts/dev up runs them). Every id is new, so
 * the tests run again and again on the same database.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "store/topics.h"
#include "views/view_provider.h"
#include "voucher_world.h"

/* Two organisers and two service types of one test (voucher_world.h's
 * struct vworld), without the voucher tests' income model. */
static void world_init(struct vworld *w)
{
    vw_open(w, "tkh_", "tsi_");
    char ids[4][UUID_STR_LEN];
    vw_send_organisers(w, "Testikunta", 'T', 0, ids);
    tc_send(w->t, TOPIC_CMD_REFERENCE, w->banded, "service_type.upsert", &w->admin,
            json_pack("{s:s, s:s, s:s, s:i, s:b, s:{s:f, s:f, s:f}}", "code", w->banded, "name",
                      "Kotihoito (testi)", "unit", "hour", "vat_rate_bp", 0, "client_share_allowed",
                      1, "band_coefficients", "evening", 1.15, "saturday", 1.25, "sunday", 1.5),
            ids[2]);
    tc_send(w->t, TOPIC_CMD_REFERENCE, w->plain, "service_type.upsert", &w->admin,
            json_pack("{s:s, s:s, s:s, s:i, s:b}", "code", w->plain, "name", "Siivous (testi)",
                      "unit", "visit", "vat_rate_bp", 2550, "client_share_allowed", 1),
            ids[3]);
    for (int i = 0; i < 4; i++)
        tc_expect_applied(w->pg, ids[i]);
}

/* Sends a provider command keyed by the provider id; provider_id (a path
 * parameter in the api) is added to data when missing. */
static void prov_send(struct vworld *w, const char *pid, const char *type, const struct tc_actor *a,
                      json_t *data, char id[UUID_STR_LEN])
{
    if (strcmp(type, "provider.register") != 0 && !json_object_get(data, "provider_id"))
        json_object_set_new(data, "provider_id", json_string(pid));
    tc_send(w->t, TOPIC_CMD_PROVIDER, pid, type, a, data, id);
}

static void prov_applied(struct vworld *w, const char *pid, const char *type,
                         const struct tc_actor *a, json_t *data)
{
    char id[UUID_STR_LEN];
    prov_send(w, pid, type, a, data, id);
    tc_expect_applied(w->pg, id);
}

static void prov_rejected(struct vworld *w, const char *pid, const char *type,
                          const struct tc_actor *a, json_t *data, const char *prefix)
{
    char id[UUID_STR_LEN];
    prov_send(w, pid, type, a, data, id);
    free(tc_expect_rejected(w->pg, id, prefix));
}

/* Registers a new provider as itself; fills its id and business id. */
static void register_provider(struct vworld *w, char pid[UUID_STR_LEN], char yt[10])
{
    char iban[19];
    tc_uuid(pid);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    struct tc_actor me = vw_prov_actor(pid);
    prov_applied(w, pid, "provider.register", &me,
                 json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", pid, "business_id", yt, "name",
                           "Hoivapalvelu Testi Oy", "iban", iban, "email", "laskutus@example.fi",
                           "supplier_number", "T-1001"));
}

static json_t *apply_data(const char *pid, const char *org, const char *st)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "provider_id", pid, "organiser_id", org,
                     "service_type", st, "rulebook_version", "2026-1");
}

static struct pgc *pgc_open(void)
{
    char err[256];
    struct pgc *c = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(c, "pg: %s", err);
    return c;
}

static const json_t *find_provider(const json_t *list, const char *pid)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
    {
        const char *id = json_string_value(json_object_get(p, "provider_id"));
        if (id && strcmp(id, pid) == 0)
            return p;
    }
    return NULL;
}

#define JI(o, k) json_integer_value(json_object_get((o), (k)))
#define JS(o, k) json_string_value(json_object_get((o), (k)))

Test(worker_provider, lifecycle_state_views_and_events)
{
    struct vworld w;
    world_init(&w);
    char pid[UUID_STR_LEN], yt[10];
    register_provider(&w, pid, yt);
    struct tc_actor me = vw_prov_actor(pid);

    char *s = h_pg_value(w.pg,
                         "SELECT business_id || '|' || registered_by || '|' || version || '|' || "
                         "email || '|' || supplier_number FROM psop.providers WHERE id = '%s'",
                         pid);
    char want[128];
    snprintf(want, sizeof(want), "%s|erp-test|1|laskutus@example.fi|T-1001", yt);
    cr_expect_str_eq(s, want);
    free(s);

    prov_applied(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, w.banded));
    prov_applied(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, w.plain));
    prov_applied(&w, pid, "provider.decide", &w.orgs_a,
                 json_pack("{s:s, s:s, s:s, s:s, s:s}", "organiser_id", w.org_a, "service_type",
                           w.banded, "decision", "approved", "valid_from", "2024-01-01", "reason",
                           "Sääntökirjan ehdot täyttyvät"));
    prov_applied(&w, pid, "provider.decide", &w.orgs_a,
                 json_pack("{s:s, s:s, s:s, s:s}", "organiser_id", w.org_a, "service_type", w.plain,
                           "decision", "rejected", "reason", "Vakuutus puuttuu"));
    prov_applied(&w, pid, "provider.set_price", &me,
                 json_pack("{s:s, s:s, s:s, s:i, s:{s:i, s:i}}", "organiser_id", w.org_a,
                           "service_type", w.banded, "valid_from", "2024-01-01", "price_cents",
                           4000, "band_prices_cents", "evening", 4600, "sunday", 8000));
    prov_applied(&w, pid, "provider.set_price", &me,
                 json_pack("{s:s, s:s, s:s, s:i}", "organiser_id", w.org_a, "service_type",
                           w.banded, "valid_from", "2024-06-01", "price_cents", 4200));
    /* The same valid_from again: a correction replacing that row. */
    prov_applied(&w, pid, "provider.set_price", &me,
                 json_pack("{s:s, s:s, s:s, s:i, s:{s:i}}", "organiser_id", w.org_a, "service_type",
                           w.banded, "valid_from", "2024-06-01", "price_cents", 4300,
                           "band_prices_cents", "evening", 4800));
    prov_applied(&w, pid, "provider.suspend", &w.orgs_a,
                 json_pack("{s:s, s:s, s:s, s:s}", "organiser_id", w.org_a, "service_type",
                           w.banded, "from", "2099-01-01", "reason", "Valvontakäynnin havainnot"));

    /* PostgreSQL: every change bumped the provider's version. */
    cr_expect_eq(h_pg_ll(w.pg, "SELECT version FROM psop.providers WHERE id = '%s'%s", pid, ""), 9);
    cr_expect_eq(h_pg_ll(w.pg,
                         "SELECT count(*) FROM psop.provider_applications WHERE provider_id = '%s' "
                         "AND applied_by = '%s'",
                         pid, "erp-test"),
                 2);
    s = h_pg_value(w.pg,
                   "SELECT string_agg(decision || '/' || coalesce(valid_from::text, '-') || '/' || "
                   "decided_by || '/' || (application_id IS NOT NULL) || '/' || reason, ',' "
                   "ORDER BY id) FROM psop.provider_decisions WHERE provider_id = '%s'",
                   pid);
    cr_expect_str_eq(s, "approved/2024-01-01/kasittelija-a/true/Sääntökirjan ehdot täyttyvät,"
                        "rejected/-/kasittelija-a/true/Vakuutus puuttuu");
    free(s);
    s = h_pg_value(w.pg,
                   "SELECT string_agg(valid_from || '=' || price_cents || '/' || "
                   "coalesce(price_evening_cents::text, '-') || '/' || "
                   "coalesce(price_saturday_cents::text, '-') || '/' || "
                   "coalesce(price_sunday_cents::text, '-') || '/' || set_by, ',' ORDER BY "
                   "valid_from) FROM psop.provider_prices WHERE provider_id = '%s'",
                   pid);
    cr_expect_str_eq(s, "2024-01-01=4000/4600/-/8000/erp-test,2024-06-01=4300/4800/-/-/erp-test");
    free(s);
    s = h_pg_value(w.pg,
                   "SELECT from_date || '/' || suspended_by || '/' || reason FROM "
                   "psop.provider_suspensions WHERE provider_id = '%s'",
                   pid);
    cr_expect_str_eq(s, "2099-01-01/kasittelija-a/Valvontakäynnin havainnot");
    free(s);

    /* The provider document. */
    struct pgc *pg = pgc_open();
    char err[512];
    long long v = 0;
    json_t *doc = view_provider(pg, pid, &v, err, sizeof(err));
    cr_assert_not_null(doc, "view_provider: %s", err);
    cr_expect_eq(v, 9);
    cr_expect_str_eq(JS(doc, "business_id"), yt);
    cr_expect_eq(JI(doc, "version"), 9);
    json_t *apps = json_object_get(doc, "applications");
    cr_assert_eq(json_array_size(apps), 2);
    json_t *d0 = json_array_get(json_object_get(json_array_get(apps, 0), "decisions"), 0);
    cr_expect_str_eq(JS(d0, "decision"), "approved");
    cr_expect_str_eq(JS(d0, "decided_by"), "kasittelija-a");
    cr_expect_str_eq(JS(d0, "valid_from"), "2024-01-01");
    cr_expect_not_null(JS(d0, "decided_at"));
    json_t *d1 = json_array_get(json_object_get(json_array_get(apps, 1), "decisions"), 0);
    cr_expect_str_eq(JS(d1, "reason"), "Vakuutus puuttuu");
    cr_expect_null(json_object_get(d1, "valid_from"));
    json_t *approvals = json_object_get(doc, "approvals");
    cr_assert_eq(json_array_size(approvals), 2);
    size_t i;
    json_t *ap;
    json_array_foreach(approvals, i, ap)
    {
        if (strcmp(JS(ap, "service_type"), w.banded) == 0) {
            cr_expect_str_eq(JS(ap, "status"), "approved");
            cr_expect_str_eq(JS(ap, "suspended_from"), "2099-01-01");
        } else {
            cr_expect_str_eq(JS(ap, "status"), "rejected");
            cr_expect_null(json_object_get(ap, "suspended_from"));
        }
        cr_expect(json_is_false(json_object_get(ap, "application_pending")));
    }
    cr_expect_eq(json_array_size(json_object_get(doc, "suspensions")), 1);
    json_t *prices = json_object_get(doc, "prices");
    cr_assert_eq(json_array_size(prices), 1);
    json_t *hist = json_object_get(json_array_get(prices, 0), "history");
    cr_assert_eq(json_array_size(hist), 2);
    cr_expect_str_eq(JS(json_array_get(hist, 0), "valid_from"), "2024-06-01");
    cr_expect_eq(JI(json_array_get(hist, 0), "price_cents"), 4300);
    cr_expect_eq(JI(json_object_get(json_array_get(hist, 1), "band_prices_cents"), "sunday"), 8000);
    cr_expect_null(
        json_object_get(json_object_get(json_array_get(hist, 1), "band_prices_cents"), "saturday"));
    json_decref(doc);

    /* The public list: today's price, bands resolved (a band without its own
     * price shows price_cents). */
    char today[11];
    date_format(date_today_helsinki(), today);
    doc = view_public_providers(pg, w.org_a, w.banded, today, &v, err, sizeof(err));
    cr_assert_not_null(doc, "view_public_providers: %s", err);
    cr_expect_str_eq(JS(doc, "date"), today);
    const json_t *me_pub = find_provider(json_object_get(doc, "providers"), pid);
    cr_assert_not_null(me_pub, "approved provider missing from the public list");
    cr_expect_str_eq(JS(me_pub, "approved_from"), "2024-01-01");
    json_t *price = json_object_get(me_pub, "price");
    cr_expect_eq(JI(price, "price_cents"), 4300);
    cr_expect_str_eq(JS(price, "valid_from"), "2024-06-01");
    json_t *bands = json_object_get(price, "band_prices_cents");
    cr_expect_eq(JI(bands, "evening"), 4800);
    cr_expect_eq(JI(bands, "saturday"), 4300);
    cr_expect_eq(JI(bands, "sunday"), 4300);
    json_decref(doc);
    /* Before the approval, and from the suspension on: not listed. */
    const char *not_listed[] = {"2023-12-31", "2099-01-01"};
    for (int k = 0; k < 2; k++) {
        doc = view_public_providers(pg, w.org_a, w.banded, not_listed[k], NULL, err, sizeof(err));
        cr_assert_not_null(doc, "%s", err);
        cr_expect_null(find_provider(json_object_get(doc, "providers"), pid), "listed on %s",
                       not_listed[k]);
        json_decref(doc);
    }
    /* On 2024-03-01 the first price with its own band prices. */
    doc = view_public_providers(pg, w.org_a, w.banded, "2024-03-01", NULL, err, sizeof(err));
    bands = json_object_get(
        json_object_get(find_provider(json_object_get(doc, "providers"), pid), "price"),
        "band_prices_cents");
    cr_expect_eq(JI(bands, "evening"), 4600);
    cr_expect_eq(JI(bands, "saturday"), 4000);
    cr_expect_eq(JI(bands, "sunday"), 8000);
    json_decref(doc);
    /* Rejected: not listed. Unknown organiser: not found. */
    doc = view_public_providers(pg, w.org_a, w.plain, today, NULL, err, sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    cr_expect_eq(json_array_size(json_object_get(doc, "providers")), 0);
    json_decref(doc);
    char nobody[UUID_STR_LEN];
    tc_uuid(nobody);
    cr_expect_null(view_public_providers(pg, nobody, w.plain, today, NULL, err, sizeof(err)));
    cr_expect_str_eq(err, "");
    cr_expect_null(view_provider(pg, nobody, NULL, err, sizeof(err)));
    cr_expect_str_eq(err, "");
    pgc_free(pg);

    /* One event per applied change on psop.events.provider, keyed by the
     * provider (the worker publishes after COMMIT: allow it a moment). */
    json_t *evs = NULL;
    for (int tries = 0; tries < 40; tries++) {
        json_decref(evs);
        evs = tc_events_by_key(TOPIC_EVT_PROVIDER, pid);
        if (json_array_size(evs) >= 9)
            break;
        h_sleep_ms(250);
    }
    cr_expect_eq(tc_count_type(evs, "provider.registered"), 1);
    cr_expect_eq(tc_count_type(evs, "provider.applied"), 2);
    cr_expect_eq(tc_count_type(evs, "provider.approved"), 1);
    cr_expect_eq(tc_count_type(evs, "provider.rejected"), 1);
    cr_expect_eq(tc_count_type(evs, "provider.price_set"), 3);
    cr_expect_eq(tc_count_type(evs, "provider.suspended"), 1);
    cr_expect_eq(json_array_size(evs), 9, "events: %zu", json_array_size(evs));
    json_t *e;
    json_array_foreach(evs, i, e)
    {
        cr_expect_str_eq(JS(e, "specversion"), "1.0");
        cr_expect_str_eq(JS(e, "subject"), pid);
        json_t *data = json_object_get(e, "data");
        if (strcmp(JS(e, "type"), "provider.approved") == 0) {
            cr_expect_str_eq(JS(data, "decided_by"), "kasittelija-a");
            cr_expect_str_eq(JS(data, "valid_from"), "2024-01-01");
            cr_expect_str_eq(JS(data, "organiser_id"), w.org_a);
            cr_expect_eq(JI(data, "version"), 4);
        } else if (strcmp(JS(e, "type"), "provider.suspended") == 0) {
            cr_expect_str_eq(JS(data, "from"), "2099-01-01");
            cr_expect_str_eq(JS(data, "reason"), "Valvontakäynnin havainnot");
        }
    }
    json_decref(evs);
    vw_fini(&w);
}

Test(worker_provider, every_rejection_rule_with_its_reason)
{
    struct vworld w;
    world_init(&w);
    char pid[UUID_STR_LEN], yt[10], other[UUID_STR_LEN], iban[19];
    register_provider(&w, pid, yt);
    struct tc_actor me = vw_prov_actor(pid);
    tc_uuid(other);
    struct tc_actor them = vw_prov_actor(other);
    tc_iban_fi(iban);

    /* register */
    prov_rejected(&w, other, "provider.register", &them,
                  json_pack("{s:s, s:s, s:s, s:s}", "id", other, "business_id", yt, "name",
                            "Kopio Oy", "iban", iban),
                  "duplicate_business_id: ");
    cr_expect_eq(h_pg_ll(w.pg, "SELECT count(*) FROM psop.providers WHERE id = '%s'%s", other, ""),
                 0);
    char yt2[10], third[UUID_STR_LEN];
    tc_ytunnus(yt2);
    tc_uuid(third);
    prov_rejected(&w, third, "provider.register", &them,
                  json_pack("{s:s, s:s, s:s, s:s}", "id", third, "business_id", yt2, "name",
                            "Toinen Oy", "iban", iban),
                  "forbidden: ");
    prov_rejected(&w, third, "provider.register", &w.orgs_a,
                  json_pack("{s:s, s:s, s:s, s:s}", "id", third, "business_id", yt2, "name",
                            "Toinen Oy", "iban", iban),
                  "forbidden: ");
    prov_rejected(&w, pid, "provider.register", &me,
                  json_pack("{s:s, s:s, s:s, s:s}", "id", pid, "business_id", yt2, "name",
                            "Sama Oy", "iban", iban),
                  "already_registered: ");

    /* apply */
    char nobody[UUID_STR_LEN];
    tc_uuid(nobody);
    prov_rejected(&w, pid, "provider.apply", &me, apply_data(pid, nobody, w.banded),
                  "not_found: organiser");
    prov_rejected(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, "tei_olemassa"),
                  "not_found: service type");
    prov_rejected(&w, pid, "provider.apply", &them,
                  json_pack("{s:s, s:s, s:s, s:s}", "provider_id", pid, "organiser_id", w.org_a,
                            "service_type", w.banded, "rulebook_version", "2026-1"),
                  "forbidden: ");
    prov_rejected(&w, other, "provider.apply", &them,
                  json_pack("{s:s, s:s, s:s, s:s}", "provider_id", other, "organiser_id", w.org_a,
                            "service_type", w.banded, "rulebook_version", "2026-1"),
                  "not_found: provider");
    prov_applied(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, w.banded));
    prov_rejected(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, w.banded),
                  "already_pending: ");

    /* decide: only the organiser the application was made to */
    json_t *approve =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider_id", pid, "organiser_id", w.org_a,
                  "service_type", w.banded, "decision", "approved", "valid_from", "2024-01-01");
    prov_rejected(&w, pid, "provider.decide", &w.orgs_b, json_deep_copy(approve), "forbidden: ");
    prov_rejected(&w, pid, "provider.decide", &me, json_deep_copy(approve), "forbidden: ");
    prov_rejected(&w, pid, "provider.decide", &w.orgs_b,
                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider_id", pid, "organiser_id",
                            w.org_b, "service_type", w.banded, "decision", "approved", "valid_from",
                            "2024-01-01"),
                  "not_found: ");

    /* suspend: only an approval, only by its organiser */
    json_t *suspend =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider_id", pid, "organiser_id", w.org_a,
                  "service_type", w.banded, "from", "2030-01-01", "reason", "Laatupoikkeama");
    prov_rejected(&w, pid, "provider.suspend", &w.orgs_a, json_deep_copy(suspend),
                  "not_approved: ");

    /* set_price: only the provider itself */
    json_t *price =
        json_pack("{s:s, s:s, s:s, s:s, s:i}", "provider_id", pid, "organiser_id", w.org_a,
                  "service_type", w.banded, "valid_from", "2024-01-01", "price_cents", 4100);
    prov_rejected(&w, pid, "provider.set_price", &them, json_deep_copy(price), "forbidden: ");
    prov_rejected(&w, pid, "provider.set_price", &w.orgs_a, json_deep_copy(price), "forbidden: ");
    prov_rejected(&w, pid, "provider.set_price", &me,
                  json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:i}}", "provider_id", pid,
                            "organiser_id", w.org_a, "service_type", w.plain, "valid_from",
                            "2024-01-01", "price_cents", 2500, "band_prices_cents", "sunday", 3000),
                  "no_bands: ");
    prov_rejected(&w, pid, "provider.set_price", &me,
                  json_pack("{s:s, s:s, s:s, s:s, s:i}", "provider_id", pid, "organiser_id",
                            w.org_b, "service_type", w.banded, "valid_from", "2024-01-01",
                            "price_cents", 4100),
                  "not_applied: ");
    /* A price may come before the decision, once applied. */
    prov_applied(&w, pid, "provider.set_price", &me, json_deep_copy(price));

    /* Admin may do everything; another organiser still may not suspend. */
    prov_applied(&w, pid, "provider.decide", &w.admin, json_deep_copy(approve));
    prov_rejected(&w, pid, "provider.suspend", &w.orgs_b, json_deep_copy(suspend), "forbidden: ");
    prov_applied(&w, pid, "provider.suspend", &w.orgs_a, json_deep_copy(suspend));
    cr_expect_eq(h_pg_ll(w.pg,
                         "SELECT count(*) FROM psop.provider_decisions WHERE provider_id = '%s' "
                         "AND decided_by = '%s'",
                         pid, "test-admin"),
                 1);
    /* Rejected commands left nothing behind: register, apply, price, decide,
     * suspend = version 5. */
    cr_expect_eq(h_pg_ll(w.pg, "SELECT version FROM psop.providers WHERE id = '%s'%s", pid, ""), 5);
    cr_expect_eq(h_pg_ll(w.pg,
                         "SELECT count(*) FROM psop.provider_applications "
                         "WHERE provider_id = '%s'%s",
                         pid, ""),
                 1);
    json_decref(approve);
    json_decref(suspend);
    json_decref(price);
    vw_fini(&w);
}

Test(worker_provider, replayed_command_applies_once)
{
    struct vworld w;
    world_init(&w);
    char pid[UUID_STR_LEN], yt[10], iban[19];
    tc_uuid(pid);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    struct tc_actor me = vw_prov_actor(pid);
    char reg_id[UUID_STR_LEN], apply_id[UUID_STR_LEN], last[UUID_STR_LEN];
    char *reg = tc_send_env(w.t, TOPIC_CMD_PROVIDER, pid, "provider.register", &me,
                            json_pack("{s:s, s:s, s:s, s:s}", "id", pid, "business_id", yt, "name",
                                      "Toisto Oy", "iban", iban),
                            reg_id);
    char *app = tc_send_env(w.t, TOPIC_CMD_PROVIDER, pid, "provider.apply", &me,
                            apply_data(pid, w.org_a, w.banded), apply_id);
    tc_expect_applied(w.pg, reg_id);
    tc_expect_applied(w.pg, apply_id);
    /* The same envelopes again (a producer retry, a replay tool), then a
     * marker on the same key: once the marker is done, so are the replays. */
    tc_send_raw(w.t, TOPIC_CMD_PROVIDER, pid, app);
    tc_send_raw(w.t, TOPIC_CMD_PROVIDER, pid, reg);
    tc_send_raw(w.t, TOPIC_CMD_PROVIDER, pid, app);
    prov_send(&w, pid, "provider.set_price", &me,
              json_pack("{s:s, s:s, s:s, s:s, s:i}", "provider_id", pid, "organiser_id", w.org_a,
                        "service_type", w.banded, "valid_from", "2025-01-01", "price_cents", 3900),
              last);
    tc_expect_applied(w.pg, last);

    cr_expect_eq(h_pg_ll(w.pg,
                         "SELECT count(*) FROM psop.provider_applications "
                         "WHERE provider_id = '%s'%s",
                         pid, ""),
                 1);
    cr_expect_eq(h_pg_ll(w.pg,
                         "SELECT count(*) FROM psop.processed_commands "
                         "WHERE command_id IN ('%s', '%s')",
                         reg_id, apply_id),
                 2);
    /* The replayed registration did not turn into an already_registered rejection. */
    tc_expect_applied(w.pg, reg_id);
    cr_expect_eq(h_pg_ll(w.pg, "SELECT version FROM psop.providers WHERE id = '%s'%s", pid, ""), 3);
    json_t *evs = NULL;
    for (int tries = 0; tries < 40; tries++) {
        json_decref(evs);
        evs = tc_events_by_key(TOPIC_EVT_PROVIDER, pid);
        if (json_array_size(evs) >= 3)
            break;
        h_sleep_ms(250);
    }
    cr_expect_eq(tc_count_type(evs, "provider.registered"), 1);
    cr_expect_eq(tc_count_type(evs, "provider.applied"), 1);
    cr_expect_eq(tc_count_type(evs, "command.rejected"), 0);
    json_decref(evs);
    free(reg);
    free(app);
    vw_fini(&w);
}

/* Polls key until its version is at least min_version; returns the document. */
static json_t *redis_wait(struct rds *r, const char *key, long long min_version, long long *v)
{
    char err[256];
    for (int i = 0; i < 300; i++) {
        char *s = NULL;
        *v = 0;
        int rc = rds_get_versioned(r, key, &s, v, err, sizeof(err));
        cr_assert_neq(rc, -1, "redis: %s", err);
        if (rc == 1 && *v >= min_version) {
            json_t *doc = json_loads(s, 0, NULL);
            free(s);
            cr_assert_not_null(doc, "%s is not JSON", key);
            return doc;
        }
        free(s);
        h_sleep_ms(100);
    }
    cr_assert_fail("%s did not reach version %lld (has %lld)", key, min_version, *v);
    return NULL;
}

Test(worker_provider, redis_read_models_are_versioned)
{
    struct vworld w;
    world_init(&w);
    char err[256];
    struct rds *r = rds_connect(h_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis: %s", err);
    char pid[UUID_STR_LEN], yt[10];
    register_provider(&w, pid, yt);
    struct tc_actor me = vw_prov_actor(pid);
    prov_applied(&w, pid, "provider.apply", &me, apply_data(pid, w.org_a, w.banded));
    prov_applied(&w, pid, "provider.decide", &w.orgs_a,
                 json_pack("{s:s, s:s, s:s, s:s}", "organiser_id", w.org_a, "service_type",
                           w.banded, "decision", "approved", "valid_from", "2024-01-01"));
    prov_applied(&w, pid, "provider.set_price", &me,
                 json_pack("{s:s, s:s, s:s, s:i}", "organiser_id", w.org_a, "service_type",
                           w.banded, "valid_from", "2024-01-01", "price_cents", 3990));

    char key[160], pkey[160];
    snprintf(key, sizeof(key), VIEW_PROVIDER_KEY_FMT, pid);
    long long v;
    json_t *doc = redis_wait(r, key, 4, &v);
    cr_expect_eq(v, 4);
    cr_expect_str_eq(JS(doc, "id"), pid);
    cr_expect_str_eq(JS(doc, "business_id"), yt);
    json_t *app = json_array_get(json_object_get(doc, "applications"), 0);
    cr_expect_str_eq(JS(json_array_get(json_object_get(app, "decisions"), 0), "decided_by"),
                     "kasittelija-a");
    cr_expect_eq(
        JI(json_array_get(
               json_object_get(json_array_get(json_object_get(doc, "prices"), 0), "history"), 0),
           "price_cents"),
        3990);
    json_decref(doc);

    /* A late writer with an older version, or the same one, changes nothing. */
    cr_expect_eq(rds_put_versioned(r, key, 3, "{\"stale\":true}", 0, err, sizeof(err)), 0);
    struct pgc *pg = pgc_open();
    cr_expect_eq(view_provider_put(r, pg, pid, err, sizeof(err)), 0, "same version rewritten");
    char *s = NULL;
    cr_assert_eq(rds_get_versioned(r, key, &s, &v, err, sizeof(err)), 1);
    cr_expect_eq(v, 4);
    cr_expect_null(strstr(s, "stale"));
    free(s);

    /* The public list of the pair, for today, with the provider. */
    char today[11];
    date_format(date_today_helsinki(), today);
    snprintf(pkey, sizeof(pkey), VIEW_PUBLIC_KEY_FMT, w.org_a, w.banded);
    doc = redis_wait(r, pkey, 1, &v);
    long long day_v = (long long)date_today_helsinki() * VIEW_PUBLIC_DAY_STRIDE;
    cr_expect_gt(v, day_v);
    cr_expect_lt(v, day_v + VIEW_PUBLIC_DAY_STRIDE);
    cr_expect_str_eq(JS(doc, "date"), today);
    const json_t *p = find_provider(json_object_get(doc, "providers"), pid);
    cr_assert_not_null(p);
    cr_expect_eq(JI(json_object_get(p, "price"), "price_cents"), 3990);
    cr_expect_eq(JI(json_object_get(json_object_get(p, "price"), "band_prices_cents"), "sunday"),
                 3990);
    json_decref(doc);
    redisReply *ttl = rds_command(r, "TTL %s", pkey);
    cr_assert_not_null(ttl);
    cr_expect(ttl->integer > 0 && ttl->integer <= 26 * 3600, "ttl %lld", ttl->integer);
    freeReplyObject(ttl);

    /* A suspension from today: both documents move on, the list drops it. */
    long long before = v;
    prov_applied(&w, pid, "provider.suspend", &w.orgs_a,
                 json_pack("{s:s, s:s, s:s, s:s}", "organiser_id", w.org_a, "service_type",
                           w.banded, "from", today, "reason", "Valvonta"));
    doc = redis_wait(r, key, 5, &v);
    cr_expect_eq(JI(json_array_get(json_object_get(doc, "suspensions"), 0), "id") > 0, 1);
    json_decref(doc);
    doc = redis_wait(r, pkey, before + 1, &v);
    cr_expect_null(find_provider(json_object_get(doc, "providers"), pid));
    json_decref(doc);
    /* The refresher of an older state cannot bring it back. */
    cr_expect_eq(rds_put_versioned(r, pkey, before, "{\"stale\":true}", 0, err, sizeof(err)), 0);

    pgc_free(pg);
    rds_free(r);
    vw_fini(&w);
}
