/*
 * cmd_status.h - the "accepted" command status the api writes to Redis
 * when the broker has acknowledged a request's commands.
 *
 * psop:cmd:{id} = {command_id, type, status: "accepted", resource_id,
 * actor_sub} at version 0 (VIEW_COMMAND_ACCEPTED_VERSION), TTL 7 days, so
 * GET /v1/commands/{id} knows the command before a worker does. The
 * worker's verdict is version 1: written only where no document is stored,
 * so a verdict that came first is never overwritten. All of a request's
 * commands go in one EVAL. Thread-safe.
 */
#ifndef PSOP_API_CMD_STATUS_H
#define PSOP_API_CMD_STATUS_H

#include "auth.h"
#include "command.h"
#include "rpool.h"

/* Returns 0, or -1 when Redis is unavailable (logged; the answer stands:
 * GET then answers 404 until a worker's verdict arrives). */
int cmd_status_accepted(struct rpool *p, const struct cmd_batch *b, const struct actor *ac);

#endif
