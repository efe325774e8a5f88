#include "cmd_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "views/view_command.h"
#include "core/xmalloc.h"

/* KEYS: status keys; ARGV[1] ttl, ARGV[1 + i] the document of KEYS[i].
 * Written only where absent: the compare-and-set of version 0. */
static const char ACCEPTED_LUA[] = "for i, k in ipairs(KEYS) do "
                                   "  if redis.call('EXISTS', k) == 0 then "
                                   "    redis.call('HSET', k, 'v', '0', 'd', ARGV[i + 1]) "
                                   "    redis.call('EXPIRE', k, ARGV[1]) "
                                   "  end "
                                   "end "
                                   "return 1";

int cmd_status_accepted(struct rpool *p, const struct cmd_batch *b, const struct actor *ac)
{
    if (!p || b->n == 0)
        return 0;
    struct rds *r = rpool_get(p);
    if (!r)
        return -1;
    size_t n = b->n, argc = 4 + 2 * n;
    const char **argv = xcalloc(argc, sizeof(*argv));
    size_t *lens = xcalloc(argc, sizeof(*lens));
    char **own = xcalloc(2 * n, sizeof(*own));
    char nkeys[16], ttl[16];
    snprintf(nkeys, sizeof(nkeys), "%zu", n);
    snprintf(ttl, sizeof(ttl), "%d", VIEW_COMMAND_TTL_S);
    size_t a = 0;
    argv[a++] = "EVAL";
    argv[a++] = ACCEPTED_LUA;
    argv[a++] = nkeys;
    for (size_t i = 0; i < n; i++)
        argv[a++] = own[i] = xasprintf(VIEW_COMMAND_KEY_FMT, b->items[i].command_id);
    argv[a++] = ttl;
    for (size_t i = 0; i < n; i++) {
        const struct cmd_item *it = &b->items[i];
        /* actor: the whole principal, whom GET /v1/commands/{id} answers;
         * actor_sub for api replicas of older releases during a rollout. */
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o}", "command_id", it->command_id,
                                "type", it->type, "status", "accepted", "resource_id",
                                it->resource_id, "actor_sub", ac->sub, "actor", actor_to_json(ac));
        argv[a++] = own[n + i] = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(doc);
    }
    for (size_t i = 0; i < a; i++)
        lens[i] = strlen(argv[i]);
    redisContext *c = rds_ctx(r);
    /* No second try: a pooled connection never reconnects on a request
     * thread (api/rpool.h); a failed write opens the pool's breaker. */
    redisReply *rep = c ? redisCommandArgv(c, (int)a, argv, lens) : NULL;
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        LOG_WARN("accepted command status not written", "command_id", b->items[0].command_id,
                 "error",
                 rep ? rep->str
                 : c ? c->errstr
                     : "not connected",
                 NULL);
    if (rep)
        freeReplyObject(rep);
    rpool_put(p, r, rep == NULL);
    for (size_t i = 0; i < 2 * n; i++)
        free(own[i]);
    free(own);
    free(lens);
    free(argv);
    return rc;
}
