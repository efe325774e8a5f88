#include "produce_wait.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"

struct pw_group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t pending;
};

struct pw_item {
    struct pw_report r; /* first: the opaque points here */
    struct pw_group *g;
    bool *acked;
};

void pw_dr(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    (void)partition;
    (void)offset;
    struct pw_report *r = opaque;
    if (r)
        r->done(r, err);
}

static void item_done(struct pw_report *r, rd_kafka_resp_err_t err)
{
    struct pw_item *it = (struct pw_item *)r;
    pthread_mutex_lock(&it->g->mu);
    *it->acked = err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (--it->g->pending == 0)
        pthread_cond_broadcast(&it->g->cv);
    pthread_mutex_unlock(&it->g->mu);
    free(it);
}

size_t pw_send_all(struct kprod *p, struct pw_msg *msgs, size_t n, bool *acked)
{
    struct pw_group g = {.pending = 0};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    for (size_t i = 0; i < n; i++) {
        acked[i] = false;
        struct pw_item *it = xmalloc(sizeof(*it));
        it->r.done = item_done;
        it->g = &g;
        it->acked = &acked[i];
        pthread_mutex_lock(&g.mu);
        g.pending++;
        pthread_mutex_unlock(&g.mu);
        char err[256];
        const char *key = msgs[i].key ? msgs[i].key : "";
        if (kprod_send(p, msgs[i].topic, key, strlen(key), msgs[i].payload, msgs[i].len,
                       msgs[i].hdrs, &it->r, err, sizeof(err)) < 0) {
            LOG_WARN("produce failed", "topic", msgs[i].topic, "error", err, NULL);
            if (msgs[i].hdrs)
                rd_kafka_headers_destroy(msgs[i].hdrs);
            free(it);
            pthread_mutex_lock(&g.mu);
            g.pending--;
            pthread_mutex_unlock(&g.mu);
        }
        msgs[i].hdrs = NULL;
    }
    /* Every queued message gets exactly one report (success, or failure at
     * message.timeout.ms), so this wait is bounded. */
    pthread_mutex_lock(&g.mu);
    while (g.pending > 0)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    size_t unacked = 0;
    for (size_t i = 0; i < n; i++)
        unacked += !acked[i];
    return unacked;
}
