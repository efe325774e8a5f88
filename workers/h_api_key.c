/*
 * h_api_key.c - provider integration keys (docs/domain.md, "Provider
 * integration keys"): api_key.create and api_key.revoke on
 * psop.commands.provider, keyed by provider_id (rows of handlers_provider[]).
 *
 * The envelope carries the secret's SHA-256 (set by the api), never the
 * secret; events carry neither. A key is created or revoked by the
 * provider's user (a provider token of that provider) or an admin, never by
 * an API key (sub "apikey:<id>"): a leaked key must not be able to mint
 * keys that outlive its own revocation. At most APIKEY_LIVE_MAX keys of a
 * provider are live (not revoked, not expired), counted under the
 * provider's row lock so two creates cannot both take the tenth place.
 *
 * Rejection reasons: forbidden, not_found, invalid (no hash: the command did
 * not come through the api), too_many_keys, already_exists, already_revoked.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/apikey.h"
#include "handlers.h"
#include "outbox.h"
#include "store/topics.h"

#define APIKEY_LIVE_MAX 10

/* The provider's own user, or an admin; never an API key. */
static enum apply_result require_key_manager(struct apply_ctx *ctx, const char *provider_id)
{
    const struct actor *a = &ctx->cmd->actor;
    if (strncmp(a->sub, "apikey:", 7) == 0)
        return apply_reject(ctx, "forbidden: an API key cannot create or revoke API keys; the "
                                 "provider's user does");
    if (apply_role_in(ctx, ROLE_ADMIN))
        return APPLY_OK;
    if (apply_role_in(ctx, ROLE_PROVIDER) && apply_same_id(a->provider, provider_id))
        return APPLY_OK;
    return apply_reject(ctx,
                        "forbidden: only provider %s itself (or an admin) may manage its "
                        "API keys",
                        provider_id);
}

/* Locks the provider's row (one key command of a provider at a time). */
static enum apply_result lock_provider(struct apply_ctx *ctx, const char *provider_id)
{
    const char *p[] = {provider_id};
    PGresult *r = apply_query(ctx, "SELECT 1 FROM psop.providers WHERE id = $1 FOR UPDATE", 1, p);
    if (!r)
        return APPLY_FAILED;
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found)
        return apply_reject(ctx, "not_found: provider %s is not registered", provider_id);
    return APPLY_OK;
}

static enum apply_result api_key_create(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *kid = envelope_str(c, "key_id");
    const char *scope = envelope_str(c, "scope"), *hash = envelope_str(c, "secret_hash");
    long long days = 0;
    if (!kid)
        kid = c->id;
    if (!scope)
        scope = "write";
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", kid);
    enum apply_result ar = require_key_manager(ctx, pid);
    if (ar != APPLY_OK)
        return ar;
    if (!apikey_hash_valid(hash))
        return apply_reject(ctx, "invalid: an API key is created through the api, which makes "
                                 "its secret");
    if (envelope_int(c, "expires_in_days", &days) < 0)
        return apply_reject(ctx, "invalid: expires_in_days is required");
    if ((ar = lock_provider(ctx, pid)) != APPLY_OK)
        return ar;

    const char *q[] = {pid, kid};
    PGresult *r = apply_query(ctx,
                              "SELECT (SELECT count(*) FROM psop.api_keys WHERE provider_id = $1 "
                              "AND revoked_at IS NULL AND expires_at > now()), "
                              "EXISTS (SELECT 1 FROM psop.api_keys WHERE id = $2)",
                              2, q);
    if (!r)
        return APPLY_FAILED;
    long live = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    int exists = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (exists)
        return apply_reject(ctx, "already_exists: API key %s already exists", kid);
    if (live >= APIKEY_LIVE_MAX)
        return apply_reject(ctx,
                            "too_many_keys: provider %s already has %d live API keys; "
                            "revoke one first",
                            pid, APIKEY_LIVE_MAX);

    char dbuf[16];
    snprintf(dbuf, sizeof dbuf, "%lld", days);
    const char *p[] = {kid, pid, envelope_str(c, "name"), scope, hash, c->actor.sub, dbuf};
    /* clang-format off */
    r = apply_query(ctx,
                    "INSERT INTO psop.api_keys (id, provider_id, name, scope, secret_hash, "
                    "created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, "
                    "now() + make_interval(days => $7::int)) "
                    "RETURNING " PG_TS_SQL("created_at") ", " PG_TS_SQL("expires_at"),
                    7, p);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_api_key");
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "key_id", kid, "provider_id", pid,
                           "name", p[2], "scope", scope, "created_by", c->actor.sub, "created_at",
                           PQgetvalue(r, 0, 0), "expires_at", PQgetvalue(r, 0, 1));
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, "api_key.created", ev);
    return APPLY_OK;
}

static enum apply_result api_key_revoke(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *pid = envelope_str(c, "provider_id"), *kid = envelope_str(c, "key_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", kid);
    enum apply_result ar = require_key_manager(ctx, pid);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = lock_provider(ctx, pid)) != APPLY_OK)
        return ar;
    const char *q[] = {kid, pid};
    PGresult *key = apply_query(ctx,
                                "SELECT name, scope, revoked_at IS NOT NULL FROM psop.api_keys "
                                "WHERE id = $1 AND provider_id = $2",
                                2, q);
    if (!key)
        return APPLY_FAILED;
    if (PQntuples(key) != 1 || strcmp(PQgetvalue(key, 0, 2), "t") == 0) {
        bool found = PQntuples(key) == 1;
        PQclear(key);
        if (!found)
            return apply_reject(ctx, "not_found: provider %s has no API key %s", pid, kid);
        return apply_reject(ctx, "already_revoked: API key %s is already revoked", kid);
    }
    const char *p[] = {kid, c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.api_keys SET revoked_at = now(), revoked_by = $2 "
                              "WHERE id = $1 RETURNING " PG_TS_SQL("revoked_at"),
                              2, p);
    /* clang-format on */
    if (!r) {
        PQclear(key);
        return APPLY_FAILED;
    }
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "key_id", kid, "provider_id", pid,
                           "name", PQgetvalue(key, 0, 0), "scope", PQgetvalue(key, 0, 1),
                           "revoked_by", c->actor.sub, "revoked_at", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQclear(key);
    outbox_add(ctx, TOPIC_EVT_PROVIDER, pid, "api_key.revoked", ev);
    return APPLY_OK;
}

const struct handler handlers_api_key[] = {
    {"api_key.create", api_key_create},
    {"api_key.revoke", api_key_revoke},
    {NULL, NULL},
};
