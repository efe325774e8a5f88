/*
 * store/kadmin.h - topic creation through the Kafka Admin API.
 *
 * Each call creates and destroys its own short-lived client: these are
 * start-up and tooling operations (psopctl topics, tests), not hot paths.
 * Thread-safe in the sense that calls share no state.
 */
#ifndef PSOP_KAFKA_ADMIN_H
#define PSOP_KAFKA_ADMIN_H

#include <stddef.h>

#include "core/config.h"

/* Replication "auto": as many copies as the cluster has brokers, at most 3
 * (3 brokers: RF 3; one broker in a small development stack: RF 1). */
#define KADMIN_REPLICATION_AUTO 0
#define KADMIN_DEFAULT_REPLICATION KADMIN_REPLICATION_AUTO
#define KADMIN_MAX_AUTO_REPLICATION 3

struct kadmin_topic {
    const char *name;
    int partitions;
    int replication; /* >= 1, or -1 for the broker's default */
    int min_insync;  /* min.insync.replicas of the new topic; 0: the broker's default */
};

/* The min.insync.replicas that goes with a replication factor: 2 from 3
 * copies on (one broker may be lost without refusing acks=all writes, and
 * an acknowledged write is on two brokers), else 1. */
int kadmin_min_insync_for(int replication);

/* How many brokers the cluster's metadata lists; -1 with err. */
int kadmin_broker_count(const struct psop_config *cfg, int timeout_ms, char *err, size_t errlen);

/* Creates the topics; one that already exists counts as success (its
 * partition count is left as it is). Waits up to timeout_ms for the brokers.
 * Returns 0, or -1 with err naming the first topic that failed. */
int kadmin_create_topics(const struct psop_config *cfg, const struct kadmin_topic *topics, size_t n,
                         int timeout_ms, char *err, size_t errlen);

/* Creates every psop topic of store/topics.h: commands and events with
 * cfg->topic_partitions partitions, the DLQ with TOPIC_DLQ_PARTITIONS, all
 * with the given replication factor (KADMIN_REPLICATION_AUTO: from the
 * broker count, written to *used when used is not NULL) and the
 * min.insync.replicas that goes with it. Idempotent: existing topics are
 * left as they are. 0, or -1 with err. */
int kadmin_ensure_topics(const struct psop_config *cfg, int replication, int *used, char *err,
                         size_t errlen);

/* Existing psop topics with fewer replicas than want (a cluster that grew
 * after they were created): calls cb(name, replicas, cls) for each and
 * returns how many, or -1 with err. */
typedef void (*kadmin_short_fn)(const char *topic, int replicas, void *cls);
int kadmin_check_replication(const struct psop_config *cfg, int want, kadmin_short_fn cb, void *cls,
                             char *err, size_t errlen);

#endif
