#include "store/rds.h"

#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/log.h"
#include "store/redis_url.h"
#include "core/xmalloc.h"

struct rds {
    redisContext *ctx; /* NULL after a failed reconnect; the next call retries */
    struct redis_url url;
    struct timeval tv;
    char sha[41];      /* SHA1 of CAS_SCRIPT once SCRIPT LOAD answered, else "" */
    bool no_reconnect; /* a broken connection stays broken (rds_no_reconnect) */
};

/* KEYS[1] hash; ARGV: version, document, ttl seconds (0 = leave expiry as
 * it is). Equal versions are refused too: a replay of the same write must
 * not bump the key's TTL or reorder anything, except over a stale marker
 * (empty document) of that version, which the document it stands for may
 * replace. A non-numeric stored "v" (not written by us) is overwritten. */
static const char CAS_SCRIPT[] =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'v'))\n"
    "local v = tonumber(ARGV[1])\n"
    "if cur and (cur > v or (cur == v and\n"
    "    (ARGV[2] == '' or redis.call('HGET', KEYS[1], 'd') ~= ''))) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])\n"
    "local ttl = tonumber(ARGV[3])\n"
    "if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end\n"
    "return 1\n";

/* Opens a connection to r->url into r->ctx. 0, or -1 with err. */
static int open_ctx(struct rds *r, char *err, size_t errlen)
{
    redisContext *c = redisConnectWithTimeout(r->url.host, r->url.port, r->tv);
    redisReply *rep = NULL;
    if (!c) {
        snprintf(err, errlen, "redis connect %s:%d: out of memory", r->url.host, r->url.port);
        return -1;
    }
    if (c->err) {
        snprintf(err, errlen, "redis connect %s:%d: %s", r->url.host, r->url.port, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, r->tv) != REDIS_OK) {
        snprintf(err, errlen, "redis set timeout: %s", c->errstr);
        goto fail;
    }
    if (r->url.password[0]) {
        rep = r->url.user[0] ? redisCommand(c, "AUTH %s %s", r->url.user, r->url.password)
                             : redisCommand(c, "AUTH %s", r->url.password);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis AUTH: %s", rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
        rep = NULL;
    }
    if (r->url.db != 0) {
        rep = redisCommand(c, "SELECT %d", r->url.db);
        if (!rep || rep->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis SELECT %d: %s", r->url.db, rep ? rep->str : c->errstr);
            goto fail;
        }
        freeReplyObject(rep);
    }
    r->ctx = c;
    return 0;
fail:
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return -1;
}

static int reconnect(struct rds *r)
{
    char err[256];
    if (r->no_reconnect)
        return -1;
    if (r->ctx) {
        LOG_WARN("redis connection lost, reconnecting", "error", r->ctx->errstr, NULL);
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    if (open_ctx(r, err, sizeof(err)) < 0) {
        LOG_WARN("redis reconnect failed", "error", err, NULL);
        return -1;
    }
    LOG_INFO("redis reconnected", NULL);
    return 0;
}

struct rds *rds_connect(const char *url, int timeout_ms, char *err, size_t errlen)
{
    struct rds *r = xcalloc(1, sizeof(*r));
    if (redis_url_parse(url, &r->url, err, errlen) < 0)
        goto fail;
    if (timeout_ms <= 0)
        timeout_ms = 1000;
    r->tv.tv_sec = timeout_ms / 1000;
    r->tv.tv_usec = (timeout_ms % 1000) * 1000;
    if (open_ctx(r, err, errlen) < 0)
        goto fail;
    return r;
fail:
    free(r);
    return NULL;
}

void rds_free(struct rds *r)
{
    if (!r)
        return;
    if (r->ctx)
        redisFree(r->ctx);
    free(r);
}

void rds_no_reconnect(struct rds *r)
{
    r->no_reconnect = true;
}

redisContext *rds_ctx(struct rds *r)
{
    return r->ctx;
}

/* A NULL reply means the connection failed (hiredis then leaves the context
 * unusable); an error *reply* is an answer and is not retried. A command
 * whose reply was lost may have run: the retry runs it again, which our
 * version-checked writes tolerate. */
static redisReply *argv_cmd(struct rds *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->ctx && reconnect(r) < 0)
        return NULL;
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    if (rep || reconnect(r) < 0)
        return rep;
    return redisCommandArgv(r->ctx, argc, argv, lens);
}

redisReply *rds_command(struct rds *r, const char *fmt, ...)
{
    va_list ap, again;
    redisReply *rep = NULL;
    if (!r->ctx && reconnect(r) < 0)
        return NULL;
    va_start(ap, fmt);
    va_copy(again, ap);
    rep = redisvCommand(r->ctx, fmt, ap);
    if (!rep && reconnect(r) == 0)
        rep = redisvCommand(r->ctx, fmt, again);
    va_end(again);
    va_end(ap);
    return rep;
}

static const char *ctx_err(struct rds *r)
{
    return r->ctx ? r->ctx->errstr : "not connected";
}

int rds_put_versioned(struct rds *r, const char *key, long long version, const char *doc, int ttl_s,
                      char *err, size_t errlen)
{
    char ver[24], ttl[16];
    redisReply *rep = NULL;
    int rc = -1;

    snprintf(ver, sizeof(ver), "%lld", version);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s > 0 ? ttl_s : 0);
    if (!r->sha[0]) {
        rep = rds_command(r, "SCRIPT LOAD %s", CAS_SCRIPT);
        if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40)
            memcpy(r->sha, rep->str, 41);
        if (rep)
            freeReplyObject(rep);
        rep = NULL;
    }
    const char *argv[] = {"EVALSHA", r->sha, "1", key, ver, doc, ttl};
    size_t lens[] = {7, 40, 1, strlen(key), strlen(ver), strlen(doc), strlen(ttl)};
    if (r->sha[0]) {
        rep = argv_cmd(r, 7, argv, lens);
        /* NOSCRIPT: the server lost its script cache (restart, failover,
         * SCRIPT FLUSH). EVAL runs it and caches it again under the same SHA. */
        if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(rep);
            rep = NULL;
        } else if (!rep) {
            snprintf(err, errlen, "redis EVALSHA %s: %s", key, ctx_err(r));
            return -1;
        }
    }
    if (!rep) {
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = CAS_SCRIPT;
        lens[1] = sizeof(CAS_SCRIPT) - 1;
        rep = argv_cmd(r, 7, argv, lens);
        if (!rep) {
            snprintf(err, errlen, "redis EVAL %s: %s", key, ctx_err(r));
            return -1;
        }
    }
    if (rep->type == REDIS_REPLY_INTEGER && (rep->integer == 0 || rep->integer == 1))
        rc = (int)rep->integer;
    else if (rep->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "redis versioned write %s: %s", key, rep->str);
    else
        snprintf(err, errlen, "redis versioned write %s: unexpected reply type %d", key, rep->type);
    freeReplyObject(rep);
    return rc;
}

enum rds_got rds_get_versioned(struct rds *r, const char *key, char **doc, long long *version,
                               char *err, size_t errlen)
{
    const char *argv[] = {"HMGET", key, "v", "d"};
    size_t lens[] = {5, strlen(key), 1, 1};
    enum rds_got rc = RDS_ERROR;
    *doc = NULL;
    redisReply *rep = argv_cmd(r, 4, argv, lens);
    if (!rep) {
        snprintf(err, errlen, "redis HMGET %s: %s", key, ctx_err(r));
        return RDS_ERROR;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis HMGET %s: %s", key, rep->str);
        goto out;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        snprintf(err, errlen, "redis HMGET %s: unexpected reply", key);
        goto out;
    }
    redisReply *v = rep->element[0], *d = rep->element[1];
    if (v->type != REDIS_REPLY_STRING || d->type != REDIS_REPLY_STRING) {
        rc = RDS_ABSENT; /* absent (or half-written by someone else: treat as absent) */
        goto out;
    }
    char *end = NULL;
    errno = 0;
    long long ver = strtoll(v->str, &end, 10);
    if (errno || end == v->str || *end) {
        snprintf(err, errlen, "redis %s: version '%.32s' is not an integer", key, v->str);
        goto out;
    }
    if (version)
        *version = ver;
    if (d->len == 0) {
        rc = RDS_STALE; /* a stale marker: the document is to be rebuilt */
        goto out;
    }
    *doc = xstrndup(d->str, d->len);
    rc = RDS_FOUND;
out:
    freeReplyObject(rep);
    return rc;
}

/* Before a pipeline: a broken context (ctx->err, e.g. after a Redis
 * restart) is replaced, since appending to it would fail at once. */
static int ensure_connected(struct rds *r, const char *what, char *err, size_t errlen)
{
    if ((!r->ctx || r->ctx->err) && reconnect(r) < 0) {
        snprintf(err, errlen, "redis %s: not connected", what);
        return -1;
    }
    return 0;
}

/* Reads the replies of n pipelined CAS writes; counts the written ones. */
static int read_cas_replies(struct rds *r, size_t n, long *written, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(r->ctx, &v) != REDIS_OK || !v) {
            snprintf(err, errlen, "redis pipelined write: %s", ctx_err(r));
            return -1; /* the context is broken: the rest cannot be read */
        }
        redisReply *rep = v;
        if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1)
            (*written)++;
        else if (rep->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis pipelined write: %s", rep->str);
            rc = strncmp(rep->str, "NOSCRIPT", 8) == 0 ? -2 : -1;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static int put_many(struct rds *r, size_t n, const char *const *keys, const long long *versions,
                    const char *const *docs, int ttl_s, long *written, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    /* Without the script's SHA yet, the first write goes the ordinary way,
     * which loads it (and reconnects if need be). */
    size_t from = 0;
    if (!r->sha[0]) {
        int w = rds_put_versioned(r, keys[0], versions[0], docs[0], ttl_s, err, errlen);
        if (w < 0)
            return -1;
        *written += w;
        from = 1;
    }
    if (!r->sha[0]) {
        snprintf(err, errlen, "redis: the CAS script could not be loaded");
        return -1;
    }
    if (ensure_connected(r, "pipelined write", err, errlen) < 0)
        return -1;
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", ttl_s > 0 ? ttl_s : 0);
    /* Bounded pipeline chunks: the replies are read before the next one. */
    enum { CHUNK = 256 };
    for (size_t at = from; at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = at; i < at + m; i++) {
            char ver[24];
            snprintf(ver, sizeof(ver), "%lld", versions[i]);
            const char *argv[] = {"EVALSHA", r->sha, "1", keys[i], ver, docs[i], ttl};
            size_t lens[] = {7, 40, 1, strlen(keys[i]), strlen(ver), strlen(docs[i]), strlen(ttl)};
            if (redisAppendCommandArgv(r->ctx, 7, argv, lens) != REDIS_OK) {
                snprintf(err, errlen, "redis pipelined write: %s", ctx_err(r));
                return -1;
            }
        }
        int rc = read_cas_replies(r, m, written, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int rds_put_versioned_many(struct rds *r, size_t n, const char *const *keys,
                           const long long *versions, const char *const *docs, int ttl_s,
                           long *written, char *err, size_t errlen)
{
    *written = 0;
    int rc = put_many(r, n, keys, versions, docs, ttl_s, written, err, errlen);
    if (rc == -1 && (!r->ctx || r->ctx->err)) {
        /* The connection broke (a Redis restart): once more on a new one;
         * the writes are version-checked, so repeating them is harmless. */
        *written = 0;
        rc = put_many(r, n, keys, versions, docs, ttl_s, written, err, errlen);
    }
    if (rc == -2) {
        /* The server lost its script cache: load it again and redo all
         * (the writes already done are refused as equal, harmlessly). */
        r->sha[0] = '\0';
        *written = 0;
        rc = put_many(r, n, keys, versions, docs, ttl_s, written, err, errlen);
    }
    return rc < 0 ? -1 : 0;
}

static int publish_many(struct rds *r, const char *channel, size_t n, const char *const *msgs,
                        char *err, size_t errlen)
{
    if (ensure_connected(r, "PUBLISH", err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *argv[] = {"PUBLISH", channel, msgs[i]};
        size_t lens[] = {7, strlen(channel), strlen(msgs[i])};
        if (redisAppendCommandArgv(r->ctx, 3, argv, lens) != REDIS_OK) {
            snprintf(err, errlen, "redis PUBLISH: %s", ctx_err(r));
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(r->ctx, &v) != REDIS_OK || !v) {
            snprintf(err, errlen, "redis PUBLISH: %s", ctx_err(r));
            return -1;
        }
        freeReplyObject(v);
    }
    return 0;
}

int rds_publish_many(struct rds *r, const char *channel, size_t n, const char *const *msgs,
                     char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    int rc = publish_many(r, channel, n, msgs, err, errlen);
    if (rc < 0 && (!r->ctx || r->ctx->err)) /* once more on a new connection */
        rc = publish_many(r, channel, n, msgs, err, errlen);
    return rc;
}
