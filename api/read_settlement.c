/*
 * read_settlement.c - the settlement reads:
 *   GET /v1/settlements?organiser_id=&period=&provider_id=   organiser (own org),
 *                                                          provider (own settlements)
 *   GET /v1/settlements/{settlement_id}                    its organiser, its provider
 *
 * Documents: lib/views/view_settlement.h. One settlement comes from Redis
 * (psop:settlement:{id}, written by the settlement worker) or PostgreSQL;
 * lists come from PostgreSQL (no list is cached: a run adds settlements to
 * many lists at once).
 *
 * A settlement is business data of one organiser and one provider: whoever
 * else asks is told it does not exist (404). A list filter that contradicts
 * the token (another organiser's or provider's id) is 403: the token alone
 * rules it out.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/date.h"
#include "formats/finvoice.h"
#include "core/ids.h"
#include "read.h"
#include "views/view_settlement.h"

void read_settlement(const struct read_req *rq, struct read_res *res);
void read_settlement_list(const struct read_req *rq, struct read_res *res);
void read_settlement_finvoice(const struct read_req *rq, struct read_res *res);

static json_t *build_settlement(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_settlement(pg, cls, NULL, err, errlen);
}

static bool doc_is(const json_t *doc, const char *field, const char *value)
{
    const char *v = json_string_value(json_object_get(doc, field));
    return v && value && value[0] && strcmp(v, value) == 0;
}

static bool may_read(const struct actor *ac, const json_t *s)
{
    switch (ac->role) {
    case ROLE_ORGANISER:
        return doc_is(s, "organiser_id", ac->org);
    case ROLE_PROVIDER:
        return doc_is(s, "provider_id", ac->provider);
    default:
        return false;
    }
}

void read_settlement(const struct read_req *rq, struct read_res *res)
{
    const char *id = read_param(rq, "settlement_id");
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such settlement");
        return;
    }
    char key[96];
    snprintf(key, sizeof(key), VIEW_SETTLEMENT_KEY_FMT, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build_settlement, (void *)id, &doc, res);
    if (rc < 0)
        return;
    if (rc == 0 || !may_read(rq->actor, doc)) {
        json_decref(doc);
        read_fail(res, 404, "no such settlement");
        return;
    }
    res->status = 200;
    res->body = doc;
}

/* GET /v1/settlements/{id}/finvoice: the same document, as Finvoice 3.0. */
void read_settlement_finvoice(const struct read_req *rq, struct read_res *res)
{
    read_settlement(rq, res);
    if (res->status != 200)
        return;
    char err[256];
    char *xml = finvoice_render(res->body, err, sizeof(err));
    json_decref(res->body);
    res->body = NULL;
    if (!xml) {
        /* The document is ours: a refusal here is a bug, not the caller's. */
        read_fail(res, 500, "cannot render Finvoice: %s", err);
        return;
    }
    res->text = xml;
    res->content_type = "application/xml; charset=utf-8";
}

struct list_q {
    const char *organiser_id, *period, *provider_id; /* NULL = any */
};

static json_t *build_list(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct list_q *q = cls;
    return view_settlement_list(pg, q->organiser_id, q->period, q->provider_id, err, errlen);
}

/* A UUID query argument: NULL when absent, "" after a 422. */
static const char *uuid_arg(const struct read_req *rq, struct read_res *res, const char *name)
{
    const char *v = read_query(rq, name);
    if (v && !ids_uuid_valid(v)) {
        read_bad_query(res, name, "must be a UUID");
        return "";
    }
    return v;
}

void read_settlement_list(const struct read_req *rq, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    struct list_q q = {uuid_arg(rq, res, "organiser_id"), read_query(rq, "period"),
                       uuid_arg(rq, res, "provider_id")};
    int y, m;
    if (q.period && (strlen(q.period) != 7 || date_parse_month(q.period, &y, &m) < 0))
        read_bad_query(res, "period", "must be a month YYYY-MM");
    if (res->status)
        return;
    if (ac->role == ROLE_ORGANISER) {
        q.organiser_id =
            read_own_scope(res, q.organiser_id, ac->org, "an organiser token must carry org",
                           "an organiser lists its own settlements only");
        if (!q.organiser_id)
            return;
    } else if (ac->role == ROLE_PROVIDER) {
        q.provider_id =
            read_own_scope(res, q.provider_id, ac->provider, "a provider token must carry provider",
                           "a provider lists its own settlements only");
        if (!q.provider_id)
            return;
    } else {
        read_fail(res, 403, "settlements are listed by organisers and providers");
        return;
    }
    json_t *list = NULL;
    if (read_from_pg(rq, build_list, &q, &list, res) != 1) {
        if (!res->status)
            read_fail(res, 500, "the settlement list could not be built");
        return;
    }
    res->status = 200;
    res->body = list;
}
