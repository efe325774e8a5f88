/*
 * ratelimit.h - per-client-IP token buckets: rate r requests/s, burst r.
 * A fixed-size table of buckets, hashed by address; colliding addresses share
 * a bucket (rare, and only ever stricter). Thread-safe (striped locks).
 */
#ifndef PSOP_API_RATELIMIT_H
#define PSOP_API_RATELIMIT_H

#include <stdbool.h>

struct ratelimit;

/* rps 0 = unlimited (ratelimit_take always allows). */
struct ratelimit *ratelimit_new(int rps);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token for ip; false when none is left, with *retry_after_s the
 * whole seconds until one is. */
bool ratelimit_take(struct ratelimit *rl, const char *ip, int *retry_after_s);

#endif
