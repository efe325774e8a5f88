/*
 * loadgen - open-loop HTTP load generator for psop-api.
 *
 * Requests are planned at a fixed rate (t0 + i/rate) whatever the server
 * does; a request's latency is measured from its planned send time, so a
 * stalled server shows up as latency of the requests queued behind it rather
 * than as requests never sent (no coordinated omission). Keep-alive
 * connections, one epoll loop, one thread.
 *
 *   psop-loadgen --port 18080 --rate 2000 --duration 30 --connections 64 \
 *                --token "$TOKEN" [--path /v1/settlements/runs] [--body JSON]
 *
 * Prints requests planned/sent/answered, answers by status, accepted (202)/s,
 * and latency p50/p90/p99/p99.9/max in milliseconds.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 16384

struct conn {
    int fd;
    int busy;
    double planned; /* of the request in flight */
    char buf[RBUF];
    size_t len;
};

static const char *host = "127.0.0.1";
static int port = 18080;
static double rate = 1000, duration = 10;
static int nconn = 32;
static const char *token, *path = "/v1/settlements/runs";
static const char *body =
    "{\"organiser_id\":\"0190a0b0-0000-7000-8000-00000000000a\",\"period\":\"2025-01\"}";

static char *request;
static size_t request_len;
static double *lat; /* seconds, per answered request */
static size_t nlat, caplat;
static unsigned long by_status[600], transport_errors;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_conn(struct conn *c, int ep)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->len = 0;
    return 0;
}

static void close_conn(struct conn *c, int ep)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
}

/* Blocking-ish send on a non-blocking socket: the request is small. */
static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void record(double planned, int status)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof(*lat));
    }
    lat[nlat++] = now_s() - planned;
    if (status >= 100 && status < 600)
        by_status[status]++;
}

/* 1 when c->buf holds a whole response (consumed), 0 when not yet, -1 bad. */
static int take_response(struct conn *c, int *status, int *must_close)
{
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end)
        return c->len >= RBUF ? -1 : 0;
    size_t hlen = (size_t)(end - c->buf) + 4;
    *status = atoi(c->buf + 9);
    size_t clen = 0;
    *must_close = 0;
    for (char *p = c->buf; p < end; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtoul(p + 15, NULL, 10);
        if (strncasecmp(p, "Connection: close", 17) == 0)
            *must_close = 1;
        if (!strstr(p, "\r\n"))
            break;
    }
    if (c->len < hlen + clen)
        return 0;
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
    return 1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)(p * (double)(nlat - 1));
    return lat[i] * 1000;
}

static void usage(void)
{
    fprintf(stderr, "usage: psop-loadgen [--host IP] [--port N] [--rate R] [--duration S] "
                    "[--connections C] --token JWT [--path P] [--body JSON]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'},        {"rate", 1, 0, 'r'},
        {"duration", 1, 0, 'd'}, {"connections", 1, 0, 'c'}, {"token", 1, 0, 't'},
        {"path", 1, 0, 'P'}, {"body", 1, 0, 'b'},        {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 't': token = optarg; break;
        case 'P': path = optarg; break;
        case 'b': body = optarg; break;
        default: usage();
        }
    }
    if (!token)
        token = getenv("PSOP_LOADGEN_TOKEN");
    if (!token || rate <= 0 || duration <= 0 || nconn <= 0)
        usage();
    request_len = strlen(body) + strlen(token) + strlen(path) + 256;
    request = malloc(request_len);
    request_len = (size_t)snprintf(request, request_len,
                                   "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                   path, host, token, strlen(body), body);

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
    for (int i = 0; i < nconn; i++)
        if (open_conn(&cs[i], ep) < 0) {
            fprintf(stderr, "cannot connect to %s:%d\n", host, port);
            return 1;
        }

    size_t total = (size_t)(rate * duration);
    double *queue = malloc(total * sizeof(double)); /* planned times not yet sent */
    size_t qhead = 0, qtail = 0, planned = 0, sent = 0, answered = 0;
    double t0 = now_s() + 0.05, interval = 1.0 / rate;
    double deadline = t0 + duration + 30; /* answers may lag the plan */

    while (answered + transport_errors < total && now_s() < deadline) {
        double now = now_s();
        while (planned < total && t0 + (double)planned * interval <= now)
            queue[qtail++] = t0 + (double)planned++ * interval;
        for (int i = 0; i < nconn && qhead < qtail; i++) {
            struct conn *c = &cs[i];
            if (c->fd < 0 && open_conn(c, ep) < 0)
                continue;
            if (c->busy)
                continue;
            c->planned = queue[qhead++];
            c->busy = 1;
            sent++;
            if (send_all(c->fd, request, request_len) < 0) {
                transport_errors++;
                close_conn(c, ep);
            }
        }
        double next = planned < total ? t0 + (double)planned * interval : now + 0.01;
        int wait_ms = (int)((next - now_s()) * 1000);
        if (wait_ms < 0)
            wait_ms = 0;
        if (wait_ms > 10)
            wait_ms = 10;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wait_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            ssize_t r = recv(c->fd, c->buf + c->len, RBUF - c->len, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (c->busy)
                    transport_errors++;
                close_conn(c, ep);
                continue;
            }
            c->len += (size_t)r;
            int status, must_close, got;
            while ((got = take_response(c, &status, &must_close)) == 1) {
                record(c->planned, status);
                answered++;
                c->busy = 0;
                if (must_close) {
                    close_conn(c, ep);
                    break;
                }
            }
            if (got < 0) {
                transport_errors++;
                close_conn(c, ep);
            }
        }
    }
    double elapsed = now_s() - t0;
    qsort(lat, nlat, sizeof(*lat), cmp_d);
    printf("planned %zu at %.0f/s over %.1f s, sent %zu, answered %zu, transport errors %lu\n",
           total, rate, duration, sent, answered, transport_errors);
    for (int s = 100; s < 600; s++)
        if (by_status[s])
            printf("  status %d: %lu\n", s, by_status[s]);
    printf("accepted/s %.1f\n", (double)by_status[202] / (elapsed < duration ? duration : elapsed));
    printf("latency ms (from planned send time): p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           pct(0.50), pct(0.90), pct(0.99), pct(0.999), nlat ? lat[nlat - 1] * 1000 : 0.0);
    return 0;
}
