#include "cmd_status.h"

#include <pthread.h>
#include <stdbool.h>
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

/* One request's statuses, on its own stack until they are written. */
struct pending {
    struct pending *next;
    size_t n;
    char **keys, **docs;
    int rc;
    bool done;
};

struct cmd_status {
    struct rpool *pool;
    int max_group;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool writing; /* a request is writing a group now */
    struct pending *head, *tail;
    unsigned long writes, requests;
};

struct cmd_status *cmd_status_new(struct rpool *pool, int max_group)
{
    struct cmd_status *s = xcalloc(1, sizeof(*s));
    s->pool = pool;
    s->max_group = max_group > 0 ? max_group : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return s;
}

void cmd_status_free(struct cmd_status *s)
{
    if (!s)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void cmd_status_counts(struct cmd_status *s, unsigned long *writes, unsigned long *requests)
{
    pthread_mutex_lock(&s->mu);
    *writes = s->writes;
    *requests = s->requests;
    pthread_mutex_unlock(&s->mu);
}

/* The keys and documents of b's commands (on the request's thread). */
static void pending_fill(struct pending *me, const struct cmd_batch *b, const struct actor *ac)
{
    me->n = b->n;
    me->keys = xcalloc(b->n, sizeof(*me->keys));
    me->docs = xcalloc(b->n, sizeof(*me->docs));
    for (size_t i = 0; i < b->n; i++) {
        const struct cmd_item *it = &b->items[i];
        me->keys[i] = xasprintf(VIEW_COMMAND_KEY_FMT, it->command_id);
        /* actor: the whole principal, whom GET /v1/commands/{id} answers;
         * actor_sub for api replicas of older releases during a rollout. */
        json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o}", "command_id", it->command_id,
                                "type", it->type, "status", "accepted", "resource_id",
                                it->resource_id, "actor_sub", ac->sub, "actor", actor_to_json(ac));
        me->docs[i] = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(doc);
    }
}

static void pending_clear(struct pending *me)
{
    for (size_t i = 0; i < me->n; i++) {
        free(me->keys[i]);
        free(me->docs[i]);
    }
    free(me->keys);
    free(me->docs);
}

/* One EVAL for every status of the group. 0, or -1 (logged). */
static int write_group(struct rpool *pool, const struct pending *group)
{
    size_t keys = 0;
    for (const struct pending *g = group; g; g = g->next)
        keys += g->n;
    struct rds *r = rpool_get(pool);
    if (!r)
        return -1;
    size_t argc = 4 + 2 * keys, a = 0;
    const char **argv = xcalloc(argc, sizeof(*argv));
    size_t *lens = xcalloc(argc, sizeof(*lens));
    char nkeys[24], ttl[16];
    snprintf(nkeys, sizeof(nkeys), "%zu", keys);
    snprintf(ttl, sizeof(ttl), "%d", VIEW_COMMAND_TTL_S);
    argv[a++] = "EVAL";
    argv[a++] = ACCEPTED_LUA;
    argv[a++] = nkeys;
    for (const struct pending *g = group; g; g = g->next)
        for (size_t i = 0; i < g->n; i++)
            argv[a++] = g->keys[i];
    argv[a++] = ttl;
    for (const struct pending *g = group; g; g = g->next)
        for (size_t i = 0; i < g->n; i++)
            argv[a++] = g->docs[i];
    for (size_t i = 0; i < a; i++)
        lens[i] = strlen(argv[i]);
    redisContext *c = rds_ctx(r);
    /* No second try: a pooled connection never reconnects on a request
     * thread (api/rpool.h); a failed write opens the pool's breaker. */
    redisReply *rep = c ? redisCommandArgv(c, (int)a, argv, lens) : NULL;
    int rc = rep && rep->type != REDIS_REPLY_ERROR ? 0 : -1;
    if (rc < 0)
        LOG_WARN("accepted command status not written", "key", group->keys[0], "error",
                 rep ? rep->str
                 : c ? c->errstr
                     : "not connected",
                 NULL);
    if (rep)
        freeReplyObject(rep);
    rpool_put(pool, r, rep == NULL);
    free(lens);
    free(argv);
    return rc;
}

/* With mu held: up to max_group requests from the head of the queue, in
 * order, as a list of their own; *count set. */
static struct pending *take_group(struct cmd_status *s, unsigned long *count)
{
    struct pending *group = s->head, *last = s->head;
    unsigned long k = 1;
    while (last->next && k < (unsigned long)s->max_group) {
        last = last->next;
        k++;
    }
    s->head = last->next;
    if (!s->head)
        s->tail = NULL;
    last->next = NULL;
    *count = k;
    return group;
}

int cmd_status_accepted(struct cmd_status *s, const struct cmd_batch *b, const struct actor *ac)
{
    if (!s || !s->pool || b->n == 0)
        return 0;
    struct pending me = {0};
    pending_fill(&me, b, ac);
    pthread_mutex_lock(&s->mu);
    if (s->tail)
        s->tail->next = &me;
    else
        s->head = &me;
    s->tail = &me;
    while (!me.done) {
        if (s->writing) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        /* No write running: this request writes what is queued. */
        s->writing = true;
        unsigned long k;
        struct pending *group = take_group(s, &k);
        pthread_mutex_unlock(&s->mu);
        int rc = write_group(s->pool, group);
        pthread_mutex_lock(&s->mu);
        for (struct pending *g = group, *next; g; g = next) {
            next = g->next; /* g is its owner's once done is set */
            g->rc = rc;
            g->done = true;
        }
        s->writing = false;
        s->writes++;
        s->requests += k;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    pending_clear(&me);
    return me.rc;
}
