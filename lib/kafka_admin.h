/*
 * kafka_admin.h - topic creation through the Kafka Admin API.
 *
 * Each call creates and destroys its own short-lived client: these are
 * start-up and tooling operations (psopctl topics, tests), not hot paths.
 * Thread-safe in the sense that calls share no state.
 */
#ifndef PSOP_KAFKA_ADMIN_H
#define PSOP_KAFKA_ADMIN_H

#include <stddef.h>

#include "config.h"

/* Default replication factor: one broker in development. */
#define KADMIN_DEFAULT_REPLICATION 1

struct kadmin_topic {
    const char *name;
    int partitions;
    int replication; /* >= 1, or -1 for the broker's default */
};

/* Creates the topics; one that already exists counts as success (its
 * partition count is left as it is). Waits up to timeout_ms for the brokers.
 * Returns 0, or -1 with err naming the first topic that failed. */
int kadmin_create_topics(const struct psop_config *cfg, const struct kadmin_topic *topics,
                         size_t n, int timeout_ms, char *err, size_t errlen);

/* Creates every psop topic of topics.h: commands and events with
 * cfg->topic_partitions partitions, the DLQ with TOPIC_DLQ_PARTITIONS, all
 * with the given replication factor. Idempotent. 0, or -1 with err. */
int kadmin_ensure_topics(const struct psop_config *cfg, int replication, char *err,
                         size_t errlen);

#endif
