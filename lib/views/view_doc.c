#include "views/view_doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/invariant.h"
#include "core/xmalloc.h"

char *view_doc_text(struct pgc *pg, const char *sql, const char *id, long long *version, char *err,
                    size_t errlen)
{
    err[0] = '\0';
    if (!id || !ids_uuid_valid(id))
        return NULL; /* ids are UUIDs: no such document */
    const char *p[] = {id};
    PGresult *r = pgc_query(pg, sql, 1, p, err, errlen);
    if (!r)
        return NULL;
    char *s = NULL;
    if (PQntuples(r) == 1) {
        s = xstrdup(PQgetvalue(r, 0, 1));
        if (version)
            *version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    }
    PQclear(r);
    return s;
}

/* Writes, pipelined, one key per row of r: key_fmt with the row's id
 * (column 0), version column 1, document column doc_col (-1: "", a stale
 * marker). *written counts the keys written. 0, or -1 with err. */
static int put_rows(struct rds *rds, const PGresult *r, const char *key_fmt, int doc_col,
                    long *written, char *err, size_t errlen)
{
    size_t n = (size_t)PQntuples(r);
    char **keys = xcalloc(n ? n : 1, sizeof(*keys));
    const char **docs = xcalloc(n ? n : 1, sizeof(*docs));
    long long *vers = xcalloc(n ? n : 1, sizeof(*vers));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(key_fmt) + (size_t)PQgetlength(r, (int)i, 0) + 1;
        keys[i] = xmalloc(len);
        snprintf(keys[i], len, key_fmt, PQgetvalue(r, (int)i, 0));
        vers[i] = strtoll(PQgetvalue(r, (int)i, 1), NULL, 10);
        docs[i] = doc_col < 0 ? "" : PQgetvalue(r, (int)i, doc_col);
    }
    int rc = rds_put_versioned_many(rds, n, (const char *const *)keys, vers, docs, 0, written, err,
                                    errlen);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    free(docs);
    free(vers);
    return rc;
}

long view_doc_mark_stale(struct rds *rds, struct pgc *pg, const char *versions_sql,
                         const char *ids_array, const char *const *key_fmts, char *err,
                         size_t errlen)
{
    const char *p[] = {ids_array};
    PGresult *r = pgc_query(pg, versions_sql, 1, p, err, errlen);
    if (!r)
        return -1;
    long total = 0;
    int rc = 0;
    for (size_t f = 0; key_fmts[f] && rc == 0; f++) {
        long w = 0;
        rc = put_rows(rds, r, key_fmts[f], -1, &w, err, errlen);
        total += w;
    }
    PQclear(r);
    return rc < 0 ? -1 : total;
}

/* one_sql run for each id of unnest($1::uuid[]): "$1::uuid" becomes u.id. */
static char *many_sql(const char *one_sql)
{
    static const char pre[] = "SELECT u.id::text, d.* FROM unnest($1::uuid[]) AS u(id) "
                              "CROSS JOIN LATERAL (",
                      post[] = ") AS d", from[] = "$1::uuid", to[] = "u.id";
    size_t cap = sizeof(pre) + strlen(one_sql) + sizeof(post), off = 0;
    char *s = xmalloc(cap);
    off += (size_t)snprintf(s, cap, "%s", pre);
    for (const char *p = one_sql; *p;) {
        if (strncmp(p, from, sizeof(from) - 1) == 0) {
            off += (size_t)snprintf(s + off, cap - off, "%s", to);
            p += sizeof(from) - 1;
        } else {
            s[off++] = *p++;
        }
    }
    /* cap holds one_sql whole, and every replacement shortens it */
    PSOP_ASSERT(off + sizeof(post) <= cap);
    snprintf(s + off, cap - off, "%s", post);
    return s;
}

int view_doc_put_many(struct rds *rds, struct pgc *pg, const char *one_sql, const char *key_fmt,
                      const char *ids_array, long *written, char *err, size_t errlen)
{
    *written = 0;
    char *sql = many_sql(one_sql);
    const char *p[] = {ids_array};
    PGresult *r = pgc_query(pg, sql, 1, p, err, errlen);
    free(sql);
    if (!r)
        return -1;
    int rc = put_rows(rds, r, key_fmt, 2, written, err, errlen);
    PQclear(r);
    return rc;
}

int view_doc_put_keys(struct rds *rds, struct pgc *pg, const struct view_doc_key *keys, size_t n,
                      const char *ids_array, long *written, char *err, size_t errlen)
{
    *written = 0;
    for (size_t i = 0; i < n; i++) {
        long w = 0;
        int rc =
            view_doc_put_many(rds, pg, keys[i].sql, keys[i].key_fmt, ids_array, &w, err, errlen);
        *written += w;
        if (rc < 0)
            return -1;
    }
    return 0;
}

int view_doc_put_one(struct rds *rds, struct pgc *pg, view_put_many_fn fn, const char *id,
                     char *err, size_t errlen)
{
    err[0] = '\0';
    struct ids_list ids;
    ids_list_init(&ids);
    long w = 0;
    int rc = 0; /* not a UUID: nothing to write */
    if (ids_list_add(&ids, id) == 0)
        rc = fn(rds, pg, ids.text, &w, err, errlen) < 0 ? -1 : w > 0;
    ids_list_free(&ids);
    return rc;
}

int view_doc_rebuild(struct rds *rds, struct pgc *pg, const char *ids_sql, view_put_many_fn fn,
                     size_t chunk, long *written, char *err, size_t errlen)
{
    *written = 0;
    PGresult *r = pgc_query(pg, ids_sql, 0, NULL, err, errlen);
    if (!r)
        return -1;
    size_t n = (size_t)PQntuples(r);
    struct ids_list ids;
    ids_list_init(&ids);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += chunk) {
        ids_list_clear(&ids);
        for (size_t i = at; i < n && i < at + chunk; i++)
            ids_list_add(&ids, PQgetvalue(r, (int)i, 0)); /* id::text of a uuid column */
        long w = 0;
        rc = fn(rds, pg, ids.text, &w, err, errlen);
        *written += w;
    }
    ids_list_free(&ids);
    PQclear(r);
    return rc;
}

json_t *view_doc_parse(char *s, char *err, size_t errlen)
{
    if (!s)
        return NULL;
    json_error_t je;
    json_t *doc = json_loads(s, 0, &je);
    if (!doc)
        snprintf(err, errlen, "view document not JSON: %s", je.text);
    free(s);
    return doc;
}

json_t *view_answer_base(const json_t *doc, const char **month, char mbuf[8], day_t today,
                         char tbuf[11])
{
    int y, m;
    date_format(today, tbuf);
    if (!*month) {
        snprintf(mbuf, 8, "%.7s", tbuf);
        *month = mbuf;
    }
    if (!doc || date_parse_month(*month, &y, &m) < 0)
        return NULL;
    json_t *a = json_deep_copy(doc);
    json_object_del(a, "usage");
    const char *st = json_string_value(json_object_get(a, "status"));
    const char *vt = json_string_value(json_object_get(a, "valid_to"));
    if (st && strcmp(st, "active") == 0 && vt && strcmp(vt, tbuf) < 0)
        json_object_set_new(a, "status", json_string("expired"));
    json_object_set_new(a, "month", json_string(*month));
    return a;
}

json_t *view_events_of_month(const json_t *events_doc, const char *month, json_t *out)
{
    if (month)
        json_object_set_new(out, "month", json_string(month));
    json_t *list = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(events_doc, "events"), i, e)
    {
        const char *d = json_string_value(json_object_get(e, "date"));
        if (!month || (d && strncmp(d, month, 7) == 0))
            json_array_append(list, e);
    }
    json_object_set_new(out, "events", list);
    return out;
}
