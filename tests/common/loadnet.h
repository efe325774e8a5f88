/*
 * loadnet.h - what the three open-loop load generators share
 * (tests/bench/loadgen.c, tests/bench/e2e_load.c, tests/chaos/chaos_load.c):
 * the clocks, non-blocking keep-alive connections on an epoll set, sending a
 * small request whole, reading one HTTP/1.1 answer out of a connection's
 * buffer, the common command-line options, percentiles and a UUIDv7. Header-only and plain C (no
 * psop code), so each generator stays one file to build; not thread-safe (one epoll loop).
 */
#ifndef PSOP_TEST_LOADNET_H
#define PSOP_TEST_LOADNET_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Seconds of the monotonic clock (plans and latencies). */
static inline double ln_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds since the epoch (records a checker joins with the database). */
static inline double ln_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* A non-blocking TCP connection to host:port (TCP_NODELAY), added to ep
 * with events and data.ptr = ptr. The fd, or -1. The connect may still be in
 * progress: ln_send_all waits for it. */
static inline int ln_connect(const char *host, int port, int ep, uint32_t events, void *ptr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static inline void ln_close(int fd, int ep)
{
    if (fd < 0)
        return;
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
}

/* Sends p[0..n) on a non-blocking socket, waiting out a full buffer or a
 * connect in progress for at most give_up_s. Returns the bytes written: n
 * on success, less when the connection failed or stalled. */
static inline size_t ln_send_all(int fd, const char *p, size_t n, double give_up_s)
{
    size_t done = 0;
    double t0 = ln_now_s();
    while (done < n) {
        ssize_t w = send(fd, p + done, n - done, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOTCONN)) {
            if (ln_now_s() - t0 > give_up_s)
                return done;
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (w <= 0)
            return done;
        done += (size_t)w;
    }
    return done;
}

/* One answer read from a connection's buffer. */
struct ln_resp {
    int status;
    int must_close;  /* Connection: close */
    size_t head_len; /* status line and headers, with the blank line */
    size_t body_len; /* Content-Length */
};

/* 1 when buf[0..len) starts with a whole answer (r filled; its body is at
 * buf + r->head_len; ln_consume it after use), 0 when not yet, -1 when it
 * is not HTTP/1.x or cannot fit in cap bytes. */
static inline int ln_parse(const char *buf, size_t len, size_t cap, struct ln_resp *r)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= cap ? -1 : 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    r->head_len = (size_t)(end - buf) + 4;
    r->status = atoi(buf + 9);
    r->body_len = 0;
    r->must_close = 0;
    for (const char *p = buf; p && p < end;) {
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            r->body_len = strtoul(p + 15, NULL, 10);
        if (strncasecmp(p, "Connection: close", 17) == 0)
            r->must_close = 1;
        p = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (p)
            p += 2;
    }
    if (r->head_len + r->body_len > cap)
        return -1;
    return len < r->head_len + r->body_len ? 0 : 1;
}

/* Drops the first n bytes of buf (an answer taken). */
static inline void ln_consume(char *buf, size_t *len, size_t n)
{
    memmove(buf, buf + n, *len - n);
    *len -= n;
}

/* A keep-alive connection of a load client: its socket (-1 when closed),
 * whether a request is in flight, and what has been read of the answer. */
#define LN_RBUF 16384
struct ln_conn {
    int fd;
    int busy;
    size_t len;
    char buf[LN_RBUF];
};

/* Connects c (ptr is the epoll cookie). 0, or -1 when it could not. */
static inline int ln_conn_open(struct ln_conn *c, const char *host, int port, int ep,
                               uint32_t events, void *ptr)
{
    c->fd = ln_connect(host, port, ep, events, ptr);
    c->busy = 0;
    c->len = 0;
    return c->fd < 0 ? -1 : 0;
}

static inline void ln_conn_close(struct ln_conn *c, int ep)
{
    ln_close(c->fd, ep);
    c->fd = -1;
    c->len = 0;
}

/* Reads what c's socket holds: 1 something read, 0 nothing yet (EAGAIN,
 * EINTR), -1 closed by the peer or failed. */
static inline int ln_conn_read(struct ln_conn *c)
{
    ssize_t r = recv(c->fd, c->buf + c->len, LN_RBUF - c->len, 0);
    if (r > 0) {
        c->len += (size_t)r;
        return 1;
    }
    return r < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

/* 1 when c holds a whole answer: r filled, its body copied into body (up to
 * cap - 1 bytes, NUL-ended; body may be NULL) and the answer consumed; 0
 * when not yet; -1 when it is not one (ln_parse). */
static inline int ln_conn_take(struct ln_conn *c, struct ln_resp *r, char *body, size_t cap)
{
    int got = ln_parse(c->buf, c->len, LN_RBUF, r);
    if (got != 1)
        return got;
    if (body && cap > 0) {
        size_t n = r->body_len < cap - 1 ? r->body_len : cap - 1;
        memcpy(body, c->buf + r->head_len, n);
        body[n] = '\0';
    }
    ln_consume(c->buf, &c->len, r->head_len + r->body_len);
    return 1;
}

/* The options all three clients take (--host --port --rate --duration
 * --connections --token): 1 when c was one of them (its value stored), else 0. */
#define LN_COMMON_OPTIONS                                                                          \
    {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"rate", 1, 0, 'r'}, {"duration", 1, 0, 'd'},        \
        {"connections", 1, 0, 'c'},                                                                \
    {                                                                                              \
        "token", 1, 0, 't'                                                                         \
    }
struct ln_common { /* where each of them is stored */
    const char **host;
    int *port;
    double *rate, *duration;
    int *nconn;
    const char **token;
};
static inline int ln_common_option(const struct ln_common *o, int c, const char *arg)
{
    switch (c) {
    case 'h':
        *o->host = arg;
        return 1;
    case 'p':
        *o->port = atoi(arg);
        return 1;
    case 'r':
        *o->rate = atof(arg);
        return 1;
    case 'd':
        *o->duration = atof(arg);
        return 1;
    case 'c':
        *o->nconn = atoi(arg);
        return 1;
    case 't':
        *o->token = arg;
        return 1;
    default:
        return 0;
    }
}

/* How long an open-loop client may wait for answers before its next
 * planned send (next_s on ln_now_s's clock, <= 0 when none is left):
 * until then, but at most 10 ms so the plan is kept. */
static inline int ln_wait_ms(double next_s)
{
    double ms = next_s > 0 ? (next_s - ln_now_s()) * 1000 : 10;
    return ms < 0 ? 0 : ms > 10 ? 10 : (int)ms;
}

static inline int ln_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of n latencies in seconds, sorted, in ms. */
static inline double ln_pct_ms(const double *sorted, size_t n, double p)
{
    return n ? sorted[(size_t)(p * (double)(n - 1))] * 1000 : 0;
}

/* A UUIDv7: 48 bits of epoch ms, version and variant, the rest random(). */
static inline void ln_uuid7(char out36[37])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)ln_wall_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    for (int i = 6; i < 16; i++)
        b[i] = (unsigned char)(random() & 0xff);
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    snprintf(out36, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

#endif
