/*
 * h_mandate.c - representation (docs/domain.md, "Access log and
 * representation"): mandate.grant and mandate.revoke on psop.commands.voucher,
 * keyed by the mandate id (rows of handlers_mandate[], run by the voucher
 * role), and mandate_require(), the check that a client token acting for
 * another client (envelope on_behalf_of) holds a mandate in force.
 *
 * Only the organiser registers and revokes its mandates. A revocation sets
 * the first day the mandate is no longer in force; revoking again from a
 * later day changes nothing (already_revoked), from an earlier day moves
 * the day back. Events: mandate.granted, mandate.revoked on
 * psop.events.voucher keyed by the mandate id.
 *
 * Rejection reasons: forbidden, not_found, already_exists, invalid_mandate
 * (a client as its own proxy, valid_to before valid_from: the table's
 * constraints), invalid_effective_date (before valid_from), already_revoked.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/date.h"
#include "handlers.h"
#include "h_service_event.h"
#include "outbox.h"
#include "store/topics.h"

#define MANDATE_COLS                                                                               \
    "id::text, organiser_id::text, client_id, proxy_client_id, kind, valid_from::text, "           \
    "valid_to::text"

/* Publishes type with the mandate of row 0 of r (MANDATE_COLS) and the
 * members of extra (taken), keyed by the mandate id; frees r. */
static enum apply_result publish(struct apply_ctx *ctx, PGresult *r, const char *type,
                                 json_t *extra)
{
    json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "mandate_id", PQgetvalue(r, 0, 0),
                          "organiser_id", PQgetvalue(r, 0, 1), "client_id", PQgetvalue(r, 0, 2),
                          "proxy_client_id", PQgetvalue(r, 0, 3), "kind", PQgetvalue(r, 0, 4),
                          "valid_from", PQgetvalue(r, 0, 5));
    if (!PQgetisnull(r, 0, 6))
        json_object_set_new(m, "valid_to", json_string(PQgetvalue(r, 0, 6)));
    json_object_update(m, extra);
    json_decref(extra);
    outbox_add(ctx, TOPIC_EVT_VOUCHER, PQgetvalue(r, 0, 0), type, m);
    PQclear(r);
    return APPLY_OK;
}

/* The organiser's own mandate, registered with the schema's rules: a
 * client as its own proxy, valid_to before valid_from, an id taken or an
 * unknown organiser break a constraint of psop.mandates (workers/reasons.c
 * words them). */
static enum apply_result mandate_grant(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *org = envelope_str(c, "organiser_id"), *id = envelope_str(c, "id");
    if (!id)
        id = c->id; /* no id from the front: the command's, so a replay finds the same one */
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    enum apply_result ar = se_require_organiser(ctx, org, "register its mandates");
    if (ar != APPLY_OK)
        return ar;
    const char *p[] = {id,
                       org,
                       envelope_str(c, "client_id"),
                       envelope_str(c, "proxy_client_id"),
                       envelope_str(c, "kind"),
                       envelope_str(c, "valid_from"),
                       envelope_str(c, "valid_to"),
                       c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "INSERT INTO psop.mandates (id, organiser_id, client_id, "
                              "proxy_client_id, kind, valid_from, valid_to, granted_by) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                              "RETURNING " MANDATE_COLS ", " PG_TS_SQL("granted_at"),
                              8, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_mandate");
    return publish(
        ctx, r, "mandate.granted",
        json_pack("{s:s, s:s}", "granted_by", c->actor.sub, "granted_at", PQgetvalue(r, 0, 7)));
}

/* Whether the mandate of m (a locked row of MANDATE_COLS and revoked_from,
 * or none) may be revoked from d: APPLY_OK, or the rejection. */
static enum apply_result may_revoke(struct apply_ctx *ctx, const PGresult *m, const char *id,
                                    const char *d)
{
    if (PQntuples(m) != 1)
        return apply_reject(ctx, "not_found: mandate %s does not exist", id);
    enum apply_result ar = se_require_organiser(ctx, PQgetvalue(m, 0, 1), "revoke its mandates");
    if (ar != APPLY_OK)
        return ar;
    const char *from = PQgetvalue(m, 0, 5), *revoked = PQgetvalue(m, 0, 7);
    if (strcmp(d, from) < 0)
        return apply_reject(ctx,
                            "invalid_effective_date: mandate %s starts on %s; revoke it from that "
                            "day or later",
                            id, from);
    if (revoked[0] && strcmp(revoked, d) <= 0)
        return apply_reject(ctx, "already_revoked: mandate %s is revoked from %s", id, revoked);
    return APPLY_OK;
}

/* Revoked from effective_date: the mandate's row locked, the rules checked
 * here, then one UPDATE. */
static enum apply_result mandate_revoke(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *id = envelope_str(c, "mandate_id"), *d = envelope_str(c, "effective_date");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    const char *q[] = {id};
    PGresult *m =
        apply_query(ctx,
                    "SELECT " MANDATE_COLS
                    ", revoked_from::text FROM psop.mandates WHERE id = $1::uuid FOR UPDATE",
                    1, q);
    if (!m)
        return APPLY_FAILED;
    enum apply_result ar = may_revoke(ctx, m, id, d);
    if (ar != APPLY_OK) {
        PQclear(m);
        return ar;
    }
    const char *p[] = {id, d, c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.mandates SET revoked_from = $2, revoked_by = $3, "
                              "revoked_at = now() WHERE id = $1::uuid "
                              "RETURNING " PG_TS_SQL("revoked_at"),
                              3, p);
    /* clang-format on */
    if (!r) {
        PQclear(m);
        return apply_sql_outcome(ctx, "invalid_revocation");
    }
    json_t *extra = json_pack("{s:s, s:s, s:s}", "effective_date", d, "revoked_by", c->actor.sub,
                              "revoked_at", PQgetvalue(r, 0, 0));
    PQclear(r);
    return publish(ctx, m, "mandate.revoked", extra);
}

enum apply_result mandate_require(struct apply_ctx *ctx, const char *organiser_id,
                                  const char *client_id, const char *what)
{
    const struct envelope *c = ctx->cmd;
    const char *proxy = c->actor.client;
    if (!c->on_behalf_of || !apply_role_in(ctx, ROLE_CLIENT) || !proxy[0] ||
        strcmp(c->on_behalf_of, client_id) != 0 || !apply_same_id(c->actor.org, organiser_id))
        return apply_reject(ctx, "forbidden: %s belongs to another client than the one acted for",
                            what);
    char today[11];
    date_format(date_today_helsinki(), today);
    const char *q[] = {organiser_id, proxy, client_id, today};
    PGresult *r =
        apply_query(ctx, "SELECT psop.mandate_in_force($1::uuid, $2, $3, $4::date)", 4, q);
    if (!r)
        return APPLY_FAILED;
    bool in_force = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!in_force)
        return apply_reject(ctx,
                            "forbidden: client %s has no mandate in force on %s to act for the "
                            "client of %s",
                            proxy, today, what);
    return APPLY_OK;
}

const struct handler handlers_mandate[] = {
    {"mandate.grant", mandate_grant},
    {"mandate.revoke", mandate_revoke},
    {NULL, NULL},
};
