/*
 * store/kprod.h - idempotent producer (enable.idempotence=true, acks=all,
 * partitioner murmur2_random) with its own poll thread that runs delivery
 * reports.
 *
 * A message's outcome reaches the kprod_dr_cb given to kprod_new exactly once,
 * on the poll thread: err == 0 means the broker acknowledged it (stored on all
 * in-sync replicas); anything else (including message.timeout.ms, which is set
 * from produce_timeout_ms) means it may not be stored. The opaque pointer is
 * the caller's and is passed back untouched.
 *
 * A handle that fails for good (a fatal error: librdkafka 2.0.2's idempotent
 * producer loses its sequence after a broker dies mid-request, fixed upstream
 * in 2.3.0) is replaced by a new one, invisibly to callers: its requests in
 * flight get their answers first (up to 5 s), then what it still held is
 * purged and produced again on the new handle (at most KPROD_RESEND_MAX
 * times per message), ahead of anything sent later; so is every message
 * the failed handle reports with an error, the request that failed it
 * included, unless its message.timeout.ms has passed. A message so produced
 * again may be stored twice, as any retried produce may: consumers already
 * apply by command or event id, once.
 */
#ifndef PSOP_KAFKA_PRODUCER_H
#define PSOP_KAFKA_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "core/config.h"
#include "core/mustcheck.h"

struct kprod;

typedef void (*kprod_dr_cb)(void *opaque, rd_kafka_resp_err_t err, int32_t partition,
                            int64_t offset);

/* Creates the producer and starts its poll thread. dr may be NULL.
 * Returns NULL with err filled on a configuration error. */
struct kprod *kprod_new(const struct psop_config *cfg, kprod_dr_cb dr, char *err, size_t errlen);

/* Enqueues a copy of payload and key. hdrs (may be NULL) is taken on success
 * and left to the caller on failure. Returns 0, or -1 with err filled when the
 * message could not even be queued (queue full, unknown topic...); then the
 * callback is NOT called. */
PSOP_MUSTCHECK int kprod_send(struct kprod *p, const char *topic, const char *key, size_t keylen,
                              const void *payload, size_t len, rd_kafka_headers_t *hdrs,
                              void *opaque, char *err, size_t errlen);

/* Waits until every queued message has had its delivery report or timeout_ms
 * passed. Returns the number still outstanding (0 = all done). */
PSOP_MUSTCHECK int kprod_flush(struct kprod *p, int timeout_ms);

/* Messages queued and not yet reported. */
int kprod_outstanding(struct kprod *p);

/* Flushes up to timeout_ms, stops the poll thread, destroys the handle. */
void kprod_free(struct kprod *p, int timeout_ms);

/* True (and err filled) while the current handle has a fatal error, i.e.
 * until the poll thread has replaced it (within ~100 ms). */
bool kprod_fatal(struct kprod *p, char *err, size_t errlen);

/* How many times a failed handle has been replaced. */
unsigned long kprod_renewals(struct kprod *p);

/* The underlying handle, for metadata queries (and tests). Borrowed: valid
 * until the next renewal. */
rd_kafka_t *kprod_handle(struct kprod *p);

#endif
