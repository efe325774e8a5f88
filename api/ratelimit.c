#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xmalloc.h"

#define N_BUCKETS 65536
#define N_STRIPES 64

struct bucket {
    double tokens;
    double last;    /* seconds, monotonic */
    uint64_t owner; /* hash of the last ip seen, to reset on reuse */
};

struct ratelimit {
    int rps;
    struct bucket *b;
    pthread_mutex_t stripes[N_STRIPES];
};

struct ratelimit *ratelimit_new(int rps)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    rl->rps = rps > 0 ? rps : 0;
    if (rl->rps) {
        rl->b = xcalloc(N_BUCKETS, sizeof(*rl->b));
        for (int i = 0; i < N_STRIPES; i++)
            pthread_mutex_init(&rl->stripes[i], NULL);
    }
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    if (rl->rps)
        for (int i = 0; i < N_STRIPES; i++)
            pthread_mutex_destroy(&rl->stripes[i]);
    free(rl->b);
    free(rl);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h | 1; /* 0 marks an unused bucket */
}

bool ratelimit_take(struct ratelimit *rl, const char *ip, int *retry_after_s)
{
    if (!rl->rps)
        return true;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    uint64_t h = fnv1a(ip);
    size_t i = (size_t)(h % N_BUCKETS);
    pthread_mutex_t *mu = &rl->stripes[i % N_STRIPES];
    bool ok;
    pthread_mutex_lock(mu);
    struct bucket *b = &rl->b[i];
    if (b->owner != h) {
        if (b->owner == 0 || now - b->last > 60) { /* idle or new: take it over */
            b->owner = h;
            b->tokens = rl->rps;
            b->last = now;
        }
    }
    b->tokens += (now - b->last) * rl->rps;
    if (b->tokens > rl->rps)
        b->tokens = rl->rps;
    b->last = now;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        ok = true;
    } else {
        double wait = (1 - b->tokens) / rl->rps;
        *retry_after_s = (int)wait + 1;
        ok = false;
    }
    pthread_mutex_unlock(mu);
    return ok;
}
