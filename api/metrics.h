/*
 * metrics.h - the api's Prometheus metrics: requests by route and status,
 * request latency histogram by route, produce errors, in-flight requests.
 * Counters are atomics: thread-safe, no locks on the request path.
 */
#ifndef PSOP_API_METRICS_H
#define PSOP_API_METRICS_H

#include <stddef.h>

struct metrics;

/* n_routes rows of the route table; route -1 counts unmatched requests. */
struct metrics *metrics_new(size_t n_routes);
void metrics_free(struct metrics *m);

void metrics_request(struct metrics *m, int route, int status, double seconds);
void metrics_inflight_add(struct metrics *m, int delta);
long metrics_inflight(struct metrics *m);

/* The publisher's figures (api/publish.h), read when rendered. */
struct metrics_kafka {
    unsigned long produce_errors;    /* commands Kafka did not acknowledge or accept */
    int outstanding;                 /* messages awaiting a delivery report */
    unsigned long producer_renewals; /* producer handles replaced after a fatal error */
};

/* Prometheus text exposition, new string (caller frees). The gauges that
 * live elsewhere are passed in. */
char *metrics_render(struct metrics *m, const struct metrics_kafka *k, int ready);

#endif
