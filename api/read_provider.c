/*
 * read_provider.c - GET /v1/providers/{provider_id} and the public list
 * GET /v1/public/providers?organiser_id=&service_type=.
 *
 * Documents: lib/view_provider.h. A provider reads its own registration
 * only (403 for another's: registrations are no secret, the public list
 * names providers anyway); organisers and admins read any. The public list
 * needs no token; a cached list of another Helsinki date than today counts
 * as missing.
 */
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "ids.h"
#include "read.h"
#include "view_provider.h"

static json_t *build_provider(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_provider(pg, cls, NULL, err, errlen);
}

void read_provider(const struct read_req *rq, struct read_res *res)
{
    const char *id = read_param(rq, "provider_id");
    if (rq->actor->role == ROLE_PROVIDER && strcmp(rq->actor->provider, id) != 0) {
        read_fail(res, 403, "a provider reads its own registration only");
        return;
    }
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such provider");
        return;
    }
    char key[96];
    snprintf(key, sizeof(key), VIEW_PROVIDER_KEY_FMT, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build_provider, (void *)id, &doc, res);
    if (rc == 0)
        read_fail(res, 404, "no such provider");
    if (rc != 1)
        return;
    res->status = 200;
    res->body = doc;
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

/* schemas/common.json's service_type_code: ^[a-z][a-z0-9_-]{1,39}$ */
static bool service_type_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 40 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

void read_public_providers(const struct read_req *rq, struct read_res *res)
{
    struct public_q q = {read_query(rq, "organiser_id"), read_query(rq, "service_type"), ""};
    if (!q.organiser_id)
        read_bad_query(res, "organiser_id", "required");
    else if (!ids_uuid_valid(q.organiser_id))
        read_bad_query(res, "organiser_id", "must be a UUID");
    if (!q.service_type)
        read_bad_query(res, "service_type", "required");
    else if (!service_type_valid(q.service_type))
        read_bad_query(res, "service_type", "must be a service type code");
    if (res->status)
        return;
    date_format(date_today_helsinki(), q.today);
    char key[160];
    snprintf(key, sizeof(key), VIEW_PUBLIC_KEY_FMT, q.organiser_id, q.service_type);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, public_fresh, build_public, &q, &doc, res);
    if (rc == 0)
        read_fail(res, 404, "no such organiser or service type");
    if (rc != 1)
        return;
    res->status = 200;
    res->body = doc;
}
