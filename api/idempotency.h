/*
 * idempotency.h - Idempotency-Key records in Redis.
 *
 * A record lives at psop:idem:<len(sub)>:<sub>:<key> for 24 h: the request's
 * fingerprint (SHA-256 of method, path and body), a state
 * (pending | failed | done), the ids the request was given, and once done
 * the answer (status and body). A Lua script claims a key atomically:
 *
 *   absent                        -> IDEM_NEW: stored as pending with our ids
 *   other fingerprint             -> IDEM_CONFLICT (409)
 *   done                          -> IDEM_REPLAY: the stored answer, publish nothing
 *   pending, lease not expired    -> IDEM_BUSY (409: the first request is in flight)
 *   failed, or pending and expired-> IDEM_RETRY: pending again with the FIRST
 *                                    attempt's ids, so a retry after a 503 or a
 *                                    crash republishes the same command ids and
 *                                    workers de-duplicate them
 *
 * Connections come from a small pool (one per server thread at most); each
 * call waits for a connection, never for Kafka. Thread-safe.
 */
#ifndef PSOP_API_IDEMPOTENCY_H
#define PSOP_API_IDEMPOTENCY_H

#include <stddef.h>
#include <jansson.h>

#define IDEM_KEY_MAX 128
#define IDEM_TTL_S (24 * 3600)

enum idem_claim { IDEM_ERROR = -1, IDEM_NEW, IDEM_RETRY, IDEM_REPLAY, IDEM_CONFLICT, IDEM_BUSY };

struct idem;

/* pool_size connections to url, connected lazily; lease_ms is how long a
 * pending record blocks a concurrent duplicate before a retry may take over. */
struct idem *idem_new(const char *url, int pool_size, int lease_ms);
void idem_free(struct idem *s);

/* True when key is 1..128 visible ASCII characters. */
int idem_key_valid(const char *key);

/* Writes the hex SHA-256 of method, path and body into out (65 bytes). */
void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      char out[65]);

/* Claims (sub, key) for a request with fingerprint fp. ids is this attempt's
 * cmd_ids_json (borrowed). On IDEM_RETRY *prev_ids gets the first attempt's ids,
 * on IDEM_REPLAY *status and *body (new reference) the stored answer. */
enum idem_claim idem_claim(struct idem *s, const char *sub, const char *key, const char *fp,
                           const json_t *ids, json_t **prev_ids, int *status, json_t **body);

/* Stores the final answer (state done). Returns 0 or -1. */
int idem_complete(struct idem *s, const char *sub, const char *key, int status,
                  const json_t *body);

/* Marks the record failed so a retry may publish again (same ids). */
int idem_fail(struct idem *s, const char *sub, const char *key);

#endif
