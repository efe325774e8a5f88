#include "views/view_voucher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decimal.h"
#include "domain/band.h"
#include "domain/budget.h"
#include "domain/event.h"
#include "core/ids.h"
#include "views/view_doc.h"
#include "core/log.h"
#include "views/view_provider.h"
#include "core/xmalloc.h"

#include "views/view_events_delta.h"
#include "views/view_events_sql.h"

/* clang-format off */
static const char VOUCHER_SQL[] =
    "SELECT v.version, json_strip_nulls(json_build_object("
    " 'id', v.id, 'organiser_id', v.organiser_id, 'client_id', v.client_id,"
    " 'service_type', v.service_type, 'unit', st.unit,"
    " 'client_share_allowed', st.client_share_allowed,"
    " 'band_coefficients', CASE WHEN st.coef_evening IS NOT NULL THEN json_build_object("
    "    'evening', " QTY("st.coef_evening") ", 'saturday', " QTY("st.coef_saturday") ","
    "    'sunday', " QTY("st.coef_sunday") ") END,"
    " 'decision_number', v.decision_number, 'valid_from', v.valid_from,"
    " 'valid_to', v.valid_to, 'monthly_quota', " QTY("v.monthly_quota") ","
    " 'provider_id', v.provider_id, 'provider_chosen_at', " TS("v.provider_chosen_at") ","
    " 'provider_chosen_by', v.provider_chosen_by,"
    " 'status', v.status, 'revoke_date', v.revoke_date, 'revoke_reason', v.revoke_reason,"
    " 'revoked_at', " TS("v.revoked_at") ", 'refuse_reason', v.refuse_reason,"
    " 'refused_at', " TS("v.refused_at") ", 'value_basis', v.value_basis,"
    " 'income', CASE WHEN v.value_basis = 'income' THEN json_build_object("
    "    'household_size', v.household_size, 'monthly_income_cents', v.monthly_income_cents,"
    "    'limit_cents', v.income_limit_cents, 'pct_bp', v.income_pct_bp,"
    "    'excess_cents', v.income_excess_cents, 'max_value_cents', v.income_max_value_cents,"
    "    'min_value_cents', v.income_min_value_cents, 'divisor', v.income_divisor,"
    "    'value_cents', v.income_value_cents) END,"
    " 'budget_cents', v.budget_cents, 'budget_used_cents', v.budget_used_cents,"
    " 'budget_remaining_cents', v.budget_cents - v.budget_used_cents,"
    " 'value_history', coalesce((SELECT json_agg(json_build_object("
    "    'from', lower(x.effective), 'to', upper(x.effective) - 1,"
    "    'unit_value_cents', x.unit_value_cents, 'set_by', x.set_by,"
    "    'set_at', " TS("x.set_at") ") ORDER BY lower(x.effective))"
    "  FROM psop.voucher_values x WHERE x.voucher_id = v.id), '[]'),"
    " 'amendments', coalesce((SELECT json_agg(json_build_object("
    "    'effective_from', a.effective_from, 'unit_value_cents', a.unit_value_cents,"
    "    'valid_to', a.valid_to, 'monthly_quota', " QTY("a.monthly_quota") ","
    "    'amended_by', a.amended_by, 'amended_at', " TS("a.amended_at") ") ORDER BY a.id)"
    "  FROM psop.voucher_amendments a WHERE a.voucher_id = v.id), '[]'),"
    /* usage: kept by delta in psop.voucher_usage (schemas/sql/0013), O(months) */
    " 'usage', coalesce((SELECT json_object_agg(u.month, json_build_object("
    "    'used_quantity', " QTY("u.used") ","
    "    'remaining_quantity', CASE WHEN v.monthly_quota IS NOT NULL"
    "        THEN " QTY("greatest(0, v.monthly_quota - u.used)") " END,"
    "    'voucher_used_cents', u.cents, 'events', u.events) ORDER BY u.month)"
    "  FROM psop.voucher_usage u"
    "  WHERE u.voucher_id = v.id AND u.all_events > 0), '{}'),"
    " 'granted_by', v.granted_by, 'created_at', " TS("v.created_at") ","
    " 'updated_at', " TS("v.updated_at") ", 'version', v.version"
    "))::text FROM psop.vouchers v JOIN psop.service_types st ON st.code = v.service_type"
    " WHERE v.id = $1::uuid";
/* clang-format on */

/* clang-format off */
static const char EVENTS_SQL[] =
    "SELECT v.version, json_build_object('voucher_id', v.id, 'version', v.version,"
    " 'events', coalesce((SELECT json_agg(" VIEW_VOUCHER_EVENT_JSON
    "   ORDER BY e.date, e.recorded_at, e.id)"
    "  FROM psop.service_events e WHERE e.voucher_id = v.id), '[]'))::text"
    " FROM psop.vouchers v WHERE v.id = $1::uuid";
/* clang-format on */

char *view_voucher_text(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                        size_t errlen)
{
    return view_doc_text(pg, VOUCHER_SQL, voucher_id, version, err, errlen);
}

json_t *view_voucher(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                     size_t errlen)
{
    return view_doc_parse(view_voucher_text(pg, voucher_id, version, err, errlen), err, errlen);
}

char *view_voucher_events_text(struct pgc *pg, const char *voucher_id, long long *version,
                               char *err, size_t errlen)
{
    return view_doc_text(pg, EVENTS_SQL, voucher_id, version, err, errlen);
}

json_t *view_voucher_events(struct pgc *pg, const char *voucher_id, long long *version, char *err,
                            size_t errlen)
{
    return view_doc_parse(view_voucher_events_text(pg, voucher_id, version, err, errlen), err,
                          errlen);
}

/* ---------------------------------------------------------------------- */
/* Answers derived from stored documents (pure)                           */
/* ---------------------------------------------------------------------- */

/* The value_history entry in force on day (YYYY-MM-DD), or NULL. */
static const json_t *value_on(const json_t *doc, const char *day)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(doc, "value_history"), i, h)
    {
        const char *from = json_string_value(json_object_get(h, "from"));
        const char *to = json_string_value(json_object_get(h, "to"));
        if (from && strcmp(from, day) <= 0 && (!to || strcmp(day, to) <= 0))
            return h;
    }
    return NULL;
}

static json_t *month_usage(const json_t *doc, const char *month)
{
    json_t *u = json_object_get(json_object_get(doc, "usage"), month);
    if (u)
        return json_deep_copy(u);
    json_t *z =
        json_pack("{s:f, s:i, s:i}", "used_quantity", 0.0, "voucher_used_cents", 0, "events", 0);
    json_t *quota = json_object_get(doc, "monthly_quota");
    if (quota)
        json_object_set_new(z, "remaining_quantity", json_deep_copy(quota));
    return z;
}

json_t *view_voucher_answer(const json_t *voucher_doc, const char *month, day_t today)
{
    char mbuf[8], tbuf[11];
    json_t *a = view_answer_base(voucher_doc, &month, mbuf, today, tbuf);
    if (!a)
        return NULL;
    const json_t *h = value_on(voucher_doc, tbuf);
    if (h)
        json_object_set(a, "unit_value_cents", json_object_get(h, "unit_value_cents"));
    json_t *u = month_usage(voucher_doc, month);
    json_object_update(a, u);
    json_decref(u);
    return a;
}

json_t *view_voucher_events_month(const json_t *events_doc, const char *month)
{
    int y, m;
    if (!events_doc || (month && date_parse_month(month, &y, &m) < 0))
        return NULL;
    json_t *out = json_pack("{s:O}", "voucher_id", json_object_get(events_doc, "voucher_id"));
    return view_events_of_month(events_doc, month, out);
}

/* Per-unit figures of one band. */
static json_t *band_figures(int64_t price, int64_t value_unit)
{
    int64_t part = price < value_unit ? price : value_unit;
    return json_pack("{s:I, s:I, s:I}", "unit_price_cents", (json_int_t)price,
                     "voucher_value_cents", (json_int_t)value_unit, "client_share_cents",
                     (json_int_t)(price - part));
}

/* Per-unit figures of one band of a budget voucher: the price and how many
 * units the pot still covers at it (null when the price is 0: no limit). */
static json_t *budget_figures(int64_t price, int64_t remaining)
{
    int64_t q = budget_covers_qty_h(remaining, price);
    return json_pack("{s:I, s:o}", "unit_price_cents", (json_int_t)price, "budget_covers_quantity",
                     q < 0 ? json_null() : json_real((double)q / 100.0));
}

static int cmp_providers(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    const json_t *sx = json_object_get(x, "client_share_cents");
    const json_t *sy = json_object_get(y, "client_share_cents");
    /* Priced first: a budget voucher's entries have no client share per
     * unit, only a price. */
    bool px = json_is_integer(json_object_get(x, "unit_price_cents"));
    bool py = json_is_integer(json_object_get(y, "unit_price_cents"));
    if (px != py)
        return px ? -1 : 1; /* no price last */
    if (px) {
        json_int_t a1 = json_integer_value(sx), b1 = json_integer_value(sy);
        if (a1 != b1)
            return a1 < b1 ? -1 : 1;
        json_int_t a2 = json_integer_value(json_object_get(x, "unit_price_cents"));
        json_int_t b2 = json_integer_value(json_object_get(y, "unit_price_cents"));
        if (a2 != b2)
            return a2 < b2 ? -1 : 1;
    }
    const char *nx = json_string_value(json_object_get(x, "name"));
    const char *ny = json_string_value(json_object_get(y, "name"));
    int c = strcmp(nx ? nx : "", ny ? ny : "");
    if (c)
        return c;
    const char *ix = json_string_value(json_object_get(x, "provider_id"));
    const char *iy = json_string_value(json_object_get(y, "provider_id"));
    return strcmp(ix ? ix : "", iy ? iy : "");
}

static int64_t coef_of(const json_t *coefs, const char *band)
{
    int64_t h;
    json_t *v = json_object_get(coefs, band);
    if (!v || decimal_from_json(v, &h) < 0)
        return 100;
    return h;
}

/* Sorts the entries items[0..n) into out's "providers" (frees items). */
static json_t *finish_providers(json_t *out, json_t **items, size_t n)
{
    qsort(items, n, sizeof(*items), cmp_providers);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
    json_object_set_new(out, "providers", list);
    return out;
}

/* The comparison of a budget voucher: per provider its price and how much
 * of the service the pot still covers at it (per band where banded). */
static json_t *budget_combine(json_t *out, const json_t *public_doc, const json_t *coefs,
                              int64_t remaining)
{
    size_t n = json_array_size(json_object_get(public_doc, "providers"));
    json_t **items = xcalloc(n ? n : 1, sizeof(*items));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(public_doc, "providers"), i, p)
    {
        json_t *e = json_deep_copy(p);
        json_t *price = json_object_get(p, "price");
        json_object_del(e, "price");
        items[i] = e;
        if (!json_is_object(price)) {
            json_object_set_new(e, "unit_price_cents", json_null());
            json_object_set_new(e, "budget_covers_quantity", json_null());
            continue;
        }
        int64_t base = json_integer_value(json_object_get(price, "price_cents"));
        json_object_set_new(e, "price_valid_from",
                            json_deep_copy(json_object_get(price, "valid_from")));
        json_t *wk = budget_figures(base, remaining);
        json_object_update(e, wk);
        json_decref(wk);
        if (coefs) {
            json_t *bands = json_object();
            const json_t *bp = json_object_get(price, "band_prices_cents");
            for (int b = BAND_WEEKDAY; b < BAND_COUNT; b++) {
                const char *name = band_name((enum band)b);
                json_t *bpv = b == BAND_WEEKDAY ? NULL : json_object_get(bp, name);
                int64_t bprice = json_is_integer(bpv) ? json_integer_value(bpv) : base;
                json_object_set_new(bands, name, budget_figures(bprice, remaining));
            }
            json_object_set_new(e, "bands", bands);
        }
    }
    return finish_providers(out, items, n);
}

json_t *view_voucher_providers_combine(const json_t *voucher_doc, const json_t *public_doc,
                                       day_t today)
{
    if (!voucher_doc || !public_doc)
        return NULL;
    char tbuf[11];
    date_format(today, tbuf);
    /* Before the voucher starts, compare with its first value. */
    const char *vf = json_string_value(json_object_get(voucher_doc, "valid_from"));
    const json_t *h = value_on(voucher_doc, vf && strcmp(vf, tbuf) > 0 ? vf : tbuf);
    json_t *out = json_pack("{s:O, s:s, s:O}", "voucher_id", json_object_get(voucher_doc, "id"),
                            "date", tbuf, "unit", json_object_get(voucher_doc, "unit"));
    int64_t value = h ? json_integer_value(json_object_get(h, "unit_value_cents")) : 0;
    const json_t *coefs = json_object_get(voucher_doc, "band_coefficients");
    const json_t *rem_j = json_object_get(voucher_doc, "budget_remaining_cents");
    bool budget = json_is_integer(rem_j);
    int64_t remaining = budget ? json_integer_value(rem_j) : 0;
    if (budget) {
        json_object_set_new(out, "budget_remaining_cents", json_integer(remaining));
        return budget_combine(out, public_doc, coefs, remaining);
    }
    json_object_set_new(out, "voucher_value_cents", h ? json_integer(value) : json_null());

    size_t n = json_array_size(json_object_get(public_doc, "providers"));
    json_t **items = xcalloc(n ? n : 1, sizeof(*items));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(public_doc, "providers"), i, p)
    {
        json_t *e = json_deep_copy(p);
        json_t *price = json_object_get(p, "price");
        json_object_del(e, "price");
        if (!json_is_object(price) || !h) {
            json_object_set_new(e, "unit_price_cents", json_null());
            json_object_set_new(e, "voucher_value_cents", h ? json_integer(value) : json_null());
            json_object_set_new(e, "client_share_cents", json_null());
            items[i] = e;
            continue;
        }
        int64_t base = json_integer_value(json_object_get(price, "price_cents"));
        json_object_set_new(e, "price_valid_from",
                            json_deep_copy(json_object_get(price, "valid_from")));
        json_t *wk = band_figures(base, value);
        json_object_update(e, wk);
        json_decref(wk);
        if (coefs) {
            json_t *bands = json_object();
            const json_t *bp = json_object_get(price, "band_prices_cents");
            for (int b = BAND_WEEKDAY; b < BAND_COUNT; b++) {
                const char *name = band_name((enum band)b);
                json_t *bpv = b == BAND_WEEKDAY ? NULL : json_object_get(bp, name);
                int64_t bprice = json_is_integer(bpv) ? json_integer_value(bpv) : base;
                int64_t vu = value;
                if (event_value_unit(value, b == BAND_WEEKDAY ? 100 : coef_of(coefs, name), &vu,
                                     NULL, 0) < 0)
                    vu = value;
                json_object_set_new(bands, name, band_figures(bprice, vu));
            }
            json_object_set_new(e, "bands", bands);
        }
        items[i] = e;
    }
    return finish_providers(out, items, n);
}

json_t *view_voucher_providers(struct pgc *pg, const char *voucher_id, day_t today, char *err,
                               size_t errlen)
{
    json_t *v = view_voucher(pg, voucher_id, NULL, err, errlen);
    if (!v)
        return NULL;
    char tbuf[11];
    date_format(today, tbuf);
    json_t *pub = view_public_providers(pg, json_string_value(json_object_get(v, "organiser_id")),
                                        json_string_value(json_object_get(v, "service_type")), tbuf,
                                        NULL, err, errlen);
    json_t *out = NULL;
    if (pub)
        out = view_voucher_providers_combine(v, pub, today);
    else if (!err[0])
        snprintf(err, errlen, "public list of the voucher's organiser and service type missing");
    json_decref(pub);
    json_decref(v);
    return out;
}

/* ---------------------------------------------------------------------- */
/* Redis                                                                   */
/* ---------------------------------------------------------------------- */

int view_voucher_put(struct rds *rds, struct pgc *pg, const char *voucher_id, char *err,
                     size_t errlen)
{
    return view_doc_put_one(rds, pg, view_voucher_put_many, voucher_id, err, errlen);
}

int view_voucher_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                          char *err, size_t errlen)
{
    return view_events_put_with_docs(VED_VOUCHER, view_voucher_doc_put_many, rds, pg, ids_array,
                                     written, err, errlen);
}

int view_voucher_doc_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                              char *err, size_t errlen)
{
    static const struct view_doc_key keys[] = {{VOUCHER_SQL, VIEW_VOUCHER_KEY_FMT}};
    return view_doc_put_keys(rds, pg, keys, 1, ids_array, written, err, errlen);
}

int view_voucher_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                             size_t errlen)
{
    long n = 0;
    int rc = view_doc_rebuild(rds, pg, "SELECT id FROM psop.vouchers ORDER BY id",
                              view_voucher_put_many, VIEW_VOUCHER_CHUNK, &n, err, errlen);
    if (written)
        *written = n;
    return rc;
}
