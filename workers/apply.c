#include "apply.h"

#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "handlers.h"
#include "core/log.h"
#include "reasons.h"

apply_fn apply_lookup(const char *type)
{
    const struct handler *tables[] = {handlers_reference,  handlers_provider, handlers_api_key,
                                      handlers_contract,   handlers_voucher,  handlers_order,
                                      handlers_settlement, handlers_mandate};
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
        for (const struct handler *h = tables[t]; h && h->type; h++)
            if (strcmp(h->type, type) == 0)
                return h->fn;
    return NULL;
}

enum apply_result apply_reject(struct apply_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->reason, sizeof(ctx->reason), fmt, ap);
    va_end(ap);
    return APPLY_REJECTED;
}

enum apply_result apply_fail(struct apply_ctx *ctx, const char *what, const char *err)
{
    snprintf(ctx->err, sizeof(ctx->err), "%s: %s", what, err);
    return APPLY_FAILED;
}

void apply_touch(struct apply_ctx *ctx, const char *kind, const char *id)
{
    if (!ctx->touched)
        ctx->touched = json_array();
    json_array_append_new(ctx->touched, json_pack("[ss]", kind, id));
}

PGresult *apply_query(struct apply_ctx *ctx, const char *sql, int n, const char *const *params)
{
    return pgc_query(ctx->pg, sql, n, params, ctx->err, sizeof(ctx->err));
}

static const char *cmd_field(const void *arg, const char *field)
{
    return envelope_str((const struct envelope *)arg, field);
}

enum apply_result apply_sql_outcome(struct apply_ctx *ctx, const char *code)
{
    const char *st = pgc_last_sqlstate(ctx->pg);
    if (strncmp(st, "23", 2) != 0)
        return APPLY_FAILED;
    /* The database's own words go to the log; the caller gets a sentence. */
    LOG_WARN("command breaks a database constraint", "command_id", ctx->cmd->id, "type",
             ctx->cmd->type, "sqlstate", st, "constraint", pgc_last_constraint(ctx->pg), "detail",
             ctx->err, NULL);
    struct violation v = {st, pgc_last_table(ctx->pg), pgc_last_constraint(ctx->pg)};
    reason_for_violation(&v, code, cmd_field, ctx->cmd, ctx->reason, sizeof(ctx->reason));
    return APPLY_REJECTED;
}

bool apply_role_in(const struct apply_ctx *ctx, unsigned roles)
{
    return actor_role_in(&ctx->cmd->actor, roles);
}

bool apply_same_id(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

long long apply_col_ll(const PGresult *r, int row, int c)
{
    return strtoll(PQgetvalue(r, row, c), NULL, 10);
}

char *apply_num(char *buf, size_t n, long long v)
{
    snprintf(buf, n, "%lld", v);
    return buf;
}
