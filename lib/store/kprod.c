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
#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* How often one message may be produced again on a new handle after the
 * handle it was on failed for good, before its failure is reported. */
#define KPROD_RESEND_MAX 3
/* How long a renewal lets the old handle's requests in flight finish
 * (their answers stand: acknowledged stays acknowledged, nothing is sent
 * twice) before it purges them too; and how long it waits for the reports
 * of what it purged. */
#define KPROD_DRAIN_MS 5000
#define KPROD_PURGED_MS 2000

/* What librdkafka carries as a message's opaque: the caller's, the handle
 * it is on, and how many handles it has been produced on. */
struct kmsg {
    void *opaque;
    rd_kafka_t *on;
    int attempts;
};

/* A message taken back from a failed handle, to be produced on the next. */
struct resend {
    struct resend *next;
    char *topic;
    void *key;
    size_t keylen;
    void *payload;
    size_t len;
    rd_kafka_headers_t *hdrs;
    struct kmsg *k;
};

struct kprod {
    /* The handle and the configuration of its successor. rk is read under
     * swap (shared) by every sender and the poll thread, and replaced under
     * swap (exclusive) by a renewal. */
    pthread_rwlock_t swap;
    rd_kafka_t *rk;
    rd_kafka_conf_t *next_conf;
    atomic_ulong renewals;
    atomic_bool renewing; /* a purge of ours is running: its failures are resent */

    kprod_dr_cb dr;
    pthread_t poller;
    bool poller_started;
    atomic_bool stop;

    /* Messages handed to librdkafka whose delivery report has not run yet.
     * Counted here rather than with rd_kafka_outq_len(), which also counts
     * protocol requests and drops before our callback has returned. A
     * message taken back for a new handle stays counted. */
    pthread_mutex_t mu;
    pthread_cond_t drained; /* CLOCK_MONOTONIC */
    int outstanding;
    struct resend *resend_head, *resend_tail; /* under mu, in report order */
    /* Messages on the current handle, and on the failed one a renewal is
     * draining (NULL when none), until their reports (under mu). */
    int on_current, on_draining;
    rd_kafka_t *draining;
};

static void outstanding_done(struct kprod *p)
{
    pthread_mutex_lock(&p->mu);
    if (--p->outstanding == 0)
        pthread_cond_broadcast(&p->drained);
    pthread_mutex_unlock(&p->mu);
}

/* The message's final report: to the caller, once. */
static void report(struct kprod *p, struct kmsg *k, rd_kafka_resp_err_t err, int32_t partition,
                   int64_t offset)
{
    void *opaque = k->opaque;
    free(k);
    if (p->dr)
        p->dr(opaque, err, partition, offset);
    outstanding_done(p);
}

/* A failure that the handle caused, not the message: the handle failed for
 * good (ERR__FATAL; the queue librdkafka purges itself when it does; or the
 * very request that failed it, whose messages come back carrying the fatal
 * error itself, e.g. OUT_OF_ORDER_SEQUENCE_NUMBER: librdkafka raises the
 * fatal error before it fails that request's messages), or our renewal
 * purged it. Such a message may already be stored (at least once, as every
 * retry), and is produced again. A message whose time is up
 * (message.timeout.ms, the caller's deadline) is not. */
static bool resendable(const struct kprod *p, rd_kafka_t *rk, rd_kafka_resp_err_t err,
                       const struct kmsg *k)
{
    if (k->attempts >= KPROD_RESEND_MAX || err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        return false;
    if (err == RD_KAFKA_RESP_ERR__FATAL ||
        rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return true;
    return (err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) &&
           atomic_load(&p->renewing);
}

static void resend_free(struct resend *r)
{
    free(r->topic);
    free(r->key);
    free(r->payload);
    free(r);
}

static void take_back(struct kprod *p, const rd_kafka_message_t *m, struct kmsg *k)
{
    struct resend *r = xcalloc(1, sizeof(*r));
    r->topic = xstrdup(rd_kafka_topic_name(m->rkt));
    r->keylen = m->key_len;
    r->key = xmalloc(m->key_len ? m->key_len : 1);
    if (m->key_len)
        memcpy(r->key, m->key, m->key_len);
    r->len = m->len;
    r->payload = xmalloc(m->len ? m->len : 1);
    if (m->len)
        memcpy(r->payload, m->payload, m->len);
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        r->hdrs = rd_kafka_headers_copy(h);
    r->k = k;
    pthread_mutex_lock(&p->mu);
    if (p->resend_tail)
        p->resend_tail->next = r;
    else
        p->resend_head = r;
    p->resend_tail = r;
    pthread_mutex_unlock(&p->mu);
}

/* Runs on whichever thread polls the handle, once per message. */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kprod *p = opaque;
    struct kmsg *k = m->_private;
    pthread_mutex_lock(&p->mu);
    if (p->draining && k->on == p->draining)
        p->on_draining--;
    else
        p->on_current--;
    pthread_mutex_unlock(&p->mu);
    if (m->err && resendable(p, rk, m->err, k)) {
        take_back(p, m, k);
        return;
    }
    if (m->err) {
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)m->partition);
        LOG_WARN("kafka delivery failed", "topic", rd_kafka_topic_name(m->rkt), "partition", part,
                 "error", rd_kafka_err2str(m->err), NULL);
    }
    report(p, k, m->err, m->partition, m->offset);
}

/* With swap held (shared or exclusive): produces k's message on the
 * current handle, counted on it before its report can run. */
static rd_kafka_resp_err_t produce_on(struct kprod *p, const char *topic, const void *key,
                                      size_t keylen, const void *payload, size_t len,
                                      rd_kafka_headers_t *hdrs, struct kmsg *k)
{
    k->on = p->rk;
    pthread_mutex_lock(&p->mu);
    p->on_current++;
    pthread_mutex_unlock(&p->mu);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(k), RD_KAFKA_V_END);
    if (e) {
        pthread_mutex_lock(&p->mu);
        p->on_current--;
        pthread_mutex_unlock(&p->mu);
    }
    return e;
}

/* With swap held exclusively: the messages taken back, produced again on
 * the (new) handle in the order they were first reported; or, when
 * give_up (the producer is closing), reported as failed, so every opaque
 * comes back once. */
static void resend_all(struct kprod *p, bool give_up)
{
    pthread_mutex_lock(&p->mu);
    struct resend *r = p->resend_head;
    p->resend_head = p->resend_tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (r) {
        struct resend *next = r->next;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__DESTROY;
        if (!give_up) {
            r->k->attempts++;
            e = produce_on(p, r->topic, r->key, r->keylen, r->payload, r->len, r->hdrs, r->k);
            if (e)
                LOG_WARN("kafka produce again failed", "topic", r->topic, "error",
                         rd_kafka_err2str(e), NULL);
        }
        if (e) {
            if (r->hdrs)
                rd_kafka_headers_destroy(r->hdrs);
            report(p, r->k, e, RD_KAFKA_PARTITION_UA, RD_KAFKA_OFFSET_INVALID);
        }
        resend_free(r);
        r = next;
    }
}

/* Polls old until none of its messages awaits a report, or ms passed.
 * Returns how many still do. */
static int drain(struct kprod *p, rd_kafka_t *old, int ms)
{
    long long t0 = clock_mono_ms();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int left = p->on_draining;
        pthread_mutex_unlock(&p->mu);
        if (left <= 0 || clock_mono_ms() - t0 >= ms)
            return left;
        rd_kafka_poll(old, 20);
    }
}

/* The handle failed for good (an idempotence guarantee librdkafka 2.0.2
 * cannot keep after a broker's death: "sequence desynchronization", fixed
 * upstream in 2.3.0). A new handle (a new producer id) takes its place; what
 * the old one still held is purged, taken back and produced again, before
 * any sender may queue after it. old is the handle the caller saw fail: if
 * another thread has already replaced it, nothing to do. */
static void renew(struct kprod *p, rd_kafka_t *old)
{
    pthread_rwlock_wrlock(&p->swap);
    if (p->rk != old) {
        pthread_rwlock_unlock(&p->swap);
        return;
    }
    char why[512];
    rd_kafka_resp_err_t fe = rd_kafka_fatal_error(old, why, sizeof(why));
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(p->next_conf);
    char nerr[512];
    rd_kafka_t *fresh = rd_kafka_new(RD_KAFKA_PRODUCER, conf, nerr, sizeof(nerr));
    if (!fresh) {
        rd_kafka_conf_destroy(conf);
        LOG_ERROR("kafka producer failed for good and no new one could be made", "error", nerr,
                  NULL);
        pthread_rwlock_unlock(&p->swap);
        return;
    }
    atomic_fetch_add(&p->renewals, 1);
    LOG_WARN("kafka producer failed for good: its messages go to a new one", "client",
             rd_kafka_name(old), "error", rd_kafka_err2name(fe), "detail", why, "new",
             rd_kafka_name(fresh), NULL);
    p->rk = fresh;
    pthread_mutex_lock(&p->mu);
    p->draining = old;
    p->on_draining = p->on_current;
    p->on_current = 0;
    pthread_mutex_unlock(&p->mu);
    /* What was never sent is taken back at once; what is in flight gets
     * its answer first (stored or not), so that nothing produced again
     * lands before an earlier copy; only then, the rest is purged. */
    atomic_store(&p->renewing, true);
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE);
    if (drain(p, old, KPROD_DRAIN_MS) > 0) {
        rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        int left = drain(p, old, KPROD_PURGED_MS);
        if (left > 0) {
            char n[16];
            snprintf(n, sizeof(n), "%d", left);
            LOG_ERROR("kafka producer renewal: messages of the failed handle never reported",
                      "count", n, NULL);
        }
    }
    atomic_store(&p->renewing, false);
    pthread_mutex_lock(&p->mu);
    p->draining = NULL;
    p->on_draining = 0;
    pthread_mutex_unlock(&p->mu);
    resend_all(p, false);
    pthread_rwlock_unlock(&p->swap);
    /* Nobody can reach old any more; its threads take a moment to stop. */
    rd_kafka_destroy(old);
}

static void *poll_main(void *arg)
{
    struct kprod *p = arg;
    while (!atomic_load(&p->stop)) {
        pthread_rwlock_rdlock(&p->swap);
        rd_kafka_t *rk = p->rk;
        rd_kafka_poll(rk, 100);
        bool fatal = rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
        pthread_rwlock_unlock(&p->swap);
        if (fatal)
            renew(p, rk);
    }
    return NULL;
}

struct kprod *kprod_new(const struct psop_config *cfg, kprod_dr_cb dr, char *err, size_t errlen)
{
    struct kprod *p = NULL;
    rd_kafka_conf_t *conf = NULL;
    char why[512];
    char mto[16], rto[16];

    if (cfg->produce_timeout_ms <= 10) {
        snprintf(err, errlen, "produce_timeout_ms must be > 10 (linger.ms), got %d",
                 cfg->produce_timeout_ms);
        return NULL;
    }
    snprintf(mto, sizeof(mto), "%d", cfg->produce_timeout_ms);
    /* A single request may not outlive the message it carries. */
    snprintf(rto, sizeof(rto), "%d",
             cfg->produce_timeout_ms < 30000 ? cfg->produce_timeout_ms : 30000);
    /* linger.ms 10, not 5: a third less CPU in the brokers and the api per
     * command and a lower p99 from ~1 000 commands/s, for +5 ms on a lone
     * command's 202 (docs/benchmarks.md, "Issue 19, seventh change"). */
    const char *defaults[] = {"linger.ms", "10", "message.timeout.ms", mto, "request.timeout.ms",
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
    atomic_init(&p->renewing, false);
    atomic_init(&p->renewals, 0);
    /* A renewal must not wait behind a stream of senders. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&p->swap, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->drained);

    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    p->next_conf = rd_kafka_conf_dup(conf);
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
        if (p->next_conf)
            rd_kafka_conf_destroy(p->next_conf);
        pthread_rwlock_destroy(&p->swap);
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

    struct kmsg *k = xcalloc(1, sizeof(*k));
    k->opaque = opaque;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    /* A handle that failed for good refuses at once: renewed, then again. */
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_rwlock_rdlock(&p->swap);
        rd_kafka_t *rk = p->rk;
        e = produce_on(p, topic, key, key ? keylen : 0, payload, len, hdrs, k);
        pthread_rwlock_unlock(&p->swap);
        if (e != RD_KAFKA_RESP_ERR__FATAL)
            break;
        renew(p, rk);
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;

    free(k);
    outstanding_done(p);
    snprintf(err, errlen, "kafka produce to %s: %s", topic, rd_kafka_err2str(e));
    return -1;
}

int kprod_flush(struct kprod *p, int timeout_ms)
{
    struct timespec until = clock_deadline(timeout_ms);
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
    pthread_rwlock_rdlock(&p->swap);
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(p->rk, why, sizeof(why));
    pthread_rwlock_unlock(&p->swap);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    snprintf(err, errlen, "kafka fatal %s: %s", rd_kafka_err2name(e), why);
    return true;
}

unsigned long kprod_renewals(struct kprod *p)
{
    return atomic_load(&p->renewals);
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
        pthread_rwlock_rdlock(&p->swap);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        pthread_rwlock_unlock(&p->swap);
        if (kprod_flush(p, 2000) > 0) /* the purged messages' reports, at most 2 s */
            LOG_WARN("kafka producer closing: purged messages not all reported", NULL);
    }
    if (p->poller_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->poller, NULL);
    }
    /* Taken back and never produced again (a renewal that could not make a
     * new handle). */
    pthread_rwlock_wrlock(&p->swap);
    resend_all(p, true);
    pthread_rwlock_unlock(&p->swap);
    rd_kafka_destroy(p->rk);
    rd_kafka_conf_destroy(p->next_conf);
    pthread_rwlock_destroy(&p->swap);
    pthread_cond_destroy(&p->drained);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

rd_kafka_t *kprod_handle(struct kprod *p)
{
    pthread_rwlock_rdlock(&p->swap);
    rd_kafka_t *rk = p->rk;
    pthread_rwlock_unlock(&p->swap);
    return rk;
}
