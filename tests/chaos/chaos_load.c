/*
 * chaos_load - the load client of the fault scenarios (scripts/chaos).
 *
 * Open-loop like tests/bench/loadgen.c: service events are planned at a fixed
 * rate whatever the system does, and each latency is measured from the
 * planned send time. Every request records service event with an id of its
 * own (and an Idempotency-Key derived from it) on one of the given vouchers,
 * and every request gets one line in the record file, written when its fate
 * is known:
 *
 *   seq event_id voucher_id quantity_h sent_epoch_ms status latency_ms command_id
 *
 * status: the HTTP status; 0 = no answer within --timeout (indeterminate);
 * -1 = the connection broke after the request was sent (indeterminate);
 * -2 = the request could not be sent at all (refused by the network).
 * The checker (tests/chaos/checker.py) reads this file and PostgreSQL.
 *
 *   psop-chaos-load --port 22080 --rate 100 --duration 30 --token JWT \
 *       --vouchers V1,V2,... --date 2026-11-02 --out run.tsv
 *
 * SIGTERM ends the run early: nothing more is planned or sent, the requests
 * on the wire are still answered and recorded, those planned but not sent
 * (a backlog when the system is behind) are dropped. A scenario whose fault
 * takes an unknown time runs the load with a long --duration and stops it.
 *
 * stdout: one JSON line with the totals and the latency percentiles.
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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadnet.h"

#define RBUF 16384
#define MAX_VOUCHERS 64

struct pending {
    unsigned long seq;
    double planned;      /* monotonic s */
    double planned_wall; /* epoch ms */
    char event_id[37];
    int voucher;
    int qty_h;
};

struct conn {
    int fd;
    int busy;
    double sent_at;
    struct pending p;
    char buf[RBUF];
    size_t len;
};

static const char *host = "127.0.0.1";
static int port = 18080;
static double rate = 100, duration = 10, timeout_s = 10;
static int nconn = 32;
static const char *token, *date = "2026-11-02", *out_path;
static char *vouchers[MAX_VOUCHERS];
static int nvouchers;
static FILE *out;
static volatile sig_atomic_t stop_planning;

static void on_term(int sig)
{
    (void)sig;
    stop_planning = 1;
}

static double *lat;
static size_t nlat, caplat;
static unsigned long by_status[600], n_timeout, n_broken, n_unsent, n_records;

static void record(const struct pending *p, int status, const char *command_id)
{
    double l = ln_now_s() - p->planned;
    if (status > 0) {
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 65536;
            lat = realloc(lat, caplat * sizeof(*lat));
            if (!lat) {
                fprintf(stderr, "out of memory\n");
                exit(1);
            }
        }
        lat[nlat++] = l;
        if (status < 600)
            by_status[status]++;
    } else if (status == 0)
        n_timeout++;
    else if (status == -1)
        n_broken++;
    else
        n_unsent++;
    fprintf(out, "%lu\t%s\t%s\t%d\t%.0f\t%d\t%.2f\t%s\n", p->seq, p->event_id, vouchers[p->voucher],
            p->qty_h, p->planned_wall, status, l * 1000,
            command_id && *command_id ? command_id : "-");
    n_records++;
}

static int open_conn(struct conn *c, int ep)
{
    c->fd = ln_connect(host, port, ep, EPOLLIN | EPOLLRDHUP, c);
    c->busy = 0;
    c->len = 0;
    return c->fd < 0 ? -1 : 0;
}

static void close_conn(struct conn *c, int ep)
{
    ln_close(c->fd, ep);
    c->fd = -1;
    c->len = 0;
}

/* 1 when c->buf holds a whole response (consumed), 0 when not yet, -1 bad. */
static int take_response(struct conn *c, int *status, int *must_close, char cmd_id[64])
{
    struct ln_resp r;
    int got = ln_parse(c->buf, c->len, RBUF, &r);
    if (got != 1)
        return got;
    *status = r.status;
    *must_close = r.must_close;
    cmd_id[0] = '\0';
    const char *body = c->buf + r.head_len;
    const char *k = memmem(body, r.body_len, "\"command_id\":\"", 14);
    if (k && k + 14 + 36 <= body + r.body_len) {
        memcpy(cmd_id, k + 14, 36);
        cmd_id[36] = '\0';
    }
    ln_consume(c->buf, &c->len, r.head_len + r.body_len);
    return 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: psop-chaos-load [--host IP] [--port N] [--rate R] [--duration S] "
                    "[--connections C] [--timeout S] [--date YYYY-MM-DD] --token JWT "
                    "--vouchers ID,ID,... --out FILE\n");
    exit(2);
}

static int send_one(struct conn *c, int ep, const struct pending *p)
{
    char body[256], req[4096];
    int blen = snprintf(body, sizeof(body),
                        "{\"id\":\"%s\",\"date\":\"%s\",\"quantity\":%d.%02d,\"note\":\"chaos\"}",
                        p->event_id, date, p->qty_h / 100, p->qty_h % 100);
    int rlen = snprintf(req, sizeof(req),
                        "POST /v1/vouchers/%s/service-events HTTP/1.1\r\nHost: %s\r\n"
                        "Authorization: Bearer %s\r\nIdempotency-Key: chaos-%s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                        vouchers[p->voucher], host, token, p->event_id, blen, body);
    if (rlen <= 0 || (size_t)rlen >= sizeof(req)) {
        fprintf(stderr, "request too long\n");
        exit(2);
    }
    c->p = *p;
    c->busy = 1;
    c->sent_at = ln_now_s();
    size_t w = ln_send_all(c->fd, req, (size_t)rlen, 2.0);
    if (w == (size_t)rlen)
        return 0;
    record(p, w == 0 ? -2 : -1, NULL);
    c->busy = 0;
    close_conn(c, ep);
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", 1, 0, 'h'},
                                         {"port", 1, 0, 'p'},
                                         {"rate", 1, 0, 'r'},
                                         {"duration", 1, 0, 'd'},
                                         {"connections", 1, 0, 'c'},
                                         {"token", 1, 0, 't'},
                                         {"vouchers", 1, 0, 'v'},
                                         {"date", 1, 0, 'D'},
                                         {"out", 1, 0, 'o'},
                                         {"timeout", 1, 0, 'T'},
                                         {0, 0, 0, 0}};
    int o;
    char *vlist = NULL;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = atoi(optarg);
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'c':
            nconn = atoi(optarg);
            break;
        case 't':
            token = optarg;
            break;
        case 'v':
            vlist = optarg;
            break;
        case 'D':
            date = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'T':
            timeout_s = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (!token)
        token = getenv("PSOP_CHAOS_TOKEN");
    if (!token || !vlist || !out_path || rate <= 0 || duration <= 0 || nconn <= 0 ||
        timeout_s <= 0 || strlen(token) > 2048 || strlen(date) != 10)
        usage();
    for (char *s = strtok(vlist, ","); s && nvouchers < MAX_VOUCHERS; s = strtok(NULL, ","))
        if (strlen(s) == 36)
            vouchers[nvouchers++] = s;
    if (!nvouchers)
        usage();
    out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    srandom((unsigned)(ln_wall_ms() * 1000) ^ (unsigned)getpid());

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
    for (int i = 0; i < nconn; i++)
        cs[i].fd = -1;

    size_t total = (size_t)(rate * duration);
    struct pending *queue = calloc(total ? total : 1, sizeof(*queue));
    size_t qhead = 0, qtail = 0, planned = 0;
    double t0 = ln_now_s() + 0.05, wall0 = ln_wall_ms() + 50, interval = 1.0 / rate;

    while (n_records < total) {
        double now = ln_now_s();
        if (stop_planning && total > qhead) {
            /* Planned but not sent yet (the system is behind): dropped, as
             * if never planned; what was sent is still recorded. */
            total = planned = qtail = qhead;
        }
        while (planned < total && t0 + (double)planned * interval <= now) {
            struct pending *p = &queue[qtail++];
            p->seq = planned;
            p->planned = t0 + (double)planned * interval;
            p->planned_wall = wall0 + (double)planned * interval * 1000;
            ln_uuid7(p->event_id);
            p->voucher = (int)(planned % (size_t)nvouchers);
            p->qty_h = 100 + (int)(random() % 4) * 50; /* 1, 1.5, 2, 2.5 */
            planned++;
        }
        for (int i = 0; i < nconn && qhead < qtail; i++) {
            struct conn *c = &cs[i];
            if (c->busy)
                continue;
            if (c->fd < 0 && open_conn(c, ep) < 0) {
                record(&queue[qhead++], -2, NULL);
                continue;
            }
            send_one(c, ep, &queue[qhead++]);
        }
        /* Requests without an answer in time are indeterminate. */
        for (int i = 0; i < nconn; i++) {
            struct conn *c = &cs[i];
            if (c->busy && now - c->sent_at > timeout_s) {
                record(&c->p, 0, NULL);
                c->busy = 0;
                close_conn(c, ep);
            }
        }
        double next = planned < total ? t0 + (double)planned * interval : now + 0.01;
        int wait_ms = (int)((next - ln_now_s()) * 1000);
        if (wait_ms < 0)
            wait_ms = 0;
        if (wait_ms > 10)
            wait_ms = 10;
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wait_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->fd < 0)
                continue;
            ssize_t r = recv(c->fd, c->buf + c->len, RBUF - c->len, 0);
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (c->busy)
                    record(&c->p, -1, NULL);
                c->busy = 0;
                close_conn(c, ep);
                continue;
            }
            c->len += (size_t)r;
            int status, must_close, got;
            char cmd_id[64];
            while ((got = take_response(c, &status, &must_close, cmd_id)) == 1) {
                if (c->busy)
                    record(&c->p, status, cmd_id);
                c->busy = 0;
                if (must_close) {
                    close_conn(c, ep);
                    break;
                }
            }
            if (got < 0) {
                if (c->busy)
                    record(&c->p, -1, NULL);
                c->busy = 0;
                close_conn(c, ep);
            }
        }
    }
    double elapsed = ln_now_s() - t0;
    fclose(out);
    qsort(lat, nlat, sizeof(*lat), ln_cmp_double);
    printf("{\"planned\":%zu,\"rate\":%.1f,\"elapsed_s\":%.1f,\"answered\":%zu,\"timeouts\":%lu,"
           "\"broken\":%lu,\"unsent\":%lu,\"status\":{",
           total, rate, elapsed, nlat, n_timeout, n_broken, n_unsent);
    int first = 1;
    for (int s = 100; s < 600; s++)
        if (by_status[s]) {
            printf("%s\"%d\":%lu", first ? "" : ",", s, by_status[s]);
            first = 0;
        }
    printf("},\"latency_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}}\n",
           ln_pct_ms(lat, nlat, 0.50), ln_pct_ms(lat, nlat, 0.99),
           nlat ? lat[nlat - 1] * 1000 : 0.0);
    for (int i = 0; i < nconn; i++)
        close_conn(&cs[i], ep);
    close(ep);
    free(cs);
    free(queue);
    free(lat);
    return 0;
}
