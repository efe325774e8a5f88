/*
 * Integration test of the domain events (docs/events.md) on the real stack:
 * every applied change publishes exactly one event (after de-duplication by
 * event id), valid against schemas/events/<type>.json, keyed by its
 * aggregate (message key == subject); a rejected command publishes
 * command.rejected with its reason. The worker itself marks each event
 * published once the broker has it, before the relay would take it.
 *
 * Commands go onto psop.commands.* as envelopes and the running workers
 * (scripts/dev up) apply them: reference and provider always; the voucher
 * and settlement parts run only when a voucher / settlement worker applies
 * commands, else they are skipped with a message. The events are then read back from the beginning
 * of psop.events.* with a consumer of a fresh group, keeping those whose psopcommandid is one of
 * this test's commands. Every id and code is new, so the test runs again and again on the same
 * database.
 */
#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "wire/jschema.h"
#include "store/kafka_conf.h"
#include "store/topics.h"
#include "schemas.h"
#include "voucher_world.h"

/* Bounds of the waits (no Criterion .timeout: it leaks under ASan). */
#define VOUCHER_PROBE_S 20
#define PUBLISH_WAIT_S 60
#define CONSUME_WAIT_S 120
/* workers/outbox.c's RELAY_GRACE. */
#define RELAY_GRACE_S 10

static const char *const event_topics[] = {TOPIC_EVT_REFERENCE, TOPIC_EVT_PROVIDER,
                                           TOPIC_EVT_VOUCHER, TOPIC_EVT_ORDER,
                                           TOPIC_EVT_SETTLEMENT};
#define N_EVENT_TOPICS (sizeof(event_topics) / sizeof(event_topics[0]))

struct run {
    struct tc *t;
    PGconn *pg;
    /* [{command, command_type, type, topic, key, want}]: one expected event
     * per command; want is a subset of the event's data. */
    json_t *expect;
};

/* Records that command id must have published one event of type on topic
 * keyed by key, whose data contains want (taken, may be NULL). */
static void expect_event(struct run *r, const char *id, const char *command_type, const char *type,
                         const char *topic, const char *key, json_t *want)
{
    json_array_append_new(r->expect,
                          json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "command", id, "command_type",
                                    command_type, "type", type, "topic", topic, "key", key, "want",
                                    want ? want : json_object()));
}

/* Sends a command, expects it applied, and expects its event. data taken. */
static void applied(struct run *r, const char *cmd_topic, const char *cmd_key,
                    const char *command_type, const struct tc_actor *a, json_t *data,
                    const char *type, const char *evt_topic, const char *evt_key, json_t *want)
{
    char id[UUID_STR_LEN];
    tc_send(r->t, cmd_topic, cmd_key, command_type, a, data, id);
    tc_expect_applied(r->pg, id);
    expect_event(r, id, command_type, type, evt_topic, evt_key, want);
}

/* Sends a command, expects it rejected with a reason starting with prefix,
 * and expects command.rejected carrying that reason, keyed like the command. */
static void rejected(struct run *r, const char *cmd_topic, const char *cmd_key,
                     const char *command_type, const struct tc_actor *a, json_t *data,
                     const char *prefix, const char *evt_topic)
{
    char id[UUID_STR_LEN];
    tc_send(r->t, cmd_topic, cmd_key, command_type, a, data, id);
    char *reason = tc_expect_rejected(r->pg, id, prefix);
    expect_event(
        r, id, command_type, "command.rejected", evt_topic, cmd_key,
        json_pack("{s:s, s:s, s:s}", "command_id", id, "type", command_type, "reason", reason));
    free(reason);
}

/* ---- producing the changes ---- */

/* Marks an event settled by settlement (settlement runs are another
 * worker's business). */
static void settle_by_hand(struct run *r, const char *settlement, const char *event)
{
    free(h_pg_value(r->pg,
                    "UPDATE psop.service_events SET state = 'settled', settlement_id = '%s', "
                    "settled_at = now() WHERE id = '%s'",
                    settlement, event));
}

struct ids {
    char org[UUID_STR_LEN], banded[32], plain[32];
    char p[UUID_STR_LEN], q[UUID_STR_LEN];
    struct tc_actor admin, orgs, prov_p, prov_q;
};

/* The organiser credits 0.5 h (wrong_quantity) of event of the voucher or
 * order parent (its id under parent_field) as credit id cr; want (taken) is
 * what service_event.credited must carry. */
static void credited_half_hour(struct run *r, const struct ids *x, const char *cmd_topic,
                               const char *evt_topic, const char *parent_field, const char *parent,
                               const char *event, const char *cr, const char *explanation,
                               json_t *want)
{
    applied(r, cmd_topic, parent, "service_event.credit", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}", parent_field, parent, "event_id", event,
                      "id", cr, "quantity", 0.5, "reason_code", "wrong_quantity", "explanation",
                      explanation),
            "service_event.credited", evt_topic, parent, want);
}

static void reference_part(struct run *r, struct ids *x)
{
    char yt[10], iban[19], prefix[11];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = 'E';
    tc_alnum(prefix + 1, 9);
    applied(r, TOPIC_CMD_REFERENCE, x->org, "organiser.upsert", &x->admin,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", x->org, "name", "Tapahtumakunta",
                      "business_id", yt, "iban", iban, "invoice_prefix", prefix, "settlement_day",
                      5, "auto_approve_days", 14),
            "organiser.upserted", TOPIC_EVT_REFERENCE, x->org,
            json_pack("{s:s, s:s, s:i}", "id", x->org, "business_id", yt, "settlement_day", 5));
    applied(r, TOPIC_CMD_REFERENCE, x->banded, "service_type.upsert", &x->admin,
            vw_banded_type(x->banded, "Kotihoito (tapahtumatesti)"), "service_type.upserted",
            TOPIC_EVT_REFERENCE, x->banded,
            json_pack("{s:s, s:s}", "code", x->banded, "unit", "hour"));
    applied(r, TOPIC_CMD_REFERENCE, x->plain, "service_type.upsert", &x->admin,
            json_pack("{s:s, s:s, s:s, s:i, s:b}", "code", x->plain, "name",
                      "Fysioterapia (tapahtumatesti)", "unit", "visit", "vat_rate_bp", 0,
                      "client_share_allowed", 0),
            "service_type.upserted", TOPIC_EVT_REFERENCE, x->plain,
            json_pack("{s:s, s:b}", "code", x->plain, "client_share_allowed", 0));
    /* A real holiday with its real name, as the other tests declare it. */
    applied(r, TOPIC_CMD_REFERENCE, "2026-01-06", "holiday.upsert", &x->admin,
            json_pack("{s:s, s:s}", "date", "2026-01-06", "name", "Loppiainen"), "holiday.upserted",
            TOPIC_EVT_REFERENCE, "2026-01-06", json_pack("{s:s}", "date", "2026-01-06"));
}

/* The organiser approves provider p for service type st from the day text,
 * or rejects it for the reason text; the event carries the one and no other. */
static void decided(struct run *r, struct ids *x, const char *p, const char *st, bool approve,
                    const char *text)
{
    const char *decision = approve ? "approved" : "rejected";
    const char *field = approve ? "valid_from" : "reason",
               *none = approve ? "reason" : "valid_from";
    applied(r, TOPIC_CMD_PROVIDER, p, "provider.decide", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider_id", p, "organiser_id", x->org,
                      "service_type", st, "decision", decision, field, text),
            approve ? "provider.approved" : "provider.rejected", TOPIC_EVT_PROVIDER, p,
            json_pack("{s:s, s:s, s:n}", "decision", decision, field, text, none));
}

static void provider_part(struct run *r, struct ids *x)
{
    char yt[10], iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    /* P registers itself with email; Q is registered by an admin without
     * email or supplier number (written as null). */
    applied(r, TOPIC_CMD_PROVIDER, x->p, "provider.register", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", x->p, "business_id", yt, "name",
                      "Tapahtumahoiva Oy", "iban", iban, "email", "laskutus@hoiva.example.fi",
                      "supplier_number", "EV-1"),
            "provider.registered", TOPIC_EVT_PROVIDER, x->p,
            json_pack("{s:s, s:s, s:s, s:s}", "id", x->p, "business_id", yt, "email",
                      "laskutus@hoiva.example.fi", "registered_by", x->prov_p.sub));
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    applied(r, TOPIC_CMD_PROVIDER, x->q, "provider.register", &x->admin,
            json_pack("{s:s, s:s, s:s, s:s}", "id", x->q, "business_id", yt, "name",
                      "Hylätty Hoiva Oy", "iban", iban),
            "provider.registered", TOPIC_EVT_PROVIDER, x->q,
            json_pack("{s:s, s:n, s:n}", "id", x->q, "email", "supplier_number"));

    const char *sts[] = {x->banded, x->plain};
    for (int i = 0; i < 2; i++)
        applied(r, TOPIC_CMD_PROVIDER, x->p, "provider.apply", &x->prov_p,
                json_pack("{s:s, s:s, s:s, s:s}", "provider_id", x->p, "organiser_id", x->org,
                          "service_type", sts[i], "rulebook_version", "2026-1"),
                "provider.applied", TOPIC_EVT_PROVIDER, x->p,
                json_pack("{s:s, s:s}", "service_type", sts[i], "rulebook_version", "2026-1"));
    applied(r, TOPIC_CMD_PROVIDER, x->q, "provider.apply", &x->prov_q,
            json_pack("{s:s, s:s, s:s, s:s}", "provider_id", x->q, "organiser_id", x->org,
                      "service_type", x->banded, "rulebook_version", "2026-1"),
            "provider.applied", TOPIC_EVT_PROVIDER, x->q, NULL);
    applied(r, TOPIC_CMD_PROVIDER, x->p, "provider.set_price", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:i, s:i}}", "provider_id", x->p,
                      "organiser_id", x->org, "service_type", x->banded, "valid_from", "2026-01-01",
                      "price_cents", 3490, "band_prices_cents", "saturday", 3990, "sunday", 4490),
            "provider.price_set", TOPIC_EVT_PROVIDER, x->p,
            json_pack("{s:i, s:{s:i, s:i}}", "price_cents", 3490, "band_prices_cents", "saturday",
                      3990, "sunday", 4490));
    for (int i = 0; i < 2; i++)
        decided(r, x, x->p, sts[i], true, "2026-01-01");
    applied(r, TOPIC_CMD_PROVIDER, x->p, "provider.suspend", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s}", "provider_id", x->p, "organiser_id", x->org,
                      "service_type", x->plain, "from", "2026-12-01", "reason",
                      "Valvontakäynnin havainnot"),
            "provider.suspended", TOPIC_EVT_PROVIDER, x->p,
            json_pack("{s:s, s:s}", "from", "2026-12-01", "service_type", x->plain));
    decided(r, x, x->q, x->banded, false, "Puutteellinen hakemus");
    /* The rejected command: Q never applied for the per-visit service. */
    rejected(r, TOPIC_CMD_PROVIDER, x->q, "provider.set_price", &x->prov_q,
             json_pack("{s:s, s:s, s:s, s:s, s:i}", "provider_id", x->q, "organiser_id", x->org,
                       "service_type", x->plain, "valid_from", "2026-01-01", "price_cents", 2500),
             "not_applied:", TOPIC_EVT_PROVIDER);
}

/* The first voucher command, sent before we know a voucher worker runs:
 * true when it was applied, false when it stayed unprocessed. */
static bool voucher_probe(struct run *r, struct ids *x, const char *v)
{
    char id[UUID_STR_LEN];
    tc_send(r->t, TOPIC_CMD_VOUCHER, v, "voucher.grant", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:s}", "id", v, "organiser_id",
                      x->org, "client_id", "EVT-ASIAKAS-1", "service_type", x->banded,
                      "decision_number", "PS-2026-101", "valid_from", "2026-01-01",
                      "unit_value_cents", 3000, "monthly_quota", 40.5, "provider_id", x->p),
            id);
    if (!h_wait_pg(r->pg, VOUCHER_PROBE_S,
                   "SELECT EXISTS (SELECT 1 FROM psop.processed_commands WHERE command_id = '%s')",
                   id))
        return false;
    tc_expect_applied(r->pg, id);
    expect_event(r, id, "voucher.grant", "voucher.granted", TOPIC_EVT_VOUCHER, v,
                 json_pack("{s:s, s:s, s:s, s:i, s:f, s:n}", "id", v, "provider_id", x->p,
                           "value_basis", "flat", "unit_value_cents", 3000, "monthly_quota", 40.5,
                           "valid_to"));
    return true;
}

static bool voucher_part(struct run *r, struct ids *x)
{
    char v1[UUID_STR_LEN], v2[UUID_STR_LEN], e1[UUID_STR_LEN], e2[UUID_STR_LEN], e3[UUID_STR_LEN],
        cr[UUID_STR_LEN], client2[24] = "EVT-";
    tc_uuid(v1);
    tc_uuid(v2);
    tc_uuid(e1);
    tc_uuid(e2);
    tc_uuid(e3);
    tc_uuid(cr);
    tc_alnum(client2 + 4, 12);
    if (!voucher_probe(r, x, v1)) {
        cr_log_warn("voucher part skipped: voucher.grant stayed unprocessed for %d s (no voucher "
                    "worker applying psop.commands.voucher); only reference and provider events "
                    "are checked",
                    VOUCHER_PROBE_S);
        return false;
    }
    struct tc_actor client = {
        .sub = "asiakas-ev", .role = "client", .client = client2, .org = x->org};
    /* Income-related (household of 2, 2000 e/month), provider chosen later
     * by the client, then refused by the client. */
    applied(r, TOPIC_CMD_VOUCHER, v2, "voucher.grant", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i}}", "id", v2, "organiser_id",
                      x->org, "client_id", client2, "service_type", x->banded, "decision_number",
                      "PS-2026-102", "valid_from", "2026-01-01", "income", "household_size", 2,
                      "monthly_income_cents", 200000),
            "voucher.granted", TOPIC_EVT_VOUCHER, v2,
            json_pack("{s:s, s:s, s:n}", "id", v2, "value_basis", "income", "provider_id"));
    applied(r, TOPIC_CMD_VOUCHER, v2, "voucher.choose_provider", &client,
            json_pack("{s:s, s:s}", "voucher_id", v2, "provider_id", x->p),
            "voucher.provider_chosen", TOPIC_EVT_VOUCHER, v2,
            json_pack("{s:s, s:n, s:s}", "provider_id", x->p, "previous_provider_id",
                      "chosen_by_role", "client"));
    applied(r, TOPIC_CMD_VOUCHER, v2, "voucher.refuse", &client,
            json_pack("{s:s, s:s}", "voucher_id", v2, "reason", "Omainen hoitaa"),
            "voucher.refused", TOPIC_EVT_VOUCHER, v2,
            json_pack("{s:s}", "reason", "Omainen hoitaa"));
    /* Only V1's own client may refuse it: a rejection keyed by V1. */
    rejected(r, TOPIC_CMD_VOUCHER, v1, "voucher.refuse", &client,
             json_pack("{s:s}", "voucher_id", v1), "forbidden:", TOPIC_EVT_VOUCHER);
    applied(r, TOPIC_CMD_VOUCHER, v1, "voucher.amend", &x->orgs,
            json_pack("{s:s, s:s, s:i}", "voucher_id", v1, "effective_from", "2026-06-01",
                      "unit_value_cents", 3200),
            "voucher.amended", TOPIC_EVT_VOUCHER, v1,
            json_pack("{s:s, s:i, s:n}", "effective_from", "2026-06-01", "unit_value_cents", 3200,
                      "valid_to"));

    /* E1: Tuesday evening, 2.5 h at 34.90 with value 32.00 x 1.15 = 36.80. */
    applied(r, TOPIC_CMD_VOUCHER, v1, "service_event.record", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:f, s:s}", "voucher_id", v1, "id", e1, "date", "2026-10-06",
                      "quantity", 2.5, "band", "evening"),
            "service_event.recorded", TOPIC_EVT_VOUCHER, v1,
            json_pack("{s:s, s:s, s:f, s:i, s:i, s:i, s:i}", "id", e1, "band", "evening",
                      "quantity", 2.5, "value_unit_cents", 3680, "gross_cents", 8725,
                      "organiser_part_cents", 8725, "client_share_cents", 0));
    applied(r, TOPIC_CMD_VOUCHER, v1, "service_event.update", &x->prov_p,
            json_pack("{s:s, s:s, s:f, s:s}", "voucher_id", v1, "event_id", e1, "quantity", 2.0,
                      "note", "Lyhyempi käynti"),
            "service_event.updated", TOPIC_EVT_VOUCHER, v1,
            json_pack("{s:s, s:f, s:i, s:s}", "id", e1, "quantity", 2.0, "gross_cents", 6980,
                      "note", "Lyhyempi käynti"));
    applied(r, TOPIC_CMD_VOUCHER, v1, "service_event.record", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:f}", "voucher_id", v1, "id", e2, "date", "2026-10-07",
                      "quantity", 1.0),
            "service_event.recorded", TOPIC_EVT_VOUCHER, v1, json_pack("{s:s}", "id", e2));
    applied(
        r, TOPIC_CMD_VOUCHER, v1, "service_event.delete", &x->prov_p,
        json_pack("{s:s, s:s}", "voucher_id", v1, "event_id", e2), "service_event.deleted",
        TOPIC_EVT_VOUCHER, v1,
        json_pack("{s:s, s:s, s:s}", "id", e2, "previous_state", "recorded", "state", "deleted"));
    applied(r, TOPIC_CMD_VOUCHER, v1, "service_event.approve", &x->orgs,
            json_pack("{s:s, s:s}", "voucher_id", v1, "event_id", e1), "service_event.approved",
            TOPIC_EVT_VOUCHER, v1, json_pack("{s:s, s:s}", "id", e1, "approved_by", x->orgs.sub));
    /* Settled by hand (settlement runs are another worker's business). */
    char settlement[UUID_STR_LEN];
    tc_uuid(settlement);
    settle_by_hand(r, settlement, e1);
    /* 0.5 h of 34.90, value 36.80: -17.45 for the organiser. */
    credited_half_hour(r, x, TOPIC_CMD_VOUCHER, TOPIC_EVT_VOUCHER, "voucher_id", v1, e1, cr,
                       "Käynti oli puoli tuntia lyhyempi",
                       json_pack("{s:s, s:s, s:i, s:i, s:i}", "id", cr, "event_id", e1,
                                 "gross_cents", -1745, "organiser_part_cents", -1745,
                                 "client_share_cents", 0));
    /* E3, then the nightly auto-approval of everything recorded before now:
     * only E3 (E1 is settled, E2 deleted); its event is keyed by V1. */
    applied(r, TOPIC_CMD_VOUCHER, v1, "service_event.record", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:f}", "voucher_id", v1, "id", e3, "date", "2026-10-08",
                      "quantity", 1.0),
            "service_event.recorded", TOPIC_EVT_VOUCHER, v1, json_pack("{s:s}", "id", e3));
    char *now = h_pg_value(r->pg, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                  "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
    applied(
        r, TOPIC_CMD_VOUCHER, x->org, "service_event.auto_approve", &x->admin,
        json_pack("{s:s, s:s}", "organiser_id", x->org, "recorded_before", now),
        "service_event.approved", TOPIC_EVT_VOUCHER, v1,
        json_pack("{s:s, s:s, s:s}", "id", e3, "voucher_id", v1, "approved_by", "auto-approval"));
    free(now);
    applied(
        r, TOPIC_CMD_VOUCHER, v1, "voucher.revoke", &x->orgs,
        json_pack("{s:s, s:s, s:s}", "voucher_id", v1, "effective_date", "2026-11-01", "reason",
                  "Muutti pois kunnasta"),
        "voucher.revoked", TOPIC_EVT_VOUCHER, v1,
        json_pack("{s:s, s:s}", "effective_date", "2026-11-01", "reason", "Muutti pois kunnasta"));
    return true;
}

/* Purchased services: a contract (provider topic), an order and its
 * events on psop.commands.order; every event on psop.events.order keyed by
 * the contract or the order. Contract price 46.00 in the evening, client fee
 * 12.50 per hour. */
static void order_part(struct run *r, struct ids *x)
{
    char c[UUID_STR_LEN], o[UUID_STR_LEN], e1[UUID_STR_LEN], e2[UUID_STR_LEN], cr[UUID_STR_LEN],
        settlement[UUID_STR_LEN];
    tc_uuid(c);
    tc_uuid(o);
    tc_uuid(e1);
    tc_uuid(e2);
    tc_uuid(cr);
    tc_uuid(settlement);
    applied(r, TOPIC_CMD_PROVIDER, x->p, "contract.upsert", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:{s:i}, s:i}", "id", c, "organiser_id",
                      x->org, "provider_id", x->p, "service_type", x->banded, "valid_from",
                      "2026-01-01", "price_cents", 4000, "band_prices_cents", "evening", 4600,
                      "monthly_volume_cap", 100),
            "contract.upserted", TOPIC_EVT_ORDER, c,
            json_pack("{s:s, s:i, s:b, s:s}", "id", c, "price_cents", 4000, "created", 1,
                      "provider_id", x->p));
    applied(r, TOPIC_CMD_ORDER, o, "order.create", &x->orgs,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", o, "organiser_id", x->org,
                      "client_id", "EVT-ostopalvelu", "contract_id", c, "decision_number",
                      "MS-2026-9", "valid_from", "2026-01-01", "client_fee_cents", 1250),
            "order.created", TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:s, s:s, s:i}", "id", o, "contract_id", c, "provider_id", x->p,
                      "client_fee_cents", 1250));
    applied(r, TOPIC_CMD_ORDER, o, "service_event.record", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:f, s:s}", "order_id", o, "id", e1, "date", "2026-10-06",
                      "quantity", 2.5, "band", "evening"),
            "service_event.recorded", TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:n, s:s, s:s, s:i, s:i, s:i, s:i, s:i}", "id", e1, "voucher_id",
                      "order_id", o, "contract_id", c, "unit_price_cents", 4600, "client_fee_cents",
                      1250, "gross_cents", 11500, "organiser_part_cents", 8375,
                      "client_share_cents", 3125));
    /* Another provider: rejected, keyed by the order. */
    rejected(r, TOPIC_CMD_ORDER, o, "service_event.record", &x->prov_q,
             json_pack("{s:s, s:s, s:f}", "order_id", o, "date", "2026-10-06", "quantity", 1.0),
             "forbidden:", TOPIC_EVT_ORDER);
    applied(
        r, TOPIC_CMD_ORDER, o, "service_event.update", &x->prov_p,
        json_pack("{s:s, s:s, s:f}", "order_id", o, "event_id", e1, "quantity", 2.0),
        "service_event.updated", TOPIC_EVT_ORDER, o,
        json_pack("{s:s, s:i, s:i}", "id", e1, "gross_cents", 9200, "client_share_cents", 2500));
    applied(r, TOPIC_CMD_ORDER, o, "service_event.record", &x->prov_p,
            json_pack("{s:s, s:s, s:s, s:f}", "order_id", o, "id", e2, "date", "2026-10-07",
                      "quantity", 1.0),
            "service_event.recorded", TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:i}", "id", e2, "gross_cents", 4000));
    applied(r, TOPIC_CMD_ORDER, o, "service_event.delete", &x->prov_p,
            json_pack("{s:s, s:s}", "order_id", o, "event_id", e2), "service_event.deleted",
            TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:s, s:s}", "id", e2, "order_id", o, "state", "deleted"));
    applied(r, TOPIC_CMD_ORDER, o, "service_event.approve", &x->orgs,
            json_pack("{s:s, s:s}", "order_id", o, "event_id", e1), "service_event.approved",
            TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:n, s:s}", "id", e1, "voucher_id", "order_id", o));
    settle_by_hand(r, settlement, e1);
    /* 0.5 h of 46.00 with fee 12.50: -23.00, client -6.25, organiser -16.75. */
    credited_half_hour(
        r, x, TOPIC_CMD_ORDER, TOPIC_EVT_ORDER, "order_id", o, e1, cr, "Puoli tuntia vähemmän",
        json_pack("{s:s, s:s, s:i, s:i, s:i}", "id", cr, "order_id", o, "gross_cents", -2300,
                  "organiser_part_cents", -1675, "client_share_cents", -625));
    applied(r, TOPIC_CMD_ORDER, o, "order.end", &x->orgs,
            json_pack("{s:s, s:s, s:s}", "order_id", o, "effective_date", "2026-10-31", "reason",
                      "Palvelu päättyi"),
            "order.ended", TOPIC_EVT_ORDER, o,
            json_pack("{s:s, s:s}", "contract_id", c, "effective_date", "2026-10-31"));
}

/* Settlements: a run of October for the organiser settles what the voucher
 * and order parts left (the voucher's E3, approved, and both credits: all of
 * provider P), so it makes one settlement and publishes one
 * settlement.created keyed by the new settlement's id; then confirm and
 * mark_paid, each with its event, and two rejections on
 * psop.events.settlement (keyed like their commands). */
static void settlement_part(struct run *r, struct ids *x, bool vouchers)
{
    char id[UUID_STR_LEN];
    tc_send(r->t, TOPIC_CMD_SETTLEMENT, x->org, "settlement.run", &x->orgs,
            json_pack("{s:s, s:s}", "organiser_id", x->org, "period", "2026-10"), id);
    if (!h_wait_pg(r->pg, VOUCHER_PROBE_S,
                   "SELECT EXISTS (SELECT 1 FROM psop.processed_commands WHERE command_id = '%s')",
                   id)) {
        cr_log_warn("settlement part skipped: settlement.run stayed unprocessed for %d s (no "
                    "settlement worker applying psop.commands.settlement)",
                    VOUCHER_PROBE_S);
        return;
    }
    tc_expect_applied(r->pg, id);
    char *n = h_pg_value(r->pg, "SELECT count(*) FROM psop.settlements WHERE run_id = '%s'", id);
    cr_expect_str_eq(n, "1", "the run of %s made %s settlements, want one (provider P's)", x->org,
                     n);
    free(n);
    char *sid = h_pg_value(r->pg,
                           "SELECT coalesce((SELECT id::text FROM psop.settlements WHERE run_id "
                           "= '%s' AND provider_id = '%s'), '')",
                           id, x->p);
    if (!sid[0]) {
        cr_expect_fail("settlement.run %s made no settlement for provider %s", id, x->p);
        free(sid);
        return;
    }
    /* The event must say what the database holds, totals and VAT rows
     * included ({"gross_cents", ..., "vat": [{"rate_bp", ...}]}). */
    char *row = h_pg_value(
        r->pg,
        "SELECT json_build_object('number', s.number, 'reference', s.reference, 'due_date', "
        " s.due_date::text, 'line_count', s.line_count, 'totals', json_build_object("
        " 'gross_cents', s.gross_cents, 'organiser_cents', s.organiser_cents, "
        " 'client_share_cents', s.client_share_cents, 'credit_cents', s.credit_cents, "
        " 'payable_cents', s.payable_cents, 'vat', (SELECT json_agg(json_build_object("
        " 'rate_bp', v.rate_bp, 'amount_cents', v.amount_cents, 'vat_cents', v.vat_cents) "
        " ORDER BY v.rate_bp) FROM psop.settlement_vat v WHERE v.settlement_id = s.id)), "
        " 'event_lines', (SELECT count(*) FROM psop.settlement_lines l WHERE l.settlement_id "
        " = s.id AND l.kind = 'event'), 'credit_lines', (SELECT count(*) FROM "
        " psop.settlement_lines l WHERE l.settlement_id = s.id AND l.kind = 'credit')) "
        "FROM psop.settlements s WHERE s.id = '%s'",
        sid);
    json_t *db = json_loads(row, 0, NULL);
    cr_assert_not_null(db, "settlement row %s", row);
    free(row);
    json_t *want = json_deep_copy(db);
    json_t *more = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "id", sid, "run_id", id,
                             "organiser_id", x->org, "provider_id", x->p, "period", "2026-10",
                             "state", "draft", "created_by", x->orgs.sub, "version", 1);
    json_object_update(want, more);
    json_decref(more);
    if (vouchers) {
        /* E3 (1 h weekday at 34.90, value 32.00) and the credits of 17.45
         * and 16.75: 32.00 - 34.20 = -2.20 payable, all at VAT 0. */
        json_t *t = json_object_get(db, "totals");
        cr_expect_eq(json_integer_value(json_object_get(t, "payable_cents")), -220,
                     "payable of the October settlement: %lld",
                     (long long)json_integer_value(json_object_get(t, "payable_cents")));
        cr_expect_eq(json_integer_value(json_object_get(db, "event_lines")), 1);
        cr_expect_eq(json_integer_value(json_object_get(db, "credit_lines")), 2);
    }
    expect_event(r, id, "settlement.run", "settlement.created", TOPIC_EVT_SETTLEMENT, sid, want);
    const char *number = json_string_value(json_object_get(db, "number"));
    long long events = json_integer_value(json_object_get(db, "event_lines"));

    applied(r, TOPIC_CMD_SETTLEMENT, sid, "settlement.confirm", &x->orgs,
            json_pack("{s:s}", "settlement_id", sid), "settlement.confirmed", TOPIC_EVT_SETTLEMENT,
            sid,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "id", sid, "provider_id", x->p, "number",
                      number, "state", "confirmed", "confirmed_by", x->orgs.sub, "version", 2));
    rejected(r, TOPIC_CMD_SETTLEMENT, sid, "settlement.confirm", &x->orgs,
             json_pack("{s:s}", "settlement_id", sid), "invalid_transition:", TOPIC_EVT_SETTLEMENT);
    rejected(r, TOPIC_CMD_SETTLEMENT, x->org, "settlement.run", &x->prov_p,
             json_pack("{s:s, s:s}", "organiser_id", x->org, "period", "2026-10"),
             "forbidden:", TOPIC_EVT_SETTLEMENT);
    char paid[11];
    date_format(date_today_helsinki(), paid); /* not before the settlement was made */
    applied(r, TOPIC_CMD_SETTLEMENT, sid, "settlement.mark_paid", &x->orgs,
            json_pack("{s:s, s:s}", "settlement_id", sid, "paid_date", paid), "settlement.paid",
            TOPIC_EVT_SETTLEMENT, sid,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i}", "id", sid, "number", number, "state",
                      "paid", "paid_date", paid, "paid_by", x->orgs.sub, "events_paid",
                      (json_int_t)events, "version", 3));
    json_decref(db);
    free(sid);
}

/* ---- reading the events back ---- */

/* The command ids as a PostgreSQL array literal (caller frees). */
static char *command_array(const json_t *expect)
{
    size_t n = json_array_size(expect), i;
    char *out = xmalloc(n * (UUID_STR_LEN + 1) + 3), *p = out;
    json_t *e;
    *p++ = '{';
    json_array_foreach(expect, i, e)
    {
        p += sprintf(p, "%s%s", i ? "," : "", json_string_value(json_object_get(e, "command")));
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

/* Reads every partition of psop.events.* from the beginning to its end, with
 * a consumer of a fresh group (assigned, so it commits nothing), and keeps
 * the messages whose event names one of our commands (psopcommandid).
 * Returns {event id: {"topic", "key", "event", "copies"}}; *by_command gets
 * {command id: [event id, ...]}. */
static json_t *consume_events(const json_t *commands, json_t **by_command, int *messages)
{
    char err[512], group[64];
    char u[UUID_STR_LEN];
    tc_uuid(u);
    snprintf(group, sizeof(group), "psop-test-events-%s", u);
    rd_kafka_conf_t *conf = kafka_conf_new(h_config(), NULL, NULL, err, sizeof(err));
    cr_assert_not_null(conf, "kafka conf: %s", err);
    cr_assert_eq(kafka_conf_set(conf, "group.id", group, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof(err)), 0, "%s",
                 err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    cr_assert_not_null(rk, "consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    for (size_t t = 0; t < N_EVENT_TOPICS; t++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, event_topics[t], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t me = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        cr_assert_eq(me, RD_KAFKA_RESP_ERR_NO_ERROR, "metadata of %s: %s", event_topics[t],
                     rd_kafka_err2str(me));
        cr_assert(md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR,
                  "topic %s missing", event_topics[t]);
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, event_topics[t],
                                              md->topics[0].partitions[p].id)
                ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    int nparts = parts->cnt;
    rd_kafka_resp_err_t ae = rd_kafka_assign(rk, parts);
    cr_assert_eq(ae, RD_KAFKA_RESP_ERR_NO_ERROR, "assign: %s", rd_kafka_err2str(ae));
    rd_kafka_topic_partition_list_destroy(parts);

    json_t *got = json_object(), *eof = json_object();
    *by_command = json_object();
    *messages = 0;
    double until = h_now() + CONSUME_WAIT_S;
    while ((int)json_object_size(eof) < nparts && h_now() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        char tp[160];
        snprintf(tp, sizeof(tp), "%s/%d", topic, (int)m->partition);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            json_object_set_new(eof, tp, json_true());
        } else if (m->err) {
            cr_log_warn("consume %s: %s", tp, rd_kafka_message_errstr(m));
        } else {
            json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
            const char *cid = json_string_value(json_object_get(ev, "psopcommandid"));
            const char *eid = json_string_value(json_object_get(ev, "id"));
            if (cid && json_object_get(commands, cid)) {
                (*messages)++;
                cr_expect_not_null(eid, "%s: an event of command %s has no id", tp, cid);
                json_t *prev = eid ? json_object_get(got, eid) : NULL;
                char *key = xstrndup(m->key ? (const char *)m->key : "", m->key_len);
                if (prev) {
                    /* At least once: a copy must be the same event. */
                    json_object_set_new(
                        prev, "copies",
                        json_integer(json_integer_value(json_object_get(prev, "copies")) + 1));
                    cr_expect(json_equal(json_object_get(prev, "event"), ev),
                              "event %s arrived twice with different contents", eid);
                    cr_expect_str_eq(json_string_value(json_object_get(prev, "key")), key,
                                     "event %s arrived twice with different keys", eid);
                } else if (eid) {
                    json_object_set_new(got, eid,
                                        json_pack("{s:s, s:s, s:O, s:i}", "topic", topic, "key",
                                                  key, "event", ev, "copies", 1));
                    json_t *list = json_object_get(*by_command, cid);
                    if (!list)
                        json_object_set_new(*by_command, cid, list = json_array());
                    json_array_append_new(list, json_string(eid));
                }
                free(key);
            }
            json_decref(ev);
        }
        rd_kafka_message_destroy(m);
    }
    cr_expect_eq((int)json_object_size(eof), nparts,
                 "read %d of %d partitions of psop.events.* to their end within %d s",
                 (int)json_object_size(eof), nparts, CONSUME_WAIT_S);
    json_decref(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

/* True when every member of want equals the same member of data. */
static bool data_has(const json_t *data, const json_t *want, const char **which)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        json_t *have = json_object_get(data, k);
        /* 2.0 may come back as 2.0 or 2: compare numbers by value. */
        if (json_is_number(v) && json_is_number(have) &&
            json_number_value(v) == json_number_value(have))
            continue;
        if (!have || !json_equal(have, v)) {
            *which = k;
            return false;
        }
    }
    return true;
}

static void check_event(const struct jschema_registry *reg, const json_t *x, const json_t *got,
                        const char *eid)
{
    const char *cmd = json_string_value(json_object_get(x, "command"));
    const char *ctype = json_string_value(json_object_get(x, "command_type"));
    const char *type = json_string_value(json_object_get(x, "type"));
    const json_t *rec = json_object_get(got, eid);
    const json_t *ev = json_object_get(rec, "event");
    const char *etype = json_string_value(json_object_get(ev, "type"));
    const char *topic = json_string_value(json_object_get(rec, "topic"));
    const char *key = json_string_value(json_object_get(rec, "key"));
    const char *subject = json_string_value(json_object_get(ev, "subject"));

    cr_expect_str_eq(etype ? etype : "(none)", type, "%s %s published %s, want %s", ctype, cmd,
                     etype, type);
    cr_expect_str_eq(topic, json_string_value(json_object_get(x, "topic")), "%s on topic %s", type,
                     topic);
    cr_expect_str_eq(key, json_string_value(json_object_get(x, "key")),
                     "%s of %s: message key %s, want the aggregate %s", type, ctype, key,
                     json_string_value(json_object_get(x, "key")));
    cr_expect_str_eq(subject ? subject : "(none)", key, "%s: subject %s != message key %s", type,
                     subject, key);

    /* Valid against its own schema (unknown type: -1, a failure too). */
    char *name = xasprintf("events/%s", etype ? etype : "?");
    json_t *errs = NULL;
    int rc = jschema_validate(reg, name, ev, "", &errs);
    if (rc != 0) {
        char *e = errs ? json_dumps(errs, JSON_COMPACT) : xstrdup("no schema");
        char *d = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(15));
        cr_expect_fail("%s (of %s %s) is not valid against schemas/%s.json: %s\n  event: %s", etype,
                       ctype, cmd, name, e, d);
        free(e);
        free(d);
    }
    json_decref(errs);
    free(name);

    const char *which = NULL;
    const json_t *data = json_object_get(ev, "data");
    if (!data_has(data, json_object_get(x, "want"), &which)) {
        char *d = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15));
        cr_expect_fail("%s of %s: data.%s differs from what the command did: %s", type, ctype,
                       which, d);
        free(d);
    }
}

Test(events, every_change_publishes_one_valid_event)
{
    struct jschema_registry *reg = t_schemas();

    struct run r = {.t = tc_open(), .pg = h_pg(), .expect = json_array()};
    struct ids x;
    memset(&x, 0, sizeof(x));
    tc_uuid(x.org);
    tc_uuid(x.p);
    tc_uuid(x.q);
    vw_code(x.banded, sizeof(x.banded), "evh_");
    vw_code(x.plain, sizeof(x.plain), "evs_");
    x.admin = (struct tc_actor){.sub = "test-admin", .role = "admin"};
    x.orgs = (struct tc_actor){.sub = "kasittelija-ev", .role = "organiser", .org = x.org};
    x.prov_p = (struct tc_actor){.sub = "hoiva-p", .role = "provider", .provider = x.p};
    x.prov_q = (struct tc_actor){.sub = "hoiva-q", .role = "provider", .provider = x.q};

    reference_part(&r, &x);
    provider_part(&r, &x);
    bool vouchers = voucher_part(&r, &x);
    order_part(&r, &x);
    settlement_part(&r, &x, vouchers);

    /* Published means acknowledged by the broker: wait for the outbox. */
    char *arr = command_array(r.expect);
    cr_expect(h_wait_pg(r.pg, PUBLISH_WAIT_S,
                        "SELECT count(*) = 0 FROM psop.outbox WHERE published_at IS NULL "
                        "AND payload->>'psopcommandid' = ANY ('%s'::text[])",
                        arr),
              "events of the test still unpublished after %d s", PUBLISH_WAIT_S);
    /* Sent by the worker right after its COMMIT and marked published when the
     * broker acknowledged them: none was left to the relay, which takes an
     * event only once it has been unpublished for RELAY_GRACE_S. */
    char *late =
        h_pg_value(r.pg,
                   "SELECT count(*) || ' late, slowest ' || "
                   "coalesce(round(extract(epoch FROM max(published_at - created_at)), 1), 0)"
                   " || ' s' FROM psop.outbox WHERE payload->>'psopcommandid' = ANY "
                   "('%s'::text[]) AND published_at >= created_at + interval '%d seconds'",
                   arr, RELAY_GRACE_S);
    cr_expect(strncmp(late, "0 late", 6) == 0,
              "events marked published only after the relay's grace (%d s): %s", RELAY_GRACE_S,
              late);
    free(late);
    free(arr);

    json_t *commands = json_object();
    size_t i;
    json_t *x_i;
    json_array_foreach(r.expect, i, x_i)
    {
        json_object_set(commands, json_string_value(json_object_get(x_i, "command")), x_i);
    }
    json_t *by_command;
    int messages;
    json_t *got = consume_events(commands, &by_command, &messages);
    cr_log_info("events: %zu commands, %zu distinct events, %d messages (%d duplicates)",
                json_array_size(r.expect), json_object_size(got), messages,
                messages - (int)json_object_size(got));

    json_array_foreach(r.expect, i, x_i)
    {
        const char *cmd = json_string_value(json_object_get(x_i, "command"));
        const char *ctype = json_string_value(json_object_get(x_i, "command_type"));
        json_t *ids = json_object_get(by_command, cmd);
        size_t n = json_array_size(ids);
        if (n != 1) {
            char *types = xstrdup("");
            size_t k;
            json_t *id;
            json_array_foreach(ids, k, id)
            {
                const json_t *ev =
                    json_object_get(json_object_get(got, json_string_value(id)), "event");
                char *more =
                    xasprintf("%s %s", types, json_string_value(json_object_get(ev, "type")));
                free(types);
                types = more;
            }
            cr_expect_fail("%s %s: %zu distinct events (%s ), want exactly one %s", ctype, cmd, n,
                           types, json_string_value(json_object_get(x_i, "type")));
            free(types);
        }
        json_t *id;
        size_t k;
        json_array_foreach(ids, k, id)
        {
            check_event(reg, x_i, got, json_string_value(id));
        }
    }

    json_decref(got);
    json_decref(by_command);
    json_decref(commands);
    json_decref(r.expect);
    tc_close(r.t);
    PQfinish(r.pg);
    jschema_registry_free(reg);
}
