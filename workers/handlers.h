/*
 * handlers.h - the command handler tables, one per command topic.
 * Each table ends with {NULL, NULL}. Adding a command = one row + one schema.
 */
#ifndef PSOP_WORKER_HANDLERS_H
#define PSOP_WORKER_HANDLERS_H

#include "apply.h"

extern const struct handler handlers_reference[];
extern const struct handler handlers_provider[];
extern const struct handler handlers_voucher[];
extern const struct handler handlers_order[];
extern const struct handler handlers_settlement[];

/* contract.upsert (h_order.c), a row of handlers_provider[]. */
enum apply_result contract_upsert(struct apply_ctx *ctx);

#endif
