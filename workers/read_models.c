#include "read_models.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "view_doc.h"
#include "view_order.h"
#include "view_provider.h"
#include "view_settlement.h"
#include "view_voucher.h"
#include "xmalloc.h"

void rm_command_status(struct rds *rds, struct pgc *pg, const char *command_id, const char *type,
                       const char *status, const char *reason, const char *resource_id,
                       const char *actor_sub)
{
    (void)pg;
    if (!rds)
        return;
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s}", "command_id", command_id,
                            "type", type, "status", status, "reason", reason, "resource_id",
                            resource_id, "actor_sub", actor_sub, "applied_at", ts);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    char key[128], err[256];
    snprintf(key, sizeof(key), RM_CMD_KEY_FMT, command_id);
    if (rds_put_versioned(rds, key, 1, s, RM_CMD_TTL_S, err, sizeof(err)) < 0)
        LOG_WARN("read model: command status not written", "command_id", command_id, "error", err,
                 NULL);
    redisReply *r = rds_command(rds, "PUBLISH %s %s", RM_CMD_CHANNEL, s);
    if (r)
        freeReplyObject(r);
    free(s);
}

typedef void (*rm_refresh_fn)(struct rds *rds, struct pgc *pg, const char *id);

struct rm_kind {
    const char *kind;
    rm_refresh_fn fn;
    /* For stale markers: (id, version) of $1 = uuid[], and the keys. */
    const char *versions_sql;
    const char *keys[3];
};

#define VERSIONS_OF(table) "SELECT id::text, version FROM " table " WHERE id = ANY ($1::uuid[])"

/* One row per read model kind; the refreshers live beside their handlers. */
static const struct rm_kind kinds[] = {
    {VIEW_PROVIDER_KIND, view_provider_refresh, NULL, {NULL}},
    {VIEW_PUBLIC_KIND, view_public_refresh, NULL, {NULL}},
    {VIEW_VOUCHER_KIND, view_voucher_refresh, VERSIONS_OF("psop.vouchers"),
     {VIEW_VOUCHER_KEY_FMT, VIEW_VOUCHER_EVENTS_KEY_FMT, NULL}},
    {VIEW_SETTLEMENT_KIND, view_settlement_refresh, VERSIONS_OF("psop.settlements"),
     {VIEW_SETTLEMENT_KEY_FMT, NULL}},
    {VIEW_ORDER_KIND, view_order_refresh, VERSIONS_OF("psop.orders"),
     {VIEW_ORDER_KEY_FMT, VIEW_ORDER_EVENTS_KEY_FMT, NULL}},
    {VIEW_CONTRACT_KIND, view_contract_refresh, NULL, {NULL}},
    {NULL, NULL, NULL, {NULL}},
};

/* Marks the touched aggregates of kind k stale, 5 000 ids per statement. */
static void mark_stale(struct rds *rds, struct pgc *pg, const struct rm_kind *k,
                       const json_t *touched, size_t count)
{
    enum { CHUNK = 5000 };
    size_t cap = (CHUNK < count ? CHUNK : count) * 38 + 3, i, in = 0;
    char *ids = xmalloc(cap), err[512];
    long marked = 0;
    const json_t *t;
    size_t off = 0;
    json_array_foreach(touched, i, t)
    {
        if (strcmp(json_string_value(json_array_get(t, 0)), k->kind) != 0)
            continue;
        off += (size_t)snprintf(ids + off, cap - off, "%s%s", in ? "," : "{",
                                json_string_value(json_array_get(t, 1)));
        if (++in == CHUNK) {
            snprintf(ids + off, cap - off, "}");
            long w = view_doc_mark_stale(rds, pg, k->versions_sql, ids, k->keys, err,
                                         sizeof(err));
            if (w < 0)
                LOG_WARN("read model: stale markers not written", "kind", k->kind, "error", err,
                         NULL);
            else
                marked += w;
            in = off = 0;
        }
    }
    if (in > 0) {
        snprintf(ids + off, cap - off, "}");
        long w = view_doc_mark_stale(rds, pg, k->versions_sql, ids, k->keys, err, sizeof(err));
        if (w < 0)
            LOG_WARN("read model: stale markers not written", "kind", k->kind, "error", err, NULL);
        else
            marked += w;
    }
    char cs[24], ms[24];
    snprintf(cs, sizeof(cs), "%zu", count);
    snprintf(ms, sizeof(ms), "%ld", marked);
    LOG_INFO("read models marked stale", "kind", k->kind, "aggregates", cs, "keys", ms, NULL);
    free(ids);
}

void rm_refresh(struct rds *rds, struct pgc *pg, const json_t *touched, long rebuild_max)
{
    if (!rds || !touched)
        return;
    size_t i;
    json_t *t;
    for (const struct rm_kind *k = kinds; k->kind; k++) {
        size_t count = 0;
        json_array_foreach(touched, i, t)
            count += strcmp(json_string_value(json_array_get(t, 0)), k->kind) == 0;
        if (count == 0)
            continue;
        if (k->versions_sql && rebuild_max >= 0 && count > (size_t)rebuild_max) {
            mark_stale(rds, pg, k, touched, count);
            continue;
        }
        json_array_foreach(touched, i, t)
            if (strcmp(json_string_value(json_array_get(t, 0)), k->kind) == 0)
                k->fn(rds, pg, json_string_value(json_array_get(t, 1)));
    }
}
