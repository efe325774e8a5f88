/*
 * store/rds.h - hiredis connection for read models and small shared state.
 *
 * Every read-model write is version-checked by a Lua compare-and-set: a hash
 * key holds fields "v" (aggregate version, integer) and "d" (JSON document),
 * or, for a document kept item by item, "v" and its items
 * (store/rds_items.h);
 * a write with a version not greater than the stored one is refused, so a late
 * or replayed write never overwrites newer data.
 * A struct rds is one connection; not thread-safe. On a broken connection each
 * call tries one reconnect before failing (re-running the command: one whose
 * reply was lost may run twice, which version-checked writes tolerate). The
 * CAS runs as a Lua script by EVALSHA, falling back to EVAL on NOSCRIPT.
 * Versions are compared as Lua numbers: keep them below 2^53.
 */
#ifndef PSOP_REDIS_CLIENT_H
#define PSOP_REDIS_CLIENT_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "core/mustcheck.h"

struct rds;

/* url: redis://host:port[/db]. Returns NULL with err filled. timeout_ms bounds
 * connect and each command. */
struct rds *rds_connect(const char *url, int timeout_ms, char *err, size_t errlen);
void rds_free(struct rds *r);
/* From now on a broken connection is not reconnected by the calls: they
 * fail, and rds_ctx(r)->err says so (for a pool that reconnects elsewhere,
 * off its callers' threads). */
void rds_no_reconnect(struct rds *r);
/* The current hiredis context (borrowed; replaced by a reconnect, NULL after
 * a failed one). */
redisContext *rds_ctx(struct rds *r);

/* A Lua script run by EVALSHA with one key; its SHA is cached per
 * connection in slot (0 is the CAS of this file; store/rds_items.c uses the
 * next ones). */
#define RDS_SCRIPT_SLOTS 3
struct rds_script {
    const char *text;
    int slot;
};

/* One run of a script: argv[0] is the key, the rest its ARGV; lens NULL =
 * strlen of each. */
struct rds_call {
    int argc;
    const char *const *argv;
    const size_t *lens;
};

/* Runs script s once per call, pipelined; results[i] the integer reply of
 * call i. 0, or -1 with err. A broken connection or a server that lost its
 * scripts makes it load and run them all again: a script must be safe to run
 * twice. */
PSOP_MUSTCHECK int rds_eval_many(struct rds *r, const struct rds_script *s, size_t n,
                                 const struct rds_call *calls, long long *results, char *err,
                                 size_t errlen);

/* Writes doc at key with version if newer than what is stored.
 * Returns 1 written, 0 refused as stale, -1 error (err filled). ttl_s 0 = none. */
PSOP_MUSTCHECK int rds_put_versioned(struct rds *r, const char *key, long long version,
                                     const char *doc, int ttl_s, char *err, size_t errlen);

/* Writes n documents like rds_put_versioned (all with ttl_s), pipelined: one round
 * trip per few hundred keys. *written counts the keys written (the others
 * were refused as stale). 0, or -1 with err (some may have been written: the
 * writes are version-checked, so running it again is safe). A doc "" is a
 * stale marker (below). */
PSOP_MUSTCHECK int rds_put_versioned_many(struct rds *r, size_t n, const char *const *keys,
                                          const long long *versions, const char *const *docs,
                                          int ttl_s, long *written, char *err, size_t errlen);

/* PUBLISHes n messages on channel, pipelined. 0, or -1 with err. */
PSOP_MUSTCHECK int rds_publish_many(struct rds *r, const char *channel, size_t n,
                                    const char *const *msgs, char *err, size_t errlen);

/*
 * Stale markers: a key whose document is "" at version v says "the document
 * of version v exists in PostgreSQL but was not built here" (a worker that
 * touched too many aggregates at once to rebuild each, e.g. a settlement run,
 * writes markers instead). Older writes stay refused; the document of version
 * v itself, or a newer one, replaces the marker.
 */
enum rds_got {
    RDS_ERROR = -1, /* Redis failed: err says why */
    RDS_ABSENT = 0, /* no such key */
    RDS_FOUND = 1,  /* *doc (caller frees) and *version */
    RDS_STALE = 2,  /* a stale marker: *version, *doc NULL */
};

/* Reads the document at key. version may be NULL. An itemised document
 * (store/rds_items.h) is read as the one text it stands for. */
PSOP_MUSTCHECK enum rds_got rds_get_versioned(struct rds *r, const char *key, char **doc,
                                              long long *version, char *err, size_t errlen);

/* Runs a command (redisCommand format); returns the reply (caller frees with
 * freeReplyObject) or NULL on connection error, after one reconnect attempt. */
redisReply *rds_command(struct rds *r, const char *fmt, ...);

#endif
