/*
 * publish.h - sending a request's commands to Kafka and learning, without
 * blocking any server thread, whether all of them were acknowledged in time.
 *
 * pub_send_all enqueues n messages on the idempotent producer and returns at
 * once. Its done callback then runs exactly once, with PUB_OK only when the
 * broker acknowledged every message (acks=all) within the deadline
 * (produce_timeout_ms from the first send), else PUB_FAILED (a delivery
 * error, or a message that could not be queued) or PUB_TIMEOUT. It runs on
 * the producer's delivery-report thread, on the deadline thread, or (when
 * nothing could be queued) on the calling thread before pub_send_all returns:
 * callers must not hold a lock the callback takes. Late delivery reports
 * after a timeout are counted and dropped. Thread-safe.
 */
#ifndef PSOP_API_PUBLISH_H
#define PSOP_API_PUBLISH_H

#include <stddef.h>

#include "core/config.h"

enum pub_result { PUB_OK = 0, PUB_FAILED = 1, PUB_TIMEOUT = 2 };

typedef void (*pub_done_fn)(void *opaque, enum pub_result result);

struct pub_msg {
    const char *topic;
    const char *key;
    const char *payload;
    size_t len;
};

struct pub;

/* Creates the producer (store/kprod.h) and the deadline thread. */
struct pub *pub_new(const struct psop_config *cfg, char *err, size_t errlen);

/* Copies the messages; done(opaque, result) follows exactly once. */
void pub_send_all(struct pub *p, const struct pub_msg *msgs, size_t n, pub_done_fn done,
                  void *opaque);

/* Waits up to timeout_ms for every queued message's report; returns how many
 * are still outstanding. */
int pub_flush(struct pub *p, int timeout_ms);

/* Flushes up to timeout_ms, then stops both threads and frees everything.
 * Operations still pending are completed with PUB_TIMEOUT first. */
void pub_free(struct pub *p, int timeout_ms);

/* Counters for /metrics. */
unsigned long pub_produce_errors(const struct pub *p);

/* Producer handles replaced after a fatal error (store/kprod.h). */
unsigned long pub_producer_renewals(struct pub *p);
int pub_outstanding(struct pub *p);

#endif
