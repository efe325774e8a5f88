/*
 * produce_wait.h - send a group of messages and wait for their own delivery
 * reports. The worker's producer must be created with pw_dr as its delivery
 * callback. Used for the DLQ, where the offset may only be stored once the
 * broker has the message, and by the relay.
 */
#ifndef PSOP_WORKER_PRODUCE_WAIT_H
#define PSOP_WORKER_PRODUCE_WAIT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/kprod.h"

struct pw_msg {
    const char *topic;
    const char *key;
    const char *payload;
    size_t len;
    rd_kafka_headers_t *hdrs; /* taken when sent; may be NULL */
};

/* What every message of the worker's producer carries as its opaque: its
 * delivery report calls done once, on the producer's poll thread, and done
 * then owns the report (pw_send_all's waits; outbox_send's marks). */
struct pw_report {
    void (*done)(struct pw_report *r, rd_kafka_resp_err_t err);
};

/* The delivery-report callback to give kprod_new: runs the opaque's done. */
void pw_dr(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset);

/* Sends msgs[0..n) and waits (up to timeout_ms, then as long as librdkafka's
 * message timeout) until each has its report. acked[i] tells which the broker
 * acknowledged. Returns the number not acknowledged. */
size_t pw_send_all(struct kprod *p, struct pw_msg *msgs, size_t n, bool *acked);

#endif
