/*
 * h_provider.c - providers: registration, applications, decisions,
 * suspensions and price lists (psop.commands.provider, keyed by provider_id).
 *
 * Every applied command bumps psop.providers.version (the read model's CAS
 * version) and publishes provider.<what> on psop.events.provider keyed by the
 * provider id. Decisions and suspensions are appealable: rows are appended,
 * never changed, with who (actor sub) and when. Their instants are
 * clock_timestamp(), not now(): one batch is one transaction, and "which came
 * later" (a suspension after an approval, a decision after an application)
 * must hold between commands of the same batch too.
 *
 * Rejection reasons: "forbidden: ..." (ownership), "not_found: ..." (a
 * referenced thing), or a rule code: duplicate_business_id,
 * already_registered, already_pending, not_approved, not_applied, no_bands.
 * The worker checks what the envelope alone decides first (ownership), then
 * existence, then the rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers.h"
#include "outbox.h"
#include "store/topics.h"
#include "views/view_provider.h"
#include "core/xmalloc.h"

/* The provider itself (token provider claim) or an admin. */
static enum apply_result require_provider_self(struct apply_ctx *ctx, const char *provider_id,
                                               const char *what)
{
    const struct actor *a = &ctx->cmd->actor;
    if (apply_role_in(ctx, ROLE_ADMIN))
        return APPLY_OK;
    if (apply_role_in(ctx, ROLE_PROVIDER) && apply_same_id(a->provider, provider_id))
        return APPLY_OK;
    return apply_reject(ctx, "forbidden: only provider %s itself (or an admin) may %s", provider_id,
                        what);
}

/* The organiser the command names, acting for itself (token org claim), or an admin. */
static enum apply_result require_organiser_self(struct apply_ctx *ctx, const char *organiser_id,
                                                const char *what)
{
    const struct actor *a = &ctx->cmd->actor;
    if (apply_role_in(ctx, ROLE_ADMIN))
        return APPLY_OK;
    if (apply_role_in(ctx, ROLE_ORGANISER) && apply_same_id(a->org, organiser_id))
        return APPLY_OK;
    return apply_reject(ctx, "forbidden: only organiser %s (or an admin) may %s", organiser_id,
                        what);
}

/* Bumps the provider's version (locking its row until COMMIT, so one
 * provider's commands apply one after another even across partitions during
 * a rebalance). Rejects not_found when there is no such provider. */
static enum apply_result bump_provider(struct apply_ctx *ctx, const char *provider_id,
                                       long long *version)
{
    const char *p[] = {provider_id};
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.providers SET version = version + 1, updated_at = now() "
                              "WHERE id = $1 RETURNING version",
                              1, p);
    if (!r)
        return APPLY_FAILED;
    int found = PQntuples(r) == 1;
    if (found)
        *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!found)
        return apply_reject(ctx, "not_found: provider %s is not registered", provider_id);
    return APPLY_OK;
}

/* Checks the organiser and the service type exist; *banded tells whether the
 * service type has band coefficients. */
static enum apply_result require_refs(struct apply_ctx *ctx, const char *organiser_id,
                                      const char *service_type, int *banded)
{
    const char *p[] = {organiser_id, service_type};
    PGresult *r = apply_query(ctx,
                              "SELECT EXISTS (SELECT 1 FROM psop.organisers WHERE id = $1), "
                              "(SELECT coef_evening IS NOT NULL FROM psop.service_types "
                              "WHERE code = $2)",
                              2, p);
    if (!r)
        return APPLY_FAILED;
    int org = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    int st = !PQgetisnull(r, 0, 1);
    if (banded)
        *banded = st && strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (!org)
        return apply_reject(ctx, "not_found: organiser %s does not exist", organiser_id);
    if (!st)
        return apply_reject(ctx, "not_found: service type %s does not exist", service_type);
    return APPLY_OK;
}

/* Lists the read models a change makes stale, refreshed after COMMIT. */
static void touch_provider(struct apply_ctx *ctx, const char *provider_id)
{
    apply_touch(ctx, VIEW_PROVIDER_KIND, provider_id);
}

static void touch_public(struct apply_ctx *ctx, const char *organiser_id, const char *service_type)
{
    char pair[128];
    snprintf(pair, sizeof(pair), "%s:%s", organiser_id, service_type);
    apply_touch(ctx, VIEW_PUBLIC_KIND, pair);
}

static enum apply_result provider_register(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const struct actor *a = &c->actor;
    const char *id = envelope_str(c, "id");
    if (!apply_role_in(ctx, ROLE_PROVIDER | ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: a provider registers itself (or an admin does)");
    if (apply_role_in(ctx, ROLE_PROVIDER)) {
        if (!id)
            id = actor_opt(a->provider);
        else if (!apply_same_id(id, a->provider))
            return apply_reject(ctx,
                                "forbidden: a provider registers only itself (token provider %s, "
                                "id %s)",
                                a->provider, id);
    }
    if (!id)
        id = c->id; /* admin without an id: the command id, so a replay finds the same one */
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%.*s", (int)sizeof(ctx->resource_id) - 1,
             id); /* a UUID (schema) */

    const char *bid = envelope_str(c, "business_id");
    const char *q[] = {id, bid};
    PGresult *r = apply_query(ctx,
                              "SELECT id = $1::uuid AS same, id FROM psop.providers "
                              "WHERE id = $1::uuid OR business_id = $2 ORDER BY 1 DESC LIMIT 1",
                              2, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) == 1) {
        int same = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (same)
            return apply_reject(ctx, "already_registered: provider %s is already registered", id);
        /* Never the other provider's id: it is another party's. */
        return apply_reject(ctx,
                            "duplicate_business_id: business id %s is already registered to "
                            "another provider",
                            bid);
    }
    PQclear(r);

    const char *p[] = {id,
                       bid,
                       envelope_str(c, "name"),
                       envelope_str(c, "iban"),
                       envelope_str(c, "email"),
                       envelope_str(c, "supplier_number"),
                       a->sub};
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.providers (id, business_id, name, iban, email, "
                    "supplier_number, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "RETURNING version, " PG_TS_SQL("created_at"),
                    7, p);
    /* clang-format on */
    if (!r) {
        /* A concurrent registration (another partition) won the race. */
        return apply_sql_outcome(ctx, "invalid_provider");
    }
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:I}", "id", id, "business_id", bid,
                  "name", p[2], "iban", p[3], "email", p[4], "supplier_number", p[5],
                  "registered_by", a->sub, "registered_at", PQgetvalue(r, 0, 1), "version",
                  (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, id, "provider.registered", ev);
    touch_provider(ctx, id);
    return APPLY_OK;
}

static enum apply_result provider_apply(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *oid = envelope_str(c, "organiser_id"),
               *st = envelope_str(c, "service_type"), *rb = envelope_str(c, "rulebook_version");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", pid);
    enum apply_result res;
    long long version = 0;
    if ((res = require_provider_self(ctx, pid, "apply for it")) != APPLY_OK ||
        (res = bump_provider(ctx, pid, &version)) != APPLY_OK ||
        (res = require_refs(ctx, oid, st, NULL)) != APPLY_OK)
        return res;

    const char *q[] = {pid, oid, st};
    PGresult *r = apply_query(ctx,
                              "SELECT a.id FROM psop.provider_applications a "
                              "WHERE a.provider_id = $1 AND a.organiser_id = $2 "
                              "AND a.service_type = $3 AND NOT EXISTS (SELECT 1 FROM "
                              "psop.provider_decisions d WHERE d.application_id = a.id) "
                              "ORDER BY a.applied_at DESC, a.id DESC LIMIT 1",
                              3, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) == 1) {
        char app[32];
        snprintf(app, sizeof(app), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        return apply_reject(ctx,
                            "already_pending: application %s of provider %s to organiser %s for "
                            "%s awaits a decision",
                            app, pid, oid, st);
    }
    PQclear(r);

    const char *p[] = {pid, oid, st, rb, c->actor.sub, c->id};
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.provider_applications (provider_id, organiser_id, "
                    "service_type, rulebook_version, applied_by, applied_at, command_id) "
                    "VALUES ($1, $2, $3, $4, $5, clock_timestamp(), $6) "
                    "RETURNING id, " PG_TS_SQL("applied_at"),
                    6, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_application");
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "provider_id", pid, "organiser_id",
                  oid, "service_type", st, "rulebook_version", rb, "application_id",
                  (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "applied_by", c->actor.sub,
                  "applied_at", PQgetvalue(r, 0, 1), "version", (json_int_t)version);
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, "provider.applied", ev);
    touch_provider(ctx, pid);
    return APPLY_OK;
}

static enum apply_result provider_decide(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *oid = envelope_str(c, "organiser_id"),
               *st = envelope_str(c, "service_type"), *decision = envelope_str(c, "decision"),
               *valid_from = envelope_str(c, "valid_from"), *reason = envelope_str(c, "reason");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", pid);
    int approved = decision && strcmp(decision, "approved") == 0;
    enum apply_result res;
    long long version = 0;
    if ((res = require_organiser_self(ctx, oid, "decide applications made to it")) != APPLY_OK)
        return res;
    /* The schema already says so; the decision is appealable, so say it twice. */
    if (approved && !valid_from)
        return apply_reject(ctx, "invalid: an approval needs valid_from");
    if (!approved && !reason)
        return apply_reject(ctx, "invalid: a rejection needs a reason");
    if (!approved)
        valid_from = NULL;
    if ((res = bump_provider(ctx, pid, &version)) != APPLY_OK ||
        (res = require_refs(ctx, oid, st, NULL)) != APPLY_OK)
        return res;

    /* The decision answers the triple's latest application (deciding again,
     * e.g. an approval lifting a suspension, is appended the same way). */
    const char *q[] = {pid, oid, st};
    PGresult *r = apply_query(ctx,
                              "SELECT id FROM psop.provider_applications WHERE provider_id = $1 "
                              "AND organiser_id = $2 AND service_type = $3 "
                              "ORDER BY applied_at DESC, id DESC LIMIT 1",
                              3, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return apply_reject(ctx, "not_found: provider %s has not applied to organiser %s for %s",
                            pid, oid, st);
    }
    char app[32];
    snprintf(app, sizeof(app), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    const char *p[] = {pid, oid, st, app, decision, valid_from, reason, c->actor.sub, c->id};
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, "
                    "application_id, decision, valid_from, reason, decided_by, decided_at, "
                    "command_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp(), $9) "
                    "RETURNING id, " PG_TS_SQL("decided_at"),
                    9, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_decision");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:s, s:s, s:I}",
                           "provider_id", pid, "organiser_id", oid, "service_type", st, "decision",
                           decision, "valid_from", valid_from, "reason", reason, "decision_id",
                           (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10), "application_id",
                           (json_int_t)strtoll(app, NULL, 10), "decided_by", c->actor.sub,
                           "decided_at", PQgetvalue(r, 0, 1), "version", (json_int_t)version);
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, approved ? "provider.approved" : "provider.rejected",
               ev);
    touch_provider(ctx, pid);
    touch_public(ctx, oid, st);
    return APPLY_OK;
}

static enum apply_result provider_suspend(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *oid = envelope_str(c, "organiser_id"),
               *st = envelope_str(c, "service_type"), *from = envelope_str(c, "from"),
               *reason = envelope_str(c, "reason");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", pid);
    enum apply_result res;
    long long version = 0;
    if ((res = require_organiser_self(ctx, oid, "suspend its providers")) != APPLY_OK ||
        (res = bump_provider(ctx, pid, &version)) != APPLY_OK ||
        (res = require_refs(ctx, oid, st, NULL)) != APPLY_OK)
        return res;

    /* Only an approval can be suspended (the latest decision of the triple). */
    const char *q[] = {pid, oid, st};
    PGresult *r = apply_query(ctx,
                              "SELECT decision FROM psop.provider_decisions WHERE provider_id = $1 "
                              "AND organiser_id = $2 AND service_type = $3 "
                              "ORDER BY decided_at DESC, id DESC LIMIT 1",
                              3, q);
    if (!r)
        return APPLY_FAILED;
    int ok = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "approved") == 0;
    PQclear(r);
    if (!ok)
        return apply_reject(ctx,
                            "not_approved: provider %s is not approved by organiser %s for %s; "
                            "there is nothing to suspend",
                            pid, oid, st);

    const char *p[] = {pid, oid, st, from, reason, c->actor.sub, c->id};
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.provider_suspensions (provider_id, organiser_id, "
                    "service_type, from_date, reason, suspended_by, suspended_at, command_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), $7) "
                    "RETURNING id, " PG_TS_SQL("suspended_at"),
                    7, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_suspension");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "provider_id", pid,
                           "organiser_id", oid, "service_type", st, "from", from, "reason", reason,
                           "suspension_id", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10),
                           "suspended_by", c->actor.sub, "suspended_at", PQgetvalue(r, 0, 1),
                           "version", (json_int_t)version);
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, "provider.suspended", ev);
    touch_provider(ctx, pid);
    touch_public(ctx, oid, st);
    return APPLY_OK;
}

/* A band price as text, or NULL when the band has none of its own. */
static const char *band_price(const json_t *bands, const char *band, char *buf, size_t n)
{
    json_t *v = json_object_get(bands, band);
    if (!json_is_integer(v))
        return NULL;
    return apply_num(buf, n, (long long)json_integer_value(v));
}

static enum apply_result provider_set_price(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *oid = envelope_str(c, "organiser_id"),
               *st = envelope_str(c, "service_type"), *valid_from = envelope_str(c, "valid_from");
    json_t *bands = json_object_get(c->data, "band_prices_cents");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", pid);
    enum apply_result res;
    long long version = 0, price = 0;
    int banded = 0;
    envelope_int(c, "price_cents", &price);
    if ((res = require_provider_self(ctx, pid, "set its prices")) != APPLY_OK ||
        (res = bump_provider(ctx, pid, &version)) != APPLY_OK ||
        (res = require_refs(ctx, oid, st, &banded)) != APPLY_OK)
        return res;
    if (bands && json_object_size(bands) > 0 && !banded)
        return apply_reject(ctx,
                            "no_bands: service type %s has no band coefficients, so it takes no "
                            "band_prices_cents",
                            st);

    /* A price list belongs to a relationship with the organiser: the provider
     * must have applied (prices may come before the decision). */
    const char *q[] = {pid, oid, st};
    PGresult *r = apply_query(ctx,
                              "SELECT 1 FROM psop.provider_applications WHERE provider_id = $1 "
                              "AND organiser_id = $2 AND service_type = $3 LIMIT 1",
                              3, q);
    if (!r)
        return APPLY_FAILED;
    int applied = PQntuples(r) == 1;
    PQclear(r);
    if (!applied)
        return apply_reject(ctx, "not_applied: provider %s has not applied to organiser %s for %s",
                            pid, oid, st);

    char pb[24], eb[24], sab[24], sub[24];
    const char *p[] = {pid,
                       oid,
                       st,
                       valid_from,
                       apply_num(pb, sizeof(pb), price),
                       band_price(bands, "evening", eb, sizeof(eb)),
                       band_price(bands, "saturday", sab, sizeof(sab)),
                       band_price(bands, "sunday", sub, sizeof(sub)),
                       c->actor.sub,
                       c->id};
    /* Same valid_from: the correction replaces the row; the event stream
     * keeps every version. */
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, "
                    "valid_from, price_cents, price_evening_cents, price_saturday_cents, "
                    "price_sunday_cents, set_by, set_at, command_id) VALUES ($1, $2, $3, $4, $5, "
                    "$6, $7, $8, $9, clock_timestamp(), $10) "
                    "ON CONFLICT ON CONSTRAINT provider_prices_pk DO UPDATE SET "
                    "price_cents = EXCLUDED.price_cents, "
                    "price_evening_cents = EXCLUDED.price_evening_cents, "
                    "price_saturday_cents = EXCLUDED.price_saturday_cents, "
                    "price_sunday_cents = EXCLUDED.price_sunday_cents, set_by = EXCLUDED.set_by, "
                    "set_at = EXCLUDED.set_at, command_id = EXCLUDED.command_id "
                    "RETURNING " PG_TS_SQL("set_at"),
                    10, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_price");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I}", "provider_id", pid,
                           "organiser_id", oid, "service_type", st, "valid_from", valid_from,
                           "price_cents", (json_int_t)price, "set_by", c->actor.sub, "set_at",
                           PQgetvalue(r, 0, 0), "version", (json_int_t)version);
    PQclear(r);
    if (bands && json_object_size(bands) > 0)
        json_object_set_new(ev, "band_prices_cents", json_deep_copy(bands));
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, "provider.price_set", ev);
    touch_provider(ctx, pid);
    touch_public(ctx, oid, st);
    return APPLY_OK;
}

const struct handler handlers_provider[] = {
    {"provider.register", provider_register},   {"provider.apply", provider_apply},
    {"provider.decide", provider_decide},       {"provider.suspend", provider_suspend},
    {"provider.set_price", provider_set_price}, {NULL, NULL},
};
