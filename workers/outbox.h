/*
 * outbox.h - domain events for integrations, effectively once.
 *
 * Handlers stage CloudEvents 1.0 events with outbox_add(); the batch writes
 * a command's staged events into the outbox table in the same transaction as
 * its changes (outbox_write), and after COMMIT sends them with the
 * idempotent producer (outbox_send) and marks the acknowledged ones published
 * (outbox_mark_acked). A crash between COMMIT and the marks leaves rows
 * unpublished; the relay role
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

/* Stages on events the access record a command carried (envelope v5), as
 * it is, for psop.audit: keyed as the front keys a read's record, its id
 * the outbox row's event id (a record written twice is one row). */
void outbox_add_access(json_t *events, json_t *access);

/* Inserts staged events (ctx->events) in one statement; an event id the
 * outbox already holds is left as it is. 0/-1. */
int outbox_write(struct pgc *pg, json_t *events, char *err, size_t errlen);

/* Publishes events (array of staged events) and marks the acknowledged ones
 * published. Waits up to timeout_ms for acknowledgements. Returns the number
 * not acknowledged (left to the relay). The relay's way. */
int outbox_publish(struct kprod *p, struct pgc *pg, json_t *events, int timeout_ms);

/* The worker's way: a batch's events are sent without waiting for the
 * broker; each acknowledgement adds the event's id to an outbox_acks (on the
 * producer's poll thread), and the worker marks them published later, many
 * batches' in one statement. An event whose mark never comes (a failed
 * delivery, a crash) stays unpublished and the relay sends it again: at
 * least once, as before. */
struct outbox_acks;
struct outbox_acks *outbox_acks_new(void);
/* Call after the producer has been flushed and freed (no report to come). */
void outbox_acks_free(struct outbox_acks *a);

/* Sends events without waiting. Returns the number that could not even be
 * queued (left to the relay). */
int outbox_send(struct kprod *p, struct outbox_acks *a, json_t *events);

/* Marks published every event acknowledged since the last call, in one
 * statement (pg may be NULL: nothing is marked). Ids whose mark failed are
 * kept for the next call. Returns how many were marked, or -1. */
int outbox_mark_acked(struct outbox_acks *a, struct pgc *pg);

/* The relay role: republishes rows left unpublished longer than a grace
 * period, until *stop becomes non-zero. Only one relay is active at a time
 * (a PostgreSQL advisory lock); the others wait as hot standbys. */
int outbox_relay_run(const struct psop_config *cfg, volatile sig_atomic_t *stop);

#endif
