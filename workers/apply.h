/*
 * apply.h - applying one command inside the batch's PostgreSQL transaction.
 *
 * A handler reads the command, checks ownership and the domain rules, writes
 * its rows and its domain events (outbox_add), and answers:
 *   APPLY_OK        applied; ctx->resource_id names the aggregate
 *   APPLY_REJECTED  a business rejection; ctx->reason says why ("code: detail").
 *                   Everything the handler wrote is rolled back; the
 *                   rejection is recorded and command.rejected published.
 *   APPLY_FAILED    the database failed. If pgc_last_transient() the whole
 *                   batch is retried; otherwise the command goes to the DLQ.
 * Handlers never COMMIT or ROLLBACK: the batch owns the transaction.
 * After the commit, the batch refreshes the read models the handler listed
 * with apply_touch().
 */
#ifndef PSOP_WORKER_APPLY_H
#define PSOP_WORKER_APPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdarg.h>

#include "wire/envelope.h"
#include "core/config.h"
#include "store/pgc.h"

enum apply_result { APPLY_OK, APPLY_REJECTED, APPLY_FAILED };

struct apply_ctx {
    struct pgc *pg;
    const struct psop_config *cfg;
    const struct envelope *cmd;
    const char *source; /* CloudEvents source of events written */
    char resource_id[64];
    char reason[512];
    char err[512];
    json_t *touched; /* array of [kind, id]: read models to refresh */
    json_t *events;  /* staged domain events (outbox_add) */
};

typedef enum apply_result (*apply_fn)(struct apply_ctx *ctx);

struct handler {
    const char *type; /* command type, e.g. "voucher.grant" */
    apply_fn fn;
};

/* The handler of type, or NULL. Tables live in the h_*.c files. */
apply_fn apply_lookup(const char *type);

/* Sets ctx->reason from a printf format and returns APPLY_REJECTED. */
enum apply_result apply_reject(struct apply_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records a database failure (from pgc_* err) and returns APPLY_FAILED. */
enum apply_result apply_fail(struct apply_ctx *ctx, const char *what, const char *err);

/* Lists a read model to refresh after commit (kind: "voucher", "provider", ...). */
void apply_touch(struct apply_ctx *ctx, const char *kind, const char *id);

/* pgc_query with the failure recorded in ctx->err. */
PGresult *apply_query(struct apply_ctx *ctx, const char *sql, int n, const char *const *params);

/* After a failed statement: a constraint violation (unique, check,
 * exclusion, foreign key) is the command's fault: a rejection with reason
 * "code: detail"; anything else is APPLY_FAILED. */
enum apply_result apply_sql_outcome(struct apply_ctx *ctx, const char *code);

/* True when a and b are both set and name the same id (UUIDs compare
 * case-blind). */
bool apply_same_id(const char *a, const char *b);

/* Column c of row as a long long ("" and NULL read as 0). */
long long apply_col_ll(const PGresult *r, int row, int c);

/* v in decimal into buf (n bytes), for a statement parameter; returns buf. */
char *apply_num(char *buf, size_t n, long long v);

/* True when the actor's role is one of roles (ROLE_ADMIN | ROLE_ORGANISER ...). */
bool apply_role_in(const struct apply_ctx *ctx, unsigned roles);
#endif
