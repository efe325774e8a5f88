/*
 * token_cache.h - tokens this process has verified lately, so that a client
 * sending the same bearer token on every request pays for its signature,
 * claims and actor-schema checks once, not on every request.
 *
 * An entry is keyed by the SHA-256 of the whole token (header, claims and
 * signature: a token differing in one byte is another key) and holds the
 * actor it gave, its exp and nbf, the generation of the JWKS key set that
 * verified it (JWKS mode; the caller misses when the set was reloaded since)
 * and when it was verified. A lookup hits only while nbf <= now < exp and the entry
 * is younger than TOKEN_CACHE_TTL_S; anything else is a miss and the caller
 * verifies the token in full (which then says why it is refused). Only
 * tokens that passed every check are put in. Direct-mapped: a newer token
 * takes an older one's slot. Thread-safe (one mutex, held for a copy).
 */
#ifndef PSOP_API_TOKEN_CACHE_H
#define PSOP_API_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "wire/actor.h"

#define TOKEN_CACHE_SLOTS 1024
/* How long a verified token is believed without a new check. */
#define TOKEN_CACHE_TTL_S 60
#define TOKEN_DIGEST_LEN 32

struct token_entry {
    unsigned char digest[TOKEN_DIGEST_LEN];
    struct actor actor;
    double exp;
    double nbf;                    /* 0 when the token has none */
    unsigned long keys_generation; /* jwks_generation of the set used; 0 without JWKS */
    long long verified_at;         /* seconds, the clock auth_verify is given */
};

struct token_cache;

struct token_cache *token_cache_new(void);
void token_cache_free(struct token_cache *c);

/* The SHA-256 of the token's len bytes. */
void token_digest(const char *tok, size_t len, unsigned char out[TOKEN_DIGEST_LEN]);

/* True, with *out filled, when the token of that digest was put in and is
 * still usable at now (see above). */
bool token_cache_get(struct token_cache *c, const unsigned char digest[TOKEN_DIGEST_LEN],
                     long long now, struct token_entry *out);

/* Remembers a verified token (e->digest set). */
void token_cache_put(struct token_cache *c, const struct token_entry *e);

/* The pure rule: may an entry verified at e->verified_at be used at now? */
bool token_entry_usable(const struct token_entry *e, long long now);

#endif
