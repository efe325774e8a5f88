/*
 * Integration: psop-api against the real Kafka (and Redis for
 * Idempotency-Key). Every command route answers 202 and its envelope is on
 * the right topic with the right key; batches; idempotency.
 */
#include <criterion/criterion.h>

#include "api_testlib.h"
#include "wire/envelope.h"
#include "wire/traceparent.h"

#define ORG "0190a0b0-0000-7000-8000-00000000000a"
#define PROV "0190a0b0-0000-7000-8000-00000000000b"
#define VOU "0190a0b0-0000-7000-8000-00000000000c"
#define EVT "0190a0b0-0000-7000-8000-00000000000d"
#define ORD "0190a0b0-0000-7000-8000-00000000000e"
#define CON "0190a0b0-0000-7000-8000-00000000000f"
#define SET "0190a0b0-0000-7000-8000-000000000010"
#define CLIENT "asiakas-1"

#define T_REF "psop.commands.reference"
#define T_PROV "psop.commands.provider"
#define T_VOU "psop.commands.voucher"
#define T_ORD "psop.commands.order"
#define T_SET "psop.commands.settlement"

static pid_t api_pid;
static int port;

static void start(void)
{
    cr_assert_eq(tl_ensure_topics(tl_brokers(), 12), 0, "cannot create the command topics");
    port = tl_port(0);
    api_pid = tl_api_up(port);
}

static void stop(void)
{
    tl_api_down(&api_pid);
}

struct route_case {
    const char *method, *path, *role, *body;
    const char *type, *topic;
    const char *key; /* NULL: the generated resource id */
};

/* One valid request per command route of api.md. */
static const struct route_case cases[] = {
    {"PUT", "/v1/organisers/" ORG, "admin",
     "{\"name\":\"Testikunta\",\"business_id\":\"1234567-1\",\"iban\":\"FI2112345600000785\","
     "\"invoice_prefix\":\"TK\",\"settlement_day\":5,\"auto_approve_days\":7}",
     "organiser.upsert", T_REF, ORG},
    {"PUT", "/v1/service-types/kotihoito", "admin",
     "{\"name\":\"Kotihoito\",\"unit\":\"hour\",\"vat_rate_bp\":0,\"client_share_allowed\":true}",
     "service_type.upsert", T_REF, "kotihoito"},
    {"PUT", "/v1/holidays/2025-12-24", "admin", "{\"name\":\"Jouluaatto\"}", "holiday.upsert",
     T_REF, "2025-12-24"},
    {"POST", "/v1/providers", "provider",
     "{\"business_id\":\"1234567-1\",\"name\":\"Hoiva Oy\",\"iban\":\"FI2112345600000785\"}",
     "provider.register", T_PROV, PROV},
    {"POST", "/v1/providers/" PROV "/applications", "provider",
     "{\"organiser_id\":\"" ORG
     "\",\"service_type\":\"kotihoito\",\"rulebook_version\":\"2025-1\"}",
     "provider.apply", T_PROV, PROV},
    {"POST", "/v1/providers/" PROV "/decisions", "organiser",
     "{\"organiser_id\":\"" ORG "\",\"service_type\":\"kotihoito\",\"decision\":\"approved\","
     "\"valid_from\":\"2025-01-01\"}",
     "provider.decide", T_PROV, PROV},
    {"POST", "/v1/providers/" PROV "/suspensions", "organiser",
     "{\"organiser_id\":\"" ORG "\",\"service_type\":\"kotihoito\",\"from\":\"2025-06-01\","
     "\"reason\":\"Laatupoikkeama\"}",
     "provider.suspend", T_PROV, PROV},
    {"POST", "/v1/providers/" PROV "/prices", "provider",
     "{\"organiser_id\":\"" ORG "\",\"service_type\":\"kotihoito\",\"valid_from\":\"2025-01-01\","
     "\"price_cents\":3500,\"band_prices_cents\":{\"sunday\":5000}}",
     "provider.set_price", T_PROV, PROV},
    {"POST", "/v1/vouchers", "organiser",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"" CLIENT "\",\"service_type\":\"kotihoito\","
     "\"decision_number\":\"D-1\",\"valid_from\":\"2025-01-01\",\"unit_value_cents\":3000}",
     "voucher.grant", T_VOU, NULL},
    {"POST", "/v1/vouchers/" VOU "/amendments", "organiser",
     "{\"effective_from\":\"2025-02-01\",\"unit_value_cents\":3200}", "voucher.amend", T_VOU, VOU},
    {"PUT", "/v1/vouchers/" VOU "/provider", "client", "{\"provider_id\":\"" PROV "\"}",
     "voucher.choose_provider", T_VOU, VOU},
    {"POST", "/v1/vouchers/" VOU "/revocation", "organiser",
     "{\"effective_date\":\"2025-03-01\",\"reason\":\"Muutto\"}", "voucher.revoke", T_VOU, VOU},
    {"POST", "/v1/vouchers/" VOU "/refusal", "client", NULL, "voucher.refuse", T_VOU, VOU},
    {"POST", "/v1/vouchers/" VOU "/service-events", "provider",
     "{\"date\":\"2025-01-10\",\"quantity\":2.5,\"band\":\"weekday\"}", "service_event.record",
     T_VOU, VOU},
    {"PATCH", "/v1/vouchers/" VOU "/service-events/" EVT, "provider", "{\"quantity\":3}",
     "service_event.update", T_VOU, VOU},
    {"DELETE", "/v1/vouchers/" VOU "/service-events/" EVT, "provider", NULL, "service_event.delete",
     T_VOU, VOU},
    {"POST", "/v1/vouchers/" VOU "/service-events/" EVT "/approval", "organiser", NULL,
     "service_event.approve", T_VOU, VOU},
    {"POST", "/v1/vouchers/" VOU "/service-events/" EVT "/credits", "organiser",
     "{\"quantity\":1,\"reason_code\":\"wrong_quantity\",\"explanation\":\"Yksi tunti liikaa\"}",
     "service_event.credit", T_VOU, VOU},
    {"POST", "/v1/service-events/auto-approval", "admin",
     "{\"organiser_id\":\"" ORG "\",\"recorded_before\":\"2025-01-31T00:00:00Z\"}",
     "service_event.auto_approve", T_VOU, ORG},
    {"PUT", "/v1/contracts/" CON, "organiser",
     "{\"organiser_id\":\"" ORG "\",\"provider_id\":\"" PROV "\",\"service_type\":\"kotihoito\","
     "\"valid_from\":\"2025-01-01\",\"price_cents\":4000}",
     "contract.upsert", T_PROV, PROV},
    {"POST", "/v1/orders", "organiser",
     "{\"organiser_id\":\"" ORG "\",\"client_id\":\"asiakas-2\",\"contract_id\":\"" CON "\","
     "\"decision_number\":\"D-2\",\"valid_from\":\"2025-01-01\",\"client_fee_cents\":500}",
     "order.create", T_ORD, NULL},
    {"POST", "/v1/orders/" ORD "/end", "organiser",
     "{\"effective_date\":\"2025-05-31\",\"reason\":\"Palvelu päättyy\"}", "order.end", T_ORD, ORD},
    {"POST", "/v1/orders/" ORD "/service-events", "provider",
     "{\"date\":\"2025-01-10\",\"quantity\":1}", "service_event.record", T_ORD, ORD},
    {"PATCH", "/v1/orders/" ORD "/service-events/" EVT, "provider", "{\"note\":\"korjattu\"}",
     "service_event.update", T_ORD, ORD},
    {"DELETE", "/v1/orders/" ORD "/service-events/" EVT, "provider", NULL, "service_event.delete",
     T_ORD, ORD},
    {"POST", "/v1/orders/" ORD "/service-events/" EVT "/approval", "admin", "{}",
     "service_event.approve", T_ORD, ORD},
    {"POST", "/v1/orders/" ORD "/service-events/" EVT "/credits", "organiser",
     "{\"quantity\":0.5,\"reason_code\":\"other\",\"explanation\":\"Hyvitys\"}",
     "service_event.credit", T_ORD, ORD},
    {"POST", "/v1/settlements/runs", "organiser",
     "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-01\"}", "settlement.run", T_SET, ORG},
    {"POST", "/v1/settlements/" SET "/confirmation", "organiser", NULL, "settlement.confirm", T_SET,
     SET},
    {"POST", "/v1/settlements/" SET "/payment", "organiser", "{\"paid_date\":\"2025-02-15\"}",
     "settlement.mark_paid", T_SET, SET},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static char *token_for(const char *role)
{
    if (strcmp(role, "organiser") == 0)
        return tl_token(role, ORG, NULL, NULL, 300);
    if (strcmp(role, "provider") == 0)
        return tl_token(role, NULL, PROV, NULL, 300);
    if (strcmp(role, "client") == 0)
        return tl_token(role, ORG, NULL, CLIENT, 300);
    return tl_token(role, NULL, NULL, NULL, 300);
}

static const char *topics[] = {T_REF, T_PROV, T_VOU, T_ORD, T_SET};

Test(api_publish, every_command_route_lands_on_its_topic_with_its_key, .init = start, .fini = stop,
     .timeout = 120)
{
    struct tl_marks marks[5];
    for (int t = 0; t < 5; t++)
        cr_assert_eq(tl_mark(tl_brokers(), topics[t], &marks[t]), 0, "%s", topics[t]);

    char ids[N_CASES][64], rids[N_CASES][64];
    for (size_t i = 0; i < N_CASES; i++) {
        char *tok = token_for(cases[i].role);
        struct tl_resp r;
        cr_assert_eq(tl_request(port, cases[i].method, cases[i].path, tok,
                                cases[i].body ? "application/json" : NULL, cases[i].body, NULL, &r),
                     0);
        cr_assert_eq(r.status, 202, "%s %s -> %d %s", cases[i].method, cases[i].path, r.status,
                     r.body);
        cr_assert_not_null(r.json);
        const char *cid = json_string_value(json_object_get(r.json, "command_id"));
        const char *rid = json_string_value(json_object_get(r.json, "resource_id"));
        cr_assert_not_null(cid);
        cr_assert_not_null(rid);
        cr_expect_str_eq(json_string_value(json_object_get(r.json, "type")), cases[i].type);
        char url[96];
        snprintf(url, sizeof(url), "/v1/commands/%s", cid);
        cr_expect_str_eq(json_string_value(json_object_get(r.json, "status_url")), url);
        cr_expect_eq(cid[14], '7', "command ids are UUIDv7: %s", cid);
        snprintf(ids[i], sizeof(ids[i]), "%s", cid);
        snprintf(rids[i], sizeof(rids[i]), "%s", rid);
        tl_resp_free(&r);
        free(tok);
    }

    for (int t = 0; t < 5; t++) {
        const char *want[N_CASES];
        size_t idx[N_CASES];
        int n = 0;
        for (size_t i = 0; i < N_CASES; i++)
            if (strcmp(cases[i].topic, topics[t]) == 0) {
                idx[n] = i;
                want[n++] = ids[i];
            }
        struct tl_msg got[N_CASES];
        int found = tl_find(tl_brokers(), &marks[t], want, n, got, 20000, NULL);
        cr_expect_eq(found, n, "%s: %d of %d commands found", topics[t], found, n);
        for (int k = 0; k < n; k++) {
            const struct route_case *c = &cases[idx[k]];
            if (!got[k].envelope)
                continue;
            json_t *env = got[k].envelope;
            const char *key = c->key ? c->key : rids[idx[k]];
            cr_expect_str_eq(got[k].key, key, "%s %s key", c->method, c->path);
            cr_expect_str_eq(json_string_value(json_object_get(env, "type")), c->type);
            cr_expect_eq(json_integer_value(json_object_get(env, "schema_version")),
                         ENVELOPE_VERSION_CURRENT);
            const char *ra = json_string_value(json_object_get(env, "received_at"));
            cr_expect(ra && strlen(ra) == 24 && ra[10] == 'T' && ra[23] == 'Z', "received_at %s",
                      ra ? ra : "(null)");
            json_t *actor = json_object_get(env, "actor");
            cr_expect_str_eq(json_string_value(json_object_get(actor, "role")), c->role);
            cr_expect(strncmp(json_string_value(json_object_get(actor, "sub")), "test-", 5) == 0);
            json_t *data = json_object_get(env, "data");
            cr_expect(json_is_object(data));
            /* the resource id answered is in the data the worker sees */
            int in_data = 0;
            const char *k2;
            json_t *v;
            json_object_foreach(data, k2, v) if (json_is_string(v) &&
                                                 strcmp(json_string_value(v), rids[idx[k]]) == 0)
                in_data = 1;
            cr_expect(in_data, "%s: resource_id %s not in data", c->type, rids[idx[k]]);
            /* A command about a client carries its access record (v5):
             * the worker that takes its verdict writes it to psop.audit. */
            json_t *acc = json_object_get(env, "access");
            bool about_client = (strcmp(c->topic, T_VOU) == 0 || strcmp(c->topic, T_ORD) == 0) &&
                                strcmp(c->type, "service_event.auto_approve") != 0;
            if (about_client) {
                cr_expect(json_is_object(acc), "%s: no access record in the envelope", c->type);
                cr_expect_str_eq(json_string_value(json_object_get(acc, "action")), "command");
                cr_expect_eq(json_integer_value(json_object_get(acc, "status")), 202);
                cr_expect_str_eq(
                    json_string_value(json_object_get(json_object_get(acc, "resource"), "id")), key,
                    "%s", c->type);
                cr_expect_str_eq(
                    json_string_value(json_object_get(json_object_get(acc, "actor"), "role")),
                    c->role);
            } else {
                cr_expect_null(acc, "%s: an access record for a command about no client", c->type);
            }
            json_decref(env);
        }
    }
}

Test(api_publish, path_parameters_become_data_fields, .init = start, .fini = stop, .timeout = 60)
{
    struct tl_marks m;
    cr_assert_eq(tl_mark(tl_brokers(), T_VOU, &m), 0);
    char *tok = token_for("provider");
    struct tl_resp r;
    cr_assert_eq(tl_request(port, "PATCH", "/v1/vouchers/" VOU "/service-events/" EVT, tok,
                            "application/json", "{\"voucher_id\":\"" VOU "\",\"quantity\":4}", NULL,
                            &r),
                 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    const char *cid = json_string_value(json_object_get(r.json, "command_id"));
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "resource_id")), EVT);
    struct tl_msg got;
    cr_assert_eq(tl_find(tl_brokers(), &m, &cid, 1, &got, 20000, NULL), 1);
    json_t *data = json_object_get(got.envelope, "data");
    cr_expect_str_eq(json_string_value(json_object_get(data, "voucher_id")), VOU);
    cr_expect_str_eq(json_string_value(json_object_get(data, "event_id")), EVT);
    cr_expect_eq(json_number_value(json_object_get(data, "quantity")), 4);
    cr_expect_eq(json_object_size(data), 3);
    json_t *actor = json_object_get(got.envelope, "actor");
    cr_expect_str_eq(json_string_value(json_object_get(actor, "provider")), PROV);
    json_decref(got.envelope);
    tl_resp_free(&r);
    free(tok);
}

Test(api_publish, client_chosen_id_is_honoured, .init = start, .fini = stop, .timeout = 60)
{
    struct tl_marks m;
    cr_assert_eq(tl_mark(tl_brokers(), T_VOU, &m), 0);
    char *tok = token_for("organiser");
    const char *vid = "0190a0b0-1111-7000-8000-0000000000aa";
    struct tl_resp r;
    cr_assert_eq(
        tl_request(port, "POST", "/v1/vouchers", tok, "application/json",
                   "{\"id\":\"0190a0b0-1111-7000-8000-0000000000aa\",\"organiser_id\":\"" ORG
                   "\",\"client_id\":\"c-7\",\"service_type\":\"siivous\","
                   "\"decision_number\":\"D-7\",\"valid_from\":\"2025-01-01\","
                   "\"income\":{\"household_size\":2,\"monthly_income_cents\":250000}}",
                   NULL, &r),
        0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "resource_id")), vid);
    const char *cid = json_string_value(json_object_get(r.json, "command_id"));
    struct tl_msg got;
    cr_assert_eq(tl_find(tl_brokers(), &m, &cid, 1, &got, 20000, NULL), 1);
    cr_expect_str_eq(got.key, vid);
    json_decref(got.envelope);
    tl_resp_free(&r);
    free(tok);
}

Test(api_publish, batch_is_published_item_by_item, .init = start, .fini = stop, .timeout = 60)
{
    struct tl_marks mv, mo;
    cr_assert_eq(tl_mark(tl_brokers(), T_VOU, &mv), 0);
    cr_assert_eq(tl_mark(tl_brokers(), T_ORD, &mo), 0);
    char *tok = token_for("provider");
    struct tl_resp r;
    const char *body = "{\"commands\":["
                       "{\"type\":\"service_event.record\",\"data\":{\"voucher_id\":\"" VOU
                       "\",\"date\":\"2025-01-02\",\"quantity\":1}},"
                       "{\"type\":\"service_event.record\",\"data\":{\"order_id\":\"" ORD
                       "\",\"date\":\"2025-01-03\",\"quantity\":2}},"
                       "{\"type\":\"service_event.update\",\"data\":{\"voucher_id\":\"" VOU
                       "\",\"event_id\":\"" EVT "\",\"band\":\"evening\"}}]}";
    cr_assert_eq(tl_request(port, "POST", "/v1/commands", tok, "application/json", body, NULL, &r),
                 0);
    cr_assert_eq(r.status, 202, "%s", r.body);
    json_t *list = json_object_get(r.json, "commands");
    cr_assert_eq(json_array_size(list), 3);
    const char *vids[2] = {
        json_string_value(json_object_get(json_array_get(list, 0), "command_id")),
        json_string_value(json_object_get(json_array_get(list, 2), "command_id"))};
    const char *oid = json_string_value(json_object_get(json_array_get(list, 1), "command_id"));
    struct tl_msg got[2];
    cr_expect_eq(tl_find(tl_brokers(), &mv, vids, 2, got, 20000, NULL), 2);
    cr_expect_str_eq(got[0].key, VOU);
    cr_expect_str_eq(got[1].key, VOU);
    json_decref(got[0].envelope);
    json_decref(got[1].envelope);
    cr_expect_eq(tl_find(tl_brokers(), &mo, &oid, 1, got, 20000, NULL), 1);
    cr_expect_str_eq(got[0].key, ORD);
    json_decref(got[0].envelope);
    tl_resp_free(&r);

    /* the single form answers the single shape */
    cr_assert_eq(tl_request(port, "POST", "/v1/commands", tok, "application/json",
                            "{\"type\":\"service_event.delete\",\"data\":{\"order_id\":\"" ORD
                            "\",\"event_id\":\"" EVT "\"}}",
                            NULL, &r),
                 0);
    cr_expect_eq(r.status, 202, "%s", r.body);
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "type")), "service_event.delete");
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "resource_id")), EVT);
    tl_resp_free(&r);
    free(tok);
}

Test(api_publish, idempotency_key_replays_and_conflicts, .init = start, .fini = stop, .timeout = 60)
{
    struct tl_marks m;
    cr_assert_eq(tl_mark(tl_brokers(), T_SET, &m), 0);
    char *tok = token_for("organiser");
    char key[96], hdr[160];
    snprintf(key, sizeof(key), "idem-%d-%ld", (int)getpid(), (long)time(NULL));
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s\r\n", key);
    const char *body = "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-02\"}";
    struct tl_resp a, b, c;
    cr_assert_eq(
        tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json", body, hdr, &a),
        0);
    cr_assert_eq(a.status, 202, "%s", a.body);
    cr_assert_eq(
        tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json", body, hdr, &b),
        0);
    cr_expect_eq(b.status, 202, "%s", b.body);
    cr_expect(json_equal(a.json, b.json), "replay differs: %s vs %s", a.body, b.body);
    char rep[16] = "";
    cr_expect(tl_header(&b, "Idempotent-Replayed", rep, sizeof(rep)));
    cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                            "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-03\"}", hdr, &c),
                 0);
    cr_expect_eq(c.status, 409, "%s", c.body);
    cr_expect_str_eq(json_string_value(json_object_get(c.json, "type")),
                     "https://psop.fi/problems/idempotency-conflict");
    /* published exactly once */
    cr_expect_eq(tl_count_field(tl_brokers(), &m, "idempotency_key", key, 4000), 1);

    /* the key is per principal: another sub may use it freely */
    char *tok2 = tl_token("organiser", ORG, NULL, NULL, 300);
    struct tl_resp d;
    json_t *claims_differ = NULL;
    (void)claims_differ;
    cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok2, "application/json",
                            "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-04\"}", hdr, &d),
                 0);
    /* tl_token's sub embeds the time and pid: same second -> same sub, so
     * accept 202 (another principal) or 409 (same principal, other body) */
    cr_expect(d.status == 202 || d.status == 409, "%d %s", d.status, d.body);
    tl_resp_free(&a);
    tl_resp_free(&b);
    tl_resp_free(&c);
    tl_resp_free(&d);
    free(tok);
    free(tok2);
}

Test(api_publish, health_ready_metrics_openapi, .init = start, .fini = stop, .timeout = 30)
{
    struct tl_resp r;
    cr_assert_eq(tl_request(port, "GET", "/readyz", NULL, NULL, NULL, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    tl_resp_free(&r);
    cr_assert_eq(tl_request(port, "GET", "/v1/openapi.json", NULL, NULL, NULL, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    cr_expect_not_null(json_object_get(json_object_get(r.json, "paths"), "/v1/vouchers"));
    tl_resp_free(&r);
    cr_assert_eq(tl_request(port, "GET", "/metrics", NULL, NULL, NULL, NULL, &r), 0);
    cr_expect_eq(r.status, 200);
    /* two: the start's readiness probe (tl_api_start) and ours */
    cr_expect_not_null(
        strstr(r.body, "psop_api_requests_total{route=\"GET /readyz\",status=\"200\"} 2"), "%s",
        r.body);
    cr_expect_not_null(strstr(r.body, "psop_api_request_duration_seconds_bucket"));
    cr_expect_not_null(strstr(r.body, "psop_api_produce_errors_total"));
    cr_expect_not_null(strstr(r.body, "psop_api_kafka_producer_renewals_total 0\n"), "%s", r.body);
    cr_expect_not_null(strstr(r.body, "psop_api_requests_in_flight 1"));
    tl_resp_free(&r);
}

/* Envelope version 2: the caller's traceparent travels with the command and
 * comes back in the answer; without one the front makes one. */
Test(api_publish, traceparent_travels_with_the_command, .init = start, .fini = stop, .timeout = 60)
{
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    struct tl_marks m;
    cr_assert_eq(tl_mark(tl_brokers(), T_REF, &m), 0);
    char *tok = token_for("admin");
    struct tl_resp a, b;
    cr_assert_eq(
        tl_request(port, "PUT", "/v1/holidays/2026-12-06", tok, "application/json",
                   "{\"name\":\"Itsenaisyyspaiva\"}",
                   "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n", &a),
        0);
    cr_assert_eq(a.status, 202, "%s", a.body);
    cr_assert_eq(tl_request(port, "PUT", "/v1/holidays/2026-12-24", tok, "application/json",
                            "{\"name\":\"Jouluaatto\"}", "traceparent: garbage\r\n", &b),
                 0);
    cr_assert_eq(b.status, 202, "%s", b.body);
    char got_a[128] = "", got_b[128] = "";
    cr_expect(tl_header(&a, "traceparent", got_a, sizeof(got_a)));
    cr_expect_str_eq(got_a, tp);
    cr_expect(tl_header(&b, "traceparent", got_b, sizeof(got_b)));
    cr_expect(traceparent_valid(got_b) && strcmp(got_b, tp) != 0, "made: '%s'", got_b);

    const char *ids[2] = {json_string_value(json_object_get(a.json, "command_id")),
                          json_string_value(json_object_get(b.json, "command_id"))};
    struct tl_msg got[2];
    cr_assert_eq(tl_find(tl_brokers(), &m, ids, 2, got, 20000, NULL), 2);
    cr_expect_eq(json_integer_value(json_object_get(got[0].envelope, "schema_version")),
                 ENVELOPE_VERSION_CURRENT);
    cr_expect_str_eq(json_string_value(json_object_get(got[0].envelope, "traceparent")), tp);
    cr_expect_str_eq(json_string_value(json_object_get(got[1].envelope, "traceparent")), got_b);
    json_decref(got[0].envelope);
    json_decref(got[1].envelope);
    tl_resp_free(&a);
    tl_resp_free(&b);
    free(tok);
}
