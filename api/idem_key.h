/*
 * idem_key.h - the pure part of Idempotency-Key: its syntax, the request's
 * fingerprint, and the command ids a keyed request is given.
 *
 * A keyed request's ids are derived, not drawn: UUIDv8 (RFC 9562, custom)
 * from SHA-256 of the principal, the key, the request fingerprint and the
 * command's index in the request. A retry of the same request (same
 * principal, key, method, path and body) therefore publishes the same
 * command ids and the same generated resource ids whether or not Redis
 * remembers the first attempt, and the workers' processed_commands makes the
 * second copy a no-op. The same key with another body gets other ids, so
 * the worker sees two commands and rejects the second with
 * idempotency_key_reused (workers/idem_record.h). Thread-safe.
 */
#ifndef PSOP_API_IDEM_KEY_H
#define PSOP_API_IDEM_KEY_H

#include <stddef.h>
#include <jansson.h>

#include "core/ids.h"

#define IDEM_KEY_MAX 128
#define IDEM_FP_LEN 65 /* 64 hex + NUL */

/* True when key is 1..128 visible ASCII characters. */
int idem_key_valid(const char *key);

/* Writes the hex SHA-256 of method, path and body into out (65 bytes). */
void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      char out[IDEM_FP_LEN]);

/* What a derived id is for: the command itself, or the resource a create
 * command makes when the client chose no id. */
enum idem_id_kind { IDEM_ID_COMMAND = 'c', IDEM_ID_RESOURCE = 'r' };

/* The UUIDv8 of (principal text, key, fingerprint, index, kind). */
void idem_derive_uuid(const char *principal, const char *key, const char *fp, size_t index,
                      enum idem_id_kind kind, char out[UUID_STR_LEN]);

/* [[command_id, resource_id], ...] for n commands, in the form of
 * cmd_ids_json() so cmd_assign_ids() takes them. New reference. */
json_t *idem_derived_ids(const char *principal, const char *key, const char *fp, size_t n);

#endif
