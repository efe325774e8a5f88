/*
 * wire/jwt.h - minting of API bearer tokens (psopctl token, tests, batch).
 *
 * Claims: sub, role, org, provider, client (strings, omitted when NULL or
 * ""), iat and exp (now + ttl_s), and iss/aud when cfg->jwt_issuer /
 * cfg->jwt_audience are set. Signed with cfg->jwt_alg: HS256 with
 * cfg->jwt_secret (at least 32 bytes, as the API requires) or RS256 with the
 * PEM key in cfg->jwt_private_key_file. Verification is the API's business
 * (api/auth.c). No shared state: thread-safe.
 */
#ifndef PSOP_JWT_TOKEN_H
#define PSOP_JWT_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "core/config.h"

/* Longest claim value the API accepts. */
#define JWT_TOKEN_CLAIM_MAX 128
/* Longest lifetime we mint: a year. */
#define JWT_TOKEN_TTL_MAX (366L * 24 * 3600)

/* Mints a token into *out (caller frees with free()). role is admin,
 * organiser, provider or client; sub is required; an organiser token needs
 * org, a provider token provider, a client token client (the API refuses
 * them otherwise). ttl_s in 1..JWT_TOKEN_TTL_MAX. Returns 0, or -1 with err
 * filled and *out NULL. */
int jwt_token_mint(const struct psop_config *cfg, const char *role, const char *sub,
                   const char *org, const char *provider, const char *client, long ttl_s,
                   char **out, char *err, size_t errlen);

/* Same, with an explicit issue time (for tests). */
int jwt_token_mint_at(const struct psop_config *cfg, const char *role, const char *sub,
                      const char *org, const char *provider, const char *client, long ttl_s,
                      time_t now, char **out, char *err, size_t errlen);

#endif
