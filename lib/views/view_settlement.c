#include "views/view_settlement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "views/view_doc.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* Instants as RFC 3339 UTC with microseconds, whatever the session's TimeZone. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* Hundredths as a JSON number with two decimals (numeric keeps the scale). */
#define QTY(col) "round((" col ") / 100.0, 2)"

/* The fields every settlement document has, lines excepted (s, p, o). */
/* clang-format off */
#define HEAD_FIELDS                                                                            \
    " 'id', s.id, 'organiser_id', s.organiser_id, 'provider_id', s.provider_id,"               \
    " 'period', to_char(s.period, 'YYYY-MM'), 'number', s.number, 'reference', s.reference,"   \
    " 'due_date', s.due_date, 'state', s.state, 'created_at', " TS("s.created_at") ","         \
    " 'confirmed_at', " TS("s.confirmed_at") ", 'paid_date', s.paid_date,"                     \
    " 'version', s.version,"                                                                   \
    " 'seller', json_build_object('provider_id', p.id, 'name', p.name,"                        \
    "    'business_id', p.business_id, 'iban', p.iban, 'email', p.email),"                    \
    " 'buyer', json_build_object('organiser_id', o.id, 'name', o.name,"                        \
    "    'business_id', o.business_id, 'iban', o.iban),"                                       \
    " 'totals', json_build_object('gross_cents', s.gross_cents,"                               \
    "    'organiser_cents', s.organiser_cents, 'client_share_cents', s.client_share_cents,"    \
    "    'credit_cents', s.credit_cents, 'payable_cents', s.payable_cents,"                    \
    "    'vat', coalesce((SELECT json_agg(json_build_object('rate_bp', v.rate_bp,"             \
    "        'amount_cents', v.amount_cents, 'vat_cents', v.vat_cents) ORDER BY v.rate_bp)"    \
    "      FROM psop.settlement_vat v WHERE v.settlement_id = s.id), '[]'))"
/* clang-format on */

#define FROM_JOINS                                                                                 \
    " FROM psop.settlements s JOIN psop.providers p ON p.id = s.provider_id"                       \
    " JOIN psop.organisers o ON o.id = s.organiser_id"

/* clang-format off */
static const char SETTLEMENT_SQL[] =
    "SELECT s.version, json_strip_nulls(json_build_object(" HEAD_FIELDS ","
    " 'lines', coalesce((SELECT json_agg(json_build_object("
    "    'line_no', l.line_no, 'kind', l.kind, 'source', l.source,"
    "    'voucher_id', l.voucher_id, 'order_id', l.order_id, 'contract_id', l.contract_id,"
    "    'event_id', l.event_id, 'credit_id', l.credit_id, 'date', l.date,"
    "    'service_type', l.service_type, 'service_name', st.name, 'unit', st.unit,"
    "    'band', l.band, 'quantity', " QTY("l.quantity") ","
    "    'unit_price_cents', l.unit_price_cents, 'gross_cents', l.gross_cents,"
    "    'organiser_cents', l.organiser_part_cents,"
    "    'client_share_cents', l.client_share_cents, 'vat_rate_bp', l.vat_rate_bp)"
    "    ORDER BY l.line_no)"
    "  FROM psop.settlement_lines l JOIN psop.service_types st ON st.code = l.service_type"
    "  WHERE l.settlement_id = s.id), '[]')"
    "))::text" FROM_JOINS " WHERE s.id = $1::uuid";
/* clang-format on */

static const char LIST_SQL[] = "SELECT json_strip_nulls(json_build_object(" HEAD_FIELDS
                               ", 'line_count', s.line_count))::text" FROM_JOINS
                               " WHERE ($1::uuid IS NULL OR s.organiser_id = $1::uuid)"
                               "   AND ($2::text IS NULL OR s.period = ($2 || '-01')::date)"
                               "   AND ($3::uuid IS NULL OR s.provider_id = $3::uuid)"
                               " ORDER BY s.period DESC, s.number LIMIT $4::int";

char *view_settlement_text(struct pgc *pg, const char *settlement_id, long long *version, char *err,
                           size_t errlen)
{
    return view_doc_text(pg, SETTLEMENT_SQL, settlement_id, version, err, errlen);
}

json_t *view_settlement(struct pgc *pg, const char *settlement_id, long long *version, char *err,
                        size_t errlen)
{
    return view_doc_parse(view_settlement_text(pg, settlement_id, version, err, errlen), err,
                          errlen);
}

json_t *view_settlement_list(struct pgc *pg, const char *organiser_id, const char *period,
                             const char *provider_id, char *err, size_t errlen)
{
    err[0] = '\0';
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", VIEW_SETTLEMENT_LIST_MAX + 1);
    const char *p[] = {organiser_id, period, provider_id, lim};
    PGresult *r = pgc_query(pg, LIST_SQL, 4, p, err, errlen);
    if (!r)
        return NULL;
    json_t *list = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n && i < VIEW_SETTLEMENT_LIST_MAX; i++) {
        json_t *d = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        if (d)
            json_array_append_new(list, d);
    }
    PQclear(r);
    return json_pack("{s:o, s:b}", "settlements", list, "truncated", n > VIEW_SETTLEMENT_LIST_MAX);
}

int view_settlement_put_many(struct rds *rds, struct pgc *pg, const char *ids_array, long *written,
                             char *err, size_t errlen)
{
    return view_doc_put_many(rds, pg, SETTLEMENT_SQL, VIEW_SETTLEMENT_KEY_FMT, ids_array, written,
                             err, errlen);
}

int view_settlement_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                                size_t errlen)
{
    long n = 0;
    int rc = view_doc_rebuild(rds, pg, "SELECT id FROM psop.settlements ORDER BY id",
                              view_settlement_put_many, VIEW_SETTLEMENT_CHUNK, &n, err, errlen);
    if (written)
        *written = n;
    return rc;
}
