/*
 * views/view_voucher_delta.h - a voucher's events document
 * (psop:voucher-events:{id}, views/view_voucher.h) kept up to date by delta.
 *
 * Rebuilding the document turns every event of the voucher and its credits
 * into JSON again, so its cost grows with the voucher's history (issue 19:
 * 5.2 of the 6.6 ms PostgreSQL spent per command at 200 events). A worker
 * batch that changed some events of a voucher instead reads only those
 * events (the same SQL object as the whole document, view_voucher_sql.h),
 * and patches the stored document, which must be exactly the one the batch
 * started from: stored version == from_version. Anything else (Redis
 * restarted empty, a stale marker, a write lost or made by someone else, a
 * voucher command in the batch that changed no event) is left to the whole
 * rebuild, which the caller does for every delta not done.
 */
#ifndef PSOP_VIEW_VOUCHER_DELTA_H
#define PSOP_VIEW_VOUCHER_DELTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/pgc.h"
#include "store/rds.h"

/* Read-model kind of one changed event for apply_touch()/rm_refresh: the id
 * is "<voucher id> <event id> <voucher version after the command>". */
#define VIEW_VOUCHER_DELTA_KIND "voucher-event"

struct vv_delta {
    const char *voucher_id;  /* borrowed */
    long long from_version;  /* the stored document's version before the batch */
    long long to_version;    /* the voucher's version after it */
    const json_t *event_ids; /* borrowed array of the event ids the batch changed */
    bool done;               /* out: the document was patched and written */
};

/* Pure: replaces each event of changed (objects with "id") in doc's "events"
 * or adds it, keeps "events" ordered as the whole document is (date, then
 * recorded_at, then id), and sets "version". 0, or -1 (doc untouched) when
 * doc is not an events document or an event has no id. */
int view_voucher_events_patch(json_t *doc, const json_t *changed, long long version);

/* For each of the n deltas: the changed events from PostgreSQL in one
 * statement (with the voucher's version, which must be to_version), the
 * stored document from Redis (which must be at from_version), patched and
 * written (version-checked). Sets done on each written. Returns how many
 * were done, or -1 with err (none done). */
long view_voucher_events_delta(struct rds *rds, struct pgc *pg, struct vv_delta *d, size_t n,
                               char *err, size_t errlen);

#endif
