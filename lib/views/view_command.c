#include "views/view_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invariant.h"
#include "core/xmalloc.h"
#include "views/view_doc.h"

/* The worker writes applied_at with strftime("%Y-%m-%dT%H:%M:%SZ"). */
#define DOC_SQL(where)                                                                             \
    "SELECT command_id::text, json_strip_nulls(json_build_object("                                 \
    " 'command_id', command_id, 'type', type, 'status', status, 'reason', reason,"                 \
    " 'resource_id', resource_id, 'actor_sub', actor_sub,"                                         \
    " 'actor', json_build_object('sub', actor_sub, 'role', actor_role, 'org', actor_org,"          \
    "  'provider', actor_provider, 'client', actor_client),"                                       \
    " 'applied_at', to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"      \
    "))::text FROM psop.command_status " where

json_t *view_command(struct pgc *pg, const char *command_id, char *err, size_t errlen)
{
    /* Command ids are UUIDs: anything else is no such command (err ""). */
    return view_doc_parse(
        view_doc_text(pg, DOC_SQL("WHERE command_id = $1::uuid"), command_id, NULL, err, errlen),
        err, errlen);
}

/* KEYS: status keys; ARGV[1] ttl, ARGV[1 + i] the document of KEYS[i].
 * The same rule as store/rds.c's compare-and-set with version 1: a key
 * already at version 1 or more is left alone (an "accepted" one, version 0,
 * is overwritten). Returns how many were written. */
static const char REBUILD_LUA[] = "local n = 0 "
                                  "for i, k in ipairs(KEYS) do "
                                  "  local cur = tonumber(redis.call('HGET', k, 'v')) "
                                  "  if not cur or cur < 1 then "
                                  "    redis.call('HSET', k, 'v', '1', 'd', ARGV[i + 1]) "
                                  "    redis.call('EXPIRE', k, ARGV[1]) "
                                  "    n = n + 1 "
                                  "  end "
                                  "end "
                                  "return n";

#define CHUNK 500

/* Writes rows [0, n) of res in one EVAL. Returns keys written or -1. */
static long write_chunk(struct rds *rds, PGresult *res, char *err, size_t errlen)
{
    int n = PQntuples(res);
    if (n == 0)
        return 0;
    int argc = 3 + 2 * n + 1;
    const char **argv = xcalloc((size_t)argc, sizeof(*argv));
    size_t *lens = xcalloc((size_t)argc, sizeof(*lens));
    char **keys = xcalloc((size_t)n, sizeof(*keys));
    char nkeys[16], ttl[16];
    snprintf(nkeys, sizeof(nkeys), "%d", n);
    snprintf(ttl, sizeof(ttl), "%d", VIEW_COMMAND_TTL_S);
    int a = 0;
    argv[a++] = "EVAL";
    argv[a++] = REBUILD_LUA;
    argv[a++] = nkeys;
    for (int i = 0; i < n; i++) {
        keys[i] = xasprintf(VIEW_COMMAND_KEY_FMT, PQgetvalue(res, i, 0));
        argv[a++] = keys[i];
    }
    argv[a++] = ttl;
    for (int i = 0; i < n; i++)
        argv[a++] = PQgetvalue(res, i, 1);
    PSOP_ASSERT(a == argc);
    for (int i = 0; i < a; i++)
        lens[i] = strlen(argv[i]);
    long rc = -1;
    redisContext *ctx = rds_ctx(rds);
    redisReply *rep = ctx ? redisCommandArgv(ctx, a, argv, lens) : NULL;
    if (!rep)
        snprintf(err, errlen, "redis: %s", ctx ? ctx->errstr : "not connected");
    else if (rep->type != REDIS_REPLY_INTEGER)
        snprintf(err, errlen, "redis: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
    else
        rc = rep->integer;
    if (rep)
        freeReplyObject(rep);
    for (int i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(lens);
    free(argv);
    return rc;
}

int view_command_rebuild(struct rds *rds, struct pgc *pg, int days, view_progress_fn progress,
                         void *cls, long *written, char *err, size_t errlen)
{
    long total = 0;
    int rc = -1;
    char sql[1024], fetch[64];
    if (days < 1)
        days = 1;
    /* One scan through a cursor: the table is large, the window is recent. */
    /* clang-format off */
    snprintf(sql, sizeof(sql),
             "DECLARE view_command_rebuild NO SCROLL CURSOR FOR "
             DOC_SQL("WHERE applied_at > now() - interval '%d days'"),
             days);
    /* clang-format on */
    snprintf(fetch, sizeof(fetch), "FETCH %d FROM view_command_rebuild", CHUNK);
    if (pgc_begin(pg, err, errlen) < 0)
        goto out;
    if (pgc_exec(pg, sql, err, errlen) < 0)
        goto out;
    for (;;) {
        PGresult *res = pgc_query(pg, fetch, 0, NULL, err, errlen);
        if (!res)
            goto out;
        int n = PQntuples(res);
        long w = write_chunk(rds, res, err, errlen);
        PQclear(res);
        if (w < 0)
            goto out;
        total += w;
        if (progress)
            progress(cls, total);
        if (n < CHUNK)
            break;
    }
    rc = 0;
out:
    pgc_rollback(pg); /* read-only: closing the cursor is all COMMIT would do */
    if (written)
        *written = total;
    return rc;
}
