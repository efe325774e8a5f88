/*
 * read_order.c - the purchased-service reads:
 *   GET /v1/orders/{order_id}[?month=YYYY-MM]        organiser, client, contract's provider
 *   GET /v1/orders?client_id=...                     organiser (own org), client (self)
 *   GET /v1/orders/{order_id}/service-events[?month=] organiser, contract's provider
 *   GET /v1/contracts/{contract_id}                  its organiser and provider
 *
 * Documents: lib/view_order.h; the rules of who sees what are the voucher
 * reads' (read_voucher.c): whoever may not read an order or a contract is
 * told it does not exist (404).
 */
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "ids.h"
#include "read.h"
#include "view_order.h"

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

static bool doc_is(const json_t *doc, const char *field, const char *value)
{
    const char *v = json_string_value(json_object_get(doc, field));
    return v && value[0] && strcmp(v, value) == 0;
}

static bool may_read(const struct actor *ac, const json_t *d, unsigned roles)
{
    switch (ac->role) {
    case ROLE_ORGANISER:
        return (roles & ROLE_ORGANISER) && doc_is(d, "organiser_id", ac->org);
    case ROLE_CLIENT:
        return (roles & ROLE_CLIENT) && doc_is(d, "client_id", ac->client) &&
               (!ac->org[0] || doc_is(d, "organiser_id", ac->org));
    case ROLE_PROVIDER:
        return (roles & ROLE_PROVIDER) && doc_is(d, "provider_id", ac->provider);
    default:
        return false;
    }
}

static const char *month_arg(const struct read_req *rq, struct read_res *res)
{
    const char *m = read_query(rq, "month");
    int y, mo;
    if (m && (strlen(m) != 7 || date_parse_month(m, &y, &mo) < 0)) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return "";
    }
    return m;
}

/* The document under fmt for the path's param that the actor may read, or
 * NULL with res filled (404 for unknown and for not yours alike). */
static json_t *doc_for(const struct read_req *rq, const char *param, const char *fmt,
                       read_build_fn build, unsigned roles, const char *what,
                       struct read_res *res)
{
    const char *id = read_param(rq, param);
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such %s", what);
        return NULL;
    }
    char key[96];
    snprintf(key, sizeof(key), fmt, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build, (void *)id, &doc, res);
    if (rc < 0)
        return NULL;
    if (rc == 0 || !may_read(rq->actor, doc, roles)) {
        json_decref(doc);
        read_fail(res, 404, "no such %s", what);
        return NULL;
    }
    return doc;
}

void read_order(const struct read_req *rq, struct read_res *res)
{
    const char *month = month_arg(rq, res);
    if (res->status)
        return;
    json_t *o = doc_for(rq, "order_id", VIEW_ORDER_KEY_FMT, build_order,
                        ROLE_ORGANISER | ROLE_CLIENT | ROLE_PROVIDER, "order", res);
    if (!o)
        return;
    json_t *answer = view_order_answer(o, month, date_today_helsinki());
    json_decref(o);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

void read_order_events(const struct read_req *rq, struct read_res *res)
{
    const char *month = month_arg(rq, res);
    if (res->status)
        return;
    json_t *o = doc_for(rq, "order_id", VIEW_ORDER_KEY_FMT, build_order,
                        ROLE_ORGANISER | ROLE_PROVIDER, "order", res);
    if (!o)
        return;
    json_decref(o);
    const char *id = read_param(rq, "order_id");
    char key[96];
    snprintf(key, sizeof(key), VIEW_ORDER_EVENTS_KEY_FMT, id);
    json_t *events = NULL;
    int rc = read_doc(rq, key, NULL, build_events, (void *)id, &events, res);
    if (rc == 0)
        read_fail(res, 404, "no such order");
    if (rc != 1)
        return;
    json_t *answer = view_order_events_month(events, month);
    json_decref(events);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

void read_contract(const struct read_req *rq, struct read_res *res)
{
    json_t *c = doc_for(rq, "id", VIEW_CONTRACT_KEY_FMT, build_contract,
                        ROLE_ORGANISER | ROLE_PROVIDER, "contract", res);
    if (!c)
        return;
    res->status = 200;
    res->body = c;
}

/* ---------------------------------------------------------------- list */

struct list_q {
    const char *client_id, *organiser_id;
};

static json_t *build_ids(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct list_q *q = cls;
    const char *p[] = {q->client_id, q->organiser_id};
    err[0] = '\0';
    PGresult *r = pgc_query(pg,
                            "SELECT id::text FROM psop.orders WHERE client_id = $1"
                            " AND ($2 = '' OR organiser_id = nullif($2, '')::uuid)"
                            " ORDER BY valid_from, id LIMIT 500",
                            2, p, err, errlen);
    if (!r)
        return NULL;
    json_t *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    return ids;
}

static bool client_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < '!' || (unsigned char)s[i] > '~')
            return false;
    return true;
}

void read_order_list(const struct read_req *rq, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    const char *client = read_query(rq, "client_id");
    if (!client)
        read_bad_query(res, "client_id", "required");
    else if (!client_id_valid(client))
        read_bad_query(res, "client_id", "must be 1-64 printable ASCII characters");
    if (res->status)
        return;
    if (ac->role == ROLE_ORGANISER && !ac->org[0]) {
        read_fail(res, 403, "an organiser token must carry org");
        return;
    }
    if (ac->role == ROLE_CLIENT && strcmp(ac->client, client) != 0) {
        read_fail(res, 403, "a client lists its own orders only");
        return;
    }
    struct list_q q = {client, ac->org};
    json_t *ids = NULL;
    if (read_from_pg(rq, build_ids, &q, &ids, res) != 1)
        return;
    day_t today = date_today_helsinki();
    json_t *out = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *oid = json_string_value(id);
        char key[96];
        snprintf(key, sizeof(key), VIEW_ORDER_KEY_FMT, oid);
        json_t *o = NULL;
        int rc = read_doc(rq, key, NULL, build_order, (void *)oid, &o, res);
        if (rc < 0) {
            json_decref(out);
            json_decref(ids);
            return;
        }
        if (rc == 1 && may_read(ac, o, ROLE_ORGANISER | ROLE_CLIENT))
            json_array_append_new(out, view_order_answer(o, NULL, today));
        json_decref(o);
    }
    json_decref(ids);
    res->status = 200;
    res->body = json_pack("{s:s, s:o}", "client_id", client, "orders", out);
}
