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
 *                --token "$TOKEN" [--path /v1/settlements/runs] [--body JSON] [--get]
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

#include "loadnet.h"

struct conn {
    struct ln_conn io;
    double planned; /* of the request in flight */
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
static unsigned long by_status[600], transport_errors, unsolicited;

static void record(double planned, int status)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = realloc(lat, caplat * sizeof(*lat));
    }
    lat[nlat++] = ln_now_s() - planned;
    if (status >= 100 && status < 600)
        by_status[status]++;
}

static void usage(void)
{
    fprintf(stderr, "usage: psop-loadgen [--host IP] [--port N] [--rate R] [--duration S] "
                    "[--connections C] --token JWT [--path P] [--body JSON] [--get]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {LN_COMMON_OPTIONS,
                                         {"path", 1, 0, 'P'},
                                         {"body", 1, 0, 'b'},
                                         {"get", 0, 0, 'g'},
                                         {0, 0, 0, 0}};
    const struct ln_common common = {&host, &port, &rate, &duration, &nconn, &token};
    int get = 0; /* --get: GET path (a read) instead of POSTing body */
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ln_common_option(&common, o, optarg))
            continue;
        switch (o) {
        case 'P':
            path = optarg;
            break;
        case 'b':
            body = optarg;
            break;
        case 'g':
            get = 1;
            break;
        default:
            usage();
        }
    }
    if (!token)
        token = getenv("PSOP_LOADGEN_TOKEN");
    if (!token || rate <= 0 || duration <= 0 || nconn <= 0)
        usage();
    request_len = strlen(body) + strlen(token) + strlen(path) + 256;
    request = malloc(request_len);
    if (get)
        request_len = (size_t)snprintf(
            request, request_len, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n",
            path, host, token);
    else
        request_len =
            (size_t)snprintf(request, request_len,
                             "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                             path, host, token, strlen(body), body);

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
    for (int i = 0; i < nconn; i++)
        if (ln_conn_open(&cs[i].io, host, port, ep, EPOLLIN, &cs[i]) < 0) {
            fprintf(stderr, "cannot connect to %s:%d\n", host, port);
            return 1;
        }

    size_t total = (size_t)(rate * duration);
    double *queue = malloc(total * sizeof(double)); /* planned times not yet sent */
    size_t qhead = 0, qtail = 0, planned = 0, sent = 0, answered = 0;
    double t0 = ln_now_s() + 0.05, interval = 1.0 / rate;
    double deadline = t0 + duration + 30; /* answers may lag the plan */

    while (answered + transport_errors < total && ln_now_s() < deadline) {
        double now = ln_now_s();
        while (planned < total && t0 + (double)planned * interval <= now)
            queue[qtail++] = t0 + (double)planned++ * interval;
        for (int i = 0; i < nconn && qhead < qtail; i++) {
            struct conn *c = &cs[i];
            if (c->io.fd < 0 && ln_conn_open(&c->io, host, port, ep, EPOLLIN, c) < 0)
                continue;
            if (c->io.busy)
                continue;
            c->planned = queue[qhead++];
            c->io.busy = 1;
            sent++;
            if (ln_send_all(c->io.fd, request, request_len, 2.0) != request_len) {
                transport_errors++;
                ln_conn_close(&c->io, ep);
            }
        }
        int wait_ms = ln_wait_ms(planned < total ? t0 + (double)planned * interval : 0);
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wait_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            int rd = ln_conn_read(&c->io);
            if (rd <= 0) {
                if (rd < 0) {
                    transport_errors += (unsigned long)c->io.busy;
                    ln_conn_close(&c->io, ep);
                }
                continue;
            }
            struct ln_resp resp;
            int got;
            while ((got = ln_conn_take(&c->io, &resp, NULL, 0)) == 1) {
                if (c->io.busy) {
                    record(c->planned, resp.status);
                    answered++;
                } else {
                    unsolicited++; /* e.g. HAProxy's 408 on an idle keep-alive connection */
                }
                c->io.busy = 0;
                if (resp.must_close) {
                    ln_conn_close(&c->io, ep);
                    break;
                }
            }
            if (got < 0) {
                transport_errors++;
                ln_conn_close(&c->io, ep);
            }
        }
    }
    double elapsed = ln_now_s() - t0;
    qsort(lat, nlat, sizeof(*lat), ln_cmp_double);
    printf("planned %zu at %.0f/s over %.1f s, sent %zu, answered %zu, transport errors %lu, "
           "answers to no request %lu\n",
           total, rate, duration, sent, answered, transport_errors, unsolicited);
    for (int s = 100; s < 600; s++)
        if (by_status[s])
            printf("  status %d: %lu\n", s, by_status[s]);
    printf("accepted/s %.1f\n", (double)by_status[202] / (elapsed < duration ? duration : elapsed));
    printf("latency ms (from planned send time): p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
           ln_pct_ms(lat, nlat, 0.50), ln_pct_ms(lat, nlat, 0.90), ln_pct_ms(lat, nlat, 0.99),
           ln_pct_ms(lat, nlat, 0.999), nlat ? lat[nlat - 1] * 1000 : 0.0);
    return 0;
}
