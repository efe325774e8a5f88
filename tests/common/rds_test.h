/*
 * rds_test.h - Redis helpers shared by the integration tests of the store's
 * Redis code: a connection to the stack's Redis, a key removed, and the
 * server's id of a connection (to kill or watch it from the server's side).
 * Header-only, like stack.h.
 */
#ifndef PSOP_TEST_RDS_H
#define PSOP_TEST_RDS_H

#include <criterion/criterion.h>

#include "stack.h"
#include "store/rds.h"

/* A connection to the stack's Redis (fails the test without one). */
static inline struct rds *st_redis_connect(void)
{
    char err[256];
    struct rds *r = rds_connect(st_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "redis %s: %s (is the stack up?)", st_config()->redis_url, err);
    return r;
}

static inline void st_redis_del(struct rds *r, const char *key)
{
    redisReply *rep = rds_command(r, "DEL %s", key);
    if (rep)
        freeReplyObject(rep);
}

/* The server's id of r's connection (CLIENT ID), for CLIENT KILL ID. */
static inline long long st_redis_client_id(struct rds *r)
{
    redisReply *rep = rds_command(r, "CLIENT ID");
    cr_assert_not_null(rep);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    long long id = rep->integer;
    freeReplyObject(rep);
    return id;
}

#endif
