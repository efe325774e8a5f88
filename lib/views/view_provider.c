#include "views/view_provider.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/date.h"
#include "core/ids.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* Instants as RFC 3339 UTC with microseconds, whatever the session's TimeZone. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* clang-format off */
static const char PROVIDER_SQL[] =
    "SELECT p.version, json_strip_nulls(json_build_object("
    " 'id', p.id, 'business_id', p.business_id, 'name', p.name, 'iban', p.iban,"
    " 'email', p.email, 'supplier_number', p.supplier_number,"
    " 'registered_by', p.registered_by, 'registered_at', " TS("p.created_at") ","
    " 'version', p.version,"
    " 'applications', coalesce((SELECT json_agg(json_build_object("
    "    'id', a.id, 'organiser_id', a.organiser_id, 'service_type', a.service_type,"
    "    'rulebook_version', a.rulebook_version, 'applied_by', a.applied_by,"
    "    'applied_at', " TS("a.applied_at") ","
    "    'decisions', coalesce((SELECT json_agg(json_build_object("
    "        'id', d.id, 'decision', d.decision, 'valid_from', d.valid_from,"
    "        'reason', d.reason, 'decided_by', d.decided_by,"
    "        'decided_at', " TS("d.decided_at") ") ORDER BY d.decided_at, d.id)"
    "      FROM psop.provider_decisions d WHERE d.application_id = a.id), '[]'))"
    "    ORDER BY a.applied_at, a.id)"
    "  FROM psop.provider_applications a WHERE a.provider_id = p.id), '[]'),"
    " 'approvals', coalesce((SELECT json_agg(json_build_object("
    "    'organiser_id', t.organiser_id, 'service_type', t.service_type,"
    "    'status', coalesce(ld.decision, 'pending'),"
    "    'valid_from', CASE WHEN ld.decision = 'approved' THEN ld.valid_from END,"
    "    'decided_at', " TS("ld.decided_at") ","
    "    'application_pending', la.pending,"
    "    'suspended_from', su.from_date, 'suspension_reason', su.reason)"
    "    ORDER BY t.organiser_id, t.service_type)"
    "  FROM (SELECT DISTINCT organiser_id, service_type FROM psop.provider_applications"
    "         WHERE provider_id = p.id) t"
    "  CROSS JOIN LATERAL (SELECT NOT EXISTS (SELECT 1 FROM psop.provider_decisions x"
    "                                         WHERE x.application_id = a.id) AS pending"
    "       FROM psop.provider_applications a"
    "      WHERE a.provider_id = p.id AND a.organiser_id = t.organiser_id"
    "        AND a.service_type = t.service_type"
    "      ORDER BY a.applied_at DESC, a.id DESC LIMIT 1) la"
    "  LEFT JOIN LATERAL (SELECT d.decision, d.valid_from, d.decided_at"
    "       FROM psop.provider_decisions d"
    "      WHERE d.provider_id = p.id AND d.organiser_id = t.organiser_id"
    "        AND d.service_type = t.service_type"
    "      ORDER BY d.decided_at DESC, d.id DESC LIMIT 1) ld ON true"
    "  LEFT JOIN LATERAL (SELECT s.from_date, s.reason FROM psop.provider_suspensions s"
    "      WHERE ld.decision = 'approved' AND s.provider_id = p.id"
    "        AND s.organiser_id = t.organiser_id AND s.service_type = t.service_type"
    "        AND s.suspended_at > ld.decided_at"
    "      ORDER BY s.from_date, s.id LIMIT 1) su ON true), '[]'),"
    " 'suspensions', coalesce((SELECT json_agg(json_build_object("
    "    'id', s.id, 'organiser_id', s.organiser_id, 'service_type', s.service_type,"
    "    'from', s.from_date, 'reason', s.reason, 'suspended_by', s.suspended_by,"
    "    'suspended_at', " TS("s.suspended_at") ") ORDER BY s.suspended_at, s.id)"
    "  FROM psop.provider_suspensions s WHERE s.provider_id = p.id), '[]'),"
    " 'prices', coalesce((SELECT json_agg(json_build_object("
    "    'organiser_id', g.organiser_id, 'service_type', g.service_type, 'history', g.h)"
    "    ORDER BY g.organiser_id, g.service_type)"
    "  FROM (SELECT pp.organiser_id, pp.service_type, json_agg(json_build_object("
    "          'valid_from', pp.valid_from, 'price_cents', pp.price_cents,"
    "          'band_prices_cents', CASE WHEN num_nonnulls(pp.price_evening_cents,"
    "              pp.price_saturday_cents, pp.price_sunday_cents) > 0 THEN json_build_object("
    "              'evening', pp.price_evening_cents, 'saturday', pp.price_saturday_cents,"
    "              'sunday', pp.price_sunday_cents) END,"
    "          'set_by', pp.set_by, 'set_at', " TS("pp.set_at") ")"
    "          ORDER BY pp.valid_from DESC) AS h"
    "     FROM psop.provider_prices pp WHERE pp.provider_id = p.id"
    "    GROUP BY pp.organiser_id, pp.service_type) g), '[]')"
    "))::text FROM psop.providers p WHERE p.id = $1";
/* clang-format on */

/* $1 organiser, $2 service type, $3 today. The version is computed in the
 * same statement as the list (see the header). */
static const char PUBLIC_SQL[] =
    "WITH involved AS (SELECT DISTINCT provider_id FROM psop.provider_applications"
    "                   WHERE organiser_id = $1 AND service_type = $2),"
    " latest AS (SELECT DISTINCT ON (provider_id) provider_id, decision, valid_from, decided_at"
    "              FROM psop.provider_decisions WHERE organiser_id = $1 AND service_type = $2"
    "             ORDER BY provider_id, decided_at DESC, id DESC),"
    " listed AS (SELECT l.provider_id, l.valid_from FROM latest l"
    "             WHERE l.decision = 'approved' AND l.valid_from <= $3::date"
    "               AND NOT EXISTS (SELECT 1 FROM psop.provider_suspensions s"
    "                   WHERE s.provider_id = l.provider_id AND s.organiser_id = $1"
    "                     AND s.service_type = $2 AND s.suspended_at > l.decided_at"
    "                     AND s.from_date <= $3::date)),"
    " entries AS (SELECT p.id, p.name, p.business_id, p.email, li.valid_from AS approved_from,"
    "                 pr.valid_from AS price_from, pr.price_cents, pr.price_evening_cents,"
    "                 pr.price_saturday_cents, pr.price_sunday_cents"
    "            FROM listed li JOIN psop.providers p ON p.id = li.provider_id"
    "            LEFT JOIN LATERAL (SELECT * FROM psop.provider_prices pp"
    "                 WHERE pp.provider_id = li.provider_id AND pp.organiser_id = $1"
    "                   AND pp.service_type = $2 AND pp.valid_from <= $3::date"
    "                 ORDER BY pp.valid_from DESC LIMIT 1) pr ON true)"
    " SELECT o.version + st.version + (SELECT coalesce(sum(p.version), 0) FROM psop.providers p"
    "                                   JOIN involved i ON i.provider_id = p.id),"
    "  json_build_object('organiser_id', o.id, 'service_type', st.code, 'unit', st.unit,"
    "   'date', $3::date, 'providers', coalesce((SELECT "
    "json_agg(jsonb_strip_nulls(jsonb_build_object("
    "      'provider_id', r.id, 'name', r.name, 'business_id', r.business_id, 'email', r.email,"
    "      'approved_from', r.approved_from)) || jsonb_build_object('price',"
    "      CASE WHEN r.price_cents IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object("
    "        'valid_from', r.price_from, 'price_cents', r.price_cents,"
    "        'band_prices_cents', CASE WHEN st.coef_evening IS NOT NULL THEN jsonb_build_object("
    "           'evening', coalesce(r.price_evening_cents, r.price_cents),"
    "           'saturday', coalesce(r.price_saturday_cents, r.price_cents),"
    "           'sunday', coalesce(r.price_sunday_cents, r.price_cents)) END)) END)"
    "      ORDER BY r.price_cents NULLS LAST, r.name, r.id) FROM entries r), '[]'))::text"
    " FROM psop.organisers o, psop.service_types st WHERE o.id = $1 AND st.code = $2";

/* Runs a one-row (version, document) statement. NULL with err "" on no row. */
static json_t *one_doc(struct pgc *pg, const char *sql, int n, const char *const *params,
                       long long *version, char *err, size_t errlen)
{
    err[0] = '\0';
    PGresult *r = pgc_query(pg, sql, n, params, err, errlen);
    if (!r)
        return NULL;
    json_t *doc = NULL;
    if (PQntuples(r) == 1) {
        json_error_t je;
        doc = json_loads(PQgetvalue(r, 0, 1), 0, &je);
        if (!doc)
            snprintf(err, errlen, "view document not JSON: %s", je.text);
        else if (version)
            *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return doc;
}

json_t *view_provider(struct pgc *pg, const char *provider_id, long long *version, char *err,
                      size_t errlen)
{
    err[0] = '\0';
    if (!provider_id || !ids_uuid_valid(provider_id))
        return NULL; /* no such provider: ids are UUIDs */
    const char *p[] = {provider_id};
    return one_doc(pg, PROVIDER_SQL, 1, p, version, err, errlen);
}

json_t *view_public_providers(struct pgc *pg, const char *organiser_id, const char *service_type,
                              const char *today, long long *version, char *err, size_t errlen)
{
    err[0] = '\0';
    day_t day;
    if (!organiser_id || !ids_uuid_valid(organiser_id) || !service_type)
        return NULL;
    if (!today || date_parse(today, &day) < 0) {
        snprintf(err, errlen, "today must be YYYY-MM-DD");
        return NULL;
    }
    const char *p[] = {organiser_id, service_type, today};
    long long sum = 0;
    json_t *doc = one_doc(pg, PUBLIC_SQL, 3, p, &sum, err, errlen);
    if (doc && version) {
        if (sum >= VIEW_PUBLIC_DAY_STRIDE)
            LOG_WARN("public list version sum overflows the day stride", "organiser_id",
                     organiser_id, "service_type", service_type, NULL);
        *version = (long long)day * VIEW_PUBLIC_DAY_STRIDE + sum % VIEW_PUBLIC_DAY_STRIDE;
    }
    return doc;
}

int view_provider_put(struct rds *rds, struct pgc *pg, const char *provider_id, char *err,
                      size_t errlen)
{
    long long v = 0;
    json_t *doc = view_provider(pg, provider_id, &v, err, errlen);
    if (!doc)
        return err[0] ? -1 : 0;
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    char key[128];
    snprintf(key, sizeof(key), VIEW_PROVIDER_KEY_FMT, provider_id);
    int rc = rds_put_versioned(rds, key, v, s, 0, err, errlen);
    free(s);
    return rc;
}

/* Seconds from now until the Helsinki date changes (at least 60). */
static int seconds_to_helsinki_midnight(void)
{
    int64_t now = (int64_t)time(NULL);
    day_t today = date_helsinki_day_at(now);
    int64_t lo = now, hi = now + 26 * 3600; /* date_helsinki_day_at(hi) > today */
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (date_helsinki_day_at(mid) == today)
            lo = mid;
        else
            hi = mid;
    }
    int64_t s = hi - now;
    return s < 60 ? 60 : (int)s;
}

int view_public_put(struct rds *rds, struct pgc *pg, const char *organiser_id,
                    const char *service_type, const char *today, char *err, size_t errlen)
{
    char tbuf[11];
    int ttl = 0;
    if (!today) {
        date_format(date_today_helsinki(), tbuf);
        today = tbuf;
        ttl = seconds_to_helsinki_midnight();
    }
    long long v = 0;
    json_t *doc = view_public_providers(pg, organiser_id, service_type, today, &v, err, errlen);
    if (!doc)
        return err[0] ? -1 : 0;
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    char key[160];
    snprintf(key, sizeof(key), VIEW_PUBLIC_KEY_FMT, organiser_id, service_type);
    int rc = rds_put_versioned(rds, key, v, s, ttl, err, errlen);
    free(s);
    return rc;
}

void view_provider_refresh(struct rds *rds, struct pgc *pg, const char *provider_id)
{
    char err[512];
    if (view_provider_put(rds, pg, provider_id, err, sizeof(err)) < 0)
        LOG_WARN("read model: provider not written", "provider_id", provider_id, "error", err,
                 NULL);
}

void view_public_refresh(struct rds *rds, struct pgc *pg, const char *pair)
{
    char org[64], err[512];
    const char *colon = pair ? strchr(pair, ':') : NULL;
    if (!colon || (size_t)(colon - pair) >= sizeof(org)) {
        LOG_WARN("read model: bad public list id", "id", pair, NULL);
        return;
    }
    memcpy(org, pair, (size_t)(colon - pair));
    org[colon - pair] = '\0';
    if (view_public_put(rds, pg, org, colon + 1, NULL, err, sizeof(err)) < 0)
        LOG_WARN("read model: public providers not written", "organiser_id", org, "service_type",
                 colon + 1, "error", err, NULL);
}

int view_provider_rebuild_all(struct rds *rds, struct pgc *pg, long *written, char *err,
                              size_t errlen)
{
    long n = 0;
    int rc = -1;
    PGresult *ids =
        pgc_query(pg, "SELECT id FROM psop.providers ORDER BY id", 0, NULL, err, errlen);
    PGresult *pairs = NULL;
    if (!ids)
        goto out;
    for (int i = 0; i < PQntuples(ids); i++) {
        int w = view_provider_put(rds, pg, PQgetvalue(ids, i, 0), err, errlen);
        if (w < 0)
            goto out;
        n += w;
    }
    pairs = pgc_query(pg,
                      "SELECT DISTINCT organiser_id, service_type FROM psop.provider_applications "
                      "ORDER BY 1, 2",
                      0, NULL, err, errlen);
    if (!pairs)
        goto out;
    for (int i = 0; i < PQntuples(pairs); i++) {
        int w = view_public_put(rds, pg, PQgetvalue(pairs, i, 0), PQgetvalue(pairs, i, 1), NULL,
                                err, errlen);
        if (w < 0)
            goto out;
        n += w;
    }
    rc = 0;
out:
    if (ids)
        PQclear(ids);
    if (pairs)
        PQclear(pairs);
    if (written)
        *written = n;
    return rc;
}
