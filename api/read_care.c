#include "read_care.h"

#include <stdio.h>
#include <string.h>

#include "core/ids.h"
#include "mandate.h"

#define LIST_MAX 500

static bool doc_is(const json_t *doc, const char *field, const char *value)
{
    const char *v = json_string_value(json_object_get(doc, field));
    return v && value[0] && strcmp(v, value) == 0;
}

bool care_may_read(const struct actor *ac, const json_t *doc, unsigned roles)
{
    switch (ac->role) {
    case ROLE_ORGANISER:
        return (roles & ROLE_ORGANISER) && doc_is(doc, "organiser_id", ac->org);
    case ROLE_CLIENT:
        /* Client ids are the organiser's references: a client is the pair
         * (organiser, client id), and a token without its org reads nothing
         * (the front refuses such a token before it gets here). */
        return (roles & ROLE_CLIENT) && doc_is(doc, "client_id", ac->client) &&
               doc_is(doc, "organiser_id", ac->org);
    case ROLE_PROVIDER:
        return (roles & ROLE_PROVIDER) && doc_is(doc, "provider_id", ac->provider);
    default:
        return false;
    }
}

/* A client token reading another client's document of its own organiser
 * as that client's proxy: 1 under a mandate in force today (res names the
 * represented client for the access record), 0 without any mandate for
 * that client (404 as for anyone), -1 with res filled (403 for a mandate
 * not in force today, 503). */
static int proxy_may_read(const struct read_req *rq, const json_t *doc, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    const char *client = json_string_value(json_object_get(doc, "client_id"));
    if (ac->role != ROLE_CLIENT || !client || !doc_is(doc, "organiser_id", ac->org))
        return 0;
    int rc = mandate_in_force(rq, client, res);
    if (rc == MANDATE_IN_FORCE)
        snprintf(res->on_behalf_of, sizeof(res->on_behalf_of), "%s", client);
    return rc == MANDATE_OUTSIDE ? -1 : rc;
}

const char *care_month_arg(const struct read_req *rq, struct read_res *res)
{
    const char *m = read_query(rq, "month");
    int y, mo;
    if (m && (strlen(m) != 7 || date_parse_month(m, &y, &mo) < 0)) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return "";
    }
    return m;
}

json_t *care_doc_at(const struct read_req *rq, const char *param, const char *key_fmt,
                    read_build_fn build, unsigned roles, const char *what, struct read_res *res)
{
    const char *id = read_param(rq, param);
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such %s", what);
        return NULL;
    }
    char key[96];
    snprintf(key, sizeof(key), key_fmt, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build, (void *)id, &doc, res);
    if (rc < 0)
        return NULL;
    if (rc == 1 && !care_may_read(rq->actor, doc, roles))
        rc = (roles & ROLE_CLIENT) ? proxy_may_read(rq, doc, res) : 0;
    if (rc < 0) {
        json_decref(doc);
        return NULL;
    }
    if (rc == 0) {
        json_decref(doc);
        read_fail(res, 404, "no such %s", what);
        return NULL;
    }
    return doc;
}

json_t *care_doc(const struct read_req *rq, const struct care_kind *k, unsigned roles,
                 struct read_res *res)
{
    return care_doc_at(rq, k->id_param, k->key_fmt, k->build, roles, k->noun, res);
}

void care_read(const struct read_req *rq, struct read_res *res, const struct care_kind *k)
{
    const char *month = care_month_arg(rq, res);
    if (res->status)
        return;
    json_t *d = care_doc(rq, k, ROLE_ORGANISER | ROLE_CLIENT | ROLE_PROVIDER, res);
    if (!d)
        return;
    json_t *answer = k->answer(d, month, date_today_helsinki());
    json_decref(d);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

void care_read_events(const struct read_req *rq, struct read_res *res, const struct care_kind *k)
{
    const char *month = care_month_arg(rq, res);
    if (res->status)
        return;
    json_t *d = care_doc(rq, k, ROLE_ORGANISER | ROLE_PROVIDER, res);
    if (!d)
        return;
    json_decref(d);
    const char *id = read_param(rq, k->id_param);
    char key[96];
    snprintf(key, sizeof(key), k->events_key_fmt, id);
    json_t *events = NULL;
    int rc = read_doc(rq, key, NULL, k->build_events, (void *)id, &events, res);
    if (rc == 0)
        read_fail(res, 404, "no such %s", k->noun);
    if (rc != 1)
        return;
    json_t *answer = k->events_month(events, month);
    json_decref(events);
    if (!answer) {
        read_bad_query(res, "month", "must be a month YYYY-MM");
        return;
    }
    res->status = 200;
    res->body = answer;
}

struct list_q {
    const struct care_kind *k;
    const char *client_id, *organiser_id; /* organiser_id "" = any */
};

/* The ids of the client's vouchers or orders: a JSON array (no document of
 * its own in Redis; each then comes from its own key). */
static json_t *build_ids(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct list_q *q = cls;
    const char *p[] = {q->client_id, q->organiser_id};
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT id::text FROM %s WHERE client_id = $1"
             " AND ($2 = '' OR organiser_id = nullif($2, '')::uuid)"
             " ORDER BY valid_from, id LIMIT %d",
             q->k->table, LIST_MAX);
    err[0] = '\0';
    PGresult *r = pgc_query(pg, sql, 2, p, err, errlen);
    if (!r)
        return NULL;
    json_t *ids = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(ids, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    return ids;
}

void care_read_list(const struct read_req *rq, struct read_res *res, const struct care_kind *k)
{
    const struct actor *ac = rq->actor;
    const char *client = read_client_arg(rq, res, NULL);
    if (!client)
        return;
    if ((ac->role == ROLE_ORGANISER || ac->role == ROLE_CLIENT) && !ac->org[0]) {
        read_fail(res, 403, "an organiser or client token must carry org");
        return;
    }
    if (ac->role == ROLE_CLIENT && strcmp(ac->client, client) != 0) {
        int rc = mandate_in_force(rq, client, res);
        if (rc < 0 || rc == MANDATE_OUTSIDE)
            return;
        if (rc == MANDATE_NONE) {
            read_fail(res, 403,
                      "a client lists its own %s only, or those of a client it holds a "
                      "mandate for",
                      k->plural);
            return;
        }
        snprintf(res->on_behalf_of, sizeof(res->on_behalf_of), "%s", client);
    }
    struct list_q q = {k, client, ac->org};
    json_t *ids = NULL;
    if (read_from_pg(rq, build_ids, &q, &ids, res) != 1)
        return;
    day_t today = date_today_helsinki();
    json_t *out = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        const char *one = json_string_value(id);
        char key[96];
        snprintf(key, sizeof(key), k->key_fmt, one);
        json_t *d = NULL;
        int rc = read_doc(rq, key, NULL, k->build, (void *)one, &d, res);
        if (rc < 0) {
            json_decref(out);
            json_decref(ids);
            return;
        }
        bool as_proxy = res->on_behalf_of[0] && doc_is(d, "client_id", client) &&
                        doc_is(d, "organiser_id", ac->org);
        if (rc == 1 && (as_proxy || care_may_read(ac, d, ROLE_ORGANISER | ROLE_CLIENT)))
            json_array_append_new(out, k->answer(d, NULL, today));
        json_decref(d);
    }
    json_decref(ids);
    res->status = 200;
    res->body = json_pack("{s:s, s:o}", "client_id", client, k->plural, out);
}
