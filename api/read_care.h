/*
 * read_care.h - what the voucher and the order reads share.
 *
 * A client receives care through a voucher or an order; both are read the
 * same way: one document per aggregate with month usage derived when
 * answering, an events document, a list by client, and the same rule of who
 * may read: the organiser (its own), the client (itself, and only under the
 * organiser its token names), the provider (the chosen one, or the
 * contract's). Whoever may not read one is told it does not exist (404).
 * A care_kind names a family's keys, builders and answers; read_voucher.c
 * and read_order.c each define one.
 */
#ifndef PSOP_API_READ_CARE_H
#define PSOP_API_READ_CARE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/date.h"
#include "read.h"

struct care_kind {
    const char *noun;                     /* "voucher": in 404 details */
    const char *plural;                   /* "vouchers": the list's member and its 403 */
    const char *id_param;                 /* path parameter: "voucher_id" */
    const char *table;                    /* for the list by client: "psop.vouchers" */
    const char *key_fmt, *events_key_fmt; /* Redis keys, one %s */
    read_build_fn build, build_events;    /* cls: the id */
    json_t *(*answer)(const json_t *doc, const char *month, day_t today);
    json_t *(*events_month)(const json_t *events_doc, const char *month);
};

/* Whether the actor may read doc through a route open to roles. */
bool care_may_read(const struct actor *ac, const json_t *doc, unsigned roles);

/* The month query argument, checked: NULL when absent, "" after a 422. */
const char *care_month_arg(const struct read_req *rq, struct read_res *res);

/* The document under key_fmt for the path's param that the actor may read,
 * or NULL with res filled (404 "no such <what>" for unknown and not yours). */
json_t *care_doc_at(const struct read_req *rq, const char *param, const char *key_fmt,
                    read_build_fn build, unsigned roles, const char *what, struct read_res *res);

/* care_doc_at for the kind's own document. */
json_t *care_doc(const struct read_req *rq, const struct care_kind *k, unsigned roles,
                 struct read_res *res);

/* GET /v1/<plural>/{id}[?month=]: organiser, client, provider. */
void care_read(const struct read_req *rq, struct read_res *res, const struct care_kind *k);

/* GET /v1/<plural>/{id}/service-events[?month=]: organiser, provider. */
void care_read_events(const struct read_req *rq, struct read_res *res, const struct care_kind *k);

/* GET /v1/<plural>?client_id=: organiser (own org), client (self). */
void care_read_list(const struct read_req *rq, struct read_res *res, const struct care_kind *k);

#endif
