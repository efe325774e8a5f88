/*
 * views/view_provider.h - the provider read models, built from PostgreSQL.
 *
 * One code path for the three places that need them: the provider worker
 * (refresh after COMMIT), the api's PostgreSQL fallback, and `psopctl cache
 * rebuild`. Each document comes from ONE SQL statement, so it and its version
 * are one consistent snapshot even outside a transaction.
 *
 * Redis keys (hash {v, d}, written with rds_put_versioned):
 *   psop:provider:{provider_id}
 *       GET /v1/providers/{id}; version = psop.providers.version, which
 *       every provider command bumps.
 *   psop:public:{organiser_id}:{service_type}
 *       GET /v1/public/providers; the document is for one Helsinki date
 *       ("date") and expires at the next Helsinki midnight. Version =
 *       day_number(date) * VIEW_PUBLIC_DAY_STRIDE + the sum of the versions
 *       of every provider that applied for the pair, the organiser and the
 *       service type. Every change to the list bumps one of those versions
 *       (and a new applicant adds its own), so the sum only grows within a
 *       day, and a later day always outranks an earlier one.
 *
 * Functions are not thread-safe beyond their pgc/rds arguments (one
 * connection each). Returned json_t are new references the caller decrefs.
 */
#ifndef PSOP_VIEW_PROVIDER_H
#define PSOP_VIEW_PROVIDER_H

#include <jansson.h>
#include <stddef.h>

#include "store/pgc.h"
#include "store/rds.h"

#define VIEW_PROVIDER_KEY_FMT "psop:provider:%s"
#define VIEW_PUBLIC_KEY_FMT "psop:public:%s:%s"
/* Read-model kinds for apply_touch()/rm_refresh (workers/read_models.c). The
 * public kind's id is "{organiser_id}:{service_type}". */
#define VIEW_PROVIDER_KIND "provider"
#define VIEW_PUBLIC_KIND "public_providers"
#define VIEW_PUBLIC_DAY_STRIDE 10000000000LL /* 1e10: keeps versions < 2^53 */

/* The document of GET /v1/providers/{id}:
 *   {id, business_id, name, iban, email?, supplier_number?, registered_by?,
 *    registered_at, version,
 *    applications: [{id, organiser_id, service_type, rulebook_version,
 *                    applied_by, applied_at,
 *                    decisions: [{id, decision, valid_from?, reason?,
 *                                 decided_by, decided_at}]}],
 *    approvals: [{organiser_id, service_type, status (pending|approved|rejected),
 *                 valid_from?, decided_at?, application_pending,
 *                 suspended_from?, suspension_reason?}],
 *    suspensions: [{id, organiser_id, service_type, from, reason,
 *                   suspended_by, suspended_at}],
 *    prices: [{organiser_id, service_type,
 *              history: [{valid_from, price_cents,
 *                         band_prices_cents? {evening?, saturday?, sunday?},
 *                         set_by, set_at}]  (newest valid_from first)}]}
 * Date-independent, so it stays valid in Redis until the next change.
 * Returns the document and *version (may be NULL); NULL with err "" when the
 * provider does not exist; NULL with err filled on a database error. */
json_t *view_provider(struct pgc *pg, const char *provider_id, long long *version, char *err,
                      size_t errlen);

/* The document of GET /v1/public/providers for today (YYYY-MM-DD, the
 * Helsinki date):
 *   {organiser_id, service_type, unit, date,
 *    providers: [{provider_id, name, business_id, email?, approved_from,
 *                 price: {valid_from, price_cents,
 *                         band_prices_cents? {evening, saturday, sunday}} | null}]}
 * Providers approved (latest decision) from on or before today and not
 * suspended on today, cheapest price first (no price last), then by name.
 * Band prices appear for service types with band coefficients, each band
 * resolved (a band without a price of its own shows price_cents).
 * Returns the document and *version; NULL with err "" when the organiser or
 * the service type does not exist; NULL with err filled on error. */
json_t *view_public_providers(struct pgc *pg, const char *organiser_id, const char *service_type,
                              const char *today, long long *version, char *err, size_t errlen);

/* Builds and writes psop:provider:{id}. Returns 1 written, 0 not written
 * (stale version or no such provider), -1 error (err filled). */
int view_provider_put(struct rds *rds, struct pgc *pg, const char *provider_id, char *err,
                      size_t errlen);

/* Builds and writes psop:public:{o}:{s} for today (NULL = Helsinki today),
 * with a TTL up to the next Helsinki midnight. Same returns as above. */
int view_public_put(struct rds *rds, struct pgc *pg, const char *organiser_id,
                    const char *service_type, const char *today, char *err, size_t errlen);

/* Read-model refreshers in the shape of workers/read_models.c's table: they
 * log failures and never fail the caller. pair is "{organiser_id}:{service_type}". */
void view_provider_refresh(struct rds *rds, struct pgc *pg, const char *provider_id);
void view_public_refresh(struct rds *rds, struct pgc *pg, const char *pair);

/* Rewrites every provider document and every public list (for `psopctl cache
 * rebuild`). Counts written keys in *written (may be NULL). 0 or -1. */
int view_provider_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                              size_t errlen);

#endif
