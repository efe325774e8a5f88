/*
 * views/view_doc.h - the one shape every read-model builder shares: a statement
 * that answers one row (version, document text) for a UUID, and the parse
 * of that text. view_voucher, view_order and view_settlement build their
 * documents in SQL and fetch them through these.
 */
#ifndef PSOP_VIEW_DOC_H
#define PSOP_VIEW_DOC_H

#include <jansson.h>
#include <stddef.h>

#include "core/date.h"
#include "store/pgc.h"
#include "store/rds.h"

/* Runs sql with $1 = id. The document text (caller frees) and, when version
 * is not NULL, the row's version; NULL with err "" when there is no such row
 * (also for an id that is not a UUID), NULL with err filled on a failure. */
char *view_doc_text(struct pgc *pg, const char *sql, const char *id, long long *version, char *err,
                    size_t errlen);

/* Stale markers (store/rds.h) for many aggregates at once, for a batch
 * that touched too many to rebuild each: versions_sql answers rows (id,
 * version) for $1 = ids_array, a PostgreSQL uuid[] literal "{a,b}"; every
 * key format of key_fmts (NULL-terminated, one %s) gets a marker at that
 * version, pipelined. Returns the markers written, -1 with err. */
long view_doc_mark_stale(struct rds *rds, struct pgc *pg, const char *versions_sql,
                         const char *ids_array, const char *const *key_fmts, char *err,
                         size_t errlen);

/* The documents of many aggregates in ONE statement: one_sql is a
 * single-document statement of the kind view_doc_text runs (its id written
 * "$1::uuid", answering version and text); it is run for every id of
 * ids_array (a uuid[] literal "{a,b}") and each document is written at
 * key_fmt (one %s) with its version, pipelined. Ids without a row are
 * skipped. *written counts the keys written. 0, or -1 with err. */
int view_doc_put_many(struct rds *rds, struct pgc *pg, const char *one_sql, const char *key_fmt,
                      const char *ids_array, long *written, char *err, size_t errlen);

/* One Redis key kind of an aggregate: its single-document statement and key. */
struct view_doc_key {
    const char *sql, *key_fmt;
};

/* view_doc_put_many for each of the n key kinds in turn (a voucher: its
 * document and its events). *written counts keys. 0, or -1 with err. */
int view_doc_put_keys(struct rds *rds, struct pgc *pg, const struct view_doc_key *keys, size_t n,
                      const char *ids_array, long *written, char *err, size_t errlen);

/* Writes the documents of many aggregates (a uuid[] literal); *written
 * counts keys. 0, or -1 with err. */
typedef int (*view_put_many_fn)(struct rds *rds, struct pgc *pg, const char *ids_array,
                                long *written, char *err, size_t errlen);

/* fn for one id: 1 when a key was written, 0 when none was (no such
 * aggregate, not a UUID, or Redis already newer), -1 with err. */
int view_doc_put_one(struct rds *rds, struct pgc *pg, view_put_many_fn fn, const char *id,
                     char *err, size_t errlen);

/* Rewrites every aggregate that ids_sql answers (first column, uuid) with
 * fn, chunk ids per call. *written counts keys. 0, or -1 with err. */
int view_doc_rebuild(struct rds *rds, struct pgc *pg, const char *ids_sql, view_put_many_fn fn,
                     size_t chunk, long *written, char *err, size_t errlen);

/* Parses and frees s. NULL when s is NULL (err as left) or not JSON (err). */
json_t *view_doc_parse(char *s, char *err, size_t errlen);

/* The shared start of a voucher's or an order's answer (pure): a copy of
 * doc without its per-month "usage", "expired" for an active one past its
 * valid_to, and "month" set (month NULL: today's, written to mbuf, which
 * *month then points to). tbuf receives today. NULL for a bad month. */
json_t *view_answer_base(const json_t *doc, const char **month, char mbuf[8], day_t today,
                         char tbuf[11]);

/* Adds to out "month" (when given) and "events": the events of events_doc
 * dated in month (all when NULL). Returns out. */
json_t *view_events_of_month(const json_t *events_doc, const char *month, json_t *out);

#endif
