/*
 * store/topics.h - the names of psop's Kafka topics, in one place.
 *
 * Code refers to a topic by its macro (TOPIC_CMD_VOUCHER) or looks it up by
 * aggregate (topics_command("voucher")); nobody spells "psop.commands.*" by
 * hand. psop_topics[] is the full list that kadmin_ensure_topics() creates.
 * Everything here is constant: safe from any thread.
 */
#ifndef PSOP_TOPICS_H
#define PSOP_TOPICS_H

#include <stddef.h>

#define TOPIC_CMD_REFERENCE "psop.commands.reference"
#define TOPIC_CMD_PROVIDER "psop.commands.provider"
#define TOPIC_CMD_VOUCHER "psop.commands.voucher"
#define TOPIC_CMD_ORDER "psop.commands.order"
#define TOPIC_CMD_SETTLEMENT "psop.commands.settlement"

/* Reference data events (organiser.upserted, ...): not in architecture.md's
 * list, but the reference worker publishes them; see the lead's note. */
#define TOPIC_EVT_REFERENCE "psop.events.reference"
#define TOPIC_EVT_PROVIDER "psop.events.provider"
#define TOPIC_EVT_VOUCHER "psop.events.voucher"
#define TOPIC_EVT_ORDER "psop.events.order"
#define TOPIC_EVT_SETTLEMENT "psop.events.settlement"

/* Access records (docs/domain.md, "Access log and representation"): keyed by
 * client id; not domain events. */
#define TOPIC_AUDIT "psop.audit"
#define TOPIC_DLQ "psop.dlq"
/* The DLQ carries little traffic and needs no per-key parallelism. */
#define TOPIC_DLQ_PARTITIONS 3

enum topic_kind { TOPIC_KIND_COMMANDS, TOPIC_KIND_EVENTS, TOPIC_KIND_AUDIT, TOPIC_KIND_DLQ };

struct psop_topic {
    const char *name;
    enum topic_kind kind;
    const char *aggregate; /* "voucher"...; NULL for the audit topic and the DLQ */
    int partitions;        /* fixed count, or 0 = cfg->topic_partitions */
};

extern const struct psop_topic psop_topics[];
extern const size_t psop_n_topics;

/* The topic with that exact name, or NULL. */
const struct psop_topic *topics_find(const char *name);

/* "psop.commands.<aggregate>" for a known aggregate (reference, provider,
 * voucher, order, settlement), else NULL. The result is a static string. */
const char *topics_command(const char *aggregate);

/* "psop.events.<aggregate>" for a known aggregate (reference, provider,
 * voucher, order, settlement), else NULL. The result is a static string. */
const char *topics_event(const char *aggregate);

#endif
