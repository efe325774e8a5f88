#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"
#include "core/xmalloc.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define N_STATUS 500 /* 100..599 */

struct route_stats {
    atomic_ulong status[N_STATUS];
    atomic_ulong bucket[N_BUCKETS + 1]; /* last: +Inf */
    atomic_ulong sum_us;
    atomic_ulong count;
};

struct metrics {
    size_t n_routes;
    struct route_stats *rs; /* n_routes + 1: the last is "unmatched" */
    atomic_long inflight;
};

struct metrics *metrics_new(size_t n_routes)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    m->n_routes = n_routes;
    m->rs = xcalloc(n_routes + 1, sizeof(*m->rs));
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    free(m->rs);
    free(m);
}

void metrics_request(struct metrics *m, int route, int status, double seconds)
{
    struct route_stats *rs =
        &m->rs[route >= 0 && (size_t)route < m->n_routes ? (size_t)route : m->n_routes];
    if (status >= 100 && status < 600)
        atomic_fetch_add(&rs->status[status - 100], 1);
    size_t b = 0;
    while (b < N_BUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add(&rs->bucket[b], 1);
    atomic_fetch_add(&rs->sum_us, (unsigned long)(seconds * 1e6));
    atomic_fetch_add(&rs->count, 1);
}

void metrics_inflight_add(struct metrics *m, int delta)
{
    atomic_fetch_add(&m->inflight, delta);
}

long metrics_inflight(struct metrics *m)
{
    return atomic_load(&m->inflight);
}

struct sbuf {
    char *s;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
        b->s = xrealloc(b->s, b->cap);
    }
}

static void route_label(char *out, size_t cap, size_t i, size_t n_routes)
{
    size_t n;
    const struct route *rt = router_routes(&n);
    if (i >= n_routes || i >= n)
        snprintf(out, cap, "unmatched");
    else
        snprintf(out, cap, "%s %s", rt[i].method, rt[i].pattern);
}

char *metrics_render(struct metrics *m, const struct metrics_kafka *k, int ready)
{
    struct sbuf b = {xmalloc(16384), 0, 16384};
    char label[160];
    sb_printf(&b, "# HELP psop_api_requests_total HTTP requests by route and status.\n"
                  "# TYPE psop_api_requests_total counter\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        route_label(label, sizeof(label), i, m->n_routes);
        for (int s = 0; s < N_STATUS; s++) {
            unsigned long v = atomic_load(&m->rs[i].status[s]);
            if (v)
                sb_printf(&b, "psop_api_requests_total{route=\"%s\",status=\"%d\"} %lu\n", label,
                          s + 100, v);
        }
    }
    sb_printf(&b, "# HELP psop_api_request_duration_seconds Time from request to answer.\n"
                  "# TYPE psop_api_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        unsigned long count = atomic_load(&m->rs[i].count);
        if (!count)
            continue;
        route_label(label, sizeof(label), i, m->n_routes);
        unsigned long cum = 0;
        for (size_t k = 0; k <= N_BUCKETS; k++) {
            cum += atomic_load(&m->rs[i].bucket[k]);
            if (k < N_BUCKETS)
                sb_printf(&b,
                          "psop_api_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
                          label, buckets[k], cum);
            else
                sb_printf(
                    &b, "psop_api_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n",
                    label, cum);
        }
        sb_printf(&b, "psop_api_request_duration_seconds_sum{route=\"%s\"} %.6f\n", label,
                  (double)atomic_load(&m->rs[i].sum_us) / 1e6);
        sb_printf(&b, "psop_api_request_duration_seconds_count{route=\"%s\"} %lu\n", label, count);
    }
    sb_printf(&b,
              "# HELP psop_api_produce_errors_total Commands Kafka did not acknowledge or "
              "accept.\n# TYPE psop_api_produce_errors_total counter\n"
              "psop_api_produce_errors_total %lu\n",
              k->produce_errors);
    sb_printf(&b,
              "# HELP psop_api_kafka_producer_renewals_total Producer handles that failed for "
              "good and were replaced (their messages produced again).\n"
              "# TYPE psop_api_kafka_producer_renewals_total counter\n"
              "psop_api_kafka_producer_renewals_total %lu\n",
              k->producer_renewals);
    sb_printf(&b,
              "# HELP psop_api_requests_in_flight Requests being processed.\n"
              "# TYPE psop_api_requests_in_flight gauge\npsop_api_requests_in_flight %ld\n",
              metrics_inflight(m));
    sb_printf(&b,
              "# HELP psop_api_kafka_outstanding Messages awaiting a delivery report.\n"
              "# TYPE psop_api_kafka_outstanding gauge\npsop_api_kafka_outstanding %d\n",
              k->outstanding);
    sb_printf(&b,
              "# HELP psop_api_ready 1 when the replica accepts traffic.\n"
              "# TYPE psop_api_ready gauge\npsop_api_ready %d\n",
              ready);
    return b.s;
}
