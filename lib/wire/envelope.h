/*
 * wire/envelope.h - versions of the command envelope, and how readers of one
 * version read another.
 *
 *   v1  {id, type, schema_version, actor, received_at, idempotency_key?, data}
 *   v2  v1 + traceparent? (W3C Trace Context, set by the front)
 *   v3  v2 + request_digest? (hex SHA-256 of the method, path and body of a
 *       request that carried an Idempotency-Key; the worker keeps
 *       (principal, key) -> (command id, digest) and rejects a reused key
 *       with another digest as idempotency_key_reused)
 *
 * The rule that lets old and new replicas share a consumer group: a new
 * envelope version may only add optional top-level fields. A reader that
 * meets a newer version than its own drops the fields it does not know and
 * applies the command as if it were its own version; a reader that meets an
 * older version finds only fields it knows. Versions below
 * ENVELOPE_VERSION_MIN are no longer produced anywhere and are refused.
 * Anything that cannot be said by adding an optional field is a new command
 * type, not a new envelope version. See docs/decisions.md.
 */
#ifndef PSOP_ENVELOPE_H
#define PSOP_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/versions.h" /* ENVELOPE_VERSION_MIN, ENVELOPE_VERSION_CURRENT */

/* The envelope version that introduced top-level field name; 0 if the
 * field is not part of any version this build knows. */
int envelope_field_version(const char *name);

/* Removes from env every top-level field that reader_version does not know
 * (introduced later, or unknown to this build). Returns how many it removed. */
int envelope_downgrade(json_t *env, int reader_version);

#endif
