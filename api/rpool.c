#include "rpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct rpool {
    char *url;
    int timeout_ms;
    int size;
    pthread_mutex_t mu;
    pthread_cond_t ready; /* a connection is idle, or the breaker opened */
    pthread_cond_t work;  /* the connector has something to do */
    struct rds **idle;
    int n_idle;
    int n_total; /* connected, or being connected by the connector */
    int waiting; /* request threads waiting for a connection */
    bool connecting;
    bool down; /* the breaker: open until the connector connects again */
    bool stop;
    bool finished; /* the connector has returned */
    pthread_t connector;
};

/* With p->mu held. */
static void open_breaker(struct rpool *p, const char *why)
{
    if (!p->down)
        LOG_WARN("redis unreachable: reads fall back to PostgreSQL", "error", why, NULL);
    p->down = true;
    for (int i = 0; i < p->n_idle; i++)
        rds_free(p->idle[i]);
    p->n_total -= p->n_idle;
    p->n_idle = 0;
    pthread_cond_broadcast(&p->ready);
    pthread_cond_signal(&p->work);
}

static void *connector_main(void *arg)
{
    struct rpool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (p->n_total >= p->size || (!p->down && p->waiting == 0)) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        p->n_total++;
        p->connecting = true;
        pthread_mutex_unlock(&p->mu);
        char err[256];
        struct rds *r = rds_connect(p->url, p->timeout_ms, err, sizeof(err));
        if (r)
            rds_no_reconnect(r);
        pthread_mutex_lock(&p->mu);
        p->connecting = false;
        if (r && !p->stop) {
            if (p->down)
                LOG_INFO("redis reachable again", NULL);
            p->down = false;
            p->idle[p->n_idle++] = r;
            pthread_cond_broadcast(&p->ready);
            continue;
        }
        p->n_total--;
        if (r) {
            rds_free(r);
            break;
        }
        open_breaker(p, err);
        struct timespec until = clock_deadline(RPOOL_DOWN_MS);
        while (!p->stop && pthread_cond_timedwait(&p->work, &p->mu, &until) != ETIMEDOUT) {
        }
    }
    p->finished = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct rpool *rpool_new(const char *url, int size, int timeout_ms)
{
    struct rpool *p = xcalloc(1, sizeof(*p));
    p->url = xstrdup(url ? url : "");
    p->size = size > 0 ? size : 4;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    p->idle = xcalloc((size_t)p->size, sizeof(*p->idle));
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->ready);
    clock_cond_init(&p->work);
    if (pthread_create(&p->connector, NULL, connector_main, p) != 0) {
        LOG_ERROR("redis pool: cannot start its connector thread", NULL);
        abort();
    }
    return p;
}

void rpool_free(struct rpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    /* A connect that hangs in a name lookup is not waited for: the
     * process is ending, and the connector still owns the pool. */
    struct timespec until = clock_deadline(2L * p->timeout_ms + 500);
    while (!p->finished && pthread_cond_timedwait(&p->ready, &p->mu, &until) != ETIMEDOUT) {
    }
    bool finished = p->finished;
    pthread_mutex_unlock(&p->mu);
    if (!finished) {
        LOG_WARN("redis pool: connector still connecting at exit; left behind", NULL);
        pthread_detach(p->connector);
        return;
    }
    pthread_join(p->connector, NULL);
    for (int i = 0; i < p->n_idle; i++)
        rds_free(p->idle[i]);
    free(p->idle);
    free(p->url);
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct rds *rpool_get(struct rpool *p)
{
    struct rds *r = NULL;
    pthread_mutex_lock(&p->mu);
    if (!p->down && p->n_idle == 0) {
        struct timespec until = clock_deadline(p->timeout_ms);
        p->waiting++;
        pthread_cond_signal(&p->work);
        while (!p->down && !p->stop && p->n_idle == 0) {
            if (pthread_cond_timedwait(&p->ready, &p->mu, &until) == ETIMEDOUT)
                break;
        }
        p->waiting--;
        /* A connect slower than a command may be is Redis unreachable in
         * practice (a hanging name lookup): open the breaker; the
         * connector closes it when it gets through. */
        if (p->n_idle == 0 && p->connecting && !p->down)
            open_breaker(p, "connect took longer than the command timeout");
    }
    if (!p->down && p->n_idle > 0)
        r = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->mu);
    return r;
}

void rpool_put(struct rpool *p, struct rds *r, bool broken)
{
    if (!r)
        return;
    if (!broken && (!rds_ctx(r) || rds_ctx(r)->err))
        broken = true;
    pthread_mutex_lock(&p->mu);
    if (broken) {
        rds_free(r);
        p->n_total--;
        open_breaker(p, "a command failed");
    } else {
        p->idle[p->n_idle++] = r;
        pthread_cond_signal(&p->ready);
    }
    pthread_mutex_unlock(&p->mu);
}

bool rpool_down(struct rpool *p)
{
    pthread_mutex_lock(&p->mu);
    bool d = p->down;
    pthread_mutex_unlock(&p->mu);
    return d;
}
