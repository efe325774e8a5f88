/*
 * parked.h - the final verdict of a command parked in the DLQ.
 *
 * A command a worker cannot apply (an envelope the schema refuses, a type
 * this worker version has no handler for, a permanent database failure) is
 * parked in psop.dlq for the operators. Its caller must not wait for ever:
 * it gets the final status "rejected" with a reason (recorded in
 * psop.processed_commands and announced to waiting requests), worded for
 * the caller, never the database's text:
 *   invalid_envelope: <what the envelope schema refused>
 *   not_applied: the command could not be applied; it is held for the operators
 * A `psopctl dlq replay` of a not_applied command removes that verdict in
 * the replay's transaction, so the command is applied (or rejected) then as
 * any other (workers/worker.c).
 */
#ifndef PSOP_WORKER_PARKED_H
#define PSOP_WORKER_PARKED_H

#include <jansson.h>
#include <stddef.h>

#include "wire/envelope.h"

#define PARKED_NOT_APPLIED                                                                         \
    "not_applied: the command could not be applied; it is held for the operators"
/* LIKE pattern of the verdicts a replay may replace. */
#define PARKED_REPLACEABLE_LIKE "not\\_applied:%"

/* The processed_commands row ({command_id, type, status, reason, actor_sub,
 * actor_role, received_at}) of a parked command, or NULL when the message
 * does not name a command anyone can wait for (no uuid id, no valid type).
 * parsed: the command when its envelope was valid, else NULL and the
 * identity is read from payload; why: the parse error for an invalid
 * envelope. New reference. Pure. */
json_t *parked_row(const struct envelope *parsed, const void *payload, size_t len, const char *why);

#endif
