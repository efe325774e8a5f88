/*
 * handlers.h - the command handler tables, one per handler file (h_*.c).
 * apply_lookup() finds a type in any of them; the topic a command travels on
 * is the api's route table's. Each table ends with {NULL, NULL}. Adding a
 * command = one row + one schema.
 */
#ifndef PSOP_WORKER_HANDLERS_H
#define PSOP_WORKER_HANDLERS_H

#include "apply.h"

extern const struct handler handlers_reference[];
extern const struct handler handlers_provider[];
/* api_key.create / api_key.revoke (h_api_key.c), on the provider topic. */
extern const struct handler handlers_api_key[];
extern const struct handler handlers_voucher[];
extern const struct handler handlers_order[];
/* contract.upsert (h_order.c), on the provider topic. */
extern const struct handler handlers_contract[];
extern const struct handler handlers_settlement[];
/* mandate.grant / mandate.revoke (h_mandate.c), on the voucher topic. */
extern const struct handler handlers_mandate[];

/* For a command sent with on_behalf_of (envelope v4): rejects unless the
 * actor is a client token of organiser_id acting for client_id (the
 * resource's client) under a mandate in force today (h_mandate.c). what
 * names the resource in the reason ("voucher <id>"). */
enum apply_result mandate_require(struct apply_ctx *ctx, const char *organiser_id,
                                  const char *client_id, const char *what);

#endif
