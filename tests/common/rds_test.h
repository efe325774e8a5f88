/*
 * rds_test.h - Redis helpers shared by the integration tests that kill or
 * watch a connection from the server's side. Header-only, like stack.h.
 */
#ifndef PSOP_TEST_RDS_H
#define PSOP_TEST_RDS_H

#include <criterion/criterion.h>

#include "store/rds.h"

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
