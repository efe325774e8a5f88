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
#include "views/view_events_delta.h"
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

#define VOUCHER_DOC_KIND "voucher-doc"
#define ORDER_DOC_KIND "order-doc"
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
    /* A voucher whose events document was patched (rm_deltas): its voucher
     * document alone. */
    {VOUCHER_DOC_KIND,
     NULL,
     view_voucher_doc_put_many,
     VIEW_VOUCHER_CHUNK,
     VERSIONS_OF("psop.vouchers"),
     {VIEW_VOUCHER_KEY_FMT, NULL}},
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
    /* An order whose events document was patched (rm_deltas): its order
     * document alone. */
    {ORDER_DOC_KIND,
     NULL,
     view_order_doc_put_many,
     VIEW_VOUCHER_CHUNK,
     VERSIONS_OF("psop.orders"),
     {VIEW_ORDER_KEY_FMT, NULL}},
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

/* The delta families: the touched kind of one changed event, the parent's
 * kind, and the kind that rebuilds the parent's document alone once its
 * events document is patched. */
static const struct {
    const char *delta_kind, *parent_kind, *doc_kind;
    enum ved_parent parent;
} families[] = {
    {VIEW_VOUCHER_DELTA_KIND, VIEW_VOUCHER_KIND, VOUCHER_DOC_KIND, VED_VOUCHER},
    {VIEW_ORDER_DELTA_KIND, VIEW_ORDER_KIND, ORDER_DOC_KIND, VED_ORDER},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/* The batch's changed events of delta_kind, per parent: {parent id: {min,
 * max, versions {v: true}, events {id: true}}}. */
static json_t *deltas_by_parent(const json_t *touched, const char *delta_kind)
{
    json_t *by = json_object();
    size_t i;
    const json_t *t;
    json_array_foreach(touched, i, t)
    {
        if (strcmp(json_string_value(json_array_get(t, 0)), delta_kind) != 0)
            continue;
        char pid[48], eid[48];
        long long ver;
        if (sscanf(json_string_value(json_array_get(t, 1)), "%47s %47s %lld", pid, eid, &ver) != 3)
            continue;
        json_t *d = json_object_get(by, pid);
        if (!d) {
            d = json_pack("{s:I, s:I, s:{}, s:{}}", "min", (json_int_t)ver, "max", (json_int_t)ver,
                          "versions", "events");
            json_object_set_new(by, pid, d);
        }
        if (ver < json_integer_value(json_object_get(d, "min")))
            json_object_set_new(d, "min", json_integer(ver));
        if (ver > json_integer_value(json_object_get(d, "max")))
            json_object_set_new(d, "max", json_integer(ver));
        char vs[24];
        snprintf(vs, sizeof(vs), "%lld", ver);
        json_object_set_new(json_object_get(d, "versions"), vs, json_true());
        json_object_set_new(json_object_get(d, "events"), eid, json_true());
    }
    return by;
}

/* Patches the events documents of family f's parents whose every version
 * bump in the batch changed one event (an unbroken chain min..max: a command
 * of the parent in between, or after, leaves a gap or a newer version, and
 * the whole rebuild). Adds each patched parent's id to patched. */
static void patch_family(struct rds *rds, struct pgc *pg, const json_t *touched, size_t f,
                         json_t *patched)
{
    json_t *by = deltas_by_parent(touched, families[f].delta_kind);
    size_t n = json_object_size(by), m = 0;
    if (n == 0) {
        json_decref(by);
        return;
    }
    struct ved_delta *d = xcalloc(n, sizeof(*d));
    const char *pid;
    json_t *x;
    json_object_foreach(by, pid, x)
    {
        long long lo = json_integer_value(json_object_get(x, "min"));
        long long hi = json_integer_value(json_object_get(x, "max"));
        if ((long long)json_object_size(json_object_get(x, "versions")) != hi - lo + 1)
            continue;
        json_t *evs = json_array();
        const char *eid;
        json_t *unused;
        json_object_foreach(json_object_get(x, "events"), eid, unused)
            json_array_append_new(evs, json_string(eid));
        d[m++] = (struct ved_delta){pid, lo - 1, hi, evs, false};
    }
    char err[512];
    long done = view_events_delta(families[f].parent, rds, pg, d, m, err, sizeof(err));
    if (done < 0)
        LOG_WARN("read model: events not patched (rebuilt)", "kind", families[f].parent_kind,
                 "error", err, NULL);
    for (size_t i = 0; i < m; i++) {
        if (d[i].done)
            json_object_set_new(patched, d[i].parent_id, json_true());
        json_decref((json_t *)d[i].event_ids); /* made above; d borrows it */
    }
    free(d);
    json_decref(by);
}

/* Patches what can be patched (patch_family, each family). Returns touched
 * with each patched parent's entry turned into its family's doc kind (a new
 * reference), or touched itself (incref) when nothing was. */
static json_t *rm_deltas(struct rds *rds, struct pgc *pg, const json_t *touched)
{
    json_t *patched[NFAMILIES];
    size_t any = 0;
    for (size_t f = 0; f < NFAMILIES; f++) {
        patched[f] = json_object();
        patch_family(rds, pg, touched, f, patched[f]);
        any += json_object_size(patched[f]);
    }
    if (!any) {
        for (size_t f = 0; f < NFAMILIES; f++)
            json_decref(patched[f]);
        return json_incref((json_t *)touched);
    }
    json_t *out = json_array();
    size_t i;
    const json_t *t;
    json_array_foreach(touched, i, t)
    {
        const char *kind = json_string_value(json_array_get(t, 0));
        const char *id = json_string_value(json_array_get(t, 1));
        const char *doc_kind = NULL;
        for (size_t f = 0; f < NFAMILIES && !doc_kind; f++)
            if (strcmp(kind, families[f].parent_kind) == 0 && json_object_get(patched[f], id))
                doc_kind = families[f].doc_kind;
        if (doc_kind)
            json_array_append_new(out, json_pack("[ss]", doc_kind, id));
        else
            json_array_append(out, (json_t *)t);
    }
    for (size_t f = 0; f < NFAMILIES; f++)
        json_decref(patched[f]);
    return out;
}

void rm_refresh(struct rds *rds, struct pgc *pg, const json_t *touched_in, long rebuild_max)
{
    if (!rds || !touched_in)
        return;
    size_t i;
    json_t *t;
    size_t vouchers = 0;
    json_array_foreach(touched_in, i, t) vouchers +=
        strcmp(json_string_value(json_array_get(t, 0)), VIEW_VOUCHER_KIND) == 0;
    /* Too many to rebuild: all are marked stale below, no patching. */
    json_t *touched = rebuild_max >= 0 && vouchers > (size_t)rebuild_max
                          ? json_incref((json_t *)touched_in)
                          : rm_deltas(rds, pg, touched_in);
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
    json_decref(touched);
}
