/*
 * views/view_settlement.h - the settlement read models, built from PostgreSQL.
 *
 * One code path for the settlement worker (refresh after COMMIT), the api's
 * PostgreSQL fallback and `psopctl cache rebuild`. A settlement document
 * comes from ONE SQL statement, so it and its version are one snapshot.
 *
 * Redis key (hash {v, d}, written with rds_put_versioned, no TTL):
 *   psop:settlement:{settlement_id}   the document below; version =
 *       psop.settlements.version (bumped by confirm and mark_paid; lines
 *       and totals never change after the run).
 *
 * The document (GET /v1/settlements/{id}; lib/finvoice renders it):
 *   {id, organiser_id, provider_id, period "YYYY-MM", number, reference,
 *    due_date "YYYY-MM-DD", state draft|confirmed|paid, created_at,
 *    confirmed_at?, paid_date?, version,
 *    seller {provider_id, name, business_id, iban, email?},
 *    buyer {organiser_id, name, business_id, iban},
 *    lines [{line_no, kind event|credit, source voucher|order, voucher_id?,
 *            order_id?, contract_id?, event_id, credit_id?, date,
 *            service_type, service_name, unit, band?, quantity (2 decimals),
 *            unit_price_cents, gross_cents, organiser_cents,
 *            client_share_cents, vat_rate_bp}]   (by line_no: events first),
 *    totals {gross_cents, organiser_cents, client_share_cents, credit_cents,
 *            payable_cents, vat [{rate_bp, amount_cents, vat_cents}]}}
 * Optional fields (?) are absent, never null. Instants are RFC 3339 UTC.
 *
 * Functions are not thread-safe beyond their pgc/rds arguments. Returned
 * json_t are new references the caller decrefs.
 */
#ifndef PSOP_VIEW_SETTLEMENT_H
#define PSOP_VIEW_SETTLEMENT_H

#include <jansson.h>
#include <stddef.h>

#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_doc.h"

#define VIEW_SETTLEMENT_KEY_FMT "psop:settlement:%s"
/* Read-model kind for apply_touch()/rm_refresh. */
#define VIEW_SETTLEMENT_KIND "settlement"
/* Settlements per set-based build: a document with 200 lines is ~100 KB,
 * so 50 keep a worker's memory near 10 MB for it. */
#define VIEW_SETTLEMENT_CHUNK 50
/* Most settlements a list answers (newest period first). */
#define VIEW_SETTLEMENT_LIST_MAX 1000

/* The document as text (caller frees) and *version (may be NULL); NULL with
 * err "" when there is no such settlement; NULL with err filled on error. */
char *view_settlement_text(struct pgc *pg, const char *settlement_id, long long *version, char *err,
                           size_t errlen);
json_t *view_settlement(struct pgc *pg, const char *settlement_id, long long *version, char *err,
                        size_t errlen);

/*
 * GET /v1/settlements?organiser_id=&period=&provider_id=: every filter may
 * be NULL (= any); period is "YYYY-MM". The answer:
 *   {settlements: [the document without lines, plus line_count], truncated}
 * newest period first, then by number; at most VIEW_SETTLEMENT_LIST_MAX
 * (truncated true when there were more). NULL with err filled on error.
 */
json_t *view_settlement_list(struct pgc *pg, const char *organiser_id, const char *period,
                             const char *provider_id, char *err, size_t errlen);

/* The documents of many settlements (ids_array: a uuid[] literal "{a,b}") in one
 * statement per key kind, pipelined into Redis (view_doc_put_many): what a
 * worker batch and `psopctl cache rebuild` use. *written counts keys. */
int view_settlement_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                             char *err, size_t errlen);

/* Rewrites every settlement's key (psopctl cache rebuild); *written counts
 * keys written (may be NULL). 0 or -1. */
int view_settlement_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                                size_t errlen);

#endif
