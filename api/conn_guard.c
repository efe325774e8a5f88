#include "conn_guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* One accepted connection. Linked into the guard's list from STARTED to
 * CLOSED; libmicrohttpd closes the descriptor only after CLOSED, and CLOSED
 * takes the guard's lock, so a shutdown under the lock never meets a
 * descriptor that has been reused. */
struct tracked {
    int fd;
    atomic_llong waiting_since_ms; /* 0: a request's headers are in */
    char ip[64];
    struct tracked *prev, *next;
};

struct conn_guard {
    long long limit_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct tracked *head;
    pthread_t thread;
};

bool conn_guard_overdue(long long since_ms, long long now_ms, long long limit_ms)
{
    return since_ms > 0 && now_ms - since_ms > limit_ms;
}

void conn_peer_ip(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

/* Cuts the overdue connections once. */
static void sweep(struct conn_guard *g)
{
    long long now = clock_mono_ms();
    for (struct tracked *t = g->head; t; t = t->next) {
        long long since = atomic_load(&t->waiting_since_ms);
        if (!conn_guard_overdue(since, now, g->limit_ms))
            continue;
        /* Once: libmicrohttpd closes it at its next turn. */
        if (!atomic_compare_exchange_strong(&t->waiting_since_ms, &since, 0))
            continue;
        shutdown(t->fd, SHUT_RDWR);
        char ms[32];
        snprintf(ms, sizeof(ms), "%lld", now - since);
        LOG_WARN("request headers not complete in time: connection closed", "ip", t->ip,
                 "waited_ms", ms, "status", "408", NULL);
    }
}

static void *guard_main(void *arg)
{
    struct conn_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        struct timespec at = clock_deadline(1000);
        pthread_cond_timedwait(&g->cv, &g->mu, &at);
        if (!g->stop)
            sweep(g);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

struct conn_guard *conn_guard_new(long long limit_ms)
{
    struct conn_guard *g = xcalloc(1, sizeof(*g));
    g->limit_ms = limit_ms;
    pthread_mutex_init(&g->mu, NULL);
    clock_cond_init(&g->cv);
    if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

/* After the daemon has stopped: every connection has had its CLOSED. */
void conn_guard_free(struct conn_guard *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stop = true;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    while (g->head) {
        struct tracked *t = g->head;
        g->head = t->next;
        free(t);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    struct conn_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        struct tracked *t = xcalloc(1, sizeof(*t));
        t->fd = ci->connect_fd;
        atomic_store(&t->waiting_since_ms, clock_mono_ms());
        conn_peer_ip(c, t->ip, sizeof(t->ip));
        pthread_mutex_lock(&g->mu);
        t->next = g->head;
        if (g->head)
            g->head->prev = t;
        g->head = t;
        pthread_mutex_unlock(&g->mu);
        *socket_context = t;
        return;
    }
    struct tracked *t = *socket_context;
    if (!t)
        return;
    *socket_context = NULL;
    pthread_mutex_lock(&g->mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        g->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&g->mu);
    free(t);
}

static struct tracked *tracked_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void conn_guard_headers_in(struct MHD_Connection *c)
{
    struct tracked *t = tracked_of(c);
    if (t)
        atomic_store(&t->waiting_since_ms, 0);
}

void conn_guard_request_done(struct MHD_Connection *c)
{
    struct tracked *t = tracked_of(c);
    if (t)
        atomic_store(&t->waiting_since_ms, clock_mono_ms());
}
