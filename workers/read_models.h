/*
 * read_models.h - Redis read models written by the workers after COMMIT.
 *
 * Every write is version-checked (rds_put_versioned): a late or replayed
 * write never overwrites newer data. Redis being down never blocks a worker:
 * failures are logged and the api falls back to PostgreSQL; `psopctl cache
 * rebuild` refills Redis from PostgreSQL. rds may be NULL (no connection).
 */
#ifndef PSOP_WORKER_READ_MODELS_H
#define PSOP_WORKER_READ_MODELS_H

#include <jansson.h>

#include "store/pgc.h"
#include "store/rds.h"

/* Key of a command's status document, and the channel announcing it. */
#define RM_CMD_KEY_FMT "psop:cmd:%s"
#define RM_CMD_CHANNEL "psop:cmd-done"
#define RM_CMD_TTL_S (7 * 24 * 3600)

/* The verdict of one command. */
struct rm_status {
    const char *command_id, *type, *status, *reason, *resource_id, *actor_sub;
    /* The rest of the issuer's principal (NULL when absent). */
    const char *actor_role, *actor_org, *actor_provider, *actor_client;
};

/* Writes each {command_id, type, status, reason?, resource_id?, actor_sub?,
 * actor? {sub, role, org?, provider?, client?}, applied_at} with version 1 (the api's "accepted" is
 * version 0), then publishes them on RM_CMD_CHANNEL for requests waiting with Prefer: wait;
 * pipelined, a few round trips for a whole batch. actor lets the api
 * answer GET /v1/commands/{id} to its issuer only. */
void rm_command_statuses(struct rds *rds, const struct rm_status *st, size_t n);

/* Publishes the statuses on RM_CMD_CHANNEL without storing them: the final
 * verdict of a command parked in the DLQ lives in PostgreSQL only (the api
 * checks an "accepted" document there), so a later `psopctl dlq replay`
 * writes its own verdict to Redis as any command does. */
void rm_command_announce(struct rds *rds, const struct rm_status *st, size_t n);

/* Refreshes every read model listed in touched (array of [kind, id]): each
 * document rebuilt from PostgreSQL and written. A kind with more than
 * rebuild_max entries that can be marked (vouchers, orders, settlements: a
 * settlement run touches every voucher it settled) gets stale markers at
 * the new versions instead, one pipelined write per key: the api then
 * answers those from PostgreSQL and writes the document back (read-through,
 * api/read.c). rebuild_max < 0: never mark. */
void rm_refresh(struct rds *rds, struct pgc *pg, const json_t *touched, long rebuild_max);

#endif
