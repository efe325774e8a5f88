/*
 * idempotency.h - the Idempotency-Key fast path in Redis.
 *
 * Redis is an accelerator here, not the guarantee. Every keyed request's
 * command ids are derived from (principal, key, request fingerprint)
 * (idem_key.h), so a retry publishes the same ids whatever Redis knows, and
 * the workers record (principal, key) -> (command id, digest) durably in
 * PostgreSQL (workers/idem_record.h): a reused key with another body becomes
 * the rejection idempotency_key_reused there. What Redis adds, when it
 * answers within IDEM_REDIS_TIMEOUT_MS, is the answer at once: a replay of
 * the stored 202 without publishing, and 409 for another body.
 *
 * A record lives at psop:idem:p1:<principal text>:<key> for 24 h: the
 * request's fingerprint (SHA-256 of method, path and body), a state
 * (pending | failed | done), the ids the request was given, and once done
 * the answer (status and body). A Lua script claims a key atomically:
 *
 *   absent                        -> IDEM_NEW: stored as pending with our ids
 *   other fingerprint             -> IDEM_CONFLICT (409)
 *   done                          -> IDEM_REPLAY: the stored answer, publish nothing
 *   pending, lease not expired    -> IDEM_BUSY: the first request is in flight or
 *                                    died with it: published again with the same
 *                                    ids, the workers apply it once
 *   failed, or pending and expired-> IDEM_RETRY: pending again with the FIRST
 *                                    attempt's ids (equal to the derived ones,
 *                                    unless an older release wrote the record)
 *   Redis down or slow            -> IDEM_UNKNOWN: publish anyway (same ids)
 *
 * Connections come from an rpool (short timeouts, circuit breaker): a
 * Redis outage costs each request at most one failed connect, then nothing.
 * Thread-safe.
 */
#ifndef PSOP_API_IDEMPOTENCY_H
#define PSOP_API_IDEMPOTENCY_H

#include <stddef.h>
#include <jansson.h>

#include "auth.h"
#include "idem_key.h"

#define IDEM_TTL_S (24 * 3600)
/* Connect and command timeout of the idempotency store: it is on the
 * command path, and a slow answer is worth less than none. */
#define IDEM_REDIS_TIMEOUT_MS 250

enum idem_claim { IDEM_UNKNOWN = -1, IDEM_NEW, IDEM_RETRY, IDEM_REPLAY, IDEM_CONFLICT, IDEM_BUSY };

struct idem;

/* pool_size connections to url, connected lazily; lease_ms is how long a
 * pending record blocks a concurrent duplicate before a retry may take over. */
struct idem *idem_new(const char *url, int pool_size, int lease_ms);
void idem_free(struct idem *s);

/* Claims (principal of ac, key) for a request with fingerprint fp. ids is
 * this attempt's cmd_ids_json (borrowed). On IDEM_RETRY *prev_ids gets the
 * first attempt's ids, on IDEM_REPLAY *status and *body (new reference) the
 * stored answer. IDEM_UNKNOWN: Redis could not tell; go on without it. */
enum idem_claim idem_claim(struct idem *s, const struct actor *ac, const char *key, const char *fp,
                           const json_t *ids, json_t **prev_ids, int *status, json_t **body);

/* Stores the final answer (state done). Returns 0 or -1 (Redis down: the
 * next retry publishes the same ids again, which the workers drop). */
int idem_complete(struct idem *s, const struct actor *ac, const char *key, int status,
                  const json_t *body);

/* Marks the record failed so a retry may publish again (same ids). */
int idem_fail(struct idem *s, const struct actor *ac, const char *key);

#endif
