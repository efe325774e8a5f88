#include "views/view_voucher_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/xmalloc.h"
#include "store/rds_items.h"
#include "views/view_voucher.h"
#include "views/view_voucher_sql.h"

/* Events with their voucher and its version: columns event id, voucher id,
 * version, sort key, event JSON. */
/* clang-format off */
#define EVENT_ROWS                                                                                 \
    "SELECT e.id::text, v.id::text, v.version, " VIEW_VOUCHER_EVENT_SORT ", "                      \
    VIEW_VOUCHER_EVENT_JSON "::text"
/* The changed events, one snapshot. */
static const char CHANGED_SQL[] =
    EVENT_ROWS
    "  FROM psop.service_events e JOIN psop.vouchers v ON v.id = e.voucher_id"
    " WHERE e.id = ANY ($1::uuid[])";
/* Every event of the vouchers (a voucher without any: one row of NULL event). */
static const char WHOLE_SQL[] =
    EVENT_ROWS
    "  FROM psop.vouchers v LEFT JOIN psop.service_events e ON e.voucher_id = v.id"
    " WHERE v.id = ANY ($1::uuid[]) ORDER BY v.id";
/* clang-format on */
enum { COL_EVENT, COL_VOUCHER, COL_VERSION, COL_SORT, COL_JSON };

/* The stored form of a voucher's events document: head and tail around the
 * events, as PostgreSQL's whole document has them (view_voucher.c). */
static void frame(struct rds_itemised *doc, const char *voucher_id, long long version)
{
    doc->key = xasprintf(VIEW_VOUCHER_EVENTS_KEY_FMT, voucher_id);
    doc->head =
        xasprintf("{\"voucher_id\":\"%s\",\"version\":%lld,\"events\":[", voucher_id, version);
    doc->tail = xstrdup("]}");
    doc->version = version;
}

static void free_docs(struct rds_itemised *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)docs[i].key);
        free((char *)docs[i].head);
        free((char *)docs[i].tail);
        free((struct rds_item *)docs[i].items);
    }
    free(docs);
}

static struct rds_item item_at(const PGresult *r, int row)
{
    return (struct rds_item){PQgetvalue(r, row, COL_EVENT), PQgetvalue(r, row, COL_SORT),
                             PQgetvalue(r, row, COL_JSON)};
}

/* ---------------------------------------------------------------------- */
/* Patches                                                                 */
/* ---------------------------------------------------------------------- */

/* The row of event id (by_id: event id -> row), or -1. */
static int row_of(const json_t *by_id, const char *id)
{
    json_t *row = json_object_get(by_id, id);
    return row ? (int)json_integer_value(row) : -1;
}

/* Fills doc with delta d's events from r, each its voucher's at
 * to_version; false when one is missing or moved on. */
static bool delta_doc(const PGresult *r, const json_t *by_id, const struct vv_delta *d,
                      struct rds_itemised *doc)
{
    size_t n = json_array_size(d->event_ids), k;
    struct rds_item *items = xcalloc(n ? n : 1, sizeof(*items));
    const json_t *id;
    json_array_foreach(d->event_ids, k, id)
    {
        int row = row_of(by_id, json_string_value(id));
        if (row < 0 || strcasecmp(PQgetvalue(r, row, COL_VOUCHER), d->voucher_id) != 0 ||
            strtoll(PQgetvalue(r, row, COL_VERSION), NULL, 10) != d->to_version) {
            free(items);
            return false;
        }
        items[k] = item_at(r, row);
    }
    frame(doc, d->voucher_id, d->to_version);
    doc->from_version = d->from_version;
    doc->items = items;
    doc->n = n;
    return true;
}

long view_voucher_events_delta(struct rds *rds, struct pgc *pg, struct vv_delta *d, size_t n,
                               char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        d[i].done = false;
    if (!rds || n == 0)
        return 0;
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
        return -1;
    json_t *by_id = json_object(); /* event id -> row */
    for (int row = 0; row < PQntuples(r); row++)
        json_object_set_new(by_id, PQgetvalue(r, row, COL_EVENT), json_integer(row));
    struct rds_itemised *docs = xcalloc(n, sizeof(*docs));
    size_t *which = xcalloc(n, sizeof(*which)), m = 0;
    for (size_t i = 0; i < n; i++)
        if (delta_doc(r, by_id, &d[i], &docs[m]))
            which[m++] = i;
    bool *patched = xcalloc(m ? m : 1, sizeof(*patched));
    long done = 0;
    if (m > 0 && rds_items_patch_many(rds, docs, m, patched, err, errlen) == 0)
        for (size_t k = 0; k < m; k++)
            if (patched[k]) {
                d[which[k]].done = true;
                done++;
            }
    free(patched);
    free_docs(docs, m);
    free(which);
    json_decref(by_id);
    PQclear(r);
    return done;
}

/* ---------------------------------------------------------------------- */
/* Whole documents                                                         */
/* ---------------------------------------------------------------------- */

int view_voucher_events_put_many(struct rds *rds, struct pgc *pg, const char *ids_array,
                                 long *written, char *err, size_t errlen)
{
    *written = 0;
    const char *p[] = {ids_array};
    PGresult *r = pgc_query(pg, WHOLE_SQL, 1, p, err, errlen);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct rds_itemised *docs = xcalloc(rows ? (size_t)rows : 1, sizeof(*docs));
    size_t m = 0;
    for (int row = 0; row < rows;) {
        const char *vid = PQgetvalue(r, row, COL_VOUCHER);
        int end = row;
        while (end < rows && strcmp(PQgetvalue(r, end, COL_VOUCHER), vid) == 0)
            end++;
        struct rds_item *items = xcalloc((size_t)(end - row), sizeof(*items));
        size_t n = 0;
        for (int k = row; k < end; k++)
            if (!PQgetisnull(r, k, COL_EVENT))
                items[n++] = item_at(r, k);
        frame(&docs[m], vid, strtoll(PQgetvalue(r, row, COL_VERSION), NULL, 10));
        docs[m].items = items;
        docs[m++].n = n;
        row = end;
    }
    bool *ok = xcalloc(m ? m : 1, sizeof(*ok));
    int rc = rds_items_put_many(rds, docs, m, ok, err, errlen);
    for (size_t k = 0; rc == 0 && k < m; k++)
        *written += ok[k];
    free(ok);
    free_docs(docs, m);
    PQclear(r);
    return rc;
}
