/*
 * store/kcons.h - consumer-group member with manual offset storage.
 *
 * enable.auto.offset.store=false and enable.auto.commit=true: offsets are
 * committed in the background, but only those stored with kcons_store(), which
 * callers do after their database COMMIT. Eager "range" assignment, and static
 * membership (group.instance.id) when instance_id is non-empty.
 * Not thread-safe: one thread per kcons.
 */
#ifndef PSOP_KAFKA_CONSUMER_H
#define PSOP_KAFKA_CONSUMER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "core/config.h"

struct kcons;

/* topics is a NULL-terminated list. instance_id may be NULL or "". */
struct kcons *kcons_new(const struct psop_config *cfg, const char *group_id,
                        const char *instance_id, const char *const *topics, char *err,
                        size_t errlen);

/* Fills msgs with up to max messages, waiting at most timeout_ms for the first.
 * Partition EOF and transient errors are logged and skipped. Returns the count;
 * the caller destroys each message with rd_kafka_message_destroy(). */
size_t kcons_poll_batch(struct kcons *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms);

/* Marks each message processed: stores offset+1 of each for commit. */
int kcons_store(struct kcons *c, rd_kafka_message_t *const *msgs, size_t n);

/* Commits stored offsets synchronously. Returns 0 or -1. */
int kcons_commit_sync(struct kcons *c);

/* True when the consumer has raised a fatal error and can never consume
 * again (err filled): e.g. a static member fenced by a newer member with its
 * group.instance.id, which librdkafka 2.0.2 can do to itself after a
 * session timeout while brokers are lost. The caller abandons it and makes a
 * new one; what it had read but not committed is redelivered. */
bool kcons_failed(struct kcons *c, char *err, size_t errlen);

/* Frees a failed consumer without committing or leaving the group (a fenced
 * member can do neither). */
void kcons_abandon(struct kcons *c);

/* Abandons *c (which kcons_failed) and makes a new member of the same group
 * and instance in its place, trying once a second (touching
 * cfg->worker_heartbeat_file before each try: the process is alive) until
 * it starts or *stop is set. 0, or -1 when stopped first (*c is then NULL). */
int kcons_renew(struct kcons **c, const struct psop_config *cfg, const char *group_id,
                const char *instance_id, const char *const *topics, volatile sig_atomic_t *stop);

/* Commits stored offsets, closes (leaves the group unless static) and frees. */
void kcons_close(struct kcons *c);

rd_kafka_t *kcons_handle(struct kcons *c);

#endif
