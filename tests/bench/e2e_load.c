/*
 * e2e_load - open-loop end-to-end load for issue 4: POST → applied in
 * PostgreSQL and Redis.
 *
 *   psop-bench-e2e --run bench-run.txt --rate 2000 --duration 20 [--wait 10]
 *                  [--connections N] [--record-pct 80] [--drain-timeout 60]
 *                  [--url http://127.0.0.1:18080] [--seed N] [--no-drain]
 *
 * The run file comes from psop-bench-seed. Commands are planned at a fixed
 * rate (t0 + i/rate) whatever the system does, and each latency is measured
 * from the command's *planned* send time (no coordinated omission). The mix:
 * --record-pct % service_event.record (random seeded voucher, as its chosen
 * provider, a weekday of this month up to today, 0.25-3.00 h, band weekday);
 * the rest split 40/30/30 between service_event.approve (of a seeded recorded
 * event, each approved once; when they run out, voucher.amend instead),
 * voucher.amend (monthly_quota) and provider.set_price (a future valid_from).
 *
 * --wait N > 0 sends `Prefer: wait=N`: the api answers 200 once the worker
 * announced the command applied, which it does after writing the read model,
 * so planned send → 200 is "planned send → visible in the read model"
 * (422 = rejected by the worker, 202 = not applied within N s).
 * --wait 0 measures planned send → 202 (stored in Kafka).
 *
 * Either way, after the last answer the generator polls PostgreSQL
 * (psop.processed_commands of this run: every token's sub starts with
 * bench-<run id>-) until every accepted command has a verdict, and reports
 * applied/s = accepted / (time from the first planned send until the poll saw
 * the last verdict), plus commands per worker transaction (rows of one batch
 * share applied_at = now() of its transaction).
 *
 * A progress line goes to stderr when it is a terminal; the summary is one
 * JSON object on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadnet.h"

#include "core/config.h"
#include "core/date.h"
#include "core/ids.h"
#include "wire/jwt.h"
#include "store/pgc.h"

#define SBUF 4096

enum kind { K_RECORD, K_APPROVE, K_AMEND, K_PRICE, K_N };
static const char *kind_name[K_N] = {"service_event.record", "service_event.approve",
                                     "voucher.amend", "provider.set_price"};

struct conn {
    struct ln_conn io;
    enum kind kind;
    double planned; /* of the request in flight */
};

struct lat {
    double *v;
    size_t n, cap;
};

/* ---------------------------------------------------------------- options */
static char host[64] = "127.0.0.1";
static int port = 18080;
static double rate = 1000, duration = 10, drain_timeout = 60;
static int nconn = -1, wait_s = 10, record_pct = 80, drain = 1;
static const char *run_path = "bench-run.txt";
static uint64_t rng_state;

/* ---------------------------------------------------------------- the run */
static char run_id[16], organiser[40], service_type[48], first_of_month[11];
static char (*providers)[40], (*vouchers)[40], (*events)[40];
static int *voucher_provider, *event_voucher;
static size_t np, nv, ne, next_event;
static char dates[31][11];
static int ndates;
static char lrun[16]; /* this load run's id: the tokens' sub prefix */
static char *org_token, **prov_tokens;

/* ---------------------------------------------------------------- results */
static struct lat lat_all, lat_kind[K_N];
static unsigned long by_status[600], by_kind_status[K_N][6]; /* 2xx..5xx by hundred */
static unsigned long transport_errors, sent_kind[K_N], idle_closed;
static char first_errors[5][512];
static int nfirst_errors;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        perror("realloc");
        exit(1);
    }
    return p;
}

static void lat_add(struct lat *l, double v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = xrealloc(l->v, l->cap * sizeof(double));
    }
    l->v[l->n++] = v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static double pct(const struct lat *l, double p)
{
    return ln_pct_ms(l->v, l->n, p);
}

/* ------------------------------------------------------------- run file */
static void load_run(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    char line[1024];
    size_t capp = 0, capv = 0, cape = 0;
    while (fgets(line, sizeof(line), f)) {
        char a[40], b[40];
        long idx;
        if (sscanf(line, "run %15s", run_id) == 1 ||
            sscanf(line, "organiser %39s", organiser) == 1 ||
            sscanf(line, "service_type %47s", service_type) == 1)
            continue;
        if (strncmp(line, "dates", 5) == 0) {
            char *save = NULL;
            for (char *t = strtok_r(line + 5, " \n", &save); t && ndates < 31;
                 t = strtok_r(NULL, " \n", &save))
                snprintf(dates[ndates++], sizeof(dates[0]), "%s", t);
        } else if (sscanf(line, "provider %39s", a) == 1) {
            if (np == capp) {
                capp = capp ? capp * 2 : 64;
                providers = xrealloc(providers, capp * sizeof(*providers));
            }
            snprintf(providers[np++], 40, "%s", a);
        } else if (sscanf(line, "voucher %39s %ld", b, &idx) == 2) {
            if (nv == capv) {
                capv = capv ? capv * 2 : 1024;
                vouchers = xrealloc(vouchers, capv * sizeof(*vouchers));
                voucher_provider = xrealloc(voucher_provider, capv * sizeof(int));
            }
            snprintf(vouchers[nv], 40, "%s", b);
            voucher_provider[nv++] = (int)idx;
        } else if (sscanf(line, "event %39s %ld", b, &idx) == 2) {
            if (ne == cape) {
                cape = cape ? cape * 2 : 1024;
                events = xrealloc(events, cape * sizeof(*events));
                event_voucher = xrealloc(event_voucher, cape * sizeof(int));
            }
            snprintf(events[ne], 40, "%s", b);
            event_voucher[ne++] = (int)idx;
        }
    }
    fclose(f);
    if (!run_id[0] || !organiser[0] || !service_type[0] || !np || !nv || !ndates) {
        fprintf(stderr, "%s: not a psop-bench-seed run file (or no event dates this month)\n",
                path);
        exit(1);
    }
    for (size_t i = 0; i < nv; i++)
        if (voucher_provider[i] < 0 || (size_t)voucher_provider[i] >= np) {
            fprintf(stderr, "%s: voucher %zu names provider %d of %zu\n", path, i,
                    voucher_provider[i], np);
            exit(1);
        }
    /* Shuffle the seeded events so approvals spread over vouchers and time. */
    for (size_t i = ne; i > 1; i--) {
        size_t j = rnd() % i;
        char t[40];
        int tv = event_voucher[i - 1];
        memcpy(t, events[i - 1], 40);
        memcpy(events[i - 1], events[j], 40);
        memcpy(events[j], t, 40);
        event_voucher[i - 1] = event_voucher[j];
        event_voucher[j] = tv;
    }
}

/* Keeps the seeded events still 'recorded' (earlier load runs on the same
 * seed approved some): every approve then targets an approvable event. */
static void keep_recorded_events(struct pgc *pg)
{
    char err[512];
    const char *p[] = {organiser};
    PGresult *r = pgc_query(pg,
                            "SELECT id::text FROM psop.service_events WHERE organiser_id = $1 "
                            "AND recorded_by = 'bench-seed' AND state = 'recorded'",
                            1, p, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "psop-bench-e2e: events: %s\n", err);
        exit(1);
    }
    /* Sort the open ids, then keep the run file's (shuffled) events found among them. */
    size_t n = (size_t)PQntuples(r);
    char **open = malloc((n ? n : 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        open[i] = PQgetvalue(r, i, 0);
    qsort(open, n, sizeof(char *), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        const char *key = events[i];
        if (bsearch(&key, open, n, sizeof(char *), cmp_str)) {
            memmove(events[k], events[i], 40);
            event_voucher[k++] = event_voucher[i];
        }
    }
    ne = k;
    free(open);
    PQclear(r);
}

/* ------------------------------------------------------------ requests */
/* Writes the next command's HTTP request into out; returns its length. */
static size_t build_request(char *out, size_t cap, enum kind *kind_out)
{
    unsigned r = (unsigned)(rnd() % 1000);
    enum kind k;
    if (r < (unsigned)record_pct * 10)
        k = K_RECORD;
    else {
        unsigned o = (unsigned)(rnd() % 10);
        k = o < 4 ? K_APPROVE : o < 7 ? K_AMEND : K_PRICE;
    }
    if (k == K_APPROVE && next_event >= ne)
        k = K_AMEND;
    char path[256], body[512];
    const char *token = org_token;
    size_t v = rnd() % nv;
    switch (k) {
    case K_RECORD: {
        char id[UUID_STR_LEN];
        ids_uuid7(id);
        int q = 25 * (int)(1 + rnd() % 12); /* 0.25 .. 3.00 h */
        snprintf(path, sizeof(path), "/v1/vouchers/%s/service-events", vouchers[v]);
        snprintf(body, sizeof(body),
                 "{\"id\":\"%s\",\"date\":\"%s\",\"quantity\":%d.%02d,\"band\":\"weekday\"}", id,
                 dates[rnd() % (uint64_t)ndates], q / 100, q % 100);
        token = prov_tokens[voucher_provider[v]];
        break;
    }
    case K_APPROVE: {
        size_t e = next_event++;
        snprintf(path, sizeof(path), "/v1/vouchers/%s/service-events/%s/approval",
                 vouchers[event_voucher[e]], events[e]);
        snprintf(body, sizeof(body), "{}");
        break;
    }
    case K_AMEND:
        snprintf(path, sizeof(path), "/v1/vouchers/%s/amendments", vouchers[v]);
        snprintf(body, sizeof(body), "{\"effective_from\":\"%s\",\"monthly_quota\":%d}",
                 first_of_month, 90000 + (int)(rnd() % 10000));
        break;
    default: {
        size_t p = rnd() % np;
        char vf[11];
        date_format(date_today_helsinki() + 60 + (day_t)(rnd() % 300), vf);
        int price = 3500 + (int)(rnd() % 500);
        snprintf(path, sizeof(path), "/v1/providers/%s/prices", providers[p]);
        snprintf(body, sizeof(body),
                 "{\"organiser_id\":\"%s\",\"service_type\":\"%s\",\"valid_from\":\"%s\","
                 "\"price_cents\":%d,\"band_prices_cents\":{\"evening\":%d,\"saturday\":%d,"
                 "\"sunday\":%d}}",
                 organiser, service_type, vf, price, price + 500, price + 1000, price * 2);
        token = prov_tokens[p];
        break;
    }
    }
    *kind_out = k;
    char prefer[32] = "";
    if (wait_s > 0)
        snprintf(prefer, sizeof(prefer), "Prefer: wait=%d\r\n", wait_s);
    int n = snprintf(out, cap,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n%s"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     path, host, port, token, prefer, strlen(body), body);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "request too long\n");
        exit(1);
    }
    return (size_t)n;
}

/* 1 when c holds a whole answer (consumed; the first few errors kept with
 * their bodies for the report), 0 not yet, -1 bad. */
static int take_response(struct conn *c, int *status, int *must_close)
{
    struct ln_resp r;
    char body[401];
    int got = ln_conn_take(&c->io, &r, body, sizeof(body));
    if (got != 1)
        return got;
    *status = r.status;
    *must_close = r.must_close;
    if ((r.status < 200 || r.status > 202) && nfirst_errors < 5)
        snprintf(first_errors[nfirst_errors++], sizeof(first_errors[0]), "%s %d: %s",
                 kind_name[c->kind], r.status, body);
    return 1;
}

static void record(struct conn *c, int status)
{
    double l = ln_now_s() - c->planned;
    lat_add(&lat_all, l);
    lat_add(&lat_kind[c->kind], l);
    if (status >= 100 && status < 600) {
        by_status[status]++;
        if (status >= 200)
            by_kind_status[c->kind][status / 100]++;
    }
}

/* ------------------------------------------------------------- progress */
static int tty;

static void progress(double t, size_t planned, size_t sent, size_t answered, size_t queued,
                     const char *phase)
{
    if (!tty)
        return;
    fprintf(stderr,
            "\r\033[K%-6s t=%5.1fs planned %zu sent %zu answered %zu queued %zu | 200 %lu 202 %lu "
            "422 %lu other %lu err %lu",
            phase, t, planned, sent, answered, queued, by_status[200], by_status[202],
            by_status[422], answered - by_status[200] - by_status[202] - by_status[422] - 0UL,
            transport_errors);
    fflush(stderr);
}

/* ----------------------------------------------------------------- main */
static void usage(void)
{
    fprintf(stderr, "usage: psop-bench-e2e [--run FILE] [--rate R] [--duration S] [--wait N] "
                    "[--connections C] [--record-pct P] [--url http://127.0.0.1:PORT] [--seed N] "
                    "[--drain-timeout S] [--no-drain]\n");
    exit(2);
}

static void parse_url(const char *url)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *colon = strchr(p, ':');
    size_t hl = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (hl == 0 || hl >= sizeof(host)) {
        fprintf(stderr, "bad url %s\n", url);
        exit(2);
    }
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    port = colon ? atoi(colon + 1) : 80;
    if (strncmp(host, "127.", 4) != 0) {
        fprintf(stderr, "psop-bench-e2e loads loopback only (got %s)\n", host);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"run", 1, 0, 'f'},
                                         {"rate", 1, 0, 'r'},
                                         {"duration", 1, 0, 'd'},
                                         {"wait", 1, 0, 'w'},
                                         {"connections", 1, 0, 'c'},
                                         {"record-pct", 1, 0, 'm'},
                                         {"url", 1, 0, 'u'},
                                         {"seed", 1, 0, 's'},
                                         {"drain-timeout", 1, 0, 'T'},
                                         {"no-drain", 0, 0, 'n'},
                                         {0, 0, 0, 0}};
    const char *url = getenv("PSOP_API_URL");
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (uint64_t)time(NULL);
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'f':
            run_path = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'w':
            wait_s = atoi(optarg);
            break;
        case 'c':
            nconn = atoi(optarg);
            break;
        case 'm':
            record_pct = atoi(optarg);
            break;
        case 'u':
            url = optarg;
            break;
        case 's':
            seed = strtoull(optarg, NULL, 10);
            break;
        case 'T':
            drain_timeout = atof(optarg);
            break;
        case 'n':
            drain = 0;
            break;
        default:
            usage();
        }
    }
    if (rate <= 0 || duration <= 0 || duration > 60 || wait_s < 0 || wait_s > 10 ||
        record_pct < 0 || record_pct > 100)
        usage();
    if (url)
        parse_url(url);
    if (nconn <= 0)
        nconn = wait_s > 0 ? 1000 : 128;
    rng_state = seed ? seed : 88172645463325252ULL;
    tty = isatty(STDERR_FILENO);

    load_run(run_path);
    {
        struct ymd t = date_to_ymd(date_today_helsinki());
        date_format(date_from_ymd(t.y, t.m, 1), first_of_month);
    }

    struct psop_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-bench-e2e: config: %s\n", err);
        return 1;
    }
    snprintf(lrun, sizeof(lrun), "%06llx", (unsigned long long)(rnd() & 0xffffff));
    char sub[96];
    snprintf(sub, sizeof(sub), "bench-%s-org", lrun);
    if (jwt_token_mint(&cfg, "organiser", sub, organiser, NULL, NULL, 3600, &org_token, err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "psop-bench-e2e: token: %s\n", err);
        return 1;
    }
    prov_tokens = calloc(np, sizeof(char *));
    for (size_t i = 0; i < np; i++) {
        snprintf(sub, sizeof(sub), "bench-%s-p%zu", lrun, i);
        if (jwt_token_mint(&cfg, "provider", sub, NULL, providers[i], NULL, 3600, &prov_tokens[i],
                           err, sizeof(err)) < 0) {
            fprintf(stderr, "psop-bench-e2e: token: %s\n", err);
            return 1;
        }
    }
    struct pgc *pg = pgc_connect(cfg.pg_dsn, err, sizeof(err));
    char pg_t0[64] = "";
    if (!pg) {
        fprintf(stderr, "psop-bench-e2e: %s\n", err);
        return 1;
    }
    keep_recorded_events(pg);
    {
        PGresult *r =
            pgc_query(pg, "SELECT (now() - interval '2 seconds')::text", 0, NULL, err, sizeof(err));
        if (!r) {
            fprintf(stderr, "psop-bench-e2e: %s\n", err);
            return 1;
        }
        snprintf(pg_t0, sizeof(pg_t0), "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)nconn, sizeof(*cs));
    for (int i = 0; i < nconn; i++)
        if (ln_conn_open(&cs[i].io, host, port, ep, EPOLLIN, &cs[i]) < 0) {
            fprintf(stderr, "cannot connect to %s:%d (%s)\n", host, port, strerror(errno));
            return 1;
        }

    size_t total = (size_t)(rate * duration);
    double *queue = malloc(total * sizeof(double));
    size_t qhead = 0, qtail = 0, planned = 0, sent = 0, answered = 0;
    double t0 = ln_now_s() + 0.05, interval = 1.0 / rate;
    double deadline = t0 + duration + wait_s + 20;
    double last_progress = 0, last_answer = t0;
    char req[SBUF];
    int *idle = malloc((size_t)nconn * sizeof(int)), nidle = 0;
    for (int i = nconn - 1; i >= 0; i--)
        idle[nidle++] = i;

    while (answered + transport_errors < total && ln_now_s() < deadline) {
        double now = ln_now_s();
        while (planned < total && t0 + (double)planned * interval <= now)
            queue[qtail++] = t0 + (double)planned++ * interval;
        /* Hand queued commands to idle connections. */
        while (qhead < qtail && nidle > 0) {
            struct conn *c = &cs[idle[--nidle]];
            if (c->io.fd < 0 && ln_conn_open(&c->io, host, port, ep, EPOLLIN, c) < 0) {
                transport_errors++; /* the command is lost: counted, not retried */
                qhead++;
                idle[nidle++] = (int)(c - cs);
                continue;
            }
            c->planned = queue[qhead++];
            size_t n = build_request(req, sizeof(req), &c->kind);
            sent_kind[c->kind]++;
            c->io.busy = 1;
            sent++;
            if (ln_send_all(c->io.fd, req, n, 2.0) != n) {
                transport_errors++;
                c->io.busy = 0;
                ln_conn_close(&c->io, ep);
                idle[nidle++] = (int)(c - cs);
            }
        }
        if (now - last_progress >= 1.0) {
            last_progress = now;
            progress(now - t0, planned, sent, answered, qtail - qhead, "load");
        }
        int wait_ms = ln_wait_ms(planned < total ? t0 + (double)planned * interval : 0);
        struct epoll_event evs[512];
        int n = epoll_wait(ep, evs, 512, wait_ms);
        for (int k = 0; k < n; k++) {
            struct conn *c = evs[k].data.ptr;
            int rd = ln_conn_read(&c->io);
            if (rd == 0)
                continue;
            if (rd < 0) {
                ln_conn_close(&c->io, ep);
                if (c->io.busy) {
                    transport_errors++;
                    c->io.busy = 0;
                    idle[nidle++] = (int)(c - cs);
                }
                continue;
            }
            if (!c->io.busy) {
                /* Unsolicited: HAProxy's 408 to a keep-alive connection idle
                 * for `timeout http-request` (10 s) before closing it. Not an
                 * answer to anything; the connection is reopened when needed. */
                idle_closed++;
                ln_conn_close(&c->io, ep);
                continue;
            }
            int status, must_close, got;
            while ((got = take_response(c, &status, &must_close)) == 1) {
                record(c, status);
                answered++;
                last_answer = ln_now_s();
                if (c->io.busy) {
                    c->io.busy = 0;
                    idle[nidle++] = (int)(c - cs);
                }
                if (must_close) {
                    ln_conn_close(&c->io, ep);
                    break;
                }
            }
            if (got < 0) {
                transport_errors++;
                ln_conn_close(&c->io, ep);
                if (c->io.busy) {
                    c->io.busy = 0;
                    idle[nidle++] = (int)(c - cs);
                }
            }
        }
    }
    double load_elapsed = (last_answer > t0 + duration ? last_answer : t0 + duration) - t0;
    if (tty)
        fprintf(stderr, "\r\033[K");
    for (int i = 0; i < nconn; i++)
        ln_conn_close(&cs[i].io, ep);

    /* Drain: poll PostgreSQL until every accepted command has a verdict. */
    unsigned long accepted = by_status[200] + by_status[202] + by_status[422];
    long pg_applied = -1, pg_rejected = -1, pg_txns = -1;
    double drained_at = -1, pg_span = -1;
    char like[64];
    snprintf(like, sizeof(like), "bench-%s-%%", lrun);
    double poll_start = ln_now_s();
    while (drain) {
        const char *p[] = {pg_t0, like};
        PGresult *r =
            pgc_query(pg,
                      "SELECT count(*) FILTER (WHERE status = 'applied'), "
                      "count(*) FILTER (WHERE status = 'rejected'), "
                      "count(DISTINCT applied_at), "
                      "coalesce(extract(epoch FROM max(applied_at) - min(applied_at)), 0) "
                      "FROM psop.processed_commands "
                      "WHERE applied_at >= $1::timestamptz AND actor_sub LIKE $2",
                      2, p, err, sizeof(err));
        double t = ln_now_s();
        if (!r) {
            fprintf(stderr, "psop-bench-e2e: poll: %s\n", err);
            break;
        }
        pg_applied = atol(PQgetvalue(r, 0, 0));
        pg_rejected = atol(PQgetvalue(r, 0, 1));
        pg_txns = atol(PQgetvalue(r, 0, 2));
        pg_span = atof(PQgetvalue(r, 0, 3));
        PQclear(r);
        if ((unsigned long)(pg_applied + pg_rejected) >= accepted) {
            drained_at = t - t0;
            break;
        }
        if (t - poll_start > drain_timeout)
            break;
        if (tty) {
            fprintf(stderr,
                    "\r\033[Kdrain  t=%5.1fs verdicts %ld of %lu (applied %ld rejected %ld)",
                    t - t0, pg_applied + pg_rejected, accepted, pg_applied, pg_rejected);
            fflush(stderr);
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (tty)
        fprintf(stderr, "\r\033[K");

    /* ------------------------------------------------------- summary */
    qsort(lat_all.v, lat_all.n, sizeof(double), ln_cmp_double);
    for (int k = 0; k < K_N; k++)
        qsort(lat_kind[k].v, lat_kind[k].n, sizeof(double), ln_cmp_double);
    printf("{\"run\":\"%s\",\"load_run\":\"%s\",\"mode\":\"%s\",\"wait_s\":%d,"
           "\"planned_rate\":%.0f,\"duration_s\":%.1f,\"connections\":%d,\"record_pct\":%d,",
           run_id, lrun, wait_s > 0 ? "applied" : "ack", wait_s, rate, duration, nconn, record_pct);
    printf("\"approvable_events_left\":%zu,", ne - next_event);
    printf("\"planned\":%zu,\"sent\":%zu,\"answered\":%zu,\"transport_errors\":%lu,"
           "\"idle_connections_closed_by_proxy\":%lu,",
           total, sent, answered, transport_errors, idle_closed);
    printf("\"status\":{");
    int first = 1;
    for (int s = 100; s < 600; s++)
        if (by_status[s]) {
            printf("%s\"%d\":%lu", first ? "" : ",", s, by_status[s]);
            first = 0;
        }
    printf("},");
    /* Answered-at rates: 200 (applied and visible) per second of the load phase. */
    printf("\"answered_200_per_s\":%.1f,\"accepted_per_s\":%.1f,",
           (double)by_status[200] / load_elapsed, (double)accepted / load_elapsed);
    printf("\"latency_ms\":{\"what\":\"%s\",\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
           "\"p99_9\":%.1f,\"max\":%.1f},",
           wait_s > 0 ? "planned send to 200 (applied, read model written)"
                      : "planned send to 202 (stored in Kafka)",
           pct(&lat_all, .5), pct(&lat_all, .9), pct(&lat_all, .99), pct(&lat_all, .999),
           lat_all.n ? lat_all.v[lat_all.n - 1] * 1000 : 0.0);
    printf("\"by_type\":{");
    for (int k = 0; k < K_N; k++)
        printf("%s\"%s\":{\"sent\":%lu,\"2xx\":%lu,\"4xx\":%lu,\"5xx\":%lu,\"p50_ms\":%.1f,"
               "\"p99_ms\":%.1f}",
               k ? "," : "", kind_name[k], sent_kind[k], by_kind_status[k][2], by_kind_status[k][4],
               by_kind_status[k][5], pct(&lat_kind[k], .5), pct(&lat_kind[k], .99));
    printf("},");
    if (drain) {
        printf("\"pg\":{\"accepted\":%lu,\"applied\":%ld,\"rejected\":%ld,\"drained\":%s,"
               "\"last_verdict_s\":%.2f,\"applied_per_s\":%.1f,\"worker_transactions\":%ld,"
               "\"commands_per_transaction\":%.1f,\"applied_at_span_s\":%.2f},",
               accepted, pg_applied, pg_rejected, drained_at >= 0 ? "true" : "false", drained_at,
               drained_at > 0 ? (double)(pg_applied + pg_rejected) / drained_at : 0.0, pg_txns,
               pg_txns > 0 ? (double)(pg_applied + pg_rejected) / (double)pg_txns : 0.0, pg_span);
    }
    printf("\"first_errors\":[");
    for (int i = 0; i < nfirst_errors; i++) {
        printf("%s\"", i ? "," : "");
        for (const char *p = first_errors[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            if ((unsigned char)*p >= 0x20)
                putchar(*p);
        }
        putchar('"');
    }
    printf("]}\n");
    pgc_free(pg);
    return 0;
}
