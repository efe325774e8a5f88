#include "publish.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "store/kprod.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* One request's messages. All fields are guarded by pub.mu. An op is
 * referenced by each message still awaiting its delivery report and by the
 * deadline list until the op completes; it is freed at zero. */
struct op {
    struct op *prev, *next; /* deadline list, in deadline order */
    bool in_list;
    bool done_called;
    bool failed;
    int outstanding; /* messages queued and not reported */
    int refs;
    struct timespec deadline;
    pub_done_fn done;
    void *opaque;
};

struct pub {
    struct kprod *kp;
    int timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct op *head, *tail;
    bool stopping;
    pthread_t timer;
    atomic_ulong produce_errors;
};

static void list_remove(struct pub *p, struct op *o)
{
    if (!o->in_list)
        return;
    if (o->prev)
        o->prev->next = o->next;
    else
        p->head = o->next;
    if (o->next)
        o->next->prev = o->prev;
    else
        p->tail = o->prev;
    o->prev = o->next = NULL;
    o->in_list = false;
}

/* Every op has the same timeout, so appending keeps the list sorted. */
static void list_append(struct pub *p, struct op *o)
{
    o->prev = p->tail;
    o->next = NULL;
    if (p->tail)
        p->tail->next = o;
    else
        p->head = o;
    p->tail = o;
    o->in_list = true;
}

/* Drops n references; frees o at zero. o must not be used afterwards. */
static void op_release_locked(struct op *o, int n)
{
    o->refs -= n;
    if (o->refs == 0)
        free(o);
}

/* With mu held: decides whether o is finished now. Returns true when the
 * caller must call done (outside the lock) with *res; *list_ref is set when
 * o left the deadline list, whose reference the caller then releases. */
static bool op_settle_locked(struct pub *p, struct op *o, enum pub_result *res, int *list_ref)
{
    *list_ref = 0;
    if (o->done_called)
        return false;
    if (!o->failed && o->outstanding > 0)
        return false;
    o->done_called = true;
    *res = o->failed ? PUB_FAILED : PUB_OK;
    if (o->in_list) {
        list_remove(p, o);
        *list_ref = 1;
    }
    return true;
}

static struct pub *the_pub; /* the delivery-report callback has no other way back */

static void on_delivery(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    (void)partition, (void)offset;
    struct pub *p = the_pub;
    struct op *o = opaque;
    enum pub_result res = PUB_OK;
    pthread_mutex_lock(&p->mu);
    o->outstanding--;
    if (err) {
        atomic_fetch_add(&p->produce_errors, 1);
        o->failed = true;
    }
    int list_ref;
    bool fire = op_settle_locked(p, o, &res, &list_ref);
    pub_done_fn done = o->done;
    void *arg = o->opaque;
    op_release_locked(o, 1 + list_ref); /* this message's reference, maybe the list's */
    pthread_mutex_unlock(&p->mu);
    if (fire)
        done(arg, res);
}

static void *timer_main(void *arg)
{
    struct pub *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stopping) {
        struct op *o = p->head;
        if (!o) {
            pthread_cond_wait(&p->cond, &p->mu);
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec < o->deadline.tv_sec ||
            (now.tv_sec == o->deadline.tv_sec && now.tv_nsec < o->deadline.tv_nsec)) {
            pthread_cond_timedwait(&p->cond, &p->mu, &o->deadline);
            continue;
        }
        list_remove(p, o);
        o->done_called = true;
        pub_done_fn done = o->done;
        void *opaque = o->opaque;
        op_release_locked(o, 1); /* the list's reference; messages keep theirs */
        pthread_mutex_unlock(&p->mu);
        done(opaque, PUB_TIMEOUT);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct pub *pub_new(const struct psop_config *cfg, char *err, size_t errlen)
{
    struct pub *p = xcalloc(1, sizeof(*p));
    p->timeout_ms = cfg->produce_timeout_ms > 0 ? cfg->produce_timeout_ms : 5000;
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cond);
    the_pub = p;
    p->kp = kprod_new(cfg, on_delivery, err, errlen);
    if (!p->kp)
        goto fail;
    if (pthread_create(&p->timer, NULL, timer_main, p) != 0) {
        snprintf(err, errlen, "cannot start the deadline thread");
        kprod_free(p->kp, 0);
        goto fail;
    }
    return p;
fail:
    the_pub = NULL;
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return NULL;
}

void pub_send_all(struct pub *p, const struct pub_msg *msgs, size_t n, pub_done_fn done,
                  void *opaque)
{
    struct op *o = xcalloc(1, sizeof(*o));
    o->done = done;
    o->opaque = opaque;
    /* One "sending" hold keeps outstanding above zero until every message
     * is queued, so early reports cannot finish the op half-way; the list
     * reference keeps the op alive until its deadline or completion. */
    o->outstanding = 1;
    o->refs = 1;
    pthread_mutex_lock(&p->mu);
    /* Taken under the lock, so the list stays in deadline order and the
     * deadline thread, which sleeps until the head's, needs waking only
     * when this op is the head (not once per request). */
    o->deadline = clock_deadline(p->timeout_ms);
    list_append(p, o);
    if (p->head == o)
        pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);

    for (size_t i = 0; i < n; i++) {
        char err[256];
        pthread_mutex_lock(&p->mu);
        o->outstanding++;
        o->refs++;
        pthread_mutex_unlock(&p->mu);
        if (kprod_send(p->kp, msgs[i].topic, msgs[i].key, strlen(msgs[i].key), msgs[i].payload,
                       msgs[i].len, NULL, o, err, sizeof(err)) < 0) {
            atomic_fetch_add(&p->produce_errors, 1);
            LOG_WARN("produce failed", "topic", msgs[i].topic, "error", err, NULL);
            pthread_mutex_lock(&p->mu);
            o->outstanding--;
            o->refs--;
            o->failed = true;
            pthread_mutex_unlock(&p->mu);
            break; /* the answer is 503 anyway; queue no more */
        }
    }

    enum pub_result res = PUB_OK;
    pthread_mutex_lock(&p->mu);
    o->outstanding--; /* the sending hold */
    int list_ref;
    bool fire = op_settle_locked(p, o, &res, &list_ref);
    if (list_ref)
        op_release_locked(o, 1);
    pthread_mutex_unlock(&p->mu);
    /* o may be freed by now: use only what we kept. */
    if (fire)
        done(opaque, res);
}

int pub_flush(struct pub *p, int timeout_ms)
{
    return kprod_flush(p->kp, timeout_ms);
}

int pub_outstanding(struct pub *p)
{
    return kprod_outstanding(p->kp);
}

unsigned long pub_produce_errors(const struct pub *p)
{
    return atomic_load(&((struct pub *)p)->produce_errors);
}

unsigned long pub_producer_renewals(struct pub *p)
{
    return kprod_renewals(p->kp);
}

void pub_free(struct pub *p, int timeout_ms)
{
    if (!p)
        return;
    int left = kprod_flush(p->kp, timeout_ms);
    if (left > 0)
        LOG_WARN("publisher closing with messages not acknowledged: their requests get 503", NULL);
    /* Whatever is still pending now gets its answer before we go. */
    pthread_mutex_lock(&p->mu);
    while (p->head) {
        struct op *o = p->head;
        list_remove(p, o);
        o->done_called = true;
        pub_done_fn done = o->done;
        void *opaque = o->opaque;
        op_release_locked(o, 1);
        pthread_mutex_unlock(&p->mu);
        done(opaque, PUB_TIMEOUT);
        pthread_mutex_lock(&p->mu);
    }
    p->stopping = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->timer, NULL);
    kprod_free(p->kp, 0); /* reports of abandoned messages free their ops */
    the_pub = NULL;
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
