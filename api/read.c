#include "read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "problem.h"

const char *read_param(const struct read_req *rq, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < rq->m->n_params; i++)
        if (rq->m->params[i].name_len == nl && memcmp(rq->m->params[i].name, name, nl) == 0)
            return rq->m->params[i].value;
    return "";
}

const char *read_query(const struct read_req *rq, const char *name)
{
    return rq->query ? rq->query(rq->query_cls, name) : NULL;
}

void read_fail(struct read_res *res, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
    res->status = status;
    json_decref(res->body);
    res->body = NULL;
}

void read_bad_query(struct read_res *res, const char *name, const char *message)
{
    if (!res->errors)
        res->errors = json_array();
    char path[80];
    snprintf(path, sizeof(path), "?%s", name);
    problem_add_error(res->errors, path, message);
    res->status = 422;
    if (!res->detail[0])
        snprintf(res->detail, sizeof(res->detail), "invalid query parameters");
}

/* read_cached, telling a stale marker apart (*stale). */
static json_t *cached(const struct read_req *rq, const char *key, read_fresh_fn fresh, void *cls,
                      bool *stale)
{
    *stale = false;
    struct rds *r = rpool_get(rq->ctx->redis);
    if (!r)
        return NULL;
    char *s = NULL, err[256];
    enum rds_got rc = rds_get_versioned(r, key, &s, NULL, err, sizeof(err));
    rpool_put(rq->ctx->redis, r, false); /* rpool_put sees a broken context itself */
    if (rc == RDS_ERROR)
        LOG_WARN("redis read failed: falling back to PostgreSQL", "key", key, "error", err, NULL);
    *stale = rc == RDS_STALE;
    if (rc != RDS_FOUND)
        return NULL;
    json_t *doc = json_loads(s, 0, NULL);
    free(s);
    if (doc && fresh && !fresh(doc, cls)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *read_cached(const struct read_req *rq, const char *key, read_fresh_fn fresh, void *cls)
{
    bool stale;
    return cached(rq, key, fresh, cls, &stale);
}

/* Writes a document built from PostgreSQL over the stale marker at key,
 * version-checked: a newer document or marker stays. Best effort. */
static void fill_stale(const struct read_req *rq, const char *key, const json_t *doc)
{
    json_int_t v = json_integer_value(json_object_get(doc, "version"));
    struct rds *r = v > 0 ? rpool_get(rq->ctx->redis) : NULL;
    if (!r)
        return;
    char *s = json_dumps(doc, JSON_COMPACT), err[256];
    if (s && rds_put_versioned(r, key, (long long)v, s, 0, err, sizeof(err)) < 0)
        LOG_WARN("redis: stale document not written back", "key", key, "error", err, NULL);
    rpool_put(rq->ctx->redis, r, false);
    free(s);
}

int read_from_pg(const struct read_req *rq, read_build_fn build, void *cls, json_t **out,
                 struct read_res *res)
{
    char err[512];
    *out = NULL;
    struct pgc *c = pgpool_get(rq->ctx->pg, err, sizeof(err));
    if (!c) {
        read_fail(res, 503, "the database is unavailable");
        return -1;
    }
    json_t *doc = build(c, cls, err, sizeof(err));
    if (!doc && err[0] && PQstatus(pgc_conn(c)) != CONNECTION_OK) {
        /* A pooled connection that died (a PostgreSQL restart): once more
         * on a fresh one. Reads are safe to repeat. */
        char rerr[256];
        if (pgc_reset(c, rerr, sizeof(rerr)) == 0)
            doc = build(c, cls, err, sizeof(err));
    }
    bool transient = !doc && err[0] && pgc_last_transient(c);
    pgpool_put(rq->ctx->pg, c);
    if (doc) {
        *out = doc;
        return 1;
    }
    if (!err[0])
        return 0;
    LOG_WARN("read from PostgreSQL failed", "error", err, NULL);
    if (transient || strstr(err, "statement timeout"))
        read_fail(res, 503, "the database is unavailable");
    else
        read_fail(res, 500, "the read failed");
    return -1;
}

int read_doc(const struct read_req *rq, const char *key, read_fresh_fn fresh, read_build_fn build,
             void *cls, json_t **out, struct read_res *res)
{
    bool stale;
    *out = cached(rq, key, fresh, cls, &stale);
    if (*out)
        return 1;
    int rc = read_from_pg(rq, build, cls, out, res);
    if (rc == 1 && stale)
        fill_stale(rq, key, *out); /* read-through, only where a worker asked for it */
    return rc;
}

bool read_client_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > READ_CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < '!' || (unsigned char)s[i] > '~')
            return false;
    return true;
}

const char *read_client_arg(const struct read_req *rq, struct read_res *res, const char *dflt)
{
    const char *client = read_query(rq, "client_id");
    if (!client)
        client = dflt;
    if (!client)
        read_bad_query(res, "client_id", "required");
    else if (!read_client_id_valid(client))
        read_bad_query(res, "client_id", "must be 1-64 printable ASCII characters");
    return res->status ? NULL : client;
}

void read_res_free(struct read_res *res)
{
    json_decref(res->body);
    json_decref(res->errors);
    free(res->text);
    memset(res, 0, sizeof(*res));
}

const char *read_own_scope(struct read_res *res, const char *asked, const char *mine,
                           const char *missing, const char *other)
{
    if (!mine[0]) {
        read_fail(res, 403, missing);
        return NULL;
    }
    if (asked && strcasecmp(asked, mine) != 0) {
        read_fail(res, 403, other);
        return NULL;
    }
    return mine;
}
