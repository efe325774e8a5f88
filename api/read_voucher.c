/*
 * read_voucher.c - the voucher reads:
 *   GET /v1/vouchers/{voucher_id}[?month=YYYY-MM]   organiser, client, chosen provider
 *   GET /v1/vouchers?client_id=...                  organiser (own org), client (self)
 *   GET /v1/vouchers/{voucher_id}/providers         client, organiser
 *   GET /v1/vouchers/{voucher_id}/service-events[?month=]  organiser, chosen provider
 *
 * Documents: lib/views/view_voucher.h. The stored documents hold nothing that
 * depends on the date; today's status, value and month usage are derived
 * when answering (view_voucher_answer), the same from Redis or PostgreSQL.
 *
 * A voucher is a client's personal data: whoever may not read it is told it
 * does not exist (404), whether or not it does. What the token alone rules
 * out (a client asking for another client's list, a token without its own
 * claim) is 403.
 */
#include <stdio.h>
#include <string.h>

#include "core/date.h"
#include "core/ids.h"
#include "read.h"
#include "read_care.h"
#include "views/view_provider.h"
#include "views/view_voucher.h"

static json_t *build_voucher(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_voucher(pg, cls, NULL, err, errlen);
}

static json_t *build_events(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_voucher_events(pg, cls, NULL, err, errlen);
}

static const struct care_kind VOUCHER = {
    .noun = "voucher",
    .plural = "vouchers",
    .id_param = "voucher_id",
    .table = "psop.vouchers",
    .key_fmt = VIEW_VOUCHER_KEY_FMT,
    .events_key_fmt = VIEW_VOUCHER_EVENTS_KEY_FMT,
    .build = build_voucher,
    .build_events = build_events,
    .answer = view_voucher_answer,
    .events_month = view_voucher_events_month,
};

void read_voucher(const struct read_req *rq, struct read_res *res)
{
    care_read(rq, res, &VOUCHER);
}

void read_voucher_events(const struct read_req *rq, struct read_res *res)
{
    care_read_events(rq, res, &VOUCHER);
}

void read_voucher_providers(const struct read_req *rq, struct read_res *res)
{
    json_t *v = care_doc(rq, &VOUCHER, ROLE_ORGANISER | ROLE_CLIENT, res);
    if (!v)
        return;
    day_t today = date_today_helsinki();
    const char *org = json_string_value(json_object_get(v, "organiser_id"));
    const char *st = json_string_value(json_object_get(v, "service_type"));
    json_t *list = NULL;
    int rc = org && st ? read_public_list(rq, org, st, today, &list, res) : -1;
    if (rc == 1) {
        res->status = 200;
        res->body = view_voucher_providers_combine(v, list, today);
    } else if (rc == 0 || !res->status) {
        read_fail(res, 404, "no such voucher");
    }
    json_decref(list);
    json_decref(v);
}

void read_voucher_list(const struct read_req *rq, struct read_res *res)
{
    care_read_list(rq, res, &VOUCHER);
}
