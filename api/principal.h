/*
 * principal.h - who a request is, as far as ownership goes: the whole
 * principal (role, org, provider, client, sub), never the sub alone.
 *
 * Two tokens with the same sub at two organisers are two principals: their
 * command statuses and Idempotency-Keys are apart (issue 14, item 7).
 * Pure functions; thread-safe.
 */
#ifndef PSOP_API_PRINCIPAL_H
#define PSOP_API_PRINCIPAL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "auth.h"

/* Room for the canonical form of any actor (5 fields of at most
 * ACTOR_FIELD_MAX bytes, each with its length). */
#define PRINCIPAL_MAX (6 * (ACTOR_FIELD_MAX + 8))

/* The canonical, unambiguous text of the principal:
 * "<role>|<len>:<org>|<len>:<provider>|<len>:<client>|<len>:<sub>"
 * (absent claims are empty). The length prefixes keep ("a|b", "") and
 * ("a", "b") apart. */
void principal_text(const struct actor *ac, char out[PRINCIPAL_MAX]);

/* True when doc (a status document's "actor" object: {sub, role, org?,
 * provider?, client?}, absent = empty) is exactly ac. */
bool principal_matches(const json_t *doc, const struct actor *ac);

#endif
