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
 * A keep-alive connection is what a real client keeps: it is closed after
 * IDLE_CLOSE_S without use (shorter than HAProxy's http-keep-alive timeout,
 * so the client, not the server, closes an idle one), and a request whose
 * reused connection closes before any byte of the answer arrives (the server
 * closed it idle just as the request left: RFC 9110 9.2.2 lets a client retry
 * an idempotent request then) is sent once more on a new connection. The
 * Idempotency-Key makes the retry safe, and the checker still counts every
 * lost or doubled event; "retried" in the totals says how often it happened.
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

#define MAX_VOUCHERS 64

struct pending {
    unsigned long seq;
    double planned;      /* monotonic s */
    double planned_wall; /* epoch ms */
    char event_id[37];
    int voucher;
    int qty_h;
    int retried; /* already sent once more after a broken reused connection */
};

struct conn {
    struct ln_conn io;
    double sent_at;
    double used_at;        /* when its last answer arrived (or it opened) */
    unsigned long answers; /* answers read since it opened */
    struct pending p;
};

#define IDLE_CLOSE_S 4.0

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
static unsigned long by_status[600], n_timeout, n_broken, n_unsent, n_records, n_retried;

/* Requests to send once more (see the head comment), before new ones. */
static struct pending *retry;
static size_t nretry;

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

/* The command id an answer names ("" when none): what the checker looks up. */
static void command_id_of(const char *body, char cmd_id[64])
{
    cmd_id[0] = '\0';
    const char *k = strstr(body, "\"command_id\":\"");
    if (k && strlen(k + 14) >= 36) {
        memcpy(cmd_id, k + 14, 36);
        cmd_id[36] = '\0';
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: psop-chaos-load [--host IP] [--port N] [--rate R] [--duration S] "
                    "[--connections C] [--timeout S] [--date YYYY-MM-DD] --token JWT "
                    "--vouchers ID,ID,... --out FILE\n");
    exit(2);
}

/* c broke with its request in flight: sent once more when the connection had
 * been used before and nothing of the answer arrived, else indeterminate
 * (status -1; -2 when not a byte of the request could be sent). */
static void on_broken(struct conn *c, int ep, int status)
{
    if (c->io.busy) {
        if (c->answers > 0 && c->io.len == 0 && !c->p.retried) {
            retry[nretry] = c->p;
            retry[nretry++].retried = 1;
            n_retried++;
        } else
            record(&c->p, status, NULL);
    }
    c->io.busy = 0;
    ln_conn_close(&c->io, ep);
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
    c->io.busy = 1;
    c->sent_at = ln_now_s();
    size_t w = ln_send_all(c->io.fd, req, (size_t)rlen, 2.0);
    if (w == (size_t)rlen)
        return 0;
    on_broken(c, ep, w == 0 ? -2 : -1);
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {LN_COMMON_OPTIONS,      {"vouchers", 1, 0, 'v'},
                                         {"date", 1, 0, 'D'},    {"out", 1, 0, 'o'},
                                         {"timeout", 1, 0, 'T'}, {0, 0, 0, 0}};
    const struct ln_common common = {&host, &port, &rate, &duration, &nconn, &token};
    int o;
    char *vlist = NULL;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ln_common_option(&common, o, optarg))
            continue;
        switch (o) {
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
    retry = calloc((size_t)nconn, sizeof(*retry));
    for (int i = 0; i < nconn; i++)
        cs[i].io.fd = -1;

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
        for (int i = 0; i < nconn && (nretry || qhead < qtail); i++) {
            struct conn *c = &cs[i];
            if (c->io.busy)
                continue;
            if (c->io.fd >= 0 && now - c->used_at > IDLE_CLOSE_S)
                ln_conn_close(&c->io, ep);
            struct pending p = nretry ? retry[--nretry] : queue[qhead++];
            if (c->io.fd < 0) {
                if (ln_conn_open(&c->io, host, port, ep, EPOLLIN | EPOLLRDHUP, c) < 0) {
                    record(&p, -2, NULL);
                    continue;
                }
                c->answers = 0;
                c->used_at = now;
            }
            send_one(c, ep, &p);
        }
        /* Requests without an answer in time are indeterminate. */
        for (int i = 0; i < nconn; i++) {
            struct conn *c = &cs[i];
            if (c->io.busy && now - c->sent_at > timeout_s) {
                record(&c->p, 0, NULL);
                c->io.busy = 0;
                ln_conn_close(&c->io, ep);
            }
        }
        int wait_ms = ln_wait_ms(planned < total ? t0 + (double)planned * interval : 0);
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, wait_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            if (c->io.fd < 0)
                continue;
            int rd = ln_conn_read(&c->io);
            if (rd <= 0) {
                if (rd < 0)
                    on_broken(c, ep, -1);
                continue;
            }
            struct ln_resp resp;
            char body[2048], cmd_id[64];
            int got;
            while ((got = ln_conn_take(&c->io, &resp, body, sizeof(body))) == 1) {
                command_id_of(body, cmd_id);
                if (c->io.busy)
                    record(&c->p, resp.status, cmd_id);
                c->io.busy = 0;
                c->answers++;
                c->used_at = ln_now_s();
                if (resp.must_close) {
                    ln_conn_close(&c->io, ep);
                    break;
                }
            }
            if (got < 0)
                on_broken(c, ep, -1);
        }
    }
    double elapsed = ln_now_s() - t0;
    fclose(out);
    qsort(lat, nlat, sizeof(*lat), ln_cmp_double);
    printf("{\"planned\":%zu,\"rate\":%.1f,\"elapsed_s\":%.1f,\"answered\":%zu,\"timeouts\":%lu,"
           "\"broken\":%lu,\"unsent\":%lu,\"retried\":%lu,\"status\":{",
           total, rate, elapsed, nlat, n_timeout, n_broken, n_unsent, n_retried);
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
        ln_conn_close(&cs[i].io, ep);
    close(ep);
    free(cs);
    free(queue);
    free(retry);
    free(lat);
    return 0;
}
