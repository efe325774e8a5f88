#include "store/kcons.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/heartbeat.h"
#include "store/kafka_conf.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct kcons {
    rd_kafka_t *rk;
    char *group_id;
};

static void log_partitions(const char *what, const rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; parts && i < parts->cnt && pos < sizeof(buf); i++) {
        int n = snprintf(buf + pos, sizeof(buf) - pos, "%s%s[%d]", i ? "," : "",
                         parts->elems[i].topic, (int)parts->elems[i].partition);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    LOG_INFO(what, "partitions", buf, NULL);
}

/* Eager protocol: every rebalance revokes everything and assigns anew.
 * On revoke with enable.auto.commit, librdkafka commits the stored offsets
 * before the partitions go, so nothing already processed is redone. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        log_partitions("kafka partitions assigned", parts);
        rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        log_partitions("kafka partitions revoked", parts);
        rd_kafka_assign(rk, NULL);
        break;
    default:
        LOG_ERROR("kafka rebalance failed", "error", rd_kafka_err2str(err), NULL);
        rd_kafka_assign(rk, NULL);
        break;
    }
}

struct kcons *kcons_new(const struct psop_config *cfg, const char *group_id,
                        const char *instance_id, const char *const *topics, char *err,
                        size_t errlen)
{
    struct kcons *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    char why[512];

    if (!group_id || !*group_id || !topics || !topics[0]) {
        snprintf(err, errlen, "kafka consumer needs a group id and at least one topic");
        return NULL;
    }
    /* session.timeout.ms 10 s instead of librdkafka's 45 s: a worker that
     * died (kill -9, host loss) holds its partitions until the session
     * expires, and with static membership a restarted worker with the same
     * instance id takes its partitions back without a rebalance only within
     * that window. 10 s covers a process restart, is above the broker's
     * group.min.session.timeout.ms (6 s) and leaves three 3 s heartbeats. */
    /* max.poll.interval.ms 30 min instead of 5: a worker polls between
     * batches only, and one batch of big settlement runs (25 organisers,
     * 1 000 000 events: docs/benchmarks.md) outlasted 5 min; past it the
     * consumer is dropped from the group mid-transaction, its offsets are
     * not committed and the partitions' new owner redoes the batch (only
     * de-duplicated). Liveness stays with session.timeout.ms: heartbeats
     * come from librdkafka's own thread. */
    const char *defaults[] = {
        "session.timeout.ms", "10000", "max.poll.interval.ms", "1800000", "auto.offset.reset",
        "earliest",           NULL};
    conf = kafka_conf_new(cfg, NULL, defaults, err, errlen);
    if (!conf)
        return NULL;
    /* Delivery semantics (architecture.md) and the assignment protocol: not
     * overridable. Eager "range": librdkafka 2.0.2's cooperative-sticky has
     * known bugs. Offsets are stored only after a COMMIT and committed in the
     * background. */
    if (kafka_conf_set(conf, "group.id", group_id, err, errlen) < 0 ||
        kafka_conf_set(conf, "partition.assignment.strategy", "range", err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen) < 0)
        goto fail;
    if (instance_id && *instance_id &&
        kafka_conf_set(conf, "group.instance.id", instance_id, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);

    c = xcalloc(1, sizeof(*c));
    c->group_id = xstrdup(group_id);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        snprintf(err, errlen, "kafka consumer: %s", why);
        goto fail;
    }
    conf = NULL;
    /* One queue: log, error and rebalance events are served by consumer_poll. */
    rd_kafka_poll_set_consumer(c->rk);

    size_t n = 0;
    while (topics[n])
        n++;
    subs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        goto fail;
    }
    LOG_INFO("kafka consumer started", "group", group_id, "instance",
             instance_id && *instance_id ? instance_id : NULL, "topic", topics[0], NULL);
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c) {
        if (c->rk)
            rd_kafka_destroy(c->rk);
        free(c->group_id);
        free(c);
    }
    return NULL;
}

/* Keeps real messages; logs and drops error events. */
static bool keep(rd_kafka_message_t *m)
{
    if (!m->err)
        return true;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)m->partition);
        LOG_WARN("kafka consume error", "topic", m->rkt ? rd_kafka_topic_name(m->rkt) : NULL,
                 "partition", m->rkt ? part : NULL, "error", rd_kafka_message_errstr(m), NULL);
    }
    rd_kafka_message_destroy(m);
    return false;
}

size_t kcons_poll_batch(struct kcons *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms)
{
    size_t n = 0;
    if (max == 0)
        return 0;
    long deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    /* Wait for the first real message, errors don't end the wait. */
    for (;;) {
        long left = deadline - clock_mono_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (!m)
            return 0;
        if (keep(m)) {
            msgs[n++] = m;
            break;
        }
        if (left <= 0)
            return 0;
    }
    /* Then whatever is already fetched, without waiting. */
    while (n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (!m)
            break;
        if (keep(m))
            msgs[n++] = m;
    }
    return n;
}

int kcons_store(struct kcons *c, rd_kafka_message_t *const *msgs, size_t n)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        if (!m || m->err || !m->rkt)
            continue;
        const char *topic = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(offs, topic, m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offs, topic, m->partition);
        /* The committed offset is the next one to read. */
        if (tp->offset < m->offset + 1)
            tp->offset = m->offset + 1;
    }
    int rc = 0;
    if (offs->cnt > 0) {
        rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, offs);
        /* Per partition: ERR__STATE when it was revoked meanwhile; its new
         * owner redoes the messages and de-duplicates them. */
        for (int i = 0; i < offs->cnt; i++) {
            if (offs->elems[i].err) {
                char part[16];
                snprintf(part, sizeof(part), "%d", (int)offs->elems[i].partition);
                LOG_WARN("kafka offset store failed", "topic", offs->elems[i].topic, "partition",
                         part, "error", rd_kafka_err2str(offs->elems[i].err), NULL);
                rc = -1;
            }
        }
        if (e && rc == 0) {
            LOG_WARN("kafka offset store failed", "error", rd_kafka_err2str(e), NULL);
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(offs);
    return rc;
}

int kcons_commit_sync(struct kcons *c)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    LOG_WARN("kafka commit failed", "group", c->group_id, "error", rd_kafka_err2str(e), NULL);
    return -1;
}

void kcons_close(struct kcons *c)
{
    if (!c)
        return;
    kcons_commit_sync(c);
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e)
        LOG_WARN("kafka consumer close", "group", c->group_id, "error", rd_kafka_err2str(e), NULL);
    rd_kafka_destroy(c->rk);
    free(c->group_id);
    free(c);
}

bool kcons_failed(struct kcons *c, char *err, size_t errlen)
{
    return rd_kafka_fatal_error(c->rk, err, errlen) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

void kcons_abandon(struct kcons *c)
{
    if (!c)
        return;
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    free(c->group_id);
    free(c);
}

rd_kafka_t *kcons_handle(struct kcons *c)
{
    return c->rk;
}

int kcons_renew(struct kcons **c, const struct psop_config *cfg, const char *group_id,
                const char *instance_id, const char *const *topics, volatile sig_atomic_t *stop)
{
    char err[512] = "";
    kcons_failed(*c, err, sizeof(err));
    LOG_ERROR("kafka consumer failed for good: starting a new one", "group", group_id, "error", err,
              NULL);
    kcons_abandon(*c);
    *c = NULL;
    while (!*stop) {
        heartbeat_touch(cfg->worker_heartbeat_file);
        *c = kcons_new(cfg, group_id, instance_id, topics, err, sizeof(err));
        if (*c)
            return 0;
        LOG_WARN("kafka consumer not started, retrying", "group", group_id, "error", err, NULL);
        sleep(1);
    }
    return -1;
}
