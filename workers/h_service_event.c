/*
 * h_service_event.c - service events of vouchers and orders: record,
 * update, delete, approve, credit, auto-approve (psop.commands.voucher keyed
 * by voucher_id, psop.commands.order keyed by order_id). The parent kind
 * decides who records, the price source, the volume cap and the split
 * (evaluate_order; docs/orders.md); everything else is shared.
 *
 * Order of checks in every handler: the role the envelope alone decides,
 * then the parent (locked FOR UPDATE: one voucher's quota is read under
 * its row lock), then ownership, then the event's state, then the rules of
 * se_evaluate(). Amounts come from lib/domain/event.h; the table's CHECKs
 * re-derive them, so a disagreement is a bug (permanent error, DLQ), never a
 * silently wrong euro.
 */
#include "h_service_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/decimal.h"
#include "domain/budget.h"
#include "core/ids.h"
#include "core/money.h"
#include "outbox.h"
#include "store/topics.h"
#include "views/view_events_delta.h"
#include "views/view_order.h"
#include "views/view_voucher.h"

json_t *se_qty_json(int64_t h)
{
    return json_real((double)h / 100.0);
}

enum apply_result se_require_organiser(struct apply_ctx *ctx, const char *organiser_id,
                                       const char *what)
{
    if (apply_role_in(ctx, ROLE_ORGANISER) && apply_same_id(ctx->cmd->actor.org, organiser_id))
        return APPLY_OK;
    return apply_reject(ctx, "forbidden: only organiser %s may %s", organiser_id, what);
}

enum apply_result se_require_no_events_after(struct apply_ctx *ctx, const struct se_parent *p,
                                             const char *d, const char *code)
{
    const char *noun = p->kind == SE_ORDER ? "order" : "voucher";
    const char *q[] = {p->id, d};
    PGresult *r =
        apply_query(ctx,
                    p->kind == SE_ORDER ? "SELECT count(*), max(date) FROM psop.service_events "
                                          "WHERE order_id = $1::uuid AND state <> 'deleted' "
                                          "AND ($2::date IS NULL OR date > $2::date)"
                                        : "SELECT count(*), max(date) FROM psop.service_events "
                                          "WHERE voucher_id = $1::uuid AND state <> 'deleted' "
                                          "AND ($2::date IS NULL OR date > $2::date)",
                    2, q);
    if (!r)
        return APPLY_FAILED;
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    char last[16];
    snprintf(last, sizeof(last), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    if (n > 0) {
        if (d)
            return apply_reject(ctx,
                                "%s: %lld service events of %s %s are dated after %s "
                                "(the last %s); delete them first",
                                code, n, noun, p->id, d, last);
        return apply_reject(ctx, "%s: %s %s has %lld service events", code, noun, p->id, n);
    }
    return APPLY_OK;
}

void se_touch_voucher(struct apply_ctx *ctx, const char *voucher_id)
{
    apply_touch(ctx, VIEW_VOUCHER_KIND, voucher_id);
}

void se_touch_event(struct apply_ctx *ctx, const struct se_parent *p, const char *event_id)
{
    se_touch_parent(ctx, p);
    /* The events document is patched with this event alone when the batch's
     * versions of the voucher or order form an unbroken chain
     * (workers/read_models.c). */
    char pid[UUID_STR_LEN], eid[UUID_STR_LEN], d[160]; /* PostgreSQL's spelling of the ids */
    ids_lower(pid, p->id);
    ids_lower(eid, event_id);
    snprintf(d, sizeof(d), "%s %s %lld", pid, eid, p->version);
    apply_touch(ctx, p->kind == SE_VOUCHER ? VIEW_VOUCHER_DELTA_KIND : VIEW_ORDER_DELTA_KIND, d);
}

const char *se_parent_kind_name(const struct se_parent *p)
{
    return p->kind == SE_VOUCHER ? "voucher" : "order";
}

void se_touch_parent(struct apply_ctx *ctx, const struct se_parent *p)
{
    apply_touch(ctx, p->kind == SE_VOUCHER ? VIEW_VOUCHER_KIND : VIEW_ORDER_KIND, p->id);
}

/* The events topic of the parent's family. */
static const char *parent_topic(const struct se_parent *p)
{
    return p->kind == SE_VOUCHER ? TOPIC_EVT_VOUCHER : TOPIC_EVT_ORDER;
}

/* voucher_id (null for orders), and for orders order_id and contract_id. */
static void set_parent_ids(json_t *o, const struct se_parent *p)
{
    if (p->kind == SE_VOUCHER) {
        json_object_set_new(o, "voucher_id", json_string(p->id));
        return;
    }
    json_object_set_new(o, "voucher_id", json_null());
    json_object_set_new(o, "order_id", json_string(p->id));
    json_object_set_new(o, "contract_id", json_string(p->contract_id));
}

/* Hundredths with two places for reasons: 1000 -> "10.00". */
static const char *qty_str(int64_t h, char *buf, size_t n)
{
    snprintf(buf, n, "%s%lld.%02lld", h < 0 ? "-" : "", (long long)(h < 0 ? -h : h) / 100,
             (long long)(h < 0 ? -h : h) % 100);
    return buf;
}

static const char *eur(int64_t cents, char *buf, size_t n)
{
    if (money_format(cents, '.', buf, n) < 0)
        snprintf(buf, n, "%lld cents", (long long)cents);
    return buf;
}

static const char *day_str(day_t d, char buf[11])
{
    date_format(d, buf);
    return buf;
}

static const char *col(const PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---------------------------------------------------------------------- */
/* Parents                                                                 */
/* ---------------------------------------------------------------------- */

/* Columns 0-14 of both lock statements: id, organiser, client, service
 * type, provider, status, validity, end, quota, version, client share
 * allowed, band coefficients. */
static void fill_parent(const PGresult *r, int row, struct se_parent *p)
{
    copy(p->id, sizeof(p->id), col(r, row, 0));
    copy(p->organiser_id, sizeof(p->organiser_id), col(r, row, 1));
    copy(p->client_id, sizeof(p->client_id), col(r, row, 2));
    copy(p->service_type, sizeof(p->service_type), col(r, row, 3));
    copy(p->provider_id, sizeof(p->provider_id), col(r, row, 4));
    copy(p->status, sizeof(p->status), col(r, row, 5));
    date_parse(col(r, row, 6), &p->valid_from);
    p->has_valid_to = col(r, row, 7) && date_parse(col(r, row, 7), &p->valid_to) == 0;
    p->has_end = col(r, row, 8) && date_parse(col(r, row, 8), &p->end) == 0;
    p->has_quota = col(r, row, 9) != NULL;
    p->quota_h = p->has_quota ? apply_col_ll(r, row, 9) : 0;
    p->version = apply_col_ll(r, row, 10);
    p->client_share_allowed = strcmp(PQgetvalue(r, row, 11), "t") == 0;
    p->banded = col(r, row, 12) != NULL;
    if (p->banded) {
        p->coef.evening = apply_col_ll(r, row, 12);
        p->coef.saturday = apply_col_ll(r, row, 13);
        p->coef.sunday = apply_col_ll(r, row, 14);
    }
}

void se_voucher_from_row(const PGresult *r, int row, struct se_parent *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = SE_VOUCHER;
    fill_parent(r, row, p);
    p->budget = col(r, row, 15) != NULL;
    p->budget_cents = p->budget ? apply_col_ll(r, row, 15) : 0;
    p->budget_used_cents = p->budget ? apply_col_ll(r, row, 16) : 0;
}

enum apply_result se_voucher_lock(struct apply_ctx *ctx, const char *id, struct se_parent *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = SE_VOUCHER;
    const char *q[] = {id};
    PGresult *r = apply_query(ctx, SE_VOUCHER_SELECT "WHERE v.id = $1::uuid FOR UPDATE OF v", 1, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return apply_reject(ctx, "not_found: voucher %s does not exist", id);
    }
    se_voucher_from_row(r, 0, p);
    PQclear(r);
    return APPLY_OK;
}

enum apply_result se_order_lock(struct apply_ctx *ctx, const char *id, struct se_parent *p)
{
    memset(p, 0, sizeof(*p));
    p->kind = SE_ORDER;
    const char *q[] = {id};
    PGresult *r = apply_query(
        ctx,
        "SELECT o.id, o.organiser_id, o.client_id, c.service_type, c.provider_id, o.status, "
        "o.valid_from, o.valid_to, o.end_date, o.monthly_quota, o.version, "
        "st.client_share_allowed, st.coef_evening, st.coef_saturday, st.coef_sunday, "
        "o.contract_id, o.client_fee_cents, c.valid_from, c.valid_to, c.monthly_volume_cap "
        "FROM psop.orders o JOIN psop.contracts c ON c.id = o.contract_id "
        "JOIN psop.service_types st ON st.code = c.service_type "
        "WHERE o.id = $1::uuid FOR UPDATE OF o FOR NO KEY UPDATE OF c",
        1, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return apply_reject(ctx, "not_found: order %s does not exist", id);
    }
    fill_parent(r, 0, p);
    copy(p->contract_id, sizeof(p->contract_id), col(r, 0, 15));
    p->client_fee_cents = apply_col_ll(r, 0, 16);
    date_parse(col(r, 0, 17), &p->contract_from);
    p->has_contract_to = col(r, 0, 18) && date_parse(col(r, 0, 18), &p->contract_to) == 0;
    p->has_cap = col(r, 0, 19) != NULL;
    p->cap_h = p->has_cap ? apply_col_ll(r, 0, 19) : 0;
    PQclear(r);
    return APPLY_OK;
}

enum apply_result se_parent_bump(struct apply_ctx *ctx, struct se_parent *p)
{
    const char *q[] = {p->id};
    PGresult *r = apply_query(ctx,
                              p->kind == SE_VOUCHER
                                  ? "UPDATE psop.vouchers SET version = version + 1, "
                                    "updated_at = now() WHERE id = $1::uuid RETURNING version"
                                  : "UPDATE psop.orders SET version = version + 1, "
                                    "updated_at = now() WHERE id = $1::uuid RETURNING version",
                              1, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) == 1)
        p->version = apply_col_ll(r, 0, 0);
    PQclear(r);
    return APPLY_OK;
}

enum apply_result se_budget_move(struct apply_ctx *ctx, struct se_parent *p, int64_t delta_cents)
{
    if (!p->budget || delta_cents == 0)
        return APPLY_OK;
    char d[24];
    const char *q[] = {p->id, apply_num(d, sizeof(d), delta_cents)};
    /* One statement: the pot moves only when it stays within 0..budget
     * (the CHECK vouchers_budget_within backs it). */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.vouchers SET budget_used_cents = budget_used_cents + "
                              "$2::bigint WHERE id = $1::uuid AND budget_used_cents + $2::bigint "
                              "BETWEEN 0 AND budget_cents RETURNING budget_used_cents",
                              2, q);
    if (!r)
        return APPLY_FAILED;
    int n = PQntuples(r);
    if (n == 1)
        p->budget_used_cents = apply_col_ll(r, 0, 0);
    PQclear(r);
    if (n != 1)
        return apply_reject(ctx, "budget_exhausted: voucher %s cannot move its pot by %lld cents",
                            p->id, (long long)delta_cents);
    return APPLY_OK;
}

int se_active_on(const struct se_parent *p, day_t d, char *why, size_t n)
{
    char a[11], b[11];
    const char *what = p->kind == SE_VOUCHER ? "voucher" : "order";
    if (strcmp(p->status, "refused") == 0) {
        snprintf(why, n, "%s %s was refused", what, p->id);
        return -1;
    }
    if (d < p->valid_from) {
        snprintf(why, n, "%s %s is valid from %s, the event is dated %s", what, p->id,
                 day_str(p->valid_from, a), day_str(d, b));
        return -1;
    }
    if (p->has_valid_to && d > p->valid_to) {
        snprintf(why, n, "%s %s was valid to %s, the event is dated %s", what, p->id,
                 day_str(p->valid_to, a), day_str(d, b));
        return -1;
    }
    if (p->has_end && d > p->end) {
        snprintf(why, n, "%s %s is %s from %s on, the event is dated %s", what, p->id,
                 p->kind == SE_VOUCHER ? "revoked" : "ended", day_str(p->end, a), day_str(d, b));
        return -1;
    }
    return 0;
}

void se_provider_facts_from(const PGresult *r, int row, int first, struct se_provider_facts *f)
{
    f->exists = strcmp(PQgetvalue(r, row, first), "t") == 0;
    copy(f->decision, sizeof(f->decision), col(r, row, first + 1));
    copy(f->from, sizeof(f->from), col(r, row, first + 2));
    copy(f->susp, sizeof(f->susp), col(r, row, first + 3));
}

enum apply_result se_provider_verdict(struct apply_ctx *ctx, const char *provider_id,
                                      const char *organiser_id, const char *service_type, day_t d,
                                      const struct se_provider_facts *f)
{
    char ds[11];
    day_str(d, ds);
    if (!f->exists)
        return apply_reject(ctx, "not_found: provider %s is not registered", provider_id);
    if (strcmp(f->decision, "approved") != 0)
        return apply_reject(ctx,
                            "provider_not_approved: provider %s is not approved for %s at "
                            "organiser %s%s%s",
                            provider_id, service_type, organiser_id,
                            f->decision[0] ? " (latest decision: " : "",
                            f->decision[0] ? "rejected)" : "");
    day_t vf;
    if (date_parse(f->from, &vf) == 0 && vf > d)
        return apply_reject(ctx,
                            "provider_not_approved: provider %s is approved for %s from %s, "
                            "not on %s",
                            provider_id, service_type, f->from, ds);
    if (f->susp[0])
        return apply_reject(ctx, "provider_suspended: provider %s is suspended for %s from %s",
                            provider_id, service_type, f->susp);
    return APPLY_OK;
}

enum apply_result se_provider_in_force(struct apply_ctx *ctx, const char *provider_id,
                                       const char *organiser_id, const char *service_type, day_t d)
{
    char ds[11];
    day_str(d, ds);
    const char *q[] = {provider_id, organiser_id, service_type, ds};
    /* The latest decision rules (docs/data-model.md); a suspension counts
     * only when made after it. record_set.c asks the same for a set. */
    PGresult *r = apply_query(
        ctx,
        "SELECT EXISTS (SELECT 1 FROM psop.providers WHERE id = $1::uuid), d.decision, "
        "d.valid_from, (SELECT min(s.from_date) FROM psop.provider_suspensions s "
        "  WHERE s.provider_id = $1::uuid AND s.organiser_id = $2::uuid AND s.service_type = $3 "
        "    AND s.suspended_at > d.decided_at AND s.from_date <= $4::date) "
        "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT decision, valid_from, decided_at "
        "  FROM psop.provider_decisions WHERE provider_id = $1::uuid AND organiser_id = $2::uuid "
        "   AND service_type = $3 ORDER BY decided_at DESC, id DESC LIMIT 1) d ON true",
        4, q);
    if (!r)
        return APPLY_FAILED;
    struct se_provider_facts f;
    se_provider_facts_from(r, 0, 0, &f);
    PQclear(r);
    return se_provider_verdict(ctx, provider_id, organiser_id, service_type, d, &f);
}

/* ---------------------------------------------------------------------- */
/* The rules                                                               */
/* ---------------------------------------------------------------------- */

static const char *weekday_name(int iso)
{
    static const char *const n[] = {"?",        "Monday", "Tuesday",  "Wednesday",
                                    "Thursday", "Friday", "Saturday", "Sunday"};
    return iso >= 1 && iso <= 7 ? n[iso] : "?";
}

/* Facts of the date for a voucher event, in one round trip: the voucher's
 * value in force, holiday or not, the month's used quantity (without the
 * edited event) and the provider's list price row in force. The month's
 * used quantity is sum(quantity - credited_quantity) of its events not
 * deleted: psop.voucher_usage.used keeps exactly that by triggers in this
 * transaction (schemas/sql/0013), under the voucher lock every event and
 * credit write takes first, so it is read in O(1), not summed over the
 * month's events; the edited event's share is taken out when it is in
 * that month. */
static const char VOUCHER_FACTS_SQL[] =
    "SELECT (SELECT unit_value_cents FROM psop.voucher_values "
    "         WHERE voucher_id = $1::uuid AND effective @> $2::date), "
    " EXISTS (SELECT 1 FROM psop.holidays WHERE date = $2::date), "
    " coalesce((SELECT used FROM psop.voucher_usage "
    "   WHERE voucher_id = $1::uuid AND month = to_char($2::date, 'YYYY-MM')), 0)"
    " - coalesce((SELECT quantity - credited_quantity FROM psop.service_events "
    "   WHERE id = $6::uuid AND voucher_id = $1::uuid AND state <> 'deleted' "
    "     AND to_char(date, 'YYYY-MM') = to_char($2::date, 'YYYY-MM')), 0), "
    " pp.price_cents, pp.price_evening_cents, pp.price_saturday_cents, pp.price_sunday_cents "
    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM psop.provider_prices "
    "  WHERE provider_id = $3::uuid AND organiser_id = $4::uuid AND service_type = $5 "
    "    AND valid_from <= $2::date ORDER BY valid_from DESC LIMIT 1) pp ON true";

/* A price row from column first on: the base price (false when the row has
 * none: no price in force) and the evening, saturday and sunday prices. */
static bool price_row(const PGresult *r, int row, int first, int64_t *base, struct band_prices *bp)
{
    memset(bp, 0, sizeof(*bp));
    for (int b = BAND_EVENING; b <= BAND_SUNDAY; b++)
        if (col(r, row, first + b)) {
            bp->has[b] = true;
            bp->cents[b] = apply_col_ll(r, row, first + b);
        }
    bool has = col(r, row, first) != NULL;
    *base = has ? apply_col_ll(r, row, first) : 0;
    return has;
}

void se_voucher_facts_from(const PGresult *r, int row, int first, struct se_voucher_facts *f)
{
    f->has_value = col(r, row, first) != NULL;
    f->value = f->has_value ? apply_col_ll(r, row, first) : 0;
    f->holiday = strcmp(PQgetvalue(r, row, first + 1), "t") == 0;
    f->used = apply_col_ll(r, row, first + 2);
    f->has_list = price_row(r, row, first + 3, &f->base, &f->bp);
}

/* The event's band on its date (band_check), or the rejection that says why
 * the band given does not fit the service type or the day. */
static enum apply_result check_band(struct apply_ctx *ctx, const struct se_parent *p,
                                    const struct se_input *in, bool holiday, const char *ds,
                                    enum band *band)
{
    char e[64];
    int wd = date_iso_weekday(in->date);
    if (band_check(p->banded, in->band_given, in->band, wd, holiday, band, e, sizeof(e)) == 0)
        return APPLY_OK;
    if (strcmp(e, "band_not_applicable") == 0)
        return apply_reject(ctx, "%s: service type %s has no band coefficients", e,
                            p->service_type);
    return apply_reject(ctx, "%s: %s band on %s (%s%s)", e,
                        band_name(in->band_given ? in->band : BAND_WEEKDAY), ds, weekday_name(wd),
                        holiday ? ", a holiday" : "");
}

/* Facts of the date for an order event, in one round trip: holiday or not,
 * the order's and the contract's month usage (without the edited event) and
 * the contract's price row in force. The usages are kept by delta in
 * psop.order_usage and psop.contract_usage (schemas/sql/0014) by triggers in
 * this transaction, under the order and contract locks every event write
 * takes first: read in O(1), not summed over the month's events; the edited
 * event's share is taken out when it counts in that month. */
static const char ORDER_FACTS_SQL[] =
    "WITH m AS (SELECT to_char($2::date, 'YYYY-MM') AS m), "
    " ed AS (SELECT order_id, contract_id, quantity - credited_quantity AS q "
    "   FROM psop.service_events WHERE id = $4::uuid "
    "     AND state <> 'deleted' AND to_char(date, 'YYYY-MM') = (SELECT m FROM m)) "
    "SELECT EXISTS (SELECT 1 FROM psop.holidays WHERE date = $2::date), "
    " coalesce((SELECT used FROM psop.order_usage "
    "   WHERE order_id = $1::uuid AND month = (SELECT m FROM m)), 0) "
    " - coalesce((SELECT q FROM ed WHERE order_id = $1::uuid), 0), "
    " coalesce((SELECT used FROM psop.contract_usage "
    "   WHERE contract_id = $3::uuid AND month = (SELECT m FROM m)), 0) "
    " - coalesce((SELECT q FROM ed WHERE contract_id = $3::uuid), 0), "
    " cp.price_cents, cp.price_evening_cents, cp.price_saturday_cents, cp.price_sunday_cents "
    "FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM psop.contract_prices "
    "  WHERE contract_id = $3::uuid AND valid_from <= $2::date "
    "  ORDER BY valid_from DESC LIMIT 1) cp ON true";

/* The order variant of se_evaluate, after the date and the order's own
 * validity: the contract in force on the date, band, the contract price for
 * the band (never another), the order's quota, the contract's volume cap,
 * and the client-fee-first split. */
static enum apply_result evaluate_order(struct apply_ctx *ctx, const struct se_parent *p,
                                        const struct se_input *in, struct se_result *out)
{
    char e[64], ds[11], a1[11], b1[32], b2[32], b3[32];
    day_str(in->date, ds);
    if (in->date < p->contract_from)
        return apply_reject(ctx,
                            "contract_not_in_force: contract %s is valid from %s, the event "
                            "is dated %s",
                            p->contract_id, day_str(p->contract_from, a1), ds);
    if (p->has_contract_to && in->date > p->contract_to)
        return apply_reject(ctx,
                            "contract_not_in_force: contract %s was valid to %s, the event "
                            "is dated %s",
                            p->contract_id, day_str(p->contract_to, a1), ds);
    const char *q[] = {p->id, ds, p->contract_id, in->exclude_event_id};
    PGresult *r = apply_query(ctx, ORDER_FACTS_SQL, 4, q);
    if (!r)
        return APPLY_FAILED;
    bool holiday = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    int64_t used = apply_col_ll(r, 0, 1);
    int64_t cused = apply_col_ll(r, 0, 2);
    struct band_prices bp;
    int64_t base;
    bool has_price = price_row(r, 0, 3, &base, &bp);
    PQclear(r);

    enum apply_result br = check_band(ctx, p, in, holiday, ds, &out->band);
    if (br != APPLY_OK)
        return br;
    out->has_band = p->banded;
    out->coef_h = 100; /* orders have no voucher value to scale */
    int64_t list = band_price(base, &bp, out->band);
    int64_t price;
    if (event_price_order(has_price, list, in->price_given, in->price_cents, &price, e, sizeof(e)) <
        0) {
        if (strcmp(e, "no_price_in_force") == 0)
            return apply_reject(ctx, "%s: contract %s has no price on %s", e, p->contract_id, ds);
        return apply_reject(ctx, "%s: %s given, the contract price for %s on %s is %s", e,
                            eur(in->price_cents, b1, sizeof(b1)),
                            p->banded ? band_name(out->band) : "the service", ds,
                            eur(list, b2, sizeof(b2)));
    }
    if (event_quota_check(p->has_quota, p->quota_h, used, in->qty_h, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: order %s has %s used of %s this month, %s more asked", e,
                            p->id, qty_str(used, b1, sizeof(b1)),
                            qty_str(p->quota_h, b2, sizeof(b2)),
                            qty_str(in->qty_h, b3, sizeof(b3)));
    if (event_volume_cap_check(p->has_cap, p->cap_h, cused, in->qty_h, e, sizeof(e)) < 0)
        return apply_reject(ctx,
                            "%s: contract %s has %s used of its monthly volume cap %s over all "
                            "orders, %s more asked",
                            e, p->contract_id, qty_str(cused, b1, sizeof(b1)),
                            qty_str(p->cap_h, b2, sizeof(b2)), qty_str(in->qty_h, b3, sizeof(b3)));
    if (event_amounts_order(price, p->client_fee_cents, in->qty_h, &out->a, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s x %s", e, eur(price, b1, sizeof(b1)),
                            qty_str(in->qty_h, b2, sizeof(b2)));
    out->used_h = used;
    out->contract_used_h = cused;
    return APPLY_OK;
}

/* The budget variant of se_evaluate, after the band: the price (list or a
 * lower agreed one; no value per unit to stay under) and the charge to the
 * pot (lib/domain/budget.h). An edit's old draw is back in the pot first. */
static enum apply_result evaluate_budget(struct apply_ctx *ctx, const struct se_parent *p,
                                         const struct se_input *in, bool has_list, int64_t base,
                                         const struct band_prices *bp, const char *ds,
                                         struct se_result *out)
{
    char e[64], b1[32], b2[32], b3[32];
    int64_t list = band_price(base, bp, out->band);
    int64_t price;
    if (event_price_voucher(has_list, list, in->price_given, in->price_cents, true, 0, &price, e,
                            sizeof(e)) < 0) {
        if (strcmp(e, "no_price_in_force") == 0)
            return apply_reject(ctx, "%s: provider %s has no price for %s on %s", e, p->provider_id,
                                p->service_type, ds);
        if (strcmp(e, "price_above_list") == 0)
            return apply_reject(ctx, "%s: %s asked, the list price for %s on %s is %s", e,
                                eur(in->price_cents, b1, sizeof(b1)), band_name(out->band), ds,
                                eur(list, b2, sizeof(b2)));
        return apply_reject(ctx, "%s", e);
    }
    int64_t remaining =
        budget_remaining(p->budget_cents, p->budget_used_cents - in->returned_draw_cents);
    if (budget_event_amounts(price, in->qty_h, remaining, p->client_share_allowed, &out->a, e,
                             sizeof(e)) < 0) {
        if (strcmp(e, "budget_exhausted") == 0)
            return apply_reject(ctx, "%s: voucher %s has nothing left of its budget %s", e, p->id,
                                eur(p->budget_cents, b1, sizeof(b1)));
        if (strcmp(e, "budget_insufficient") == 0)
            return apply_reject(ctx,
                                "%s: the event costs %s, voucher %s has %s left and %s allows no "
                                "client share",
                                e, eur(out->a.gross_cents, b1, sizeof(b1)), p->id,
                                eur(remaining, b2, sizeof(b2)), p->service_type);
        return apply_reject(ctx, "%s: %s x %s", e, eur(price, b1, sizeof(b1)),
                            qty_str(in->qty_h, b3, sizeof(b3)));
    }
    out->budget = true;
    out->remaining_before_cents = remaining;
    return APPLY_OK;
}

enum apply_result se_precheck(struct apply_ctx *ctx, const struct se_parent *p,
                              const struct se_input *in)
{
    char e[64], ds[11], td[11], b1[32];
    if (event_quantity_check(in->qty_h, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s", e, qty_str(in->qty_h, b1, sizeof(b1)));
    day_str(in->date, ds);
    day_t today = date_today_helsinki();
    if (in->date > today)
        return apply_reject(ctx, "date_in_future: %s is after today (%s, Europe/Helsinki)", ds,
                            day_str(today, td));
    char why[256];
    if (se_active_on(p, in->date, why, sizeof(why)) < 0)
        return apply_reject(ctx, "%s_not_active: %s", p->kind == SE_VOUCHER ? "voucher" : "order",
                            why);
    return APPLY_OK;
}

enum apply_result se_evaluate(struct apply_ctx *ctx, const struct se_parent *p,
                              const struct se_input *in, struct se_result *out)
{
    char ds[11];
    memset(out, 0, sizeof(*out));
    enum apply_result ar = se_precheck(ctx, p, in);
    if (ar != APPLY_OK)
        return ar;
    if (p->kind == SE_ORDER)
        return evaluate_order(ctx, p, in, out);
    ar = se_provider_in_force(ctx, p->provider_id, p->organiser_id, p->service_type, in->date);
    if (ar != APPLY_OK)
        return ar;

    day_str(in->date, ds);
    const char *q[] = {
        p->id, ds, p->provider_id, p->organiser_id, p->service_type, in->exclude_event_id};
    PGresult *r = apply_query(ctx, VOUCHER_FACTS_SQL, 6, q);
    if (!r)
        return APPLY_FAILED;
    struct se_voucher_facts f;
    se_voucher_facts_from(r, 0, 0, &f);
    PQclear(r);
    return se_evaluate_voucher(ctx, p, in, &f, out);
}

enum apply_result se_evaluate_voucher(struct apply_ctx *ctx, const struct se_parent *p,
                                      const struct se_input *in, const struct se_voucher_facts *f,
                                      struct se_result *out)
{
    char e[64], ds[11], b1[32], b2[32], b3[32];
    day_str(in->date, ds);
    enum apply_result br = check_band(ctx, p, in, f->holiday, ds, &out->band);
    if (br != APPLY_OK)
        return br;
    out->has_band = p->banded;
    out->coef_h = p->banded ? band_coefficient(&p->coef, out->band) : 100;
    if (p->budget)
        return evaluate_budget(ctx, p, in, f->has_list, f->base, &f->bp, ds, out);
    if (!f->has_value)
        return apply_reject(ctx, "voucher_not_active: voucher %s has no value in force on %s",
                            p->id, ds);
    out->voucher_value_cents = f->value;
    int64_t value_unit;
    if (event_value_unit(f->value, out->coef_h, &value_unit, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: voucher value %s x %s", e, eur(f->value, b1, sizeof(b1)),
                            qty_str(out->coef_h, b2, sizeof(b2)));
    int64_t list = band_price(f->base, &f->bp, out->band);
    int64_t price;
    if (event_price_voucher(f->has_list, list, in->price_given, in->price_cents,
                            p->client_share_allowed, value_unit, &price, e, sizeof(e)) < 0) {
        if (strcmp(e, "no_price_in_force") == 0)
            return apply_reject(ctx, "%s: provider %s has no price for %s on %s", e, p->provider_id,
                                p->service_type, ds);
        if (strcmp(e, "price_above_list") == 0)
            return apply_reject(ctx, "%s: %s asked, the list price for %s on %s is %s", e,
                                eur(in->price_cents, b1, sizeof(b1)), band_name(out->band), ds,
                                eur(list, b2, sizeof(b2)));
        if (strcmp(e, "price_exceeds_voucher_value") == 0)
            return apply_reject(ctx,
                                "%s: unit price %s is above the voucher's %s per unit and %s "
                                "allows no client share",
                                e, eur(in->price_given ? in->price_cents : list, b1, sizeof(b1)),
                                eur(value_unit, b2, sizeof(b2)), p->service_type);
        return apply_reject(ctx, "%s", e);
    }
    if (event_quota_check(p->has_quota, p->quota_h, f->used, in->qty_h, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s used of %s, %s more asked", e,
                            qty_str(f->used, b1, sizeof(b1)), qty_str(p->quota_h, b2, sizeof(b2)),
                            qty_str(in->qty_h, b3, sizeof(b3)));
    if (event_amounts_voucher(value_unit, price, in->qty_h, &out->a, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s x %s", e, eur(price, b1, sizeof(b1)),
                            qty_str(in->qty_h, b2, sizeof(b2)));
    return APPLY_OK;
}

/* ---------------------------------------------------------------------- */
/* Events                                                                  */
/* ---------------------------------------------------------------------- */

/* The parent of a service_event.* command: its voucher_id or its order_id
 * (the schema lets exactly one through). */
static enum apply_result parent_of(struct apply_ctx *ctx, struct se_parent *p)
{
    const char *vid = envelope_str(ctx->cmd, "voucher_id");
    if (vid)
        return se_voucher_lock(ctx, vid, p);
    const char *oid = envelope_str(ctx->cmd, "order_id");
    if (oid)
        return se_order_lock(ctx, oid, p);
    return apply_reject(ctx, "invalid_command: names neither voucher_id nor order_id");
}

/* A stored event, locked. */
struct se_row {
    char id[40];
    char provider_id[40];
    char state[16];
    day_t date;
    int64_t qty_h;
    bool has_band;
    enum band band;
    int64_t price_cents;
    int64_t value_unit_cents;
    int64_t client_fee_cents;
    int64_t credited_h;
    char note[2100];
    bool has_note;
    long long version;
    int64_t part_cents; /* organiser part (a budget event's draw on the pot) */
    bool budget;        /* charged to a budget voucher's pot */
};

/* Loads event_id of parent p FOR UPDATE; not_found when it is not p's. */
static enum apply_result event_lock(struct apply_ctx *ctx, const struct se_parent *p,
                                    const char *event_id, struct se_row *ev)
{
    memset(ev, 0, sizeof(*ev));
    const char *q[] = {event_id, p->id};
    PGresult *r = apply_query(
        ctx,
        p->kind == SE_VOUCHER
            ? "SELECT id, provider_id, state, date, quantity, band, unit_price_cents, "
              "value_unit_cents, credited_quantity, note, version, client_fee_cents, "
              "organiser_part_cents, budget_remaining_before_cents "
              "FROM psop.service_events WHERE id = $1::uuid AND voucher_id = $2::uuid FOR UPDATE"
            : "SELECT id, provider_id, state, date, quantity, band, unit_price_cents, "
              "value_unit_cents, credited_quantity, note, version, client_fee_cents, "
              "organiser_part_cents, budget_remaining_before_cents "
              "FROM psop.service_events WHERE id = $1::uuid AND order_id = $2::uuid FOR UPDATE",
        2, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return apply_reject(ctx, "not_found: service event %s of %s %s does not exist", event_id,
                            se_parent_kind_name(p), p->id);
    }
    copy(ev->id, sizeof(ev->id), col(r, 0, 0));
    copy(ev->provider_id, sizeof(ev->provider_id), col(r, 0, 1));
    copy(ev->state, sizeof(ev->state), col(r, 0, 2));
    date_parse(col(r, 0, 3), &ev->date);
    ev->qty_h = apply_col_ll(r, 0, 4);
    ev->has_band = col(r, 0, 5) && band_parse(col(r, 0, 5), &ev->band) == 0;
    ev->price_cents = apply_col_ll(r, 0, 6);
    ev->value_unit_cents = col(r, 0, 7) ? apply_col_ll(r, 0, 7) : 0;
    ev->credited_h = apply_col_ll(r, 0, 8);
    ev->has_note = col(r, 0, 9) != NULL;
    copy(ev->note, sizeof(ev->note), col(r, 0, 9));
    ev->version = apply_col_ll(r, 0, 10);
    ev->client_fee_cents = col(r, 0, 11) ? apply_col_ll(r, 0, 11) : 0;
    ev->part_cents = apply_col_ll(r, 0, 12);
    ev->budget = col(r, 0, 13) != NULL;
    PQclear(r);
    return APPLY_OK;
}

/* State transition check with the stable codes of domain/event.h. */
static enum apply_result transition(struct apply_ctx *ctx, const struct se_row *ev,
                                    enum event_action act, enum event_state *next)
{
    enum event_state from;
    char e[64];
    if (event_state_parse(ev->state, &from) < 0)
        return apply_reject(ctx, "invalid_state: service event %s is %s", ev->id, ev->state);
    if (event_transition(from, act, next, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: service event %s is %s", e, ev->id, ev->state);
    return APPLY_OK;
}

/* The provider who recorded the event (or an admin). */
static enum apply_result require_recorder(struct apply_ctx *ctx, const struct se_row *ev,
                                          const char *what)
{
    if (apply_role_in(ctx, ROLE_ADMIN))
        return APPLY_OK;
    if (apply_role_in(ctx, ROLE_PROVIDER) &&
        apply_same_id(ctx->cmd->actor.provider, ev->provider_id))
        return APPLY_OK;
    return apply_reject(ctx,
                        "forbidden: service event %s was recorded by another provider; "
                        "only its provider may %s it",
                        ev->id, what);
}

/* The voucher's organiser (token org claim), or an admin when admin_ok. */
static enum apply_result require_parent_organiser(struct apply_ctx *ctx, const struct se_parent *p,
                                                  bool admin_ok, const char *what)
{
    if (admin_ok && apply_role_in(ctx, ROLE_ADMIN))
        return APPLY_OK;
    if (apply_role_in(ctx, ROLE_ORGANISER) && apply_same_id(ctx->cmd->actor.org, p->organiser_id))
        return APPLY_OK;
    return apply_reject(ctx, "forbidden: only the organiser of %s %s%s may %s",
                        se_parent_kind_name(p), p->id, admin_ok ? " (or an admin)" : "", what);
}

/* Reads quantity (hundredths), date, band and price from the command. */
enum apply_result se_read_input(struct apply_ctx *ctx, struct se_input *in)
{
    const struct envelope *c = ctx->cmd;
    const char *d = envelope_str(c, "date");
    if (d && date_parse(d, &in->date) < 0)
        return apply_reject(ctx, "invalid_date: %s", d);
    json_t *q = json_object_get(c->data, "quantity");
    if (q && decimal_from_json(q, &in->qty_h) < 0)
        return apply_reject(ctx, "invalid_quantity: more than two decimals or not a number");
    const char *b = envelope_str(c, "band");
    if (b) {
        if (band_parse(b, &in->band) < 0)
            return apply_reject(ctx, "invalid_band: %s", b);
        in->band_given = true;
    }
    long long price;
    if (envelope_int(c, "unit_price_cents", &price) == 0) {
        in->price_given = true;
        in->price_cents = price;
    }
    return APPLY_OK;
}

/* The event as integrations see it (service_event.recorded|updated). */
json_t *se_event_json(const char *id, const struct se_parent *p, const char *provider_id,
                      const struct se_input *in, const struct se_result *res, const char *note,
                      const char *state, long long version)
{
    char ds[11];
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:s, s:I}", "id", id, "provider_id",
        provider_id, "organiser_id", p->organiser_id, "service_type", p->service_type, "date",
        day_str(in->date, ds), "quantity", se_qty_json(in->qty_h), "unit_price_cents",
        (json_int_t)res->a.unit_price_cents, "gross_cents", (json_int_t)res->a.gross_cents,
        "organiser_part_cents", (json_int_t)res->a.organiser_part_cents, "client_share_cents",
        (json_int_t)res->a.client_share_cents, "state", state, "version", (json_int_t)version);
    set_parent_ids(o, p);
    if (res->budget) {
        json_object_set_new(o, "budget_remaining_before_cents",
                            json_integer(res->remaining_before_cents));
        json_object_set_new(o, "budget_remaining_cents",
                            json_integer(budget_remaining(p->budget_cents, p->budget_used_cents)));
    } else if (p->kind == SE_VOUCHER) {
        json_object_set_new(o, "voucher_value_cents", json_integer(res->voucher_value_cents));
        json_object_set_new(o, "value_unit_cents", json_integer(res->a.value_unit_cents));
    } else {
        json_object_set_new(o, "client_fee_cents", json_integer(p->client_fee_cents));
    }
    if (res->has_band) {
        json_object_set_new(o, "band", json_string(band_name(res->band)));
        if (p->kind == SE_VOUCHER)
            json_object_set_new(o, "band_coefficient", se_qty_json(res->coef_h));
    }
    if (note)
        json_object_set_new(o, "note", json_string(note));
    return o;
}

/* An evaluated event's date, quantity and amounts as statement parameters,
 * in the column order of both the INSERT and the UPDATE: date, quantity,
 * band, unit_price_cents, voucher_value_cents, band_coefficient,
 * value_unit_cents, gross_cents, organiser_part_cents, client_share_cents.
 * Value columns only where a value per unit applies (not an order, not a
 * pot); the band coefficient only for a voucher's banded event. */
struct amount_text {
    char ds[11], qb[24], pr[24], vv[24], cf[24], vu[24], gr[24], op[24], cs[24];
    const char *v[10];
};

static void amount_text(struct amount_text *t, const struct se_input *in,
                        const struct se_result *res, bool order)
{
    bool unit = !order && !res->budget;
    t->v[0] = day_str(in->date, t->ds);
    t->v[1] = apply_num(t->qb, sizeof(t->qb), in->qty_h);
    t->v[2] = res->has_band ? band_name(res->band) : NULL;
    t->v[3] = apply_num(t->pr, sizeof(t->pr), res->a.unit_price_cents);
    t->v[4] = unit ? apply_num(t->vv, sizeof(t->vv), res->voucher_value_cents) : NULL;
    t->v[5] = res->has_band && !order ? apply_num(t->cf, sizeof(t->cf), res->coef_h) : NULL;
    t->v[6] = unit ? apply_num(t->vu, sizeof(t->vu), res->a.value_unit_cents) : NULL;
    t->v[7] = apply_num(t->gr, sizeof(t->gr), res->a.gross_cents);
    t->v[8] = apply_num(t->op, sizeof(t->op), res->a.organiser_part_cents);
    t->v[9] = apply_num(t->cs, sizeof(t->cs), res->a.client_share_cents);
}

/* out = head, the 10 amount parameters of t, tail (nh + 10 + nt entries). */
static void amount_params(const char **out, const char *const *head, size_t nh,
                          const struct amount_text *t, const char *const *tail, size_t nt)
{
    memcpy(out, head, nh * sizeof(*out));
    memcpy(out + nh, t->v, sizeof(t->v));
    memcpy(out + nh + 10, tail, nt * sizeof(*out));
}

enum apply_result se_record_may(struct apply_ctx *ctx, const struct se_parent *p)
{
    if (!p->provider_id[0])
        return apply_reject(ctx, "forbidden: voucher %s has no chosen provider", p->id);
    if (apply_role_in(ctx, ROLE_PROVIDER) &&
        !apply_same_id(ctx->cmd->actor.provider, p->provider_id)) {
        if (p->kind == SE_ORDER)
            return apply_reject(ctx,
                                "forbidden: order %s is under contract %s with another provider",
                                p->id, p->contract_id);
        return apply_reject(ctx, "forbidden: voucher %s has chosen another provider", p->id);
    }
    return APPLY_OK;
}

enum apply_result se_record(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *id = envelope_str(c, "id");
    if (!id)
        id = c->id; /* no id from the front: the command's, so a replay finds the same one */
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    if (!apply_role_in(ctx, ROLE_PROVIDER | ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: service events are recorded by providers");
    struct se_parent p;
    enum apply_result ar = parent_of(ctx, &p);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = se_record_may(ctx, &p)) != APPLY_OK)
        return ar;

    const char *qid[] = {id};
    PGresult *r = apply_query(ctx, "SELECT 1 FROM psop.service_events WHERE id = $1::uuid", 1, qid);
    if (!r)
        return APPLY_FAILED;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        return apply_reject(ctx, "already_exists: service event %s exists", id);

    struct se_input in = {0};
    if ((ar = se_read_input(ctx, &in)) != APPLY_OK)
        return ar;
    struct se_result res;
    if ((ar = se_evaluate(ctx, &p, &in, &res)) != APPLY_OK)
        return ar;

    char fe[24], rb[24];
    const char *note = envelope_str(c, "note");
    bool order = p.kind == SE_ORDER;
    struct amount_text t;
    amount_text(&t, &in, &res, order);
    const char *head[] = {id, order ? NULL : p.id, p.provider_id, p.organiser_id, p.service_type};
    const char *tail[] = {note,
                          c->actor.sub,
                          order ? p.id : NULL,
                          order ? p.contract_id : NULL,
                          order ? apply_num(fe, sizeof(fe), p.client_fee_cents) : NULL,
                          res.budget ? apply_num(rb, sizeof(rb), res.remaining_before_cents)
                                     : NULL};
    const char *ins[21];
    amount_params(ins, head, 5, &t, tail, 6);
    r = apply_query(ctx,
                    "INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, "
                    "service_type, date, quantity, band, unit_price_cents, voucher_value_cents, "
                    "band_coefficient, value_unit_cents, gross_cents, organiser_part_cents, "
                    "client_share_cents, note, recorded_by, order_id, contract_id, "
                    "client_fee_cents, budget_remaining_before_cents, recorded_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
                    "$16, $17, $18, $19, $20, $21, clock_timestamp(), clock_timestamp()) "
                    "RETURNING version",
                    21, ins);
    if (!r) {
        /* The same id recorded meanwhile under another voucher (another
         * partition) is the command's fault; a CHECK disagreeing with the C
         * arithmetic is a bug (permanent: to the DLQ). */
        if (strcmp(pgc_last_sqlstate(ctx->pg), "23505") == 0)
            return apply_reject(ctx, "already_exists: service event %s exists", id);
        return APPLY_FAILED;
    }
    long long version = apply_col_ll(r, 0, 0);
    PQclear(r);
    if ((ar = se_budget_move(ctx, &p, res.budget ? res.a.organiser_part_cents : 0)) != APPLY_OK ||
        (ar = se_parent_bump(ctx, &p)) != APPLY_OK)
        return ar;
    outbox_add(ctx, parent_topic(&p), p.id, "service_event.recorded",
               se_event_json(id, &p, p.provider_id, &in, &res, note, "recorded", version));
    se_touch_event(ctx, &p, id);
    return APPLY_OK;
}

enum apply_result se_update(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *eid = envelope_str(c, "event_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", eid);
    if (!apply_role_in(ctx, ROLE_PROVIDER | ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: service events are edited by their provider");
    struct se_parent p;
    enum apply_result ar = parent_of(ctx, &p);
    if (ar != APPLY_OK)
        return ar;
    struct se_row ev;
    if ((ar = event_lock(ctx, &p, eid, &ev)) != APPLY_OK)
        return ar;
    if ((ar = require_recorder(ctx, &ev, "edit")) != APPLY_OK)
        return ar;
    enum event_state next;
    if ((ar = transition(ctx, &ev, EVENT_EDIT, &next)) != APPLY_OK)
        return ar;
    /* The voucher's current provider must still be the recorder: after a
     * change of provider the old one no longer touches the voucher. */
    if (!apply_same_id(p.provider_id, ev.provider_id))
        return apply_reject(ctx, "forbidden: %s %s has another provider now",
                            se_parent_kind_name(&p), p.id);

    /* The edited event: what the command gives, else what is stored. A new
     * date or band takes the list price again unless a price is given; an
     * unchanged date and band keep the stored (maybe agreed) price. */
    struct se_input in = {.date = ev.date,
                          .qty_h = ev.qty_h,
                          .band_given = ev.has_band,
                          .band = ev.band,
                          .exclude_event_id = ev.id,
                          .returned_draw_cents = ev.budget ? ev.part_cents : 0};
    struct se_input given = {0};
    if ((ar = se_read_input(ctx, &given)) != APPLY_OK)
        return ar;
    bool moved = false;
    if (envelope_str(c, "date")) {
        moved = moved || given.date != ev.date;
        in.date = given.date;
    }
    if (json_object_get(c->data, "quantity"))
        in.qty_h = given.qty_h;
    if (given.band_given) {
        moved = moved || !ev.has_band || given.band != ev.band;
        in.band_given = true;
        in.band = given.band;
    }
    if (given.price_given) {
        in.price_given = true;
        in.price_cents = given.price_cents;
    } else if (!moved && p.kind == SE_VOUCHER) { /* an order's is the contract's, always */
        in.price_given = true;
        in.price_cents = ev.price_cents;
    }
    const char *note =
        json_object_get(c->data, "note") ? envelope_str(c, "note") : (ev.has_note ? ev.note : NULL);
    struct se_result res;
    if ((ar = se_evaluate(ctx, &p, &in, &res)) != APPLY_OK)
        return ar;

    char rb[24];
    bool order = p.kind == SE_ORDER;
    struct amount_text t;
    amount_text(&t, &in, &res, order);
    const char *head[] = {ev.id};
    const char *tail[] = {note, res.budget ? apply_num(rb, sizeof(rb), res.remaining_before_cents)
                                           : NULL};
    const char *upd[13];
    amount_params(upd, head, 1, &t, tail, 2);
    PGresult *r =
        apply_query(ctx,
                    "UPDATE psop.service_events SET date = $2, quantity = $3, band = $4, "
                    "unit_price_cents = $5, voucher_value_cents = $6, band_coefficient = $7, "
                    "value_unit_cents = $8, gross_cents = $9, organiser_part_cents = $10, "
                    "client_share_cents = $11, note = $12, budget_remaining_before_cents = $13, "
                    "updated_at = clock_timestamp(), version = version + 1 WHERE id = $1::uuid "
                    "RETURNING version",
                    13, upd);
    if (!r)
        return APPLY_FAILED;
    long long version = apply_col_ll(r, 0, 0);
    PQclear(r);
    /* Re-charged alone: the old draw back, the new one taken. */
    if ((ar = se_budget_move(
             ctx, &p, res.budget ? res.a.organiser_part_cents - ev.part_cents : 0)) != APPLY_OK ||
        (ar = se_parent_bump(ctx, &p)) != APPLY_OK)
        return ar;
    json_t *data = se_event_json(ev.id, &p, ev.provider_id, &in, &res, note, "recorded", version);
    json_object_set_new(data, "changed", json_deep_copy(c->data));
    json_object_del(json_object_get(data, "changed"), "voucher_id");
    json_object_del(json_object_get(data, "changed"), "order_id");
    json_object_del(json_object_get(data, "changed"), "event_id");
    outbox_add(ctx, parent_topic(&p), p.id, "service_event.updated", data);
    se_touch_event(ctx, &p, ev.id);
    return APPLY_OK;
}

/* delete and approve: a state change of one event. */
static enum apply_result change_state(struct apply_ctx *ctx, enum event_action act)
{
    const struct envelope *c = ctx->cmd;
    const char *eid = envelope_str(c, "event_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", eid);
    if (act == EVENT_DELETE && !apply_role_in(ctx, ROLE_PROVIDER | ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: service events are deleted by their provider");
    if (act == EVENT_APPROVE && !apply_role_in(ctx, ROLE_ORGANISER | ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: service events are approved by the organiser");
    struct se_parent p;
    enum apply_result ar = parent_of(ctx, &p);
    if (ar != APPLY_OK)
        return ar;
    if (act == EVENT_APPROVE &&
        (ar = require_parent_organiser(ctx, &p, true, "approve its service events")) != APPLY_OK)
        return ar;
    struct se_row ev;
    if ((ar = event_lock(ctx, &p, eid, &ev)) != APPLY_OK)
        return ar;
    if (act == EVENT_DELETE && (ar = require_recorder(ctx, &ev, "delete")) != APPLY_OK)
        return ar;
    enum event_state next;
    if ((ar = transition(ctx, &ev, act, &next)) != APPLY_OK)
        return ar;
    const char *q[] = {ev.id, c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(
        ctx,
        act == EVENT_DELETE
            ? "UPDATE psop.service_events SET state = 'deleted', deleted_at = clock_timestamp(), "
              "deleted_by = $2, updated_at = clock_timestamp(), version = version + 1 "
              "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("deleted_at")
            : "UPDATE psop.service_events SET state = 'approved', approved_at = clock_timestamp(), "
              "approved_by = $2, updated_at = clock_timestamp(), version = version + 1 "
              "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("approved_at"),
        2, q);
    /* clang-format on */
    if (!r)
        return APPLY_FAILED;
    json_t *data = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I}", "id", ev.id, "provider_id", ev.provider_id,
        "organiser_id", p.organiser_id, "previous_state", ev.state, "state", event_state_name(next),
        "quantity", se_qty_json(ev.qty_h), act == EVENT_DELETE ? "deleted_by" : "approved_by",
        c->actor.sub, act == EVENT_DELETE ? "deleted_at" : "approved_at", PQgetvalue(r, 0, 1),
        "version", (json_int_t)apply_col_ll(r, 0, 0));
    PQclear(r);
    set_parent_ids(data, &p);
    /* A deleted budget event returns its draw (it has no credits: those
     * come only after settlement, when it can no longer be deleted). */
    if ((ar = se_budget_move(ctx, &p, act == EVENT_DELETE && ev.budget ? -ev.part_cents : 0)) !=
            APPLY_OK ||
        (ar = se_parent_bump(ctx, &p)) != APPLY_OK) {
        json_decref(data);
        return ar;
    }
    if (p.budget)
        json_object_set_new(data, "budget_remaining_cents",
                            json_integer(budget_remaining(p.budget_cents, p.budget_used_cents)));
    outbox_add(ctx, parent_topic(&p), p.id,
               act == EVENT_DELETE ? "service_event.deleted" : "service_event.approved", data);
    se_touch_event(ctx, &p, ev.id);
    return APPLY_OK;
}

enum apply_result se_delete(struct apply_ctx *ctx)
{
    return change_state(ctx, EVENT_DELETE);
}

enum apply_result se_approve(struct apply_ctx *ctx)
{
    return change_state(ctx, EVENT_APPROVE);
}

enum apply_result se_credit(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *eid = envelope_str(c, "event_id");
    const char *id = envelope_str(c, "id");
    if (!id)
        id = c->id;
    /* The front answers the credit's id as resource_id (it creates one). */
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    if (!apply_role_in(ctx, ROLE_ORGANISER))
        return apply_reject(ctx, "forbidden: credits are issued by the organiser");
    struct se_parent p;
    enum apply_result ar = parent_of(ctx, &p);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = require_parent_organiser(ctx, &p, false, "credit its service events")) != APPLY_OK)
        return ar;
    struct se_row ev;
    if ((ar = event_lock(ctx, &p, eid, &ev)) != APPLY_OK)
        return ar;
    enum event_state next;
    if ((ar = transition(ctx, &ev, EVENT_CREDIT, &next)) != APPLY_OK)
        return ar;
    const char *qid[] = {id};
    PGresult *r = apply_query(ctx, "SELECT 1 FROM psop.credits WHERE id = $1::uuid", 1, qid);
    if (!r)
        return APPLY_FAILED;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        return apply_reject(ctx, "already_exists: credit %s exists", id);

    int64_t qty_h;
    char e[64], b1[24], b2[24], b3[24];
    if (decimal_from_json(json_object_get(c->data, "quantity"), &qty_h) < 0)
        return apply_reject(ctx, "invalid_quantity: more than two decimals or not a number");
    if (event_credit_qty_check(ev.qty_h, ev.credited_h, qty_h, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s asked, %s of %s already credited", e,
                            qty_str(qty_h, b1, sizeof(b1)), qty_str(ev.credited_h, b2, sizeof(b2)),
                            qty_str(ev.qty_h, b3, sizeof(b3)));
    struct event_amounts a;
    bool order = p.kind == SE_ORDER;
    int crc;
    if (ev.budget) {
        /* What of the event's draw earlier credits have refilled already. */
        const char *qe[] = {ev.id};
        r = apply_query(ctx,
                        "SELECT coalesce(-sum(organiser_part_cents), 0) FROM psop.credits "
                        "WHERE event_id = $1::uuid",
                        1, qe);
        if (!r)
            return APPLY_FAILED;
        int64_t refilled = apply_col_ll(r, 0, 0);
        PQclear(r);
        crc = budget_credit_amounts(ev.price_cents, ev.part_cents, ev.qty_h, refilled, qty_h, &a, e,
                                    sizeof(e));
    } else {
        crc = order
                  ? event_credit_order(ev.price_cents, ev.client_fee_cents, qty_h, &a, e, sizeof(e))
                  : event_credit_voucher(ev.value_unit_cents, ev.price_cents, qty_h, &a, e,
                                         sizeof(e));
    }
    if (crc < 0)
        return apply_reject(ctx, "%s: credit of %s", e, qty_str(qty_h, b1, sizeof(b1)));

    char qb[24], pr[24], vu[24], gr[24], op[24], cs[24], fe[24], bp[24], bq[24];
    const char *ins[] = {id,
                         ev.id,
                         p.organiser_id,
                         ev.provider_id,
                         apply_num(qb, sizeof(qb), qty_h),
                         envelope_str(c, "reason_code"),
                         envelope_str(c, "explanation"),
                         apply_num(pr, sizeof(pr), a.unit_price_cents),
                         order || ev.budget ? NULL : apply_num(vu, sizeof(vu), a.value_unit_cents),
                         apply_num(gr, sizeof(gr), a.gross_cents),
                         apply_num(op, sizeof(op), a.organiser_part_cents),
                         apply_num(cs, sizeof(cs), a.client_share_cents),
                         c->actor.sub,
                         order ? "true" : "false",
                         order ? apply_num(fe, sizeof(fe), ev.client_fee_cents) : NULL,
                         ev.budget ? apply_num(bp, sizeof(bp), ev.part_cents) : NULL,
                         ev.budget ? apply_num(bq, sizeof(bq), ev.qty_h) : NULL};
    /* clang-format off */
    r = apply_query(ctx,
                    "WITH cr AS (INSERT INTO psop.credits (id, event_id, organiser_id, "
                    "provider_id, is_order, quantity, reason_code, explanation, unit_price_cents, "
                    "value_unit_cents, gross_cents, organiser_part_cents, client_share_cents, "
                    "created_by, client_fee_cents, budget_event_part_cents, "
                    "budget_event_quantity, created_at) VALUES ($1, $2, $3, $4, $14, $5, "
                    "$6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, clock_timestamp()) "
                    "RETURNING " PG_TS_SQL("created_at") " AS at) "
                    "UPDATE psop.service_events SET credited_quantity = credited_quantity + $5, "
                    "updated_at = clock_timestamp(), version = version + 1 "
                    "WHERE id = $2::uuid AND credited_quantity + $5 <= quantity "
                    "RETURNING credited_quantity, (SELECT at FROM cr), version",
                    17, ins);
    /* clang-format on */
    if (!r) {
        if (strcmp(pgc_last_sqlstate(ctx->pg), "23505") == 0)
            return apply_reject(ctx, "already_exists: credit %s exists", id);
        return APPLY_FAILED;
    }
    if (PQntuples(r) != 1) { /* cannot happen under the row lock; the CHECK backs it too */
        PQclear(r);
        return apply_reject(ctx, "credit_exceeds_remaining: %s asked",
                            qty_str(qty_h, b1, sizeof(b1)));
    }
    int64_t credited = apply_col_ll(r, 0, 0);
    long long ev_version = apply_col_ll(r, 0, 2);
    json_t *data = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:s}", "id", id,
        "event_id", ev.id, "organiser_id", p.organiser_id, "provider_id", ev.provider_id,
        "quantity", se_qty_json(qty_h), "reason_code", envelope_str(c, "reason_code"),
        "explanation", envelope_str(c, "explanation"), "unit_price_cents",
        (json_int_t)a.unit_price_cents, "gross_cents", (json_int_t)a.gross_cents,
        "organiser_part_cents", (json_int_t)a.organiser_part_cents, "client_share_cents",
        (json_int_t)a.client_share_cents, "event_credited_quantity", se_qty_json(credited),
        "created_by", c->actor.sub, "created_at", PQgetvalue(r, 0, 1));
    PQclear(r);
    json_object_set_new(data, "version", json_integer(ev_version));
    set_parent_ids(data, &p);
    if (order)
        json_object_set_new(data, "client_fee_cents", json_integer(ev.client_fee_cents));
    else if (!ev.budget)
        json_object_set_new(data, "value_unit_cents", json_integer(a.value_unit_cents));
    /* A credit refills the pot by its organiser part (<= 0). */
    if ((ar = se_budget_move(ctx, &p, ev.budget ? a.organiser_part_cents : 0)) != APPLY_OK ||
        (ar = se_parent_bump(ctx, &p)) != APPLY_OK) {
        json_decref(data);
        return ar;
    }
    if (ev.budget)
        json_object_set_new(data, "budget_remaining_cents",
                            json_integer(budget_remaining(p.budget_cents, p.budget_used_cents)));
    outbox_add(ctx, parent_topic(&p), p.id, "service_event.credited", data);
    se_touch_event(ctx, &p, ev.id);
    return APPLY_OK;
}

/* Approves the organiser's recorded events recorded before recorded_before,
 * set-based in one statement: the events, their vouchers' (and orders')
 * versions, and the rows for the outbox. One service_event.approved per
 * event, keyed by its voucher (or order). */
enum apply_result se_auto_approve(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *org = envelope_str(c, "organiser_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", org);
    if (!apply_role_in(ctx, ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: auto-approval is run by an admin (the nightly batch)");
    const char *q[] = {org, envelope_str(c, "recorded_before")};
    PGresult *r = apply_query(ctx, "SELECT 1 FROM psop.organisers WHERE id = $1::uuid", 1, q);
    if (!r)
        return APPLY_FAILED;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (!exists)
        return apply_reject(ctx, "not_found: organiser %s does not exist", org);
    /* clang-format off */
    r = apply_query(
        ctx,
        "WITH ev AS (UPDATE psop.service_events SET state = 'approved', "
        "   approved_at = clock_timestamp(), approved_by = 'auto-approval', "
        "   updated_at = clock_timestamp(), version = version + 1 "
        "  WHERE organiser_id = $1::uuid AND state = 'recorded' "
        "    AND recorded_at < $2::timestamptz "
        "  RETURNING id, voucher_id, order_id, provider_id, quantity, version, approved_at), "
        " vb AS (UPDATE psop.vouchers SET version = version + 1, updated_at = now() "
        "  WHERE id IN (SELECT voucher_id FROM ev) RETURNING id), "
        " ob AS (UPDATE psop.orders SET version = version + 1, updated_at = now() "
        "  WHERE id IN (SELECT order_id FROM ev) RETURNING id) "
        "SELECT ev.id, ev.voucher_id, ev.order_id, ev.provider_id, ev.quantity, ev.version, "
        " " PG_TS_SQL("ev.approved_at") ", (SELECT count(*) FROM vb) + (SELECT count(*) FROM ob) "
        "FROM ev ORDER BY coalesce(ev.voucher_id, ev.order_id), ev.id",
        2, q);
    /* clang-format on */
    if (!r)
        return APPLY_FAILED;
    json_t *seen = json_object();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *vid = col(r, i, 1), *oid = col(r, i, 2);
        const char *parent = vid ? vid : oid;
        json_t *data = json_pack(
            "{s:s, s:s?, s:s?, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I}", "id", PQgetvalue(r, i, 0),
            "voucher_id", vid, "order_id", oid, "provider_id", PQgetvalue(r, i, 3), "organiser_id",
            org, "previous_state", "recorded", "state", "approved", "quantity",
            se_qty_json(apply_col_ll(r, i, 4)), "approved_by", "auto-approval", "approved_at",
            PQgetvalue(r, i, 6), "version", (json_int_t)apply_col_ll(r, i, 5));
        outbox_add(ctx, vid ? TOPIC_EVT_VOUCHER : TOPIC_EVT_ORDER, parent, "service_event.approved",
                   data);
        if (!json_object_get(seen, parent)) {
            json_object_set_new(seen, parent, json_true());
            apply_touch(ctx, vid ? VIEW_VOUCHER_KIND : VIEW_ORDER_KIND, parent);
        }
    }
    PQclear(r);
    json_decref(seen);
    return APPLY_OK;
}
