/*
 * rds_test.h - Redis helpers shared by the integration tests of the store's
 * Redis code: a connection to the stack's Redis, a key removed, the
 * server's id of a connection (to kill or watch it from the server's side),
 * and the checks of an itemised events document (a hash field; the stored
 * document against the whole one PostgreSQL builds). Header-only, like
 * stack.h.
 */
#ifndef PSOP_TEST_RDS_H
#define PSOP_TEST_RDS_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

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

/* A field of the hash at key_fmt % id as a number, or -1 when absent (an
 * itemised events document: "v" its version, "p" its patches, "d" its
 * whole text). */
static inline long long st_redis_hfield(struct rds *r, const char *key_fmt, const char *id,
                                        const char *field)
{
    char key[128];
    snprintf(key, sizeof(key), key_fmt, id);
    redisReply *rep = rds_command(r, "HGET %s %s", key, field);
    cr_assert_not_null(rep);
    long long n = rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : -1;
    freeReplyObject(rep);
    return n;
}

/* A stored events document (stored) equals the one PostgreSQL builds whole
 * (whole), compared as sorted compact JSON; takes both references and
 * returns how many events the whole one has. */
static inline size_t st_expect_same_events(json_t *stored, json_t *whole, const char *what,
                                           const char *id)
{
    cr_assert_not_null(stored, "%s %s: no stored events document", what, id);
    cr_assert_not_null(whole, "%s %s: no whole events document", what, id);
    size_t n = json_array_size(json_object_get(whole, "events"));
    char *a = json_dumps(stored, JSON_SORT_KEYS | JSON_COMPACT);
    char *b = json_dumps(whole, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect_str_eq(a, b, "%s %s: the stored events document differs from the whole one", what,
                     id);
    free(a);
    free(b);
    json_decref(stored);
    json_decref(whole);
    return n;
}

#endif
