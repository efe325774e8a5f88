/*
 * views/view_command.h - the command status read model, built from PostgreSQL.
 *
 * The document of GET /v1/commands/{id}, as workers/read_models.c writes it
 * to Redis after COMMIT (version 1) and as the api writes it when it answers
 * 202 (status "accepted", version 0):
 *   {command_id, type, status (accepted|applied|rejected), reason?,
 *    resource_id?, actor_sub?, actor?, applied_at?}
 * applied_at is RFC 3339 UTC to the second. actor is the issuer's whole
 * principal {sub, role, org?, provider?, client?}, kept so the api can
 * answer the issuer only (actor_sub, its sub, for older api releases); the
 * api strips both from what it answers.
 *
 * Used by the api's PostgreSQL fallback and by `psopctl cache rebuild`.
 * Functions are not thread-safe beyond their pgc/rds arguments. Returned
 * json_t are new references.
 */
#ifndef PSOP_VIEW_COMMAND_H
#define PSOP_VIEW_COMMAND_H

#include <jansson.h>
#include <stddef.h>

#include "store/pgc.h"
#include "store/rds.h"

/* Must equal workers/read_models.h's RM_CMD_KEY_FMT, RM_CMD_CHANNEL and
 * RM_CMD_TTL_S: the same keys, written by both. */
#define VIEW_COMMAND_KEY_FMT "psop:cmd:%s"
#define VIEW_COMMAND_CHANNEL "psop:cmd-done"
#define VIEW_COMMAND_TTL_S (7 * 24 * 3600)
/* Version of an "accepted" document; the workers' verdict is version 1. */
#define VIEW_COMMAND_ACCEPTED_VERSION 0
#define VIEW_COMMAND_DONE_VERSION 1

/* The status document of a processed (applied or rejected) command from
 * psop.command_status. NULL with err "" when there is no row (unknown, or
 * accepted and not yet processed: only the api knows "accepted"); NULL with
 * err filled on a database error. */
json_t *view_command(struct pgc *pg, const char *command_id, char *err, size_t errlen);

/* Called every few hundred documents with the count written so far. */
typedef void (*view_progress_fn)(void *cls, long done);

/* Rewrites psop:cmd:{id} (version 1, TTL VIEW_COMMAND_TTL_S) for every
 * command processed in the last `days` days, pipelined in chunks. Counts
 * written keys in *written (may be NULL; keys already at version 1 are
 * left alone and not counted). 0 or -1 with err filled. */
int view_command_rebuild(struct rds *rds, struct pgc *pg, int days, view_progress_fn progress,
                         void *cls, long *written, char *err, size_t errlen);

#endif
