#include "views/view_order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "views/view_doc.h"
#include "views/view_events_delta.h"
#include "views/view_events_sql.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* clang-format off */
static const char ORDER_SQL[] =
    "SELECT o.version, json_strip_nulls(json_build_object("
    " 'id', o.id, 'organiser_id', o.organiser_id, 'client_id', o.client_id,"
    " 'contract_id', o.contract_id, 'provider_id', c.provider_id,"
    " 'service_type', c.service_type, 'unit', st.unit,"
    " 'decision_number', o.decision_number, 'valid_from', o.valid_from,"
    " 'valid_to', o.valid_to, 'monthly_quota', " QTY("o.monthly_quota") ","
    " 'client_fee_cents', o.client_fee_cents, 'status', o.status, 'end_date', o.end_date,"
    " 'end_reason', o.end_reason, 'ended_by', o.ended_by, 'ended_at', " TS("o.ended_at") ","
    /* usage: kept by delta in psop.order_usage (schemas/sql/0014), O(months) */
    " 'usage', coalesce((SELECT json_object_agg(u.month, json_build_object("
    "    'used_quantity', " QTY("u.used") ","
    "    'remaining_quantity', CASE WHEN o.monthly_quota IS NOT NULL"
    "        THEN " QTY("greatest(0, o.monthly_quota - u.used)") " END,"
    "    'organiser_used_cents', u.op_cents, 'client_fee_used_cents', u.cs_cents,"
    "    'events', u.events) ORDER BY u.month)"
    "  FROM psop.order_usage u WHERE u.order_id = o.id AND u.all_events > 0), '{}'),"
    " 'created_by', o.created_by, 'created_at', " TS("o.created_at") ","
    " 'updated_at', " TS("o.updated_at") ", 'version', o.version"
    "))::text FROM psop.orders o JOIN psop.contracts c ON c.id = o.contract_id"
    " JOIN psop.service_types st ON st.code = c.service_type WHERE o.id = $1::uuid";
/* clang-format on */

/* clang-format off */
static const char EVENTS_SQL[] =
    "SELECT o.version, json_build_object('order_id', o.id, 'contract_id', o.contract_id,"
    " 'version', o.version,"
    " 'events', coalesce((SELECT json_agg(" VIEW_ORDER_EVENT_JSON
    "   ORDER BY e.date, e.recorded_at, e.id)"
    "  FROM psop.service_events e WHERE e.order_id = o.id), '[]'))::text"
    " FROM psop.orders o WHERE o.id = $1::uuid";
/* clang-format on */

/* clang-format off */
static const char CONTRACT_SQL[] =
    "SELECT c.version, json_strip_nulls(json_build_object("
    " 'id', c.id, 'organiser_id', c.organiser_id, 'provider_id', c.provider_id,"
    " 'service_type', c.service_type, 'unit', st.unit, 'valid_from', c.valid_from,"
    " 'valid_to', c.valid_to, 'monthly_volume_cap', " QTY("c.monthly_volume_cap") ","
    " 'price_history', coalesce((SELECT json_agg(json_build_object("
    "    'valid_from', p.valid_from, 'price_cents', p.price_cents,"
    "    'band_prices_cents', CASE WHEN num_nonnulls(p.price_evening_cents,"
    "        p.price_saturday_cents, p.price_sunday_cents) > 0 THEN json_strip_nulls("
    "        json_build_object('evening', p.price_evening_cents,"
    "         'saturday', p.price_saturday_cents, 'sunday', p.price_sunday_cents)) END,"
    "    'set_by', p.set_by, 'set_at', " TS("p.set_at") ") ORDER BY p.valid_from)"
    "  FROM psop.contract_prices p WHERE p.contract_id = c.id), '[]'),"
    " 'created_by', c.created_by, 'created_at', " TS("c.created_at") ","
    " 'updated_at', " TS("c.updated_at") ", 'version', c.version"
    "))::text FROM psop.contracts c JOIN psop.service_types st ON st.code = c.service_type"
    " WHERE c.id = $1::uuid";
/* clang-format on */

char *view_order_text(struct pgc *pg, const char *order_id, long long *version, char *err,
                      size_t errlen)
{
    return view_doc_text(pg, ORDER_SQL, order_id, version, err, errlen);
}

json_t *view_order(struct pgc *pg, const char *order_id, long long *version, char *err,
                   size_t errlen)
{
    return view_doc_parse(view_order_text(pg, order_id, version, err, errlen), err, errlen);
}

char *view_order_events_text(struct pgc *pg, const char *order_id, long long *version, char *err,
                             size_t errlen)
{
    return view_doc_text(pg, EVENTS_SQL, order_id, version, err, errlen);
}

json_t *view_order_events(struct pgc *pg, const char *order_id, long long *version, char *err,
                          size_t errlen)
{
    return view_doc_parse(view_order_events_text(pg, order_id, version, err, errlen), err, errlen);
}

char *view_contract_text(struct pgc *pg, const char *contract_id, long long *version, char *err,
                         size_t errlen)
{
    return view_doc_text(pg, CONTRACT_SQL, contract_id, version, err, errlen);
}

json_t *view_contract(struct pgc *pg, const char *contract_id, long long *version, char *err,
                      size_t errlen)
{
    return view_doc_parse(view_contract_text(pg, contract_id, version, err, errlen), err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Answers (pure)                                                         */
/* ---------------------------------------------------------------------- */

json_t *view_order_answer(const json_t *order_doc, const char *month, day_t today)
{
    char mbuf[8], tbuf[11];
    json_t *a = view_answer_base(order_doc, &month, mbuf, today, tbuf);
    if (!a)
        return NULL;
    json_t *u = json_object_get(json_object_get(order_doc, "usage"), month);
    if (u) {
        json_object_update(a, u);
    } else {
        json_t *z = json_pack("{s:f, s:i, s:i, s:i}", "used_quantity", 0.0, "organiser_used_cents",
                              0, "client_fee_used_cents", 0, "events", 0);
        json_t *quota = json_object_get(order_doc, "monthly_quota");
        if (quota)
            json_object_set_new(z, "remaining_quantity", json_deep_copy(quota));
        json_object_update(a, z);
        json_decref(z);
    }
    return a;
}

json_t *view_order_events_month(const json_t *events_doc, const char *month)
{
    int y, m;
    if (!events_doc || (month && date_parse_month(month, &y, &m) < 0))
        return NULL;
    json_t *out = json_pack("{s:O, s:O}", "order_id", json_object_get(events_doc, "order_id"),
                            "contract_id", json_object_get(events_doc, "contract_id"));
    return view_events_of_month(events_doc, month, out);
}

/* ---------------------------------------------------------------------- */
/* Redis                                                                   */
/* ---------------------------------------------------------------------- */

typedef char *(*text_fn)(struct pgc *, const char *, long long *, char *, size_t);

/* Builds one document and writes it under fmt: 1 written, 0 not, -1 error. */
static int put_one(struct rds *rds, struct pgc *pg, text_fn fn, const char *fmt, const char *id,
                   char *err, size_t errlen)
{
    long long v = 0;
    char key[128];
    char *doc = fn(pg, id, &v, err, errlen);
    if (!doc)
        return err[0] ? -1 : 0;
    snprintf(key, sizeof(key), fmt, id);
    int rc = rds_put_versioned(rds, key, v, doc, 0, err, errlen);
    free(doc);
    return rc;
}

int view_order_put(struct rds *rds, struct pgc *pg, const char *order_id, char *err, size_t errlen)
{
    return view_doc_put_one(rds, pg, view_order_put_many, order_id, err, errlen);
}

int view_order_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                        char *err, size_t errlen)
{
    return view_events_put_with_docs(VED_ORDER, view_order_doc_put_many, rds, pg, ids_array,
                                     written, err, errlen);
}

int view_order_doc_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                            char *err, size_t errlen)
{
    static const struct view_doc_key keys[] = {{ORDER_SQL, VIEW_ORDER_KEY_FMT}};
    return view_doc_put_keys(rds, pg, keys, 1, ids_array, written, err, errlen);
}

int view_contract_put(struct rds *rds, struct pgc *pg, const char *contract_id, char *err,
                      size_t errlen)
{
    return put_one(rds, pg, view_contract_text, VIEW_CONTRACT_KEY_FMT, contract_id, err, errlen);
}

void view_contract_refresh(struct rds *rds, struct pgc *pg, const char *contract_id)
{
    char err[512];
    if (view_contract_put(rds, pg, contract_id, err, sizeof(err)) < 0)
        LOG_WARN("read model: contract not written", "contract_id", contract_id, "error", err,
                 NULL);
}

int view_order_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err, size_t errlen)
{
    long n = 0;
    int rc = -1;
    PGresult *ids = pgc_query(pg,
                              "SELECT 'c', id FROM psop.contracts UNION ALL "
                              "SELECT 'o', id FROM psop.orders ORDER BY 1, 2",
                              0, NULL, err, errlen);
    if (!ids)
        goto out;
    for (int i = 0; i < PQntuples(ids); i++) {
        const char *id = PQgetvalue(ids, i, 1);
        int w = PQgetvalue(ids, i, 0)[0] == 'c' ? view_contract_put(rds, pg, id, err, errlen)
                                                : view_order_put(rds, pg, id, err, errlen);
        if (w < 0)
            goto out;
        n += w;
    }
    rc = 0;
out:
    if (ids)
        PQclear(ids);
    if (written)
        *written = n;
    return rc;
}
