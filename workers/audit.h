/*
 * audit.h - the audit worker (psop-worker --role audit): access records from
 * psop.audit into psop.access_log, and their retention.
 *
 * A batch of records (gathered for up to 100 ms, so one commit carries
 * many) is one INSERT ... ON CONFLICT DO NOTHING keyed (at, id),
 * so a record delivered twice is written once; offsets are stored after
 * COMMIT. Records about a resource whose client the api did not know (a
 * command on an existing voucher, a denied read) get the client ids and the
 * organiser from the resource's row (vouchers, orders, settlement lines) in
 * the same statement. A record that is not valid JSON or fails
 * schemas/audit/access_record.json is logged whole at error level and
 * skipped (only the api produces them, after building them itself).
 * Once an hour, and at start, whole months older than audit_retention_days
 * are dropped (psop.access_log_drop_before).
 */
#ifndef PSOP_WORKER_AUDIT_H
#define PSOP_WORKER_AUDIT_H

#include <signal.h>
#include <stddef.h>

#include <jansson.h>

#include "core/config.h"

struct jschema_registry;

/* The row of psop.access_log a record becomes (a flat object the INSERT
 * reads with jsonb_to_recordset), or NULL with err when the record is
 * invalid. Pure: reg may be NULL to skip the schema check. New reference. */
json_t *audit_row(const struct jschema_registry *reg, const char *payload, size_t len, char *err,
                  size_t errlen);

/* Runs until *stop; returns the process exit status. */
int audit_run(const struct psop_config *cfg, volatile sig_atomic_t *stop);

#endif
