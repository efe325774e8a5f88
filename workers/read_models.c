#include "read_models.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"
#include "core/log.h"
#include "views/view_doc.h"
#include "views/view_order.h"
#include "views/view_provider.h"
#include "views/view_settlement.h"
#include "views/view_voucher.h"
#include "core/xmalloc.h"

/* {command_id, type, status, reason?, resource_id?, actor_sub?, actor?,
 * applied_at} */
static char *status_doc(const struct rm_status *st, const char *ts)
{
    json_t *actor = st->actor_sub && st->actor_role
                        ? json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "sub", st->actor_sub, "role",
                                    st->actor_role, "org", st->actor_org, "provider",
                                    st->actor_provider, "client", st->actor_client)
                        : NULL;
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:o?, s:s}", "command_id", st->command_id,
                  "type", st->type, "status", st->status, "reason", st->reason, "resource_id",
                  st->resource_id, "actor_sub", st->actor_sub, "actor", actor, "applied_at", ts);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    return s;
}

/* The status documents of n commands, stamped now (status_doc). */
static char **status_docs(const struct rm_status *st, size_t n)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char **docs = xcalloc(n, sizeof(*docs));
    for (size_t i = 0; i < n; i++)
        docs[i] = status_doc(&st[i], ts);
    return docs;
}

static void free_all(char **strs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(strs[i]);
    free(strs);
}

void rm_command_statuses(struct rds *rds, const struct rm_status *st, size_t n)
{
    if (!rds || n == 0)
        return;
    char err[256];
    char **docs = status_docs(st, n), **keys = xcalloc(n, sizeof(*keys));
    long long *vers = xcalloc(n, sizeof(*vers));
    for (size_t i = 0; i < n; i++) {
        keys[i] = xmalloc(128);
        snprintf(keys[i], 128, RM_CMD_KEY_FMT, st[i].command_id);
        vers[i] = 1;
    }
    long written = 0;
    /* Written before they are announced: a waiter woken by the message
     * finds the status. */
    if (rds_put_versioned_many(rds, n, (const char *const *)keys, vers, (const char *const *)docs,
                               RM_CMD_TTL_S, &written, err, sizeof(err)) < 0)
        LOG_WARN("read model: command statuses not written", "error", err, NULL);
    if (rds_publish_many(rds, RM_CMD_CHANNEL, n, (const char *const *)docs, err, sizeof(err)) < 0)
        LOG_WARN("read model: command statuses not announced", "error", err, NULL);
    free_all(docs, n);
    free_all(keys, n);
    free(vers);
}

void rm_command_announce(struct rds *rds, const struct rm_status *st, size_t n)
{
    if (!rds || n == 0)
        return;
    char err[256];
    char **docs = status_docs(st, n);
    if (rds_publish_many(rds, RM_CMD_CHANNEL, n, (const char *const *)docs, err, sizeof(err)) < 0)
        LOG_WARN("read model: parked command statuses not announced", "error", err, NULL);
    free_all(docs, n);
}

typedef void (*rm_refresh_fn)(struct rds *rds, struct pgc *pg, const char *id);

struct rm_kind {
    const char *kind;
    rm_refresh_fn fn;      /* one aggregate at a time (kinds without many) */
    view_put_many_fn many; /* many at once */
    size_t chunk;          /* ids per statement for many (bounds the memory) */
    /* For stale markers: (id, version) of $1 = uuid[], and the keys. */
    const char *versions_sql;
    const char *keys[3];
};

#define VERSIONS_OF(table) "SELECT id::text, version FROM " table " WHERE id = ANY ($1::uuid[])"

/* One row per read model kind; the refreshers live beside their handlers. */
static const struct rm_kind kinds[] = {
    {VIEW_PROVIDER_KIND, view_provider_refresh, NULL, 0, NULL, {NULL}},
    {VIEW_PUBLIC_KIND, view_public_refresh, NULL, 0, NULL, {NULL}},
    {VIEW_VOUCHER_KIND,
     NULL,
     view_voucher_put_many,
     VIEW_VOUCHER_CHUNK,
     VERSIONS_OF("psop.vouchers"),
     {VIEW_VOUCHER_KEY_FMT, VIEW_VOUCHER_EVENTS_KEY_FMT, NULL}},
    {VIEW_SETTLEMENT_KIND,
     NULL,
     view_settlement_put_many,
     VIEW_SETTLEMENT_CHUNK,
     VERSIONS_OF("psop.settlements"),
     {VIEW_SETTLEMENT_KEY_FMT, NULL}},
    {VIEW_ORDER_KIND,
     NULL,
     view_order_put_many,
     VIEW_VOUCHER_CHUNK,
     VERSIONS_OF("psop.orders"),
     {VIEW_ORDER_KEY_FMT, VIEW_ORDER_EVENTS_KEY_FMT, NULL}},
    {VIEW_CONTRACT_KIND, view_contract_refresh, NULL, 0, NULL, {NULL}},
    {NULL, NULL, NULL, 0, NULL, {NULL}},
};

/* Rebuilds (mark false) or marks stale (mark true) one chunk of ids of kind
 * k (a uuid[] literal). Returns the keys written. */
static long do_chunk(struct rds *rds, struct pgc *pg, const struct rm_kind *k, bool mark,
                     const char *ids)
{
    char err[512];
    long w = 0;
    if (mark)
        w = view_doc_mark_stale(rds, pg, k->versions_sql, ids, k->keys, err, sizeof(err));
    else if (k->many(rds, pg, ids, &w, err, sizeof(err)) < 0)
        w = -1;
    if (w < 0) {
        LOG_WARN(mark ? "read model: stale markers not written" : "read model: not written", "kind",
                 k->kind, "error", err, NULL);
        return 0;
    }
    return w;
}

/* The touched aggregates of kind k, chunk at a time: rebuilt (k->chunk per
 * statement) or marked stale (5 000 per statement). Returns keys written. */
static long by_chunks(struct rds *rds, struct pgc *pg, const struct rm_kind *k,
                      const json_t *touched, bool mark)
{
    size_t chunk = mark ? 5000 : k->chunk, i;
    struct ids_list ids;
    ids_list_init(&ids);
    long written = 0;
    const json_t *t;
    json_array_foreach(touched, i, t)
    {
        if (strcmp(json_string_value(json_array_get(t, 0)), k->kind) != 0 ||
            ids_list_add(&ids, json_string_value(json_array_get(t, 1))) < 0)
            continue;
        if (ids.n == chunk) {
            written += do_chunk(rds, pg, k, mark, ids.text);
            ids_list_clear(&ids);
        }
    }
    if (ids.n > 0)
        written += do_chunk(rds, pg, k, mark, ids.text);
    ids_list_free(&ids);
    return written;
}

void rm_refresh(struct rds *rds, struct pgc *pg, const json_t *touched, long rebuild_max)
{
    if (!rds || !touched)
        return;
    size_t i;
    json_t *t;
    for (const struct rm_kind *k = kinds; k->kind; k++) {
        size_t count = 0;
        json_array_foreach(touched, i, t) count +=
            strcmp(json_string_value(json_array_get(t, 0)), k->kind) == 0;
        if (count == 0)
            continue;
        if (k->versions_sql && rebuild_max >= 0 && count > (size_t)rebuild_max) {
            long marked = by_chunks(rds, pg, k, touched, true);
            char cs[24], ms[24];
            snprintf(cs, sizeof(cs), "%zu", count);
            snprintf(ms, sizeof(ms), "%ld", marked);
            LOG_INFO("read models marked stale", "kind", k->kind, "aggregates", cs, "keys", ms,
                     NULL);
        } else if (k->many) {
            by_chunks(rds, pg, k, touched, false);
        } else {
            json_array_foreach(touched, i,
                               t) if (strcmp(json_string_value(json_array_get(t, 0)), k->kind) == 0)
                k->fn(rds, pg, json_string_value(json_array_get(t, 1)));
        }
    }
}
