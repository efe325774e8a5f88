/*
 * rpool.h - a small pool of Redis connections for the api's reads and
 * status writes, with a short circuit breaker.
 *
 * Redis holds derived data only: when it is down the api answers from
 * PostgreSQL. So a failed connect or a broken connection opens the breaker
 * for RPOOL_DOWN_MS, during which rpool_get answers NULL at once instead of
 * every request paying a connect timeout. Connections are made lazily, at
 * most `size` at a time; rpool_get waits for a free one (bounded by the
 * command timeout of the holders), never for Redis itself beyond
 * timeout_ms. Thread-safe.
 */
#ifndef PSOP_API_RPOOL_H
#define PSOP_API_RPOOL_H

#include <stdbool.h>

#include "store/rds.h"

#define RPOOL_DOWN_MS 1000

struct rpool;

/* url: redis://host:port[/db]; timeout_ms bounds connect and each command. */
struct rpool *rpool_new(const char *url, int size, int timeout_ms);
void rpool_free(struct rpool *p);

/* A connection, or NULL when Redis is unreachable (or was within the last
 * RPOOL_DOWN_MS). Give it back with rpool_put. */
struct rds *rpool_get(struct rpool *p);

/* broken: the connection failed (NULL reply); it is dropped and the
 * breaker opens. */
void rpool_put(struct rpool *p, struct rds *r, bool broken);

#endif
