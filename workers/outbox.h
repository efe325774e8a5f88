/*
 * outbox.h - domain events for integrations, effectively once.
 *
 * Handlers stage CloudEvents 1.0 events with outbox_add(); the batch writes
 * a command's staged events into the outbox table in the same transaction as
 * its changes (outbox_write), and after COMMIT publishes them with the
 * idempotent producer and marks them published (outbox_publish). A crash
 * between COMMIT and publishing leaves rows unpublished; the relay role
 * (outbox_relay_run) republishes those, ordered by transaction id.
 * Subscribers de-duplicate by event id: an event may arrive twice, never zero
 * times.
 */
#ifndef PSOP_WORKER_OUTBOX_H
#define PSOP_WORKER_OUTBOX_H

#include <jansson.h>
#include <signal.h>

#include "apply.h"
#include "store/kprod.h"

/* Stages an event on ctx->events: type "voucher.granted", topic psop.events.*,
 * key the aggregate id, data taken (stolen reference). */
void outbox_add(struct apply_ctx *ctx, const char *topic, const char *key, const char *type,
                json_t *data);

/* Inserts staged events (ctx->events) in one statement. 0/-1. */
int outbox_write(struct pgc *pg, json_t *events, char *err, size_t errlen);

/* Publishes events (array of staged events) and marks the acknowledged ones
 * published. Waits up to timeout_ms for acknowledgements. Returns the number
 * not acknowledged (left to the relay). */
int outbox_publish(struct kprod *p, struct pgc *pg, json_t *events, int timeout_ms);

/* The relay role: republishes rows left unpublished longer than a grace
 * period, until *stop becomes non-zero. Only one relay is active at a time
 * (a PostgreSQL advisory lock); the others wait as hot standbys. */
int outbox_relay_run(const struct psop_config *cfg, volatile sig_atomic_t *stop);

#endif
