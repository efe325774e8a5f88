#include "store/kprod.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/kafka_conf.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct kprod {
    rd_kafka_t *rk;
    kprod_dr_cb dr;
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;

    /* Messages handed to librdkafka whose delivery report has not run yet.
     * Counted here rather than with rd_kafka_outq_len(), which also counts
     * protocol requests and drops before our callback has returned. */
    pthread_mutex_t mu;
    pthread_cond_t drained; /* CLOCK_MONOTONIC */
    int outstanding;
};

/* Runs on the poll thread, once per message. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kprod *p = opaque;
    (void)rk;
    if (m->err) {
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)m->partition);
        LOG_WARN("kafka delivery failed", "topic", rd_kafka_topic_name(m->rkt), "partition", part,
                 "error", rd_kafka_err2str(m->err), NULL);
    }
    if (p->dr)
        p->dr(m->_private, m->err, m->partition, m->offset);
    pthread_mutex_lock(&p->mu);
    if (--p->outstanding == 0)
        pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->mu);
}

static void *poll_main(void *arg)
{
    struct kprod *p = arg;
    while (!atomic_load(&p->stop))
        rd_kafka_poll(p->rk, 100);
    return NULL;
}

struct kprod *kprod_new(const struct psop_config *cfg, kprod_dr_cb dr, char *err, size_t errlen)
{
    struct kprod *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char why[512];
    char mto[16], rto[16];

    if (cfg->produce_timeout_ms <= 5) {
        snprintf(err, errlen, "produce_timeout_ms must be > 5 (linger.ms), got %d",
                 cfg->produce_timeout_ms);
        return NULL;
    }
    snprintf(mto, sizeof(mto), "%d", cfg->produce_timeout_ms);
    /* A single request may not outlive the message it carries. */
    snprintf(rto, sizeof(rto), "%d",
             cfg->produce_timeout_ms < 30000 ? cfg->produce_timeout_ms : 30000);
    const char *defaults[] = {"linger.ms", "5", "message.timeout.ms", mto, "request.timeout.ms",
                              rto,         NULL};

    /* murmur2_random so Java clients put a key in the same partition. */
    rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
    if (rd_kafka_topic_conf_set(tconf, "partitioner", "murmur2_random", why, sizeof(why)) !=
        RD_KAFKA_CONF_OK) {
        rd_kafka_topic_conf_destroy(tconf);
        snprintf(err, errlen, "kafka partitioner: %s", why);
        return NULL;
    }
    conf = kafka_conf_new(cfg, tconf, defaults, err, errlen);
    if (!conf)
        return NULL;
    /* The delivery guarantees of architecture.md: not overridable. */
    if (kafka_conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        kafka_conf_set(conf, "acks", "all", err, errlen) < 0)
        goto fail;

    p = xcalloc(1, sizeof(*p));
    p->dr = dr;
    atomic_init(&p->stop, false);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->drained, &ca);
    pthread_condattr_destroy(&ca);

    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        snprintf(err, errlen, "kafka producer: %s", why);
        goto fail;
    }
    conf = NULL; /* rd_kafka_new took it */
    int rc = pthread_create(&p->poller, NULL, poll_main, p);
    if (rc != 0) {
        snprintf(err, errlen, "kafka producer poll thread: %s", strerror(rc));
        goto fail;
    }
    p->poller_started = true;
    LOG_INFO("kafka producer started", "client", rd_kafka_name(p->rk), "brokers",
             cfg->kafka_brokers, NULL);
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (p) {
        if (p->rk)
            rd_kafka_destroy(p->rk);
        pthread_cond_destroy(&p->drained);
        pthread_mutex_destroy(&p->mu);
        free(p);
    }
    return NULL;
}

int kprod_send(struct kprod *p, const char *topic, const char *key, size_t keylen,
               const void *payload, size_t len, rd_kafka_headers_t *hdrs, void *opaque, char *err,
               size_t errlen)
{
    /* Counted before producev: the report may run on the poll thread before
     * producev has even returned. */
    pthread_mutex_lock(&p->mu);
    p->outstanding++;
    pthread_mutex_unlock(&p->mu);

    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? keylen : 0),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;

    pthread_mutex_lock(&p->mu);
    if (--p->outstanding == 0)
        pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->mu);
    snprintf(err, errlen, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
    return -1;
}

int kprod_flush(struct kprod *p, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (p->outstanding > 0) {
        if (pthread_cond_timedwait(&p->drained, &p->mu, &until) == ETIMEDOUT)
            break;
    }
    int left = p->outstanding;
    pthread_mutex_unlock(&p->mu);
    return left;
}

int kprod_outstanding(struct kprod *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->outstanding;
    pthread_mutex_unlock(&p->mu);
    return n;
}

bool kprod_fatal(struct kprod *p, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(p->rk, why, sizeof(why));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    snprintf(err, errlen, "kafka fatal %s: %s", rd_kafka_err2name(e), why);
    return true;
}

void kprod_free(struct kprod *p, int timeout_ms)
{
    if (!p)
        return;
    int left = kprod_flush(p, timeout_ms);
    if (left > 0) {
        /* Purged messages still get their report (ERR__PURGE_*), so every
         * caller's opaque is released exactly once. */
        char n[16];
        snprintf(n, sizeof(n), "%d", left);
        LOG_WARN("kafka producer closing with undelivered messages", "count", n, NULL);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        if (kprod_flush(p, 2000) > 0) /* the purged messages' reports, at most 2 s */
            LOG_WARN("kafka producer closing: purged messages not all reported", NULL);
    }
    if (p->poller_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->poller, NULL);
    }
    rd_kafka_destroy(p->rk);
    pthread_cond_destroy(&p->drained);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

rd_kafka_t *kprod_handle(struct kprod *p)
{
    return p->rk;
}
