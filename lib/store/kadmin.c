#include "store/kadmin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

#include "store/kafka_conf.h"
#include "core/log.h"
#include "store/topics.h"
#include "core/xmalloc.h"

int kadmin_min_insync_for(int replication)
{
    return replication >= 3 ? 2 : 1;
}

/* A short-lived client for admin requests and metadata; NULL with err. */
static rd_kafka_t *admin_client(const struct psop_config *cfg, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, NULL, NULL, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka admin client: %s", why);
    }
    return rk;
}

int kadmin_broker_count(const struct psop_config *cfg, int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_t *rk = admin_client(cfg, err, errlen);
    if (!rk)
        return -1;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    int n = -1;
    if (e)
        snprintf(err, errlen, "kafka metadata from %s: %s", cfg->kafka_brokers,
                 rd_kafka_err2str(e));
    else
        n = md->broker_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}

int kadmin_create_topics(const struct psop_config *cfg, const struct kadmin_topic *topics, size_t n,
                         int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    rd_kafka_NewTopic_t **nt = NULL;
    rd_kafka_AdminOptions_t *opts = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_event_t *ev = NULL;
    char why[512];
    int rc = -1;

    if (n == 0)
        return 0;
    rk = admin_client(cfg, err, errlen);
    if (!rk)
        return -1;

    nt = xcalloc(n, sizeof(*nt));
    for (size_t i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(topics[i].name, topics[i].partitions, topics[i].replication,
                                      why, sizeof(why));
        if (!nt[i]) {
            snprintf(err, errlen, "topic %s: %s", topics[i].name, why);
            goto out;
        }
        if (topics[i].min_insync > 0) {
            char v[16];
            snprintf(v, sizeof(v), "%d", topics[i].min_insync);
            if (rd_kafka_NewTopic_set_config(nt[i], "min.insync.replicas", v)) {
                snprintf(err, errlen, "topic %s: cannot set min.insync.replicas", topics[i].name);
                goto out;
            }
        }
    }
    opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    /* operation timeout: how long the controller waits for the topic to
     * exist everywhere before answering. */
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why)) ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why))) {
        snprintf(err, errlen, "kafka admin options: %s", why);
        goto out;
    }
    q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (!ev) {
        snprintf(err, errlen, "kafka create topics: no answer from %s within %d ms",
                 cfg->kafka_brokers, timeout_ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "kafka create topics: %s", rd_kafka_event_error_string(ev));
        goto out;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    if (!tr || cnt != n) {
        snprintf(err, errlen, "kafka create topics: unexpected result (%zu of %zu topics)", cnt, n);
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < cnt; i++) {
        const char *name = rd_kafka_topic_result_name(tr[i]);
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            LOG_INFO("kafka topic created", "topic", name, NULL);
        } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            LOG_DEBUG("kafka topic exists", "topic", name, NULL);
        } else {
            const char *msg = rd_kafka_topic_result_error_string(tr[i]);
            LOG_ERROR("kafka topic creation failed", "topic", name, "error", rd_kafka_err2name(e),
                      "detail", msg, NULL);
            if (rc == 0)
                snprintf(err, errlen, "topic %s: %s", name, msg ? msg : rd_kafka_err2str(e));
            rc = -1;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (q)
        rd_kafka_queue_destroy(q);
    if (opts)
        rd_kafka_AdminOptions_destroy(opts);
    if (nt) {
        for (size_t i = 0; i < n; i++)
            if (nt[i])
                rd_kafka_NewTopic_destroy(nt[i]);
        free(nt);
    }
    rd_kafka_destroy(rk);
    return rc;
}

int kadmin_ensure_topics(const struct psop_config *cfg, int replication, int *used, char *err,
                         size_t errlen)
{
    if (cfg->topic_partitions < 1) {
        snprintf(err, errlen, "topic_partitions must be >= 1, got %d", cfg->topic_partitions);
        return -1;
    }
    if (replication < -1) {
        snprintf(err, errlen, "replication factor must be >= 1, got %d", replication);
        return -1;
    }
    if (replication == KADMIN_REPLICATION_AUTO) {
        int brokers = kadmin_broker_count(cfg, 30000, err, errlen);
        if (brokers < 1)
            return -1;
        replication = brokers < KADMIN_MAX_AUTO_REPLICATION ? brokers : KADMIN_MAX_AUTO_REPLICATION;
    }
    if (used)
        *used = replication;
    struct kadmin_topic *list = xcalloc(psop_n_topics, sizeof(*list));
    for (size_t i = 0; i < psop_n_topics; i++) {
        list[i].name = psop_topics[i].name;
        list[i].partitions =
            psop_topics[i].partitions > 0 ? psop_topics[i].partitions : cfg->topic_partitions;
        list[i].replication = replication;
        list[i].min_insync = replication > 0 ? kadmin_min_insync_for(replication) : 0;
    }
    int rc = kadmin_create_topics(cfg, list, psop_n_topics, 30000, err, errlen);
    free(list);
    return rc;
}

int kadmin_check_replication(const struct psop_config *cfg, int want, kadmin_short_fn cb, void *cls,
                             char *err, size_t errlen)
{
    rd_kafka_t *rk = admin_client(cfg, err, errlen);
    if (!rk)
        return -1;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 30000);
    int n = -1;
    if (e) {
        snprintf(err, errlen, "kafka metadata from %s: %s", cfg->kafka_brokers,
                 rd_kafka_err2str(e));
        goto out;
    }
    n = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const rd_kafka_metadata_topic_t *mt = &md->topics[t];
        if (!topics_find(mt->topic) || mt->partition_cnt < 1)
            continue;
        int replicas = mt->partitions[0].replica_cnt;
        for (int p = 1; p < mt->partition_cnt; p++)
            if (mt->partitions[p].replica_cnt < replicas)
                replicas = mt->partitions[p].replica_cnt;
        if (replicas < want) {
            n++;
            if (cb)
                cb(mt->topic, replicas, cls);
        }
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}
