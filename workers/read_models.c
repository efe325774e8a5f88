#include "read_models.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
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
};

/* One row per read model kind; the refreshers live beside their handlers. */
static const struct rm_kind kinds[] = {
    {VIEW_PROVIDER_KIND, view_provider_refresh},
    {VIEW_PUBLIC_KIND, view_public_refresh},
    {VIEW_VOUCHER_KIND, view_voucher_refresh},
    {VIEW_SETTLEMENT_KIND, view_settlement_refresh},
    {VIEW_ORDER_KIND, view_order_refresh},
    {VIEW_CONTRACT_KIND, view_contract_refresh},
    {NULL, NULL},
};

void rm_refresh(struct rds *rds, struct pgc *pg, const json_t *touched)
{
    if (!rds || !touched)
        return;
    size_t i;
    json_t *t;
    json_array_foreach(touched, i, t)
    {
        const char *kind = json_string_value(json_array_get(t, 0));
        const char *id = json_string_value(json_array_get(t, 1));
        for (const struct rm_kind *k = kinds; k->kind; k++)
            if (strcmp(k->kind, kind) == 0)
                k->fn(rds, pg, id);
    }
}
