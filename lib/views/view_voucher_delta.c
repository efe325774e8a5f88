#include "views/view_voucher_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/xmalloc.h"
#include "views/view_voucher.h"
#include "views/view_voucher_sql.h"

/* ---------------------------------------------------------------------- */
/* The patch (pure)                                                        */
/* ---------------------------------------------------------------------- */

static const char *field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The whole document's order: ORDER BY e.date, e.recorded_at, e.id, on the
 * texts PostgreSQL wrote (dates ISO, instants with microseconds in UTC,
 * uuids in lower case: their text order is PostgreSQL's order). */
static int event_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(field(x, "date"), field(y, "date"));
    if (c == 0)
        c = strcmp(field(x, "recorded_at"), field(y, "recorded_at"));
    if (c == 0)
        c = strcmp(field(x, "id"), field(y, "id"));
    return c;
}

int view_voucher_events_patch(json_t *doc, const json_t *changed, long long version)
{
    json_t *events = json_object_get(doc, "events");
    if (!json_is_array(events) || !json_is_array(changed))
        return -1;
    size_t i, j;
    const json_t *c;
    json_array_foreach(changed, i, c) if (!json_string_value(json_object_get(c, "id"))) return -1;
    size_t n = json_array_size(events), cap = n + json_array_size(changed);
    json_t **all = xcalloc(cap ? cap : 1, sizeof(*all));
    for (i = 0; i < n; i++)
        all[i] = json_incref(json_array_get(events, i));
    json_array_foreach(changed, j, c)
    {
        size_t k;
        for (k = 0; k < n; k++)
            if (strcasecmp(field(all[k], "id"), field(c, "id")) == 0)
                break;
        if (k < n) {
            json_decref(all[k]);
            all[k] = json_incref((json_t *)c);
        } else {
            all[n++] = json_incref((json_t *)c);
        }
    }
    qsort(all, n, sizeof(*all), event_cmp);
    json_array_clear(events);
    for (i = 0; i < n; i++)
        json_array_append_new(events, all[i]);
    free(all);
    json_object_set_new(doc, "version", json_integer(version));
    return 0;
}

/* ---------------------------------------------------------------------- */
/* PostgreSQL and Redis                                                    */
/* ---------------------------------------------------------------------- */

/* The changed events with their voucher and its version, one snapshot. */
/* clang-format off */
static const char CHANGED_SQL[] =
    "SELECT e.id::text, e.voucher_id::text, v.version, " VIEW_VOUCHER_EVENT_JSON "::text"
    "  FROM psop.service_events e JOIN psop.vouchers v ON v.id = e.voucher_id"
    " WHERE e.id = ANY ($1::uuid[])";
/* clang-format on */

/* {event id: [voucher id, version, event]} of the changed events. */
static json_t *changed_events(struct pgc *pg, const struct vv_delta *d, size_t n, char *err,
                              size_t errlen)
{
    struct ids_list ids;
    ids_list_init(&ids);
    for (size_t i = 0; i < n; i++) {
        size_t k;
        const json_t *id;
        json_array_foreach(d[i].event_ids, k, id) ids_list_add(&ids, json_string_value(id));
    }
    const char *p[] = {ids.text};
    PGresult *r = pgc_query(pg, CHANGED_SQL, 1, p, err, errlen);
    ids_list_free(&ids);
    if (!r)
        return NULL;
    json_t *out = json_object();
    for (int row = 0; row < PQntuples(r); row++) {
        json_t *ev = json_loads(PQgetvalue(r, row, 3), 0, NULL);
        if (!ev)
            continue; /* cannot happen (PostgreSQL's JSON): that voucher is rebuilt */
        json_object_set_new(out, PQgetvalue(r, row, 0),
                            json_pack("[s, I, o]", PQgetvalue(r, row, 1),
                                      (json_int_t)strtoll(PQgetvalue(r, row, 2), NULL, 10), ev));
    }
    PQclear(r);
    return out;
}

/* The events of delta d from rows, each its voucher's at to_version; NULL
 * when one is missing or moved on. */
static json_t *events_of(const struct vv_delta *d, const json_t *rows)
{
    json_t *list = json_array();
    size_t k;
    const json_t *id;
    json_array_foreach(d->event_ids, k, id)
    {
        const json_t *row = json_object_get(rows, json_string_value(id));
        if (!row || strcasecmp(json_string_value(json_array_get(row, 0)), d->voucher_id) != 0 ||
            json_integer_value(json_array_get(row, 1)) != d->to_version) {
            json_decref(list);
            return NULL;
        }
        json_array_append(list, json_array_get(row, 2));
    }
    return list;
}

/* The stored document of d, patched; NULL when it is not the one the batch
 * started from (or Redis failed: the whole rebuild will say so). */
static char *patched_doc(struct rds *rds, const struct vv_delta *d, const json_t *events,
                         char key[128])
{
    char err[256], *text = NULL;
    long long ver = 0;
    snprintf(key, 128, VIEW_VOUCHER_EVENTS_KEY_FMT, d->voucher_id);
    if (rds_get_versioned(rds, key, &text, &ver, err, sizeof(err)) != RDS_FOUND ||
        ver != d->from_version) {
        free(text);
        return NULL;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    char *out = NULL;
    if (doc && view_voucher_events_patch(doc, events, d->to_version) == 0)
        out = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    return out;
}

long view_voucher_events_delta(struct rds *rds, struct pgc *pg, struct vv_delta *d, size_t n,
                               char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        d[i].done = false;
    if (!rds || n == 0)
        return 0;
    json_t *rows = changed_events(pg, d, n, err, errlen);
    if (!rows)
        return -1;
    char **keys = xcalloc(n, sizeof(*keys)), **docs = xcalloc(n, sizeof(*docs));
    long long *vers = xcalloc(n, sizeof(*vers));
    size_t *which = xcalloc(n, sizeof(*which)), m = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *events = events_of(&d[i], rows);
        char key[128];
        char *doc = events ? patched_doc(rds, &d[i], events, key) : NULL;
        json_decref(events);
        if (!doc)
            continue;
        keys[m] = xstrdup(key);
        docs[m] = doc;
        vers[m] = d[i].to_version;
        which[m++] = i;
    }
    json_decref(rows);
    long written = 0, done = 0;
    if (m > 0 && rds_put_versioned_many(rds, m, (const char *const *)keys, vers,
                                        (const char *const *)docs, 0, &written, err, errlen) == 0) {
        /* A key refused as stale holds a newer document already. */
        for (size_t k = 0; k < m; k++)
            d[which[k]].done = true;
        done = (long)m;
    }
    for (size_t k = 0; k < m; k++) {
        free(keys[k]);
        free(docs[k]);
    }
    free(keys);
    free(docs);
    free(vers);
    free(which);
    return done;
}
