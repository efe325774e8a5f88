#include "pgpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct pgpool {
    char *dsn;
    int size;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    struct pgc **idle;
    int n_idle;
    int n_total;
    long long down_until_ms;
    char last_err[256];
};

char *pgpool_dsn(const char *dsn)
{
    bool uri = strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0;
    char *out = xstrdup(dsn);
    struct {
        const char *key, *kv, *q;
    } add[] = {
        {"connect_timeout", " connect_timeout=" PGPOOL_CONNECT_TIMEOUT_STR,
         "connect_timeout=" PGPOOL_CONNECT_TIMEOUT_STR},
        {"keepalives_idle", " keepalives_idle=10 keepalives_interval=5 keepalives_count=3",
         "keepalives_idle=10&keepalives_interval=5&keepalives_count=3"},
        {"options", " options='-c statement_timeout=" PGPOOL_STATEMENT_TIMEOUT_STR "'",
         "options=-c%20statement_timeout%3D" PGPOOL_STATEMENT_TIMEOUT_STR},
    };
    for (size_t i = 0; i < sizeof(add) / sizeof(add[0]); i++) {
        if (strstr(dsn, add[i].key))
            continue; /* the operator's setting wins */
        char *n = uri ? xasprintf("%s%s%s", out, strchr(out, '?') ? "&" : "?", add[i].q)
                      : xasprintf("%s%s", out, add[i].kv);
        free(out);
        out = n;
    }
    return out;
}

struct pgpool *pgpool_new(const char *dsn, int size)
{
    struct pgpool *p = xcalloc(1, sizeof(*p));
    p->dsn = pgpool_dsn(dsn ? dsn : "");
    p->size = size > 0 ? size : 4;
    p->idle = xcalloc((size_t)p->size, sizeof(*p->idle));
    pthread_mutex_init(&p->mu, NULL);
    clock_cond_init(&p->cond);
    return p;
}

void pgpool_free(struct pgpool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n_idle; i++)
        pgc_free(p->idle[i]);
    free(p->idle);
    free(p->dsn);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct pgc *pgpool_get(struct pgpool *p, char *err, size_t errlen)
{
    long long until = clock_mono_ms() + PGPOOL_WAIT_MS;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (clock_mono_ms() < p->down_until_ms) {
            snprintf(err, errlen, "%s", p->last_err[0] ? p->last_err : "postgres unavailable");
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        if (p->n_idle > 0) {
            struct pgc *c = p->idle[--p->n_idle];
            pthread_mutex_unlock(&p->mu);
            return c;
        }
        if (p->n_total < p->size)
            break;
        struct timespec ts = {until / 1000, (long)(until % 1000) * 1000000L};
        if (pthread_cond_timedwait(&p->cond, &p->mu, &ts) == ETIMEDOUT) {
            snprintf(err, errlen, "every postgres connection is busy");
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    p->n_total++;
    pthread_mutex_unlock(&p->mu);

    struct pgc *c = pgc_connect(p->dsn, err, errlen);
    if (c)
        return c;
    pthread_mutex_lock(&p->mu);
    p->n_total--;
    bool was_up = clock_mono_ms() >= p->down_until_ms;
    p->down_until_ms = clock_mono_ms() + PGPOOL_DOWN_MS;
    snprintf(p->last_err, sizeof(p->last_err), "%s", err);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    if (was_up)
        LOG_WARN("postgres unreachable: reads that miss Redis answer 503", "error", err, NULL);
    return NULL;
}

void pgpool_put(struct pgpool *p, struct pgc *c)
{
    if (!c)
        return;
    bool broken = PQstatus(pgc_conn(c)) != CONNECTION_OK;
    if (!broken && PQtransactionStatus(pgc_conn(c)) != PQTRANS_IDLE)
        pgc_rollback(c);
    pthread_mutex_lock(&p->mu);
    if (broken) {
        pgc_free(c);
        p->n_total--;
    } else {
        p->idle[p->n_idle++] = c;
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}
