#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "core/clock.h"
#include "core/log.h"
#include "principal.h"
#include "store/rds.h"
#include "rpool.h"
#include "core/xmalloc.h"

struct idem {
    struct rpool *pool;
    int lease_ms;
};

/* KEYS[1] record; ARGV: fingerprint, now_ms, lease_ms, ids json, ttl_s.
 * Returns {state} or {state, payload}. */
static const char claim_lua[] =
    "local r = redis.call('HMGET', KEYS[1], 'fp', 'state', 'lease', 'ids', 'status', 'body') "
    "if not r[1] then "
    "  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'state', 'pending', "
    "             'lease', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'ids', ARGV[4]) "
    "  redis.call('EXPIRE', KEYS[1], ARGV[5]) "
    "  return {'new'} "
    "end "
    "if r[1] ~= ARGV[1] then return {'conflict'} end "
    "if r[2] == 'done' then return {'done', r[5], r[6]} end "
    "if r[2] == 'pending' and tonumber(r[3]) > tonumber(ARGV[2]) then return {'busy'} end "
    "redis.call('HSET', KEYS[1], 'state', 'pending', "
    "           'lease', tonumber(ARGV[2]) + tonumber(ARGV[3])) "
    "return {'retry', r[4]}";

struct idem *idem_new(const char *url, int pool_size, int lease_ms)
{
    struct idem *s = xcalloc(1, sizeof(*s));
    s->pool = rpool_new(url, pool_size > 0 ? pool_size : 4, IDEM_REDIS_TIMEOUT_MS);
    s->lease_ms = lease_ms;
    return s;
}

void idem_free(struct idem *s)
{
    if (!s)
        return;
    rpool_free(s->pool);
    free(s);
}

static char *record_key(const struct actor *ac, const char *key)
{
    /* "p1": the whole principal (the sub-only records of older releases
     * were "psop:idem:<len>:<sub>:<key>", never read again). */
    char p[PRINCIPAL_MAX];
    principal_text(ac, p);
    return xasprintf("psop:idem:p1:%s:%s", p, key);
}

enum idem_claim idem_claim(struct idem *s, const struct actor *ac, const char *key, const char *fp,
                           const json_t *ids, json_t **prev_ids, int *status, json_t **body)
{
    enum idem_claim res = IDEM_UNKNOWN;
    struct rds *r = rpool_get(s->pool);
    if (!r)
        return IDEM_UNKNOWN; /* down, or the breaker is open: logged by the pool */
    char *rk = record_key(ac, key);
    char *ids_s = json_dumps(ids, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char now[32], lease[32], ttl[32];
    snprintf(now, sizeof(now), "%lld", clock_wall_ms());
    snprintf(lease, sizeof(lease), "%d", s->lease_ms);
    snprintf(ttl, sizeof(ttl), "%d", IDEM_TTL_S);
    redisReply *rep =
        rds_command(r, "EVAL %s 1 %s %s %s %s %s %s", claim_lua, rk, fp, now, lease, ids_s, ttl);
    int broken = rep == NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        LOG_WARN("idempotency claim failed: publishing with the derived ids", "error",
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "no reply", NULL);
        goto out;
    }
    const char *st = rep->element[0]->str;
    if (strcmp(st, "new") == 0) {
        res = IDEM_NEW;
    } else if (strcmp(st, "conflict") == 0) {
        res = IDEM_CONFLICT;
    } else if (strcmp(st, "busy") == 0) {
        res = IDEM_BUSY;
    } else if (strcmp(st, "retry") == 0 && rep->elements >= 2 &&
               rep->element[1]->type == REDIS_REPLY_STRING) {
        *prev_ids = json_loads(rep->element[1]->str, 0, NULL);
        res = IDEM_RETRY;
    } else if (strcmp(st, "done") == 0 && rep->elements >= 3 &&
               rep->element[1]->type == REDIS_REPLY_STRING &&
               rep->element[2]->type == REDIS_REPLY_STRING) {
        *status = atoi(rep->element[1]->str);
        *body = json_loads(rep->element[2]->str, 0, NULL);
        res = *body ? IDEM_REPLAY : IDEM_UNKNOWN;
    }
out:
    if (rep)
        freeReplyObject(rep);
    rpool_put(s->pool, r, broken);
    free(ids_s);
    free(rk);
    return res;
}

int idem_complete(struct idem *s, const struct actor *ac, const char *key, int status,
                  const json_t *body)
{
    struct rds *r = rpool_get(s->pool);
    if (!r)
        return -1;
    char *rk = record_key(ac, key);
    char *b = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char st[16], ttl[32];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(ttl, sizeof(ttl), "%d", IDEM_TTL_S);
    /* HSET then EXPIRE, one round trip: a record made here (Redis came
     * back empty between claim and answer) must not live for ever. */
    static const char lua[] = "redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[1], "
                              "'body', ARGV[2]) redis.call('EXPIRE', KEYS[1], ARGV[3]) return 1";
    redisReply *rep = rds_command(r, "EVAL %s 1 %s %s %s %s", lua, rk, st, b ? b : "{}", ttl);
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    int broken = rep == NULL;
    if (rep)
        freeReplyObject(rep);
    rpool_put(s->pool, r, broken);
    free(b);
    free(rk);
    return rc;
}

int idem_fail(struct idem *s, const struct actor *ac, const char *key)
{
    struct rds *r = rpool_get(s->pool);
    if (!r)
        return -1;
    char *rk = record_key(ac, key);
    /* Only an existing record: a failed state alone would be a record
     * without a fingerprint. */
    static const char lua[] = "if redis.call('EXISTS', KEYS[1]) == 1 then "
                              "redis.call('HSET', KEYS[1], 'state', 'failed') end return 1";
    redisReply *rep = rds_command(r, "EVAL %s 1 %s", lua, rk);
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    int broken = rep == NULL;
    if (rep)
        freeReplyObject(rep);
    rpool_put(s->pool, r, broken);
    free(rk);
    return rc;
}
