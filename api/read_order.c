/*
 * read_order.c - the purchased-service reads:
 *   GET /v1/orders/{order_id}[?month=YYYY-MM]        organiser, client, contract's provider
 *   GET /v1/orders?client_id=...                     organiser (own org), client (self)
 *   GET /v1/orders/{order_id}/service-events[?month=] organiser, contract's provider
 *   GET /v1/contracts/{contract_id}                  its organiser and provider
 *
 * Documents: lib/views/view_order.h; the rules of who sees what are the voucher
 * reads' (read_voucher.c): whoever may not read an order or a contract is
 * told it does not exist (404).
 */
#include <stdio.h>
#include <string.h>

#include "core/date.h"
#include "core/ids.h"
#include "read.h"
#include "read_care.h"
#include "views/view_order.h"

static json_t *build_order(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_order(pg, cls, NULL, err, errlen);
}

static json_t *build_events(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_order_events(pg, cls, NULL, err, errlen);
}

static json_t *build_contract(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_contract(pg, cls, NULL, err, errlen);
}

static const struct care_kind ORDER = {
    .noun = "order",
    .plural = "orders",
    .id_param = "order_id",
    .table = "psop.orders",
    .key_fmt = VIEW_ORDER_KEY_FMT,
    .events_key_fmt = VIEW_ORDER_EVENTS_KEY_FMT,
    .build = build_order,
    .build_events = build_events,
    .answer = view_order_answer,
    .events_month = view_order_events_month,
};

void read_order(const struct read_req *rq, struct read_res *res)
{
    care_read(rq, res, &ORDER);
}

void read_order_events(const struct read_req *rq, struct read_res *res)
{
    care_read_events(rq, res, &ORDER);
}

void read_contract(const struct read_req *rq, struct read_res *res)
{
    json_t *c = care_doc_at(rq, "id", VIEW_CONTRACT_KEY_FMT, build_contract,
                            ROLE_ORGANISER | ROLE_PROVIDER, "contract", res);
    if (!c)
        return;
    res->status = 200;
    res->body = c;
}

void read_order_list(const struct read_req *rq, struct read_res *res)
{
    care_read_list(rq, res, &ORDER);
}
