/*
 * record_set.h - a run of service_event.record commands of vouchers applied
 * as a set (docs/architecture.md, "A batch applied as a set").
 *
 * One command at a time costs ~6 statements (the voucher lock, the id check,
 * the provider's approval, the facts of the date, the insert, the version
 * bump). A run of records costs four whatever its length: the run's vouchers
 * locked in one statement (in id order), the ids that already exist, the
 * approvals and facts of every (voucher, date) of the run, then the verdicts
 * in C, in the commands' order, with the same rules (h_service_event.h: the
 * same functions), the month's usage and a pot's use carried from one
 * command to the next in memory; then one insert of the accepted events and
 * one update of each voucher's version (and pot). A rejected command writes
 * nothing, so it needs no savepoint.
 *
 * The verdicts, amounts, versions, events and read models touched are the
 * ones applying the commands one by one gives
 * (tests/integration/record_set.c compares both). When a statement fails
 * (a constraint the C rules did not foresee, an id taken meanwhile by another
 * partition), the caller rolls back to its savepoint and applies the run one
 * command at a time, where such a failure gets its usual verdict.
 */
#ifndef PSOP_WORKER_RECORD_SET_H
#define PSOP_WORKER_RECORD_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"

struct rs_item {
    const struct envelope *cmd;
    struct apply_ctx ctx;  /* reason, resource_id, touched, events: as a handler leaves them */
    enum apply_result res; /* APPLY_OK or APPLY_REJECTED after record_set_apply */
};

/* True when c may join a set: a service_event.record of a voucher whose
 * ids are canonical UUIDs (anything else goes the one-by-one way). */
bool record_set_eligible(const struct envelope *c);

/* Applies items[0..n) in order inside the open transaction (items[i].cmd
 * set, the rest zero). 0: every item has its verdict and the accepted ones
 * are written. -1: a statement failed (err; pgc_last_transient tells a lost
 * connection); the transaction is then aborted to the caller's savepoint
 * and the items' ctx must be released with record_set_clear. */
int record_set_apply(struct pgc *pg, const struct psop_config *cfg, const char *source,
                     struct rs_item *items, size_t n, char *err, size_t errlen);

/* Releases what record_set_apply staged on items (events, touched). */
void record_set_clear(struct rs_item *items, size_t n);

#endif
