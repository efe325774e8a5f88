#include "idempotency.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <openssl/evp.h>

#include "log.h"
#include "redis_client.h"
#include "xmalloc.h"

#define REDIS_TIMEOUT_MS 1000

struct idem {
    char *url;
    int lease_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct rds **free_conns; /* connected, idle */
    int n_free;
    int n_total; /* connected or being connected */
    int pool_size;
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
    s->url = xstrdup(url);
    s->lease_ms = lease_ms;
    s->pool_size = pool_size > 0 ? pool_size : 4;
    s->free_conns = xcalloc((size_t)s->pool_size, sizeof(*s->free_conns));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    return s;
}

void idem_free(struct idem *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_free; i++)
        rds_free(s->free_conns[i]);
    free(s->free_conns);
    free(s->url);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static struct rds *conn_get(struct idem *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->n_free == 0 && s->n_total >= s->pool_size)
        pthread_cond_wait(&s->cond, &s->mu);
    if (s->n_free > 0) {
        struct rds *r = s->free_conns[--s->n_free];
        pthread_mutex_unlock(&s->mu);
        return r;
    }
    s->n_total++;
    pthread_mutex_unlock(&s->mu);
    char err[256];
    struct rds *r = rds_connect(s->url, REDIS_TIMEOUT_MS, err, sizeof(err));
    if (!r) {
        LOG_WARN("redis connect failed", "error", err, NULL);
        pthread_mutex_lock(&s->mu);
        s->n_total--;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    return r;
}

/* broken: drop the connection instead of pooling it. */
static void conn_put(struct idem *s, struct rds *r, int broken)
{
    pthread_mutex_lock(&s->mu);
    if (broken) {
        rds_free(r);
        s->n_total--;
    } else {
        s->free_conns[s->n_free++] = r;
    }
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

int idem_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return 0;
    return 1;
}

void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, method, strlen(method));
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, path, strlen(path));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (len)
        EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

static char *record_key(const char *sub, const char *key)
{
    /* The length prefix keeps ("a:b", "c") and ("a", "b:c") apart. */
    return xasprintf("psop:idem:%zu:%s:%s", strlen(sub), sub, key);
}

static long long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

enum idem_claim idem_claim(struct idem *s, const char *sub, const char *key, const char *fp,
                           const json_t *ids, json_t **prev_ids, int *status, json_t **body)
{
    enum idem_claim res = IDEM_ERROR;
    struct rds *r = conn_get(s);
    if (!r)
        return IDEM_ERROR;
    char *rk = record_key(sub, key);
    char *ids_s = json_dumps(ids, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char now[32], lease[32], ttl[32];
    snprintf(now, sizeof(now), "%lld", now_ms());
    snprintf(lease, sizeof(lease), "%d", s->lease_ms);
    snprintf(ttl, sizeof(ttl), "%d", IDEM_TTL_S);
    redisReply *rep = rds_command(r, "EVAL %s 1 %s %s %s %s %s %s", claim_lua, rk, fp, now, lease,
                                  ids_s, ttl);
    int broken = rep == NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING) {
        LOG_WARN("idempotency claim failed", "error",
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
        res = *body ? IDEM_REPLAY : IDEM_ERROR;
    }
out:
    if (rep)
        freeReplyObject(rep);
    conn_put(s, r, broken);
    free(ids_s);
    free(rk);
    return res;
}

int idem_complete(struct idem *s, const char *sub, const char *key, int status,
                  const json_t *body)
{
    struct rds *r = conn_get(s);
    if (!r)
        return -1;
    char *rk = record_key(sub, key);
    char *b = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char st[16], ttl[32];
    snprintf(st, sizeof(st), "%d", status);
    snprintf(ttl, sizeof(ttl), "%d", IDEM_TTL_S);
    redisReply *rep =
        rds_command(r, "HSET %s state done status %s body %s", rk, st, b ? b : "{}");
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    int broken = rep == NULL;
    if (rep)
        freeReplyObject(rep);
    if (rc == 0) {
        rep = rds_command(r, "EXPIRE %s %s", rk, ttl);
        if (rep)
            freeReplyObject(rep);
    }
    conn_put(s, r, broken);
    free(b);
    free(rk);
    return rc;
}

int idem_fail(struct idem *s, const char *sub, const char *key)
{
    struct rds *r = conn_get(s);
    if (!r)
        return -1;
    char *rk = record_key(sub, key);
    redisReply *rep = rds_command(r, "HSET %s state failed", rk);
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    int broken = rep == NULL;
    if (rep)
        freeReplyObject(rep);
    conn_put(s, r, broken);
    free(rk);
    return rc;
}
