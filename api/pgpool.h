/*
 * pgpool.h - a small pool of PostgreSQL connections for the api's reads.
 *
 * Reads come from Redis; PostgreSQL answers the misses (and everything while
 * Redis is down), so a few connections suffice. Connections are opened
 * lazily with connect_timeout, TCP keepalives and a statement_timeout added
 * to the DSN (unless it sets them), so no read waits on PostgreSQL for long.
 * A failed connect opens a breaker for PGPOOL_DOWN_MS: meanwhile
 * pgpool_get answers NULL at once (the caller answers 503 + Retry-After).
 * pgpool_get waits at most PGPOOL_WAIT_MS for a free connection.
 * Thread-safe; each connection is used by one thread at a time.
 */
#ifndef PSOP_API_PGPOOL_H
#define PSOP_API_PGPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "store/pgc.h"

#define PGPOOL_DOWN_MS 1000
#define PGPOOL_WAIT_MS 2000
#define PGPOOL_CONNECT_TIMEOUT_STR "2"      /* seconds */
#define PGPOOL_STATEMENT_TIMEOUT_STR "5000" /* ms */

struct pgpool;

struct pgpool *pgpool_new(const char *dsn, int size);
void pgpool_free(struct pgpool *p);

/* A connection, or NULL with err filled when PostgreSQL is unreachable or
 * every connection stayed busy for PGPOOL_WAIT_MS. */
struct pgc *pgpool_get(struct pgpool *p, char *err, size_t errlen);

/* Gives c back. A connection whose status is bad is dropped (and the
 * breaker opens); the next get connects anew. */
void pgpool_put(struct pgpool *p, struct pgc *c);

/* The DSN with the pool's defaults appended (caller frees). */
char *pgpool_dsn(const char *dsn);

#endif
