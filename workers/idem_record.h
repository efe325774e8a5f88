/*
 * idem_record.h - Idempotency-Key, durably: (principal, key) -> (first
 * command id, request digest) in psop.idempotency_keys.
 *
 * The front derives a keyed request's command ids from (principal, key,
 * request digest), so a retry of the same request carries the same ids and
 * processed_commands drops it before it gets here. What does get here with a
 * key already held is another request: if its digest differs it is the
 * rejection idempotency_key_reused (the front's 409, when Redis could not
 * answer at once); if it is equal it is another command of the same batch.
 * Runs inside the batch transaction, outside the command's savepoint, so a
 * command rejected for a business reason keeps its key too.
 * Envelopes without request_digest (before v3) are not recorded.
 */
#ifndef PSOP_WORKER_IDEM_RECORD_H
#define PSOP_WORKER_IDEM_RECORD_H

#include <stddef.h>

#include "wire/envelope.h"
#include "store/pgc.h"

#define IDEM_REUSED_REASON                                                                         \
    "idempotency_key_reused: this Idempotency-Key was already used for another request "           \
    "(another method, path or body)"

enum idem_rec { IDEM_REC_ERROR = -1, IDEM_REC_OK, IDEM_REC_REUSED };

/* Records c's key or compares it with the holder. IDEM_REC_OK also for a
 * command without key or digest. IDEM_REC_ERROR with err: the statement
 * failed and the transaction is aborted (the batch is retried). */
enum idem_rec idem_record(struct pgc *pg, const struct envelope *c, char *err, size_t errlen);

#endif
