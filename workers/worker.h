/*
 * worker.h - the consume → apply → commit → store loop of one worker process.
 *
 * One batch of up to cfg->worker_batch_max messages is applied in one
 * PostgreSQL transaction; offsets are stored only after COMMIT (and after
 * poison messages are safely in psop.dlq). Each command's first statement
 * inserts its id into processed_commands ON CONFLICT DO NOTHING: zero rows
 * means a duplicate (a replay, a rebalance, a crash before the offset was
 * stored), skipped. Transient failures retry the whole batch with backoff;
 * nothing is stored meanwhile. On *stop the current batch finishes first.
 */
#ifndef PSOP_WORKER_WORKER_H
#define PSOP_WORKER_WORKER_H

#include <signal.h>

#include "core/config.h"

struct worker_role {
    const char *name;  /* reference, provider, voucher, order, settlement */
    const char *topic; /* the command topic it consumes */
};

/* The role named name, or NULL. */
const struct worker_role *worker_role_find(const char *name);

/* Runs until *stop; returns the process exit status. */
int worker_run(const struct psop_config *cfg, const struct worker_role *role,
               volatile sig_atomic_t *stop);

#endif
