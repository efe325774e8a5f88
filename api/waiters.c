#include "waiters.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/log.h"
#include "store/rds.h"
#include "views/view_command.h"
#include "core/xmalloc.h"

#define NBUCKETS 1024
#define REDIS_TIMEOUT_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define POLL_MS 200
#define CHECK_IDLE_MS 1000

struct waiter;

/* One command id of a waiter, chained in its hash bucket. */
struct entry {
    char id[UUID_STR_LEN];
    struct waiter *w;
    size_t idx;
    struct entry *next;
};

struct waiter {
    size_t n, left;
    struct entry *entries; /* n of them */
    json_t **docs;         /* n; NULL until done */
    long long deadline_ms;
    bool unchecked; /* registered since the last check */
    bool firing;    /* detached, its callback is due */
    waiters_done_fn done;
    void *opaque;
    struct waiter *prev, *next; /* the live list */
    struct waiter *fire_next;
};

struct waiters {
    char *url;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; "something to do" and stop */
    struct entry *buckets[NBUCKETS];
    struct waiter *live;
    bool dirty;       /* new registrations or a recheck is due */
    bool recheck_all; /* the subscription was (re)established */
    bool stop;
    long long check_retry_ms; /* the checker's next connect attempt (its thread only) */
    pthread_t sub_thread, check_thread;
};

bool waiters_doc_done(const json_t *doc)
{
    const char *st = json_string_value(json_object_get(doc, "status"));
    return st && (strcmp(st, "applied") == 0 || strcmp(st, "rejected") == 0);
}

static unsigned bucket_of(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % NBUCKETS;
}

/* Under mu: unlinks wt from the buckets and the live list. */
static void detach(struct waiters *w, struct waiter *wt)
{
    for (size_t i = 0; i < wt->n; i++) {
        struct entry **pp = &w->buckets[bucket_of(wt->entries[i].id)];
        while (*pp && *pp != &wt->entries[i])
            pp = &(*pp)->next;
        if (*pp)
            *pp = wt->entries[i].next;
    }
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        w->live = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
}

/* Under mu: marks wt due and pushes it on *fire. */
static void mark_fire(struct waiters *w, struct waiter *wt, struct waiter **fire)
{
    if (wt->firing)
        return;
    wt->firing = true;
    detach(w, wt);
    wt->fire_next = *fire;
    *fire = wt;
}

/* Outside mu: runs and frees every waiter of the list. */
static void fire_all(struct waiter *fire)
{
    while (fire) {
        struct waiter *wt = fire;
        fire = wt->fire_next;
        json_t *docs = json_array();
        for (size_t i = 0; i < wt->n; i++)
            json_array_append_new(docs, wt->docs[i] ? wt->docs[i] : json_null());
        wt->done(wt->opaque, docs, wt->left == 0);
        free(wt->docs);
        free(wt->entries);
        free(wt);
    }
}

/* A verdict for id (doc borrowed): completes the waiters that wait for it. */
static void complete(struct waiters *w, const char *id, json_t *doc)
{
    struct waiter *fire = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct entry *e = w->buckets[bucket_of(id)]; e;) {
        struct entry *next = e->next; /* mark_fire unlinks e */
        struct waiter *wt = e->w;
        if (strcmp(e->id, id) == 0 && !wt->docs[e->idx]) {
            wt->docs[e->idx] = json_incref(doc);
            if (--wt->left == 0)
                mark_fire(w, wt, &fire);
        }
        e = next;
    }
    pthread_mutex_unlock(&w->mu);
    fire_all(fire);
}

/* Sleeps ms unless stopped; returns true when stopping. */
static bool nap(struct waiters *w, long ms)
{
    long long until = clock_mono_ms() + ms;
    struct timespec ts = {until / 1000, (long)(until % 1000) * 1000000L};
    pthread_mutex_lock(&w->mu);
    while (!w->stop && clock_mono_ms() < until)
        if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
            break;
    bool stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return stop;
}

static bool stopping(struct waiters *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stop;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* A published status document. */
static void on_message(struct waiters *w, const char *payload, size_t len)
{
    json_t *doc = json_loadb(payload, len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "command_id"));
    if (id && strlen(id) < UUID_STR_LEN && waiters_doc_done(doc))
        complete(w, id, doc);
    json_decref(doc);
}

/* Reads the subscription until it fails or we stop. */
static void read_subscription(struct waiters *w, redisContext *c)
{
    while (!stopping(w)) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            LOG_WARN("redis subscription: protocol error", NULL);
            return;
        }
        if (reply) {
            redisReply *r = reply;
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                r->element[0]->type == REDIS_REPLY_STRING &&
                strcmp(r->element[0]->str, "message") == 0 &&
                r->element[2]->type == REDIS_REPLY_STRING)
                on_message(w, r->element[2]->str, r->element[2]->len);
            freeReplyObject(r);
            continue;
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, POLL_MS);
        if (pr == 0 || (pr < 0 && errno == EINTR))
            continue;
        if (pr < 0 || redisBufferRead(c) != REDIS_OK) {
            LOG_WARN("redis subscription lost", "error", c->err ? c->errstr : "poll", NULL);
            return;
        }
    }
}

static void *subscriber_main(void *arg)
{
    struct waiters *w = arg;
    long backoff = BACKOFF_MIN_MS;
    bool warned = false;
    while (!stopping(w)) {
        char err[256];
        struct rds *r = rds_connect(w->url, REDIS_TIMEOUT_MS, err, sizeof(err));
        redisReply *rep = NULL;
        if (r) {
            redisEnableKeepAlive(rds_ctx(r));
            rep = redisCommand(rds_ctx(r), "SUBSCRIBE %s", VIEW_COMMAND_CHANNEL);
            if (!rep || rep->type == REDIS_REPLY_ERROR)
                snprintf(err, sizeof(err), "SUBSCRIBE: %s", rep ? rep->str : rds_ctx(r)->errstr);
        }
        if (!r || !rep || rep->type == REDIS_REPLY_ERROR) {
            if (!warned)
                LOG_WARN("redis subscription unavailable: Prefer: wait answers 202", "error", err,
                         NULL);
            warned = true;
            if (rep)
                freeReplyObject(rep);
            rds_free(r);
            if (nap(w, backoff))
                break;
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        freeReplyObject(rep);
        LOG_INFO("subscribed", "channel", VIEW_COMMAND_CHANNEL, NULL);
        warned = false;
        backoff = BACKOFF_MIN_MS;
        /* Verdicts announced while we were not listening are in Redis. */
        pthread_mutex_lock(&w->mu);
        w->recheck_all = true;
        w->dirty = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        read_subscription(w, rds_ctx(r));
        rds_free(r);
        if (nap(w, backoff))
            break;
    }
    return NULL;
}

/* Looks each id up once; completes the done ones. */
static void check_ids(struct waiters *w, struct rds **rp, char (*ids)[UUID_STR_LEN], size_t n)
{
    if (!*rp) {
        if (clock_mono_ms() < w->check_retry_ms)
            return; /* the subscription's recheck covers what we skip */
        char err[256];
        *rp = rds_connect(w->url, REDIS_TIMEOUT_MS, err, sizeof(err));
        if (!*rp) {
            w->check_retry_ms = clock_mono_ms() + BACKOFF_MAX_MS / 5;
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char key[96], err[256], *s = NULL;
        snprintf(key, sizeof(key), VIEW_COMMAND_KEY_FMT, ids[i]);
        enum rds_got rc = rds_get_versioned(*rp, key, &s, NULL, err, sizeof(err));
        if (rc == RDS_ERROR) {
            redisContext *c = rds_ctx(*rp);
            if (!c || c->err) {
                rds_free(*rp);
                *rp = NULL;
                return;
            }
            continue;
        }
        if (rc == RDS_FOUND) {
            json_t *doc = json_loads(s, 0, NULL);
            if (waiters_doc_done(doc))
                complete(w, ids[i], doc);
            json_decref(doc);
        }
        free(s);
    }
}

static void *checker_main(void *arg)
{
    struct waiters *w = arg;
    struct rds *rds = NULL;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        long long now = clock_mono_ms(), next = now + CHECK_IDLE_MS;
        struct waiter *fire = NULL;
        size_t n = 0, cap = 0;
        char(*ids)[UUID_STR_LEN] = NULL;
        bool all = w->recheck_all;
        w->recheck_all = false;
        w->dirty = false;
        for (struct waiter *wt = w->live, *nx; wt; wt = nx) {
            nx = wt->next;
            if (wt->deadline_ms <= now) {
                mark_fire(w, wt, &fire);
                continue;
            }
            if (wt->deadline_ms < next)
                next = wt->deadline_ms;
            if (!wt->unchecked && !all)
                continue;
            wt->unchecked = false;
            for (size_t i = 0; i < wt->n; i++) {
                if (wt->docs[i])
                    continue;
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    ids = xrealloc(ids, cap * sizeof(*ids));
                }
                memcpy(ids[n++], wt->entries[i].id, UUID_STR_LEN);
            }
        }
        pthread_mutex_unlock(&w->mu);
        fire_all(fire);
        if (n)
            check_ids(w, &rds, ids, n);
        free(ids);
        pthread_mutex_lock(&w->mu);
        if (w->dirty || w->stop)
            continue;
        struct timespec ts = {next / 1000, (long)(next % 1000) * 1000000L};
        while (!w->dirty && !w->stop && clock_mono_ms() < next)
            if (pthread_cond_timedwait(&w->cond, &w->mu, &ts) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&w->mu);
    rds_free(rds);
    return NULL;
}

struct waiters *waiters_new(const char *redis_url)
{
    struct waiters *w = xcalloc(1, sizeof(*w));
    w->url = xstrdup(redis_url ? redis_url : "");
    pthread_mutex_init(&w->mu, NULL);
    clock_cond_init(&w->cond);
    if (pthread_create(&w->sub_thread, NULL, subscriber_main, w) != 0 ||
        pthread_create(&w->check_thread, NULL, checker_main, w) != 0) {
        LOG_ERROR("cannot start the Prefer: wait threads", NULL);
        abort();
    }
    return w;
}

void waiters_expire_all(struct waiters *w)
{
    struct waiter *fire = NULL;
    pthread_mutex_lock(&w->mu);
    while (w->live)
        mark_fire(w, w->live, &fire);
    pthread_mutex_unlock(&w->mu);
    fire_all(fire);
}

void waiters_free(struct waiters *w)
{
    if (!w)
        return;
    waiters_expire_all(w);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->sub_thread, NULL);
    pthread_join(w->check_thread, NULL);
    waiters_expire_all(w); /* registered while stopping */
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->url);
    free(w);
}

void waiters_wait(struct waiters *w, const char *const *ids, size_t n, long long deadline_ms,
                  waiters_done_fn done, void *opaque)
{
    struct waiter *wt = xcalloc(1, sizeof(*wt));
    wt->n = wt->left = n;
    wt->entries = xcalloc(n ? n : 1, sizeof(*wt->entries));
    wt->docs = xcalloc(n ? n : 1, sizeof(*wt->docs));
    wt->deadline_ms = deadline_ms;
    wt->unchecked = true;
    wt->done = done;
    wt->opaque = opaque;
    for (size_t i = 0; i < n; i++) {
        snprintf(wt->entries[i].id, sizeof(wt->entries[i].id), "%s", ids[i]);
        wt->entries[i].w = wt;
        wt->entries[i].idx = i;
    }
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++) {
        struct entry **b = &w->buckets[bucket_of(wt->entries[i].id)];
        wt->entries[i].next = *b;
        *b = &wt->entries[i];
    }
    wt->next = w->live;
    if (w->live)
        w->live->prev = wt;
    w->live = wt;
    if (n == 0)
        wt->deadline_ms = 0; /* nothing to wait for: the checker fires it */
    w->dirty = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}
