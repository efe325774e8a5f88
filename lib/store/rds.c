#include "store/rds.h"

#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/log.h"
#include "store/rds_items.h"
#include "store/redis_url.h"
#include "core/xmalloc.h"

struct rds {
    redisContext *ctx; /* NULL after a failed reconnect; the next call retries */
    struct redis_url url;
    struct timeval tv;
    char shas[RDS_SCRIPT_SLOTS][41]; /* SHA1 of each script once loaded, else "" */
    bool no_reconnect;               /* a broken connection stays broken (rds_no_reconnect) */
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

enum rds_got rds_get_versioned(struct rds *r, const char *key, char **doc, long long *version,
                               char *err, size_t errlen)
{
    const char *argv[] = {"HGETALL", key};
    size_t lens[] = {7, strlen(key)};
    *doc = NULL;
    redisReply *rep = argv_cmd(r, 2, argv, lens);
    if (!rep) {
        snprintf(err, errlen, "redis HGETALL %s: %s", key, ctx_err(r));
        return RDS_ERROR;
    }
    enum rds_got rc = RDS_ERROR;
    if (rep->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "redis HGETALL %s: %s", key, rep->str);
    else if (rep->type != REDIS_REPLY_ARRAY || rep->elements % 2)
        snprintf(err, errlen, "redis HGETALL %s: unexpected reply", key);
    else
        rc = rds_doc_of_hash(rep, doc, version, err, errlen);
    freeReplyObject(rep);
    return rc;
}

/* Loads script s into the connection's SHA slot if it is not there yet. */
static int load_script(struct rds *r, const struct rds_script *s, char *err, size_t errlen)
{
    char *sha = r->shas[s->slot];
    if (sha[0])
        return 0;
    redisReply *rep = rds_command(r, "SCRIPT LOAD %s", s->text);
    if (rep && rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(sha, rep->str, 41);
    else
        snprintf(err, errlen, "redis SCRIPT LOAD: %s",
                 !rep                             ? ctx_err(r)
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return sha[0] ? 0 : -1;
}

/* Appends one EVALSHA of call c to the pipeline. */
static int append_eval(struct rds *r, const char *sha, const struct rds_call *c)
{
    enum { MAXARGS = 64 };
    const char *argv[MAXARGS + 3] = {"EVALSHA", sha, "1"};
    size_t lens[MAXARGS + 3] = {7, 40, 1};
    const char **av = argv;
    size_t *lv = lens;
    if (c->argc > MAXARGS) {
        av = xcalloc((size_t)c->argc + 3, sizeof(*av));
        lv = xcalloc((size_t)c->argc + 3, sizeof(*lv));
        memcpy(av, argv, 3 * sizeof(*av));
        memcpy(lv, lens, 3 * sizeof(*lv));
    }
    for (int i = 0; i < c->argc; i++) {
        av[i + 3] = c->argv[i];
        lv[i + 3] = c->lens ? c->lens[i] : strlen(c->argv[i]);
    }
    int rc = redisAppendCommandArgv(r->ctx, c->argc + 3, av, lv);
    if (av != argv) {
        free(av);
        free(lv);
    }
    return rc == REDIS_OK ? 0 : -1;
}

/* Reads the replies of m pipelined scripts into results. -2 when the server
 * had lost the script (NOSCRIPT), -1 on another error reply or a broken
 * connection (err), else 0. */
static int read_eval_replies(struct rds *r, size_t m, long long *results, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < m; i++) {
        void *v = NULL;
        if (redisGetReply(r->ctx, &v) != REDIS_OK || !v) {
            snprintf(err, errlen, "redis pipelined script: %s", ctx_err(r));
            return -1; /* the context is broken: the rest cannot be read */
        }
        redisReply *rep = v;
        results[i] = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
        if (rep->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis pipelined script: %s", rep->str);
            rc = strncmp(rep->str, "NOSCRIPT", 8) == 0 ? -2 : -1;
        } else if (rep->type != REDIS_REPLY_INTEGER && rc == 0) {
            snprintf(err, errlen, "redis pipelined script: unexpected reply type %d", rep->type);
            rc = -1;
        }
        freeReplyObject(rep);
    }
    return rc;
}

static int eval_many(struct rds *r, const struct rds_script *s, size_t n,
                     const struct rds_call *calls, long long *results, char *err, size_t errlen)
{
    if (load_script(r, s, err, errlen) < 0 || ensure_connected(r, "script", err, errlen) < 0)
        return -1;
    /* Bounded pipeline chunks: the replies are read before the next one. */
    enum { CHUNK = 256 };
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t m = n - at < CHUNK ? n - at : CHUNK;
        for (size_t i = at; i < at + m; i++)
            if (append_eval(r, r->shas[s->slot], &calls[i]) < 0) {
                snprintf(err, errlen, "redis pipelined script: %s", ctx_err(r));
                return -1;
            }
        int rc = read_eval_replies(r, m, results + at, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int rds_eval_many(struct rds *r, const struct rds_script *s, size_t n, const struct rds_call *calls,
                  long long *results, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    int rc = eval_many(r, s, n, calls, results, err, errlen);
    if (rc == -1 && (!r->ctx || r->ctx->err)) /* a Redis restart: once more on a new connection */
        rc = eval_many(r, s, n, calls, results, err, errlen);
    if (rc == -2) {
        /* The server lost its script cache (restart, failover, SCRIPT
         * FLUSH): load it again and redo all. */
        r->shas[s->slot][0] = '\0';
        rc = eval_many(r, s, n, calls, results, err, errlen);
    }
    return rc < 0 ? -1 : 0;
}

static const struct rds_script cas = {CAS_SCRIPT, 0};

int rds_put_versioned(struct rds *r, const char *key, long long version, const char *doc, int ttl_s,
                      char *err, size_t errlen)
{
    long written = 0;
    const char *keys[] = {key}, *docs[] = {doc};
    if (rds_put_versioned_many(r, 1, keys, &version, docs, ttl_s, &written, err, errlen) < 0)
        return -1;
    return written > 0;
}

int rds_put_versioned_many(struct rds *r, size_t n, const char *const *keys,
                           const long long *versions, const char *const *docs, int ttl_s,
                           long *written, char *err, size_t errlen)
{
    *written = 0;
    if (n == 0)
        return 0;
    char ttl[16], (*ver)[24] = xcalloc(n, sizeof(*ver));
    snprintf(ttl, sizeof(ttl), "%d", ttl_s > 0 ? ttl_s : 0);
    const char **argv = xcalloc(4 * n, sizeof(*argv));
    struct rds_call *calls = xcalloc(n, sizeof(*calls));
    long long *res = xcalloc(n, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        snprintf(ver[i], sizeof(ver[i]), "%lld", versions[i]);
        const char **a = argv + 4 * i;
        a[0] = keys[i];
        a[1] = ver[i];
        a[2] = docs[i];
        a[3] = ttl;
        calls[i] = (struct rds_call){4, a, NULL};
    }
    int rc = rds_eval_many(r, &cas, n, calls, res, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        *written += res[i] == 1;
    free(ver);
    free(argv);
    free(calls);
    free(res);
    return rc;
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
