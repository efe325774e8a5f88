/*
 * read_voucher.c - the voucher reads:
 *   GET /v1/vouchers/{voucher_id}[?month=YYYY-MM]   organiser, client, chosen provider
 *   GET /v1/vouchers?client_id=...                  organiser (own org), client (self)
 *   GET /v1/vouchers/{voucher_id}/providers         client, organiser
 *   GET /v1/vouchers/{voucher_id}/service-events[?month=]  organiser, chosen provider
 *
 * Documents: lib/view_voucher.h. The stored documents hold nothing that
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

#include "date.h"
#include "ids.h"
#include "read.h"
#include "view_provider.h"
#include "view_voucher.h"

#define CLIENT_ID_MAX 64
#define LIST_MAX 500

static json_t *build_voucher(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_voucher(pg, cls, NULL, err, errlen);
}

static json_t *build_events(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_voucher_events(pg, cls, NULL, err, errlen);
}

static bool doc_is(const json_t *doc, const char *field, const char *value)
{
    const char *v = json_string_value(json_object_get(doc, field));
    return v && value[0] && strcmp(v, value) == 0;
}

/* Who may read a voucher, by role: its organiser, its client, its chosen
 * provider, each only when the route allows that role. */
static bool may_read(const struct actor *ac, const json_t *v, unsigned roles)
{
    switch (ac->role) {
    case ROLE_ORGANISER:
        return (roles & ROLE_ORGANISER) && doc_is(v, "organiser_id", ac->org);
    case ROLE_CLIENT:
        /* Client ids are the organiser's references: a token naming its
         * organiser reads only that organiser's vouchers. */
        return (roles & ROLE_CLIENT) && doc_is(v, "client_id", ac->client) &&
               (!ac->org[0] || doc_is(v, "organiser_id", ac->org));
    case ROLE_PROVIDER:
        return (roles & ROLE_PROVIDER) && doc_is(v, "provider_id", ac->provider);
    default:
        return false;
    }
}

/* The month query argument, checked: NULL when absent, "" after a 422. */
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

/* The voucher document of the path's voucher_id that the actor may read,
 * or NULL with res filled (404 for unknown and for not yours alike). */
static json_t *voucher_for(const struct read_req *rq, unsigned roles, struct read_res *res)
{
    const char *id = read_param(rq, "voucher_id");
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such voucher");
        return NULL;
    }
    char key[96];
    snprintf(key, sizeof(key), VIEW_VOUCHER_KEY_FMT, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build_voucher, (void *)id, &doc, res);
    if (rc < 0)
        return NULL;
    if (rc == 0 || !may_read(rq->actor, doc, roles)) {
        json_decref(doc);
        read_fail(res, 404, "no such voucher");
        return NULL;
    }
    return doc;
}

void read_voucher(const struct read_req *rq, struct read_res *res)
{
    const char *month = month_arg(rq, res);
    if (res->status)
        return;
    json_t *v = voucher_for(rq, ROLE_ORGANISER | ROLE_CLIENT | ROLE_PROVIDER, res);
    if (!v)
        return;
    json_t *answer = view_voucher_answer(v, month, date_today_helsinki());
    json_decref(v);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

void read_voucher_events(const struct read_req *rq, struct read_res *res)
{
    const char *month = month_arg(rq, res);
    if (res->status)
        return;
    json_t *v = voucher_for(rq, ROLE_ORGANISER | ROLE_PROVIDER, res);
    if (!v)
        return;
    json_decref(v);
    const char *id = read_param(rq, "voucher_id");
    char key[96];
    snprintf(key, sizeof(key), VIEW_VOUCHER_EVENTS_KEY_FMT, id);
    json_t *events = NULL;
    int rc = read_doc(rq, key, NULL, build_events, (void *)id, &events, res);
    if (rc == 0)
        read_fail(res, 404, "no such voucher");
    if (rc != 1)
        return;
    json_t *answer = view_voucher_events_month(events, month);
    json_decref(events);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

struct public_q {
    const char *organiser_id, *service_type;
    char today[11];
};

static bool public_fresh(const json_t *doc, void *cls)
{
    const struct public_q *q = cls;
    const char *d = json_string_value(json_object_get(doc, "date"));
    return d && strcmp(d, q->today) == 0;
}

static json_t *build_public(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct public_q *q = cls;
    return view_public_providers(pg, q->organiser_id, q->service_type, q->today, NULL, err,
                                 errlen);
}

void read_voucher_providers(const struct read_req *rq, struct read_res *res)
{
    json_t *v = voucher_for(rq, ROLE_ORGANISER | ROLE_CLIENT, res);
    if (!v)
        return;
    day_t today = date_today_helsinki();
    struct public_q q = {json_string_value(json_object_get(v, "organiser_id")),
                         json_string_value(json_object_get(v, "service_type")), ""};
    date_format(today, q.today);
    json_t *list = NULL;
    int rc = -1;
    if (q.organiser_id && q.service_type) {
        char key[160];
        snprintf(key, sizeof(key), VIEW_PUBLIC_KEY_FMT, q.organiser_id, q.service_type);
        rc = read_doc(rq, key, public_fresh, build_public, &q, &list, res);
    }
    if (rc == 1) {
        res->status = 200;
        res->body = view_voucher_providers_combine(v, list, today);
    } else if (rc == 0 || !res->status) {
        read_fail(res, 404, "no such voucher");
    }
    json_decref(list);
    json_decref(v);
}

/* ---------------------------------------------------------------- list */

struct list_q {
    const char *client_id, *organiser_id; /* organiser_id "" = any */
};

/* The ids of the client's vouchers: a JSON array (no document of its own
 * in Redis; each voucher then comes from its own key). */
static json_t *build_ids(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct list_q *q = cls;
    const char *p[] = {q->client_id, q->organiser_id};
    err[0] = '\0';
    PGresult *r = pgc_query(pg,
                            "SELECT id::text FROM psop.vouchers WHERE client_id = $1"
                            " AND ($2 = '' OR organiser_id = nullif($2, '')::uuid)"
                            " ORDER BY valid_from, id LIMIT 500", /* LIST_MAX */
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
    if (n < 1 || n > CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < '!' || (unsigned char)s[i] > '~')
            return false;
    return true;
}

void read_voucher_list(const struct read_req *rq, struct read_res *res)
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
        read_fail(res, 403, "a client lists its own vouchers only");
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
        const char *vid = json_string_value(id);
        char key[96];
        snprintf(key, sizeof(key), VIEW_VOUCHER_KEY_FMT, vid);
        json_t *v = NULL;
        int rc = read_doc(rq, key, NULL, build_voucher, (void *)vid, &v, res);
        if (rc < 0) {
            json_decref(out);
            json_decref(ids);
            return;
        }
        if (rc == 1 && may_read(ac, v, ROLE_ORGANISER | ROLE_CLIENT))
            json_array_append_new(out, view_voucher_answer(v, NULL, today));
        json_decref(v);
    }
    json_decref(ids);
    res->status = 200;
    res->body = json_pack("{s:s, s:o}", "client_id", client, "vouchers", out);
}
