#include "views/view_events_delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/xmalloc.h"
#include "store/rds_items.h"
#include "views/view_order.h"
#include "views/view_voucher.h"
#include "views/view_events_sql.h"

/* Events with their parent and its version: columns event id, parent id,
 * version, sort key, event JSON, the head's extra field (an order's contract
 * id; null for vouchers). */
enum { COL_EVENT, COL_PARENT, COL_VERSION, COL_SORT, COL_JSON, COL_EXTRA };
/* clang-format off */
#define VOUCHER_ROWS                                                                               \
    "SELECT e.id::text, v.id::text, v.version, " VIEW_EVENT_SORT ", "                      \
    VIEW_VOUCHER_EVENT_JSON "::text, NULL::text"
#define ORDER_ROWS                                                                                 \
    "SELECT e.id::text, o.id::text, o.version, " VIEW_EVENT_SORT ", "                      \
    VIEW_ORDER_EVENT_JSON "::text, o.contract_id::text"
/* clang-format on */

struct family {
    const char *changed_sql; /* the changed events, one snapshot: $1 their ids */
    const char *whole_sql;   /* every event of the parents $1 (a parent without any:
                              * one row of NULL event), ordered by parent */
    const char *key_fmt;
    const char *noun; /* the head's "<noun>_id" */
};

static const struct family families[] = {
    [VED_VOUCHER] = {VOUCHER_ROWS "  FROM psop.service_events e"
                                  "  JOIN psop.vouchers v ON v.id = e.voucher_id"
                                  " WHERE e.id = ANY ($1::uuid[])",
                     VOUCHER_ROWS "  FROM psop.vouchers v"
                                  "  LEFT JOIN psop.service_events e ON e.voucher_id = v.id"
                                  " WHERE v.id = ANY ($1::uuid[]) ORDER BY v.id",
                     VIEW_VOUCHER_EVENTS_KEY_FMT, "voucher"},
    [VED_ORDER] = {ORDER_ROWS "  FROM psop.service_events e"
                              "  JOIN psop.orders o ON o.id = e.order_id"
                              " WHERE e.id = ANY ($1::uuid[])",
                   ORDER_ROWS "  FROM psop.orders o"
                              "  LEFT JOIN psop.service_events e ON e.order_id = o.id"
                              " WHERE o.id = ANY ($1::uuid[]) ORDER BY o.id",
                   VIEW_ORDER_EVENTS_KEY_FMT, "order"},
};

/* The stored form of an events document: head and tail around the events,
 * as PostgreSQL's whole document has them (view_voucher.c, view_order.c:
 * {voucher_id, version, events} and {order_id, contract_id, version,
 * events}). */
static void frame(const struct family *f, struct rds_itemised *doc, const char *parent_id,
                  const char *extra, long long version)
{
    doc->key = xasprintf(f->key_fmt, parent_id);
    if (extra && *extra)
        doc->head = xasprintf("{\"%s_id\":\"%s\",\"contract_id\":\"%s\",\"version\":%lld,"
                              "\"events\":[",
                              f->noun, parent_id, extra, version);
    else
        doc->head = xasprintf("{\"%s_id\":\"%s\",\"version\":%lld,\"events\":[", f->noun, parent_id,
                              version);
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

/* Fills doc with delta d's events from r, each its parent's at
 * to_version; false when one is missing or moved on. */
static bool delta_doc(const struct family *f, const PGresult *r, const json_t *by_id,
                      const struct ved_delta *d, struct rds_itemised *doc)
{
    size_t n = json_array_size(d->event_ids), k;
    struct rds_item *items = xcalloc(n ? n : 1, sizeof(*items));
    const json_t *id;
    const char *extra = NULL; /* the parent's, on every row */
    json_array_foreach(d->event_ids, k, id)
    {
        int row = row_of(by_id, json_string_value(id));
        if (row < 0 || strcasecmp(PQgetvalue(r, row, COL_PARENT), d->parent_id) != 0 ||
            strtoll(PQgetvalue(r, row, COL_VERSION), NULL, 10) != d->to_version) {
            free(items);
            return false;
        }
        items[k] = item_at(r, row);
        extra = PQgetvalue(r, row, COL_EXTRA);
    }
    frame(f, doc, d->parent_id, extra, d->to_version);
    doc->from_version = d->from_version;
    doc->items = items;
    doc->n = n;
    return true;
}

long view_events_delta(enum ved_parent kind, struct rds *rds, struct pgc *pg, struct ved_delta *d,
                       size_t n, char *err, size_t errlen)
{
    const struct family *f = &families[kind];
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
    PGresult *r = pgc_query(pg, f->changed_sql, 1, p, err, errlen);
    ids_list_free(&ids);
    if (!r)
        return -1;
    json_t *by_id = json_object(); /* event id -> row */
    for (int row = 0; row < PQntuples(r); row++)
        json_object_set_new(by_id, PQgetvalue(r, row, COL_EVENT), json_integer(row));
    struct rds_itemised *docs = xcalloc(n, sizeof(*docs));
    size_t *which = xcalloc(n, sizeof(*which)), m = 0;
    for (size_t i = 0; i < n; i++)
        if (delta_doc(f, r, by_id, &d[i], &docs[m]))
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

int view_events_put_many(enum ved_parent kind, struct rds *rds, struct pgc *pg,
                         const char *ids_array, long *written, char *err, size_t errlen)
{
    const struct family *f = &families[kind];
    *written = 0;
    const char *p[] = {ids_array};
    PGresult *r = pgc_query(pg, f->whole_sql, 1, p, err, errlen);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    struct rds_itemised *docs = xcalloc(rows ? (size_t)rows : 1, sizeof(*docs));
    size_t m = 0;
    for (int row = 0; row < rows;) {
        const char *pid = PQgetvalue(r, row, COL_PARENT);
        int end = row;
        while (end < rows && strcmp(PQgetvalue(r, end, COL_PARENT), pid) == 0)
            end++;
        struct rds_item *items = xcalloc((size_t)(end - row), sizeof(*items));
        size_t n = 0;
        for (int k = row; k < end; k++)
            if (!PQgetisnull(r, k, COL_EVENT))
                items[n++] = item_at(r, k);
        frame(f, &docs[m], pid, PQgetvalue(r, row, COL_EXTRA),
              strtoll(PQgetvalue(r, row, COL_VERSION), NULL, 10));
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

int view_events_put_with_docs(enum ved_parent kind, view_put_many_fn doc_many, struct rds *rds,
                              struct pgc *pg, const char *ids_array, long *written, char *err,
                              size_t errlen)
{
    long events = 0;
    int rc = doc_many(rds, pg, ids_array, written, err, errlen);
    if (rc == 0)
        rc = view_events_put_many(kind, rds, pg, ids_array, &events, err, errlen);
    *written += events;
    return rc;
}
