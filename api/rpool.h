/*
 * rpool.h - a small pool of Redis connections for the api's reads and
 * status writes, with a circuit breaker and a background connector.
 *
 * Redis holds derived data only: when it is down the api answers from
 * PostgreSQL. A request thread never connects to Redis itself: connections
 * are made by the pool's own connector thread, on demand, at most `size` in
 * all. So a name lookup or a connect that hangs (a stopped container whose
 * name the network's DNS is slow to answer for) costs a request at most
 * timeout_ms, never the whole thread pool.
 *
 * The breaker opens when a connect fails or takes longer than timeout_ms,
 * or a connection breaks (all idle ones are dropped with it: they went to
 * the same server). While it is open rpool_get answers NULL at once, and
 * the connector tries again every RPOOL_DOWN_MS; its first success closes
 * the breaker. Thread-safe.
 */
#ifndef PSOP_API_RPOOL_H
#define PSOP_API_RPOOL_H

#include <stdbool.h>

#include "store/rds.h"

#define RPOOL_DOWN_MS 1000

struct rpool;

/* url: redis://host:port[/db]; timeout_ms bounds connect and each command,
 * and how long rpool_get waits for a connection. */
struct rpool *rpool_new(const char *url, int size, int timeout_ms);
void rpool_free(struct rpool *p);

/* A connection, or NULL when Redis is unreachable (the breaker is open), or
 * no connection could be had within timeout_ms. Give it back with rpool_put.
 * Its commands do not reconnect by themselves (rds_no_reconnect). */
struct rds *rpool_get(struct rpool *p);

/* broken: the connection failed (NULL reply); it and the idle ones are
 * dropped and the breaker opens. */
void rpool_put(struct rpool *p, struct rds *r, bool broken);

/* True while the breaker is open (the tests read it). */
bool rpool_down(struct rpool *p);

#endif
