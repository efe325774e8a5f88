/*
 * dlq_replay.h - `psopctl dlq list|replay`: send parked commands back.
 *
 * Workers park in psop.dlq what they could not apply (a malformed envelope, a
 * command type no worker of the role handles, an error nobody foresaw), with
 * the original topic, partition, offset and the error in headers. After the
 * cause is fixed (a new release, a configuration), replay produces each
 * parked command again, unchanged and with its key, to its original topic.
 * Replaying is safe: a parked command was never recorded in
 * processed_commands, and one that was applied meanwhile (replayed twice) is
 * skipped as a duplicate. A command still poison returns to the DLQ.
 *
 * The DLQ is read by the consumer group `group` from its committed position
 * to the end as it was when the run started. A full replay commits that
 * position once every replayed message is acknowledged, so the next run
 * starts after it; list, and a replay filtered by command id, commit nothing.
 */
#ifndef PSOP_DLQ_REPLAY_H
#define PSOP_DLQ_REPLAY_H

#include <stdbool.h>
#include <stdio.h>

#include "core/config.h"

struct dlq_opts {
    bool replay;            /* false: only list */
    const char *command_id; /* only this command (envelope id); NULL: all */
    const char *group;      /* consumer group; NULL: psop-dlq-replay */
    int timeout_ms;         /* for reaching the end of every partition */
};

struct dlq_result {
    long seen, replayed, skipped, failed;
};

/* Lists or replays the DLQ; one line per parked message on out.
 * Returns 0, or -1 with err filled (nothing committed then). */
int dlq_run(const struct psop_config *cfg, const struct dlq_opts *o, FILE *out,
            struct dlq_result *res, char *err, size_t errlen);

#endif
