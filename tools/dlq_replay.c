#include "dlq_replay.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>

#include "core/clock.h"
#include "store/kafka_conf.h"
#include "store/kprod.h"
#include "store/topics.h"
#include "core/xmalloc.h"

#define DLQ_DEFAULT_GROUP "psop-dlq-replay"

struct delivery {
    long ok, failed;
};

static void on_delivery(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    (void)partition;
    (void)offset;
    struct delivery *d = opaque;
    if (err)
        __atomic_add_fetch(&d->failed, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&d->ok, 1, __ATOMIC_RELAXED);
}

/* Header value as a string (into buf); "" when absent. */
static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t n)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && v) {
        if (len >= n)
            len = n - 1;
        memcpy(buf, v, len);
        buf[len] = '\0';
    }
    return buf;
}

/* The command's envelope id and type, best effort ("?" when unreadable). */
static void envelope_id_type(rd_kafka_message_t *m, char *id, size_t idn, char *type, size_t typen)
{
    snprintf(id, idn, "?");
    snprintf(type, typen, "?");
    json_t *j = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    if (json_is_string(json_object_get(j, "id")))
        snprintf(id, idn, "%s", json_string_value(json_object_get(j, "id")));
    if (json_is_string(json_object_get(j, "type")))
        snprintf(type, typen, "%s", json_string_value(json_object_get(j, "type")));
    json_decref(j);
}

static rd_kafka_t *open_consumer(const struct psop_config *cfg, const char *group, char *err,
                                 size_t errlen)
{
    const char *defaults[] = {"auto.offset.reset", "earliest", NULL};
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, NULL, defaults, err, errlen);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", group, err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) < 0 ||
        kafka_conf_set(conf, "enable.partition.eof", "true", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, TOPIC_DLQ, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (e) {
        snprintf(err, errlen, "subscribe %s: %s", TOPIC_DLQ, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

/* True once a non-empty assignment exists and every partition in it is at
 * its end (eof[p] set). */
static bool all_at_end(rd_kafka_t *rk, const bool *eof, int n_eof)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return false;
    bool done = a->cnt > 0;
    for (int i = 0; i < a->cnt && done; i++) {
        int p = (int)a->elems[i].partition;
        done = p >= 0 && p < n_eof && eof[p];
    }
    rd_kafka_topic_partition_list_destroy(a);
    return done;
}

/* Produces m again to its original topic; false when it could not be queued. */
static bool requeue(struct kprod *kp, rd_kafka_message_t *m, const char *topic, struct delivery *d,
                    char *err, size_t errlen)
{
    char from[96];
    snprintf(from, sizeof(from), "%s/%d/%lld", TOPIC_DLQ, (int)m->partition, (long long)m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "psop-replayed-from", -1, from, -1);
    if (kprod_send(kp, topic, m->key, m->key ? m->key_len : 0, m->payload ? m->payload : "", m->len,
                   h, d, err, errlen) < 0) {
        rd_kafka_headers_destroy(h);
        return false;
    }
    return true;
}

int dlq_run(const struct psop_config *cfg, const struct dlq_opts *o, FILE *out,
            struct dlq_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    struct delivery d = {0, 0};
    struct kprod *kp = NULL;
    if (o->replay) {
        kp = kprod_new(cfg, on_delivery, err, errlen);
        if (!kp)
            return -1;
    }
    rd_kafka_t *rk = open_consumer(cfg, o->group ? o->group : DLQ_DEFAULT_GROUP, err, errlen);
    if (!rk) {
        kprod_free(kp, 0);
        return -1;
    }
    enum { MAX_PARTITIONS = 1024 };
    bool *eof = xcalloc(MAX_PARTITIONS, sizeof(*eof));
    int rc = 0;
    double deadline = (double)clock_mono_ms() + (o->timeout_ms > 0 ? o->timeout_ms : 30000);
    while (!all_at_end(rk, eof, MAX_PARTITIONS)) {
        if ((double)clock_mono_ms() > deadline) {
            snprintf(err, errlen, "did not reach the end of %s within %d ms", TOPIC_DLQ,
                     o->timeout_ms);
            rc = -1;
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < MAX_PARTITIONS)
                eof[m->partition] = true;
        } else if (m->err) {
            fprintf(stderr, "dlq: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (m->partition >= 0 && m->partition < MAX_PARTITIONS)
                eof[m->partition] = false; /* more arrived behind it */
            res->seen++;
            char topic[256], why[512], id[64], type[64];
            header(m, "psop-topic", topic, sizeof(topic));
            header(m, "psop-error", why, sizeof(why));
            envelope_id_type(m, id, sizeof(id), type, sizeof(type));
            const char *action;
            if (o->command_id && strcmp(o->command_id, id) != 0) {
                res->skipped++;
                rd_kafka_message_destroy(m);
                continue; /* not listed: the operator asked for one command */
            } else if (strncmp(topic, "psop.commands.", 14) != 0) {
                action = "skipped (no command topic in its headers)";
                res->skipped++;
            } else if (!o->replay) {
                action = "would replay";
            } else {
                char qerr[256];
                if (requeue(kp, m, topic, &d, qerr, sizeof(qerr))) {
                    action = "replayed";
                    res->replayed++;
                } else {
                    action = "NOT replayed";
                    res->failed++;
                    fprintf(stderr, "dlq: %s\n", qerr);
                }
            }
            fprintf(out, "%s/%d/%lld  %-26s %-38s -> %-24s %s  [%s]\n", TOPIC_DLQ,
                    (int)m->partition, (long long)m->offset, type, id, topic, action, why);
        }
        rd_kafka_message_destroy(m);
    }
    if (kp) {
        int left =
            kprod_flush(kp, cfg->produce_timeout_ms > 0 ? cfg->produce_timeout_ms * 2 : 10000);
        long failed = __atomic_load_n(&d.failed, __ATOMIC_RELAXED) + left;
        if (failed > 0) {
            res->failed += failed;
            res->replayed -= failed;
            if (rc == 0)
                snprintf(err, errlen, "%ld replayed messages were not acknowledged", failed);
            rc = -1;
        }
    }
    /* Only a complete, acknowledged, unfiltered replay moves the group on. */
    if (rc == 0 && o->replay && !o->command_id && res->seen > 0) {
        rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
            snprintf(err, errlen, "commit of the DLQ position: %s", rd_kafka_err2str(e));
            rc = -1;
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    kprod_free(kp, 5000);
    free(eof);
    return rc;
}
