/*
 * apikeys.h - verifying provider integration keys ("Authorization: Bearer
 * psop_<key id>_<secret>", docs/domain.md "Provider integration keys").
 *
 * The source of truth is psop.api_keys in PostgreSQL (written by the
 * provider workers). Each replica keeps what it read of a key for at most
 * APIKEYS_FRESH_MS, so a revocation or an expiry applied in PostgreSQL is
 * refused by every replica within that time (the contract says 5 s). When
 * PostgreSQL cannot be reached, a key read less than APIKEYS_STALE_MS ago
 * still answers (the revocation promise holds); after that the request gets
 * 503, never a guess. Unknown key ids are remembered as unknown for the
 * same short time, so a flood of made-up keys costs one query per id.
 *
 * last_used_at is written to the minute: the first use of a key in a new
 * minute on a replica updates the row (conditionally, so replicas never move
 * it back); other uses write nothing.
 *
 * The secret is never kept: the cache holds the stored hash, and the
 * presented secret's hash is compared in constant time. Thread-safe.
 */
#ifndef PSOP_API_APIKEYS_H
#define PSOP_API_APIKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth.h"
#include "pgpool.h"

#define APIKEYS_FRESH_MS 2000
#define APIKEYS_STALE_MS 5000
#define APIKEYS_SLOTS 4096

enum apikey_verdict {
    APIKEY_OK,
    APIKEY_REFUSED,     /* 401: malformed, unknown, wrong secret, expired, revoked */
    APIKEY_UNAVAILABLE, /* 503: PostgreSQL cannot tell and what we knew is too old */
};

struct apikeys;

/* pg is borrowed and must outlive the result. */
struct apikeys *apikeys_new(struct pgpool *pg);
void apikeys_free(struct apikeys *k);

/* Verifies token (the bearer token, "psop_..."). APIKEY_OK fills out (role
 * provider, provider = the key's provider, sub = "apikey:<key id>") and
 * *read_only (scope read); otherwise err says why (client-safe). */
enum apikey_verdict apikeys_verify(struct apikeys *k, const char *token, time_t now,
                                   struct actor *out, bool *read_only, char *err, size_t errlen);

#endif
