/*
 * store/kafka_conf.h - the rd_kafka_conf_t every psop client starts from.
 *
 * kafka_conf_new() sets bootstrap.servers from cfg->kafka_brokers, the
 * failover settings every client shares (reconnect backoff, metadata
 * refresh: see store/kafka_conf.c), routes
 * librdkafka's log and error callbacks to core/log.h (they run on librdkafka's
 * threads; core/log.h is thread-safe), and applies the kafka.* passthrough.
 * Callers then set the properties their semantics depend on *after* the
 * passthrough with kafka_conf_set(), so configuration cannot turn off, say,
 * idempotence.
 */
#ifndef PSOP_KAFKA_CONF_H
#define PSOP_KAFKA_CONF_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

#include "core/config.h"

/* A new conf (caller owns it until rd_kafka_new takes it), or NULL with err
 * filled. tconf (may be NULL) is taken, also on failure, and installed as the
 * default topic conf first: rd_kafka_conf_set_default_topic_conf() replaces
 * topic-level properties set earlier through the global conf. Properties in
 * defaults (NULL-terminated name/value pairs, may be NULL) are set before the
 * passthrough, so kafka.* may override them. */
rd_kafka_conf_t *kafka_conf_new(const struct psop_config *cfg, rd_kafka_topic_conf_t *tconf,
                                const char *const *defaults, char *err, size_t errlen);

/* Sets name=value; 0, or -1 with err naming the property. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen);

#endif
