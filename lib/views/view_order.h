/*
 * views/view_order.h - the purchased-service read models (orders, their events,
 * contracts), built from PostgreSQL like views/view_voucher.h: one code path for
 * the workers (refresh after COMMIT), the api's PostgreSQL fallback and
 * `psopctl cache rebuild`; each stored document is ONE SQL statement.
 *
 * Redis keys (hash {v, d}, rds_put_versioned, no TTL; the events document
 * itemised, views/view_events_delta.h):
 *   psop:order:{order_id}          the order document (below)
 *   psop:order-events:{order_id}   the order's service events
 *   psop:contract:{contract_id}    the contract and its price history
 * Order keys carry psop.orders.version (every order and service-event
 * command bumps it, and settlement runs bump the orders they settle);
 * the contract key carries psop.contracts.version (contract.upsert).
 *
 * Nothing date-dependent is stored: the status "expired" and the month's
 * usage are derived when answering (view_order_answer).
 */
#ifndef PSOP_VIEW_ORDER_H
#define PSOP_VIEW_ORDER_H

#include <jansson.h>
#include <stddef.h>

#include "core/date.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_doc.h"

#define VIEW_ORDER_KEY_FMT "psop:order:%s"
#define VIEW_ORDER_EVENTS_KEY_FMT "psop:order-events:%s"
#define VIEW_CONTRACT_KEY_FMT "psop:contract:%s"
/* Read-model kinds for apply_touch()/rm_refresh. */
#define VIEW_ORDER_KIND "order"
#define VIEW_CONTRACT_KIND "contract"

/*
 * The stored order document (psop:order:{id}):
 *   {id, organiser_id, client_id, contract_id, provider_id, service_type,
 *    unit, decision_number, valid_from, valid_to?, monthly_quota?,
 *    client_fee_cents, status (active|ended), end_date?, end_reason?,
 *    ended_by?, ended_at?,
 *    usage: {"YYYY-MM": {used_quantity, remaining_quantity?,
 *                        organiser_used_cents, client_fee_used_cents, events}}
 *           (non-deleted events less credited quantities; cents are the
 *            organiser parts / client shares of the events plus their
 *            credits (<= 0)),
 *    created_by, created_at, updated_at, version}
 * Text (caller frees) and *version; NULL with err "" when there is no such
 * order; NULL with err filled on error.
 */
char *view_order_text(struct pgc *pg, const char *order_id, long long *version, char *err,
                      size_t errlen);
json_t *view_order(struct pgc *pg, const char *order_id, long long *version, char *err,
                   size_t errlen);

/* The events document (psop:order-events:{id}): {order_id, contract_id,
 * version, events: [...]} with the event fields of views/view_voucher.h's events
 * document, except client_fee_cents in place of voucher_value_cents,
 * value_unit_cents and band_coefficient. */
char *view_order_events_text(struct pgc *pg, const char *order_id, long long *version, char *err,
                             size_t errlen);
json_t *view_order_events(struct pgc *pg, const char *order_id, long long *version, char *err,
                          size_t errlen);

/* The contract document (psop:contract:{id}):
 *   {id, organiser_id, provider_id, service_type, unit, valid_from,
 *    valid_to?, monthly_volume_cap?,
 *    price_history: [{valid_from, price_cents, band_prices_cents?
 *                     {evening?, saturday?, sunday?}, set_by, set_at}]
 *                   (oldest first),
 *    created_by, created_at, updated_at, version} */
char *view_contract_text(struct pgc *pg, const char *contract_id, long long *version, char *err,
                         size_t errlen);
json_t *view_contract(struct pgc *pg, const char *contract_id, long long *version, char *err,
                      size_t errlen);

/* GET /v1/orders/{id}[?month=]: the document without usage, plus status
 * "expired" (stored active, valid_to < today), month, used_quantity,
 * remaining_quantity (absent without a quota), organiser_used_cents,
 * client_fee_used_cents, events. NULL when month is not YYYY-MM. */
json_t *view_order_answer(const json_t *order_doc, const char *month, day_t today);

/* {order_id, month?, events} of an events document: those dated in month,
 * or all when month is NULL. NULL when month is not YYYY-MM. */
json_t *view_order_events_month(const json_t *events_doc, const char *month);

/* Builds and writes an order's two keys / a contract's key: 1 written,
 * 0 not (stale or none), -1 error. */
int view_order_put(struct rds *rds, struct pgc *pg, const char *order_id, char *err, size_t errlen);
int view_contract_put(struct rds *rds, struct pgc *pg, const char *contract_id, char *err,
                      size_t errlen);

/* Refresher for workers/read_models.c: logs failures. */
void view_contract_refresh(struct rds *rds, struct pgc *pg, const char *contract_id);

/* The documents of many orders (ids_array: a uuid[] literal "{a,b}") in one
 * statement per key kind, pipelined into Redis: the order documents
 * (view_doc_put_many) and the events documents, itemised
 * (views/view_events_delta.h). What a worker batch and `psopctl cache
 * rebuild` use. *written counts keys. */
int view_order_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                        char *err, size_t errlen);

/* The order documents alone (psop:order:{id}), for orders whose events
 * document was kept by delta (views/view_events_delta.h). */
int view_order_doc_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                            char *err, size_t errlen);

/* Rewrites every order's and contract's keys (psopctl cache rebuild). */
int view_order_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                           size_t errlen);

#endif
