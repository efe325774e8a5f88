/*
 * h_order.c - purchased services (ostopalvelu): procurement contracts and
 * orders (maksusitoumus).
 *
 *   contract.upsert  psop.commands.provider, keyed by provider_id
 *                    (handlers_contract[] below): the contract and its price row
 *                    for valid_from (history kept like price lists).
 *   order.create, order.end, service_event.*  psop.commands.order, keyed by
 *                    order_id (handlers_order[] below). Service events of
 *                    orders are the voucher events' handlers
 *                    (h_service_event.c), which branch on the parent kind.
 *
 * contract.upserted, order.created and order.ended go to psop.events.order,
 * keyed by the contract / order id (docs/orders.md). Rejection codes:
 * already_exists, contract_immutable, invalid_valid_to, events_after_date,
 * contract_not_in_force, order_not_active, invalid_effective_date.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/decimal.h"
#include "h_service_event.h"
#include "handlers.h"
#include "outbox.h"
#include "store/topics.h"
#include "views/view_order.h"

/* A band price of the command as text, or NULL. */
static const char *band_cents(json_t *bands, const char *name, char *buf, size_t n)
{
    json_t *v = json_object_get(bands, name);
    return json_is_integer(v) ? apply_num(buf, n, (long long)json_integer_value(v)) : NULL;
}

static enum apply_result contract_upsert(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *id = envelope_str(c, "id"), *org = envelope_str(c, "organiser_id"),
               *pid = envelope_str(c, "provider_id"), *st = envelope_str(c, "service_type"),
               *vf = envelope_str(c, "valid_from"), *vt = envelope_str(c, "valid_to");
    json_t *bands = json_object_get(c->data, "band_prices_cents");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    enum apply_result ar = se_require_organiser(ctx, org, "make its contracts");
    if (ar != APPLY_OK)
        return ar;
    day_t dfrom, dto;
    if (date_parse(vf, &dfrom) < 0 || (vt && date_parse(vt, &dto) < 0))
        return apply_reject(ctx, "invalid_date: valid_from %s, valid_to %s", vf, vt ? vt : "-");
    if (vt && dto < dfrom)
        return apply_reject(ctx, "invalid_valid_to: valid_to %s is before valid_from %s", vt, vf);
    int64_t cap_h = 0;
    json_t *capj = json_object_get(c->data, "monthly_volume_cap");
    if (capj && decimal_from_json(capj, &cap_h) < 0)
        return apply_reject(ctx, "invalid_quantity: monthly_volume_cap");

    const char *q[] = {id, org, pid, st};
    PGresult *r =
        apply_query(ctx,
                    "SELECT EXISTS (SELECT 1 FROM psop.organisers WHERE id = $2::uuid), "
                    " EXISTS (SELECT 1 FROM psop.providers WHERE id = $3::uuid), "
                    " (SELECT coef_evening IS NOT NULL FROM psop.service_types WHERE code = $4), "
                    " x.organiser_id, x.provider_id, x.service_type, x.valid_from, "
                    " (SELECT max(e.date) FROM psop.service_events e WHERE e.contract_id = x.id "
                    "   AND e.state <> 'deleted') "
                    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM psop.contracts "
                    "  WHERE id = $1::uuid FOR UPDATE) x ON true",
                    4, q);
    if (!r)
        return APPLY_FAILED;
    bool has_org = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    bool has_prov = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    bool has_st = !PQgetisnull(r, 0, 2);
    bool banded = has_st && strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    bool exists = !PQgetisnull(r, 0, 3);
    char oorg[40] = "", oprov[40] = "", ost[72] = "", ofrom[11] = "", last[11] = "";
    if (exists) {
        snprintf(oorg, sizeof(oorg), "%s", PQgetvalue(r, 0, 3));
        snprintf(oprov, sizeof(oprov), "%s", PQgetvalue(r, 0, 4));
        snprintf(ost, sizeof(ost), "%s", PQgetvalue(r, 0, 5));
        snprintf(ofrom, sizeof(ofrom), "%s", PQgetvalue(r, 0, 6));
        if (!PQgetisnull(r, 0, 7))
            snprintf(last, sizeof(last), "%s", PQgetvalue(r, 0, 7));
    }
    PQclear(r);
    if (!has_org)
        return apply_reject(ctx, "not_found: organiser %s does not exist", org);
    if (!has_prov)
        return apply_reject(ctx, "not_found: provider %s is not registered", pid);
    if (!has_st)
        return apply_reject(ctx, "not_found: service type %s does not exist", st);
    if (bands && json_object_size(bands) > 0 && !banded)
        return apply_reject(ctx,
                            "no_bands: service type %s has no band coefficients, so it takes no "
                            "band_prices_cents",
                            st);
    if (exists && !apply_same_id(oorg, org))
        return apply_reject(ctx, "already_exists: contract %s belongs to another organiser", id);
    if (exists && (!apply_same_id(oprov, pid) || strcmp(ost, st) != 0))
        return apply_reject(ctx,
                            "contract_immutable: contract %s is with provider %s for %s; a "
                            "contract's provider and service type never change",
                            id, oprov, ost);
    /* The contract runs from its earliest valid_from; valid_to is the one
     * given now (absent = open-ended), and may not cut off recorded events. */
    if (vt && last[0] && strcmp(last, vt) > 0)
        return apply_reject(ctx,
                            "events_after_date: contract %s has service events up to %s, after "
                            "valid_to %s",
                            id, last, vt);
    const char *start = exists && strcmp(ofrom, vf) < 0 ? ofrom : vf;

    char b[5][24];
    long long price = 0;
    envelope_int(c, "price_cents", &price);
    const char *up[] = {
        id,          org, pid, st, start, vt, capj ? apply_num(b[0], sizeof(b[0]), cap_h) : NULL,
        c->actor.sub};
    r = apply_query(ctx,
                    "INSERT INTO psop.contracts (id, organiser_id, provider_id, service_type, "
                    " valid_from, valid_to, monthly_volume_cap, created_by) VALUES ($1, $2, $3, "
                    " $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
                    " valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to, "
                    " monthly_volume_cap = EXCLUDED.monthly_volume_cap, "
                    " version = psop.contracts.version + 1, updated_at = now() "
                    "RETURNING version",
                    8, up);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_contract");
    long long version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    const char *pr[] = {id,
                        vf,
                        apply_num(b[1], sizeof(b[1]), price),
                        band_cents(bands, "evening", b[2], sizeof(b[2])),
                        band_cents(bands, "saturday", b[3], sizeof(b[3])),
                        band_cents(bands, "sunday", b[4], sizeof(b[4])),
                        c->actor.sub,
                        c->id};
    r = apply_query(ctx,
                    "INSERT INTO psop.contract_prices (contract_id, valid_from, price_cents, "
                    "price_evening_cents, price_saturday_cents, price_sunday_cents, set_by, "
                    "set_at, command_id) VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp(), "
                    "$8) ON CONFLICT (contract_id, valid_from) DO UPDATE SET "
                    "price_cents = EXCLUDED.price_cents, "
                    "price_evening_cents = EXCLUDED.price_evening_cents, "
                    "price_saturday_cents = EXCLUDED.price_saturday_cents, "
                    "price_sunday_cents = EXCLUDED.price_sunday_cents, set_by = EXCLUDED.set_by, "
                    "set_at = EXCLUDED.set_at, command_id = EXCLUDED.command_id",
                    8, pr);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_contract");
    PQclear(r);

    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:I, s:b, s:s, s:I}", "id", id,
                  "organiser_id", org, "provider_id", pid, "service_type", st, "valid_from", start,
                  "valid_to", vt, "price_valid_from", vf, "price_cents", (json_int_t)price,
                  "created", !exists, "upserted_by", c->actor.sub, "version", (json_int_t)version);
    if (bands && json_object_size(bands) > 0)
        json_object_set(ev, "band_prices_cents", bands);
    if (capj)
        json_object_set_new(ev, "monthly_volume_cap", se_qty_json(cap_h));
    outbox_add(ctx, TOPIC_EVT_ORDER, id, "contract.upserted", ev);
    apply_touch(ctx, VIEW_CONTRACT_KIND, id);
    return APPLY_OK;
}

static enum apply_result order_create(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *org = envelope_str(c, "organiser_id"), *cid = envelope_str(c, "contract_id");
    const char *id = envelope_str(c, "id");
    if (!id)
        id = c->id;
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    enum apply_result ar = se_require_organiser(ctx, org, "make its orders");
    if (ar != APPLY_OK)
        return ar;
    const char *vf = envelope_str(c, "valid_from"), *vt = envelope_str(c, "valid_to");
    day_t dfrom, dto;
    if (date_parse(vf, &dfrom) < 0 || (vt && date_parse(vt, &dto) < 0))
        return apply_reject(ctx, "invalid_date: valid_from %s, valid_to %s", vf, vt ? vt : "-");
    if (vt && dto < dfrom)
        return apply_reject(ctx, "invalid_valid_to: valid_to %s is before valid_from %s", vt, vf);
    int64_t quota_h = 0;
    json_t *qj = json_object_get(c->data, "monthly_quota");
    if (qj && decimal_from_json(qj, &quota_h) < 0)
        return apply_reject(ctx, "invalid_quantity: monthly_quota");
    long long fee = 0;
    envelope_int(c, "client_fee_cents", &fee);

    const char *q[] = {id, cid};
    PGresult *r = apply_query(
        ctx,
        "SELECT EXISTS (SELECT 1 FROM psop.orders WHERE id = $1::uuid), x.organiser_id, "
        " x.valid_to, x.provider_id, x.service_type "
        "FROM (SELECT 1) one LEFT JOIN psop.contracts x ON x.id = $2::uuid",
        2, q);
    if (!r)
        return APPLY_FAILED;
    bool dup = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    bool has_contract = !PQgetisnull(r, 0, 1) && apply_same_id(PQgetvalue(r, 0, 1), org);
    char cto[11] = "", pid[40] = "", st[72] = "";
    if (!PQgetisnull(r, 0, 2))
        snprintf(cto, sizeof(cto), "%s", PQgetvalue(r, 0, 2));
    snprintf(pid, sizeof(pid), "%s", PQgetvalue(r, 0, 3));
    snprintf(st, sizeof(st), "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    if (dup)
        return apply_reject(ctx, "already_exists: order %s exists", id);
    /* Another organiser's contract is not told apart from a missing one. */
    if (!has_contract)
        return apply_reject(ctx, "not_found: contract %s does not exist at organiser %s", cid, org);
    if (cto[0] && strcmp(vf, cto) > 0)
        return apply_reject(ctx,
                            "contract_not_in_force: contract %s ended on %s, the order starts "
                            "on %s",
                            cid, cto, vf);

    char b[2][24];
    const char *ins[] = {id,
                         org,
                         envelope_str(c, "client_id"),
                         cid,
                         envelope_str(c, "decision_number"),
                         vf,
                         vt,
                         qj ? apply_num(b[0], sizeof(b[0]), quota_h) : NULL,
                         apply_num(b[1], sizeof(b[1]), fee),
                         c->actor.sub};
    r = apply_query(ctx,
                    "INSERT INTO psop.orders (id, organiser_id, client_id, contract_id, "
                    "decision_number, valid_from, valid_to, monthly_quota, client_fee_cents, "
                    "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                    "RETURNING version",
                    10, ins);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_order");
    long long version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:s, s:I}", "id",
                           id, "organiser_id", org, "client_id", envelope_str(c, "client_id"),
                           "contract_id", cid, "provider_id", pid, "service_type", st,
                           "decision_number", envelope_str(c, "decision_number"), "valid_from", vf,
                           "valid_to", vt, "client_fee_cents", (json_int_t)fee, "created_by",
                           c->actor.sub, "version", (json_int_t)version);
    if (qj)
        json_object_set_new(ev, "monthly_quota", se_qty_json(quota_h));
    outbox_add(ctx, TOPIC_EVT_ORDER, id, "order.created", ev);
    apply_touch(ctx, VIEW_ORDER_KIND, id);
    return APPLY_OK;
}

static enum apply_result order_end(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *oid = envelope_str(c, "order_id"), *d = envelope_str(c, "effective_date");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", oid);
    struct se_parent o;
    enum apply_result ar = se_order_lock(ctx, oid, &o);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = se_require_organiser(ctx, o.organiser_id, "end its orders")) != APPLY_OK)
        return ar;
    if (strcmp(o.status, "active") != 0)
        return apply_reject(ctx, "order_not_active: order %s is %s", o.id, o.status);
    day_t de;
    char vfs[11];
    date_format(o.valid_from, vfs);
    if (date_parse(d, &de) < 0)
        return apply_reject(ctx, "invalid_date: effective_date %s", d);
    /* Ending on the day before it starts cancels it before any service. */
    if (de + 1 < o.valid_from)
        return apply_reject(ctx,
                            "invalid_effective_date: %s is before the day before the order's "
                            "valid_from %s",
                            d, vfs);
    if ((ar = se_require_no_events_after(ctx, &o, d, "events_after_date")) != APPLY_OK)
        return ar;
    const char *u[] = {o.id, d, envelope_str(c, "reason"), c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                    "UPDATE psop.orders SET status = 'ended', end_date = $2, end_reason = $3, "
                    "ended_by = $4, ended_at = now(), version = version + 1, updated_at = now() "
                    "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("ended_at"),
                    4, u);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_end");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "order_id", o.id, "contract_id",
                           o.contract_id, "effective_date", d, "reason", u[2], "ended_by",
                           c->actor.sub, "ended_at", PQgetvalue(r, 0, 1), "version",
                           (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_ORDER, o.id, "order.ended", ev);
    apply_touch(ctx, VIEW_ORDER_KIND, o.id);
    return APPLY_OK;
}

const struct handler handlers_contract[] = {
    {"contract.upsert", contract_upsert},
    {NULL, NULL},
};

const struct handler handlers_order[] = {
    {"order.create", order_create},      {"order.end", order_end},
    {"service_event.record", se_record}, {"service_event.update", se_update},
    {"service_event.delete", se_delete}, {"service_event.approve", se_approve},
    {"service_event.credit", se_credit}, {NULL, NULL},
};
