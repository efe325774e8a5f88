/*
 * cmd_status.h - the "accepted" command status the api writes to Redis
 * when the broker has acknowledged a request's commands.
 *
 * psop:cmd:{id} = {command_id, type, status: "accepted", resource_id,
 * actor_sub, actor} at version 0 (VIEW_COMMAND_ACCEPTED_VERSION), TTL 7
 * days, so GET /v1/commands/{id} knows the command before a worker does.
 * The worker's verdict is version 1: written only where no document is
 * stored, so a verdict that came first is never overwritten.
 *
 * Group commit: the requests that want a status written at the same moment
 * share one round trip. A request queues its documents; the first request
 * that finds no write running writes everything queued (up to max_group
 * requests, its own among them) in one EVAL, and the others wait for that
 * write or become the next writer. Every request still returns only once
 * its own status is written (or has failed), so a GET right after the 202
 * finds it. Nothing waits longer than the write in progress plus its own:
 * each is bounded by the pool's command timeout. Thread-safe.
 */
#ifndef PSOP_API_CMD_STATUS_H
#define PSOP_API_CMD_STATUS_H

#include "auth.h"
#include "command.h"
#include "rpool.h"

#define CMD_STATUS_MAX_GROUP 64

struct cmd_status;

/* pool may be NULL (no Redis: nothing written). max_group >= 1: how many
 * requests one write carries at most (1: a round trip per request). */
struct cmd_status *cmd_status_new(struct rpool *pool, int max_group);
void cmd_status_free(struct cmd_status *s);

/* Returns 0, or -1 when Redis is unavailable (logged; the answer stands:
 * GET then answers from PostgreSQL/404 until a worker's verdict arrives). */
int cmd_status_accepted(struct cmd_status *s, const struct cmd_batch *b, const struct actor *ac);

/* How many writes (round trips) and requests so far: requests / writes is
 * the mean group size (tests, benchmarks). */
void cmd_status_counts(struct cmd_status *s, unsigned long *writes, unsigned long *requests);

#endif
