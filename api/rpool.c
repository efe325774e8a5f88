#include "rpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct rpool {
    char *url;
    int timeout_ms;
    int size;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct rds **idle;
    int n_idle;
    int n_total; /* connected or being connected */
    long long down_until_ms;
};

struct rpool *rpool_new(const char *url, int size, int timeout_ms)
{
    struct rpool *p = xcalloc(1, sizeof(*p));
    p->url = xstrdup(url ? url : "");
    p->size = size > 0 ? size : 4;
    p->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
    p->idle = xcalloc((size_t)p->size, sizeof(*p->idle));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

void rpool_free(struct rpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        rds_free(p->idle[i]);
    free(p->idle);
    free(p->url);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct rds *rpool_get(struct rpool *p)
{
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (clock_mono_ms() < p->down_until_ms) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        if (p->n_idle > 0) {
            struct rds *r = p->idle[--p->n_idle];
            pthread_mutex_unlock(&p->mu);
            return r;
        }
        if (p->n_total < p->size)
            break;
        pthread_cond_wait(&p->cond, &p->mu);
    }
    p->n_total++;
    pthread_mutex_unlock(&p->mu);

    char err[256];
    struct rds *r = rds_connect(p->url, p->timeout_ms, err, sizeof(err));
    if (r)
        return r;
    pthread_mutex_lock(&p->mu);
    p->n_total--;
    bool was_up = clock_mono_ms() >= p->down_until_ms;
    p->down_until_ms = clock_mono_ms() + RPOOL_DOWN_MS;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    if (was_up)
        LOG_WARN("redis unreachable: reads fall back to PostgreSQL", "error", err, NULL);
    return NULL;
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
        p->down_until_ms = clock_mono_ms() + RPOOL_DOWN_MS;
    } else {
        p->idle[p->n_idle++] = r;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}
