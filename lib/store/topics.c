#include "store/topics.h"

#include <string.h>

const struct psop_topic psop_topics[] = {
    {TOPIC_CMD_REFERENCE, TOPIC_KIND_COMMANDS, "reference", 0},
    {TOPIC_CMD_PROVIDER, TOPIC_KIND_COMMANDS, "provider", 0},
    {TOPIC_CMD_VOUCHER, TOPIC_KIND_COMMANDS, "voucher", 0},
    {TOPIC_CMD_ORDER, TOPIC_KIND_COMMANDS, "order", 0},
    {TOPIC_CMD_SETTLEMENT, TOPIC_KIND_COMMANDS, "settlement", 0},
    {TOPIC_EVT_REFERENCE, TOPIC_KIND_EVENTS, "reference", 0},
    {TOPIC_EVT_PROVIDER, TOPIC_KIND_EVENTS, "provider", 0},
    {TOPIC_EVT_VOUCHER, TOPIC_KIND_EVENTS, "voucher", 0},
    {TOPIC_EVT_ORDER, TOPIC_KIND_EVENTS, "order", 0},
    {TOPIC_EVT_SETTLEMENT, TOPIC_KIND_EVENTS, "settlement", 0},
    {TOPIC_AUDIT, TOPIC_KIND_AUDIT, NULL, 0},
    {TOPIC_DLQ, TOPIC_KIND_DLQ, NULL, TOPIC_DLQ_PARTITIONS},
};
const size_t psop_n_topics = sizeof(psop_topics) / sizeof(psop_topics[0]);

const struct psop_topic *topics_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < psop_n_topics; i++)
        if (strcmp(psop_topics[i].name, name) == 0)
            return &psop_topics[i];
    return NULL;
}

static const char *by_aggregate(enum topic_kind kind, const char *aggregate)
{
    if (!aggregate)
        return NULL;
    for (size_t i = 0; i < psop_n_topics; i++)
        if (psop_topics[i].kind == kind && psop_topics[i].aggregate &&
            strcmp(psop_topics[i].aggregate, aggregate) == 0)
            return psop_topics[i].name;
    return NULL;
}

const char *topics_command(const char *aggregate)
{
    return by_aggregate(TOPIC_KIND_COMMANDS, aggregate);
}

const char *topics_event(const char *aggregate)
{
    return by_aggregate(TOPIC_KIND_EVENTS, aggregate);
}
