/*
 * views/view_voucher.h - the voucher read models, built from PostgreSQL.
 *
 * One code path for the voucher worker (refresh after COMMIT), the api's
 * PostgreSQL fallback and `psopctl cache rebuild`. Each stored document comes
 * from ONE SQL statement, so it and its version are one snapshot.
 *
 * Redis keys (hash {v, d}, written with rds_put_versioned, no TTL):
 *   psop:voucher:{voucher_id}          the voucher document (below)
 *   psop:voucher-events:{voucher_id}   the voucher's service events
 * Both carry version = psop.vouchers.version, which every voucher and
 * service-event command bumps. They hold no date-dependent field: "today"
 * things (status expired, value in force, the month's usage by default) are
 * derived when answering, by the pure functions below, from the stored
 * document and the caller's Helsinki date.
 *
 * GET /v1/vouchers/{id}/providers has no key of its own: it is the public
 * list psop:public:{organiser_id}:{service_type} (views/view_provider.h) combined
 * with the voucher document by view_voucher_providers_combine(), so a price
 * or approval change (a provider command) is seen at once without the
 * voucher worker knowing about it.
 *
 * Quantities in documents are JSON numbers with two decimals (2.50) as
 * PostgreSQL writes them; money is integer cents. Functions are not
 * thread-safe beyond their pgc/rds arguments. Returned json_t are new
 * references the caller decrefs; document arguments are borrowed.
 */
#ifndef PSOP_VIEW_VOUCHER_H
#define PSOP_VIEW_VOUCHER_H

#include <jansson.h>
#include <stddef.h>

#include "core/date.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_doc.h"

#define VIEW_VOUCHER_KEY_FMT "psop:voucher:%s"
#define VIEW_VOUCHER_EVENTS_KEY_FMT "psop:voucher-events:%s"
/* Read-model kind for apply_touch()/rm_refresh: refreshes both keys. */
#define VIEW_VOUCHER_KIND "voucher"
/* Vouchers (and orders) per set-based build: their documents are a few KB. */
#define VIEW_VOUCHER_CHUNK 500

/*
 * The stored voucher document (psop:voucher:{id}):
 *   {id, organiser_id, client_id, service_type, unit, client_share_allowed,
 *    band_coefficients? {evening, saturday, sunday},
 *    decision_number, valid_from, valid_to?, monthly_quota?,
 *    provider_id?, provider_chosen_at?, provider_chosen_by?,
 *    status (active|revoked|refused, as stored), revoke_date?, revoke_reason?,
 *    revoked_at?, refuse_reason?, refused_at?,
 *    value_basis (flat|income|budget),
 *    budget_cents?, budget_used_cents?, budget_remaining_cents?  (budget
 *             vouchers only: the pot, what its events and credits have
 *             charged, what is left; such a voucher has no value_history),
 *    income? {household_size, monthly_income_cents, limit_cents, pct_bp,
 *             excess_cents, max_value_cents, min_value_cents, divisor,
 *             value_cents},
 *    value_history: [{from, to?, unit_value_cents, set_by, set_at}]
 *                   (oldest first; to inclusive, absent = open-ended),
 *    amendments: [{effective_from, unit_value_cents?, valid_to?,
 *                  monthly_quota?, amended_by, amended_at}],
 *    usage: {"YYYY-MM": {used_quantity, remaining_quantity?,
 *                        voucher_used_cents, events}}
 *           (every month with events; used = quantity less credited
 *            quantity of non-deleted events; remaining = max(0, quota -
 *            used), absent without a quota; voucher_used_cents = the
 *            organiser parts of those events plus their credits (<= 0);
 *            events = number of non-deleted events),
 *    granted_by, created_at, updated_at, version}
 * Returns the document as text (caller frees) and *version; NULL with err ""
 * when there is no such voucher; NULL with err filled on error.
 */
char *view_voucher_text(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                        size_t errlen);
json_t *view_voucher(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                     size_t errlen);

/*
 * The stored events document (psop:voucher-events:{id}):
 *   {voucher_id, version,
 *    events: [{id, provider_id, date, quantity, band?, band_coefficient?,
 *              unit_price_cents, voucher_value_cents, value_unit_cents,
 *              gross_cents, organiser_part_cents, client_share_cents, state,
 *              note?, recorded_by, recorded_at, updated_at, approved_by?,
 *              approved_at?, deleted_by?, deleted_at?, settlement_id?,
 *              settled_at?, paid_at?, credited_quantity, version,
 *              credits: [{id, quantity, reason_code, explanation,
 *                         gross_cents, organiser_part_cents,
 *                         client_share_cents, created_by, created_at,
 *                         settlement_id?}]}]}
 * Every event of the voucher, deleted ones included (state "deleted"), by
 * date then recording time. Returns as view_voucher_text.
 */
char *view_voucher_events_text(struct pgc *pg, const char *voucher_id, long long *version,
                               char *err, size_t errlen);
json_t *view_voucher_events(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                            size_t errlen);

/*
 * The answer of GET /v1/vouchers/{id}[?month=YYYY-MM] from a stored voucher
 * document: the document without "usage", plus
 *   status       "expired" when stored active and valid_to < today
 *   unit_value_cents   the value in force today (absent before valid_from)
 *   month, used_quantity, remaining_quantity (absent without a quota),
 *   voucher_used_cents, events   for month (NULL = today's month; a month
 *                                without events answers zeros)
 * NULL when month is not YYYY-MM.
 */
json_t *view_voucher_answer(const json_t *voucher_doc, const char *month, day_t today);

/* The events of a stored events document dated in month (YYYY-MM), or all
 * of them when month is NULL: {voucher_id, month?, events: [...]}.
 * NULL when month is not YYYY-MM. */
json_t *view_voucher_events_month(const json_t *events_doc, const char *month);

/*
 * GET /v1/vouchers/{id}/providers: the public list of the voucher's
 * (organiser, service type) for today combined with the voucher's value in
 * force today:
 *   {voucher_id, date, unit, voucher_value_cents,
 *    providers: [{provider_id, name, business_id, email?, approved_from,
 *                 unit_price_cents, voucher_value_cents, client_share_cents,
 *                 bands? {weekday|evening|saturday|sunday:
 *                         {unit_price_cents, voucher_value_cents,
 *                          client_share_cents}}}]}
 * A budget voucher instead: {voucher_id, date, unit, budget_remaining_cents,
 * providers: [{..., unit_price_cents, budget_covers_quantity (remaining /
 * price truncated to hundredths, null at price 0), bands? {band:
 * {unit_price_cents, budget_covers_quantity}}}]}, cheapest first.
 * voucher_value_cents of a band = round(value x coefficient); client share
 * per unit = price - min(price, value). Weekday numbers are the top-level
 * ones. Cheapest own share first, then price, then name; providers without
 * a price last (their prices null). Public list providers are approved and
 * not suspended today (views/view_provider.h).
 */
json_t *view_voucher_providers_combine(const json_t *voucher_doc, const json_t *public_doc,
                                       day_t today);
/* The same from PostgreSQL (the api's fallback). NULL with err "" when
 * there is no such voucher. */
json_t *view_voucher_providers(struct pgc *pg, const char *voucher_id, day_t today, char *err,
                               size_t errlen);

/* Builds and writes both keys of a voucher. Returns 1 when written (at least
 * one key newer), 0 not written (stale or no such voucher), -1 error. */
int view_voucher_put(struct rds *rds, struct pgc *pg, const char *voucher_id, char *err,
                     size_t errlen);

/* The documents of many vouchers (ids_array: a uuid[] literal "{a,b}") in one
 * statement per key kind, pipelined into Redis: the voucher documents
 * (view_doc_put_many) and the events documents, itemised
 * (views/view_events_delta.h). What a worker batch and `psopctl cache
 * rebuild` use. *written counts keys. */
int view_voucher_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                          char *err, size_t errlen);

/* The voucher documents alone (psop:voucher:{id}), for vouchers whose events
 * document was kept by delta (views/view_events_delta.h). */
int view_voucher_doc_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                              char *err, size_t errlen);

/* Rewrites every voucher's keys (psopctl cache rebuild); *written counts
 * vouchers written (may be NULL). 0 or -1. */
int view_voucher_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                             size_t errlen);

#endif
