/*
 * views/view_events_delta.h - the events documents of vouchers
 * (psop:voucher-events:{id}, views/view_voucher.h) and of orders
 * (psop:order-events:{id}, views/view_order.h) kept item by item.
 *
 * The document lists every event of its voucher or order, so building it
 * whole grows with the history (issue 19: 5.2 of the 6.6 ms PostgreSQL spent
 * per command at 200 events; then, patched as one text, 4.0 ms of its
 * worker's CPU for parsing and writing ~80 KB). It is stored itemised
 * (store/rds_items.h), one item per event, sorted by date, recorded_at, id as
 * the whole document's SQL orders them. A worker batch that changed some
 * events of a parent reads only those events (the same SQL object as the
 * whole document, view_events_sql.h) and writes only them, if the stored
 * document is exactly the one the batch started from (version ==
 * from_version, itemised). Anything else (Redis restarted empty, a stale
 * marker, a write lost or made by someone else or by an earlier release, a
 * command in the batch that bumped the parent and changed no event, an event
 * moved to another parent) is left to the whole write, which the caller does
 * for every delta not done.
 */
#ifndef PSOP_VIEW_EVENTS_DELTA_H
#define PSOP_VIEW_EVENTS_DELTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_doc.h"

/* Read-model kinds of one changed event for apply_touch()/rm_refresh: the id
 * is "<parent id> <event id> <parent version after the command>". */
#define VIEW_VOUCHER_DELTA_KIND "voucher-event"
#define VIEW_ORDER_DELTA_KIND "order-event"

/* Whose events documents. */
enum ved_parent { VED_VOUCHER, VED_ORDER };

struct ved_delta {
    const char *parent_id;   /* borrowed */
    long long from_version;  /* the stored document's version before the batch */
    long long to_version;    /* the parent's version after it */
    const json_t *event_ids; /* borrowed array of the event ids the batch changed */
    bool done;               /* out: the document was patched and written */
};

/* For each of the n deltas (all of parents of one kind): the changed events
 * from PostgreSQL in one statement (with the parent's version, which must be
 * to_version), written as items over the stored document at from_version,
 * pipelined. Sets done on each written. Returns how many were done, or -1
 * with err (none done). */
long view_events_delta(enum ved_parent kind, struct rds *rds, struct pgc *pg, struct ved_delta *d,
                       size_t n, char *err, size_t errlen);

/* The whole events documents of the parents of ids_array (a uuid[] literal),
 * itemised, in one statement; *written counts the keys written. 0, or -1
 * with err. */
int view_events_put_many(enum ved_parent kind, struct rds *rds, struct pgc *pg,
                         const char *ids_array, long *written, char *err, size_t errlen);

/* A whole rebuild of the parents of ids_array: their own documents
 * (doc_many), then their events documents (view_events_put_many); *written
 * counts the keys of both. 0, or -1 with err. */
int view_events_put_with_docs(enum ved_parent kind, view_put_many_fn doc_many, struct rds *rds,
                              struct pgc *pg, const char *ids_array, long *written, char *err,
                              size_t errlen);

#endif
