/*
 * auth.h - Bearer JWT authentication and the token-only authorisation checks.
 *
 * The algorithm (HS256 or RS256) comes from configuration and never from the
 * token: a token whose header names another algorithm, or "none", is refused
 * before any signature check, so an RS256 public key can never be used as an
 * HMAC secret. libjwt 1.10.2 checks the signature only; exp (required), nbf,
 * iss and aud (when configured) are checked here. A token that passed every
 * check is remembered (token_cache.h) for up to TOKEN_CACHE_TTL_S, within its
 * exp and nbf and while the JWKS key set is the one that verified it, so the
 * same token sent again is not decoded again. An auth is read-only after
 * auth_new and auth_use_schemas, but for that cache (locked): thread-safe.
 */
#ifndef PSOP_API_AUTH_H
#define PSOP_API_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "core/config.h"
#include "router.h"

#define AUTH_CLAIM_MAX 128
#define AUTH_TOKEN_MAX 8192
/* The largest public key file read (jwt_public_key_file). */
#define AUTH_KEY_FILE_MAX (1u << 20)

/* Who sent the request, from a verified token: struct actor (wire/actor.h),
 * no claim longer than AUTH_CLAIM_MAX. */

struct auth;

/* Reads the key (jwt_secret for HS256, jwt_public_key_file for RS256).
 * NULL with err filled on a bad alg or unreadable key. */
struct auth *auth_new(const struct psop_config *cfg, char *err, size_t errlen);
void auth_free(struct auth *a);

struct jschema_registry;
/* From now on auth_verify also checks the token's actor (sub, role, org,
 * provider, client) against the command envelope's actor schema
 * (schemas/envelope.json): a token the workers would refuse to act for
 * (org "not-a-uuid", a client without org) is refused at the front (401)
 * for reads and commands alike. reg is borrowed and must outlive a. */
void auth_use_schemas(struct auth *a, const struct jschema_registry *reg);

/* 0 when actor (an envelope's actor object) satisfies the envelope schema's
 * actor rules; -1 with a client-safe reason in err ("token claim org must
 * be a uuid"). */
int auth_actor_valid(const struct jschema_registry *reg, const json_t *actor, char *err,
                     size_t errlen);

/* Verifies the Authorization header value (may be NULL) at time now.
 * Returns 0 and fills out, or -1 with a client-safe reason in err (401). */
int auth_verify(const struct auth *a, const char *authorization, time_t now, struct actor *out,
                char *err, size_t errlen);

/* True when the actor's role is in roles. */
bool auth_role_allowed(const struct actor *ac, unsigned roles);

/* The claim checks a token alone can decide (403): an organiser acts only for
 * its org, a provider for its provider id, a client for its client id, so a
 * data field organiser_id / provider_id / client_id that differs from the
 * token's claim is refused, as is a role token missing its own claim. For
 * provider.register by a provider, data.id is the provider's id.
 * data is borrowed; returns 0, or -1 with the offending field's name in
 * *field (a static string) and a reason in err. */
int auth_check_claims(const struct actor *ac, const char *type, const json_t *data,
                      const char **field, char *err, size_t errlen);

#endif
