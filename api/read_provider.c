/*
 * read_provider.c - GET /v1/providers/{provider_id} and the public list
 * GET /v1/public/providers?organiser_id=&service_type=, and the provider's
 * integration keys GET /v1/providers/{provider_id}/api-keys.
 *
 * Documents: lib/views/view_provider.h. A provider reads its own registration
 * only (403 for another's: registrations are no secret, the public list
 * names providers anyway); organisers and admins read any. The public list
 * needs no token; a cached list of another Helsinki date than today counts
 * as missing.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/date.h"
#include "core/ids.h"
#include "read.h"
#include "views/view_provider.h"

static json_t *build_provider(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_provider(pg, cls, NULL, err, errlen);
}

/* The path's provider id when the actor may read what; NULL with res filled
 * (403 another provider's, 404 not a provider id). */
static const char *own_provider(const struct read_req *rq, struct read_res *res, const char *what)
{
    const char *id = read_param(rq, "provider_id");
    if (rq->actor->role == ROLE_PROVIDER && strcasecmp(rq->actor->provider, id) != 0) {
        read_fail(res, 403, "a provider reads its own %s only", what);
        return NULL;
    }
    if (!ids_uuid_valid(id)) {
        read_fail(res, 404, "no such provider");
        return NULL;
    }
    return id;
}

/* rc and doc of read_doc / read_from_pg into the answer. */
static void answer(struct read_res *res, int rc, json_t *doc)
{
    if (rc == 0)
        read_fail(res, 404, "no such provider");
    if (rc != 1)
        return;
    res->status = 200;
    res->body = doc;
}

void read_provider(const struct read_req *rq, struct read_res *res)
{
    const char *id = own_provider(rq, res, "registration");
    if (!id)
        return;
    char key[96];
    snprintf(key, sizeof(key), VIEW_PROVIDER_KEY_FMT, id);
    json_t *doc = NULL;
    int rc = read_doc(rq, key, NULL, build_provider, (void *)id, &doc, res);
    answer(res, rc, doc);
}

/* GET /v1/providers/{provider_id}/api-keys: the provider's integration keys,
 * newest first, from PostgreSQL (a list read a few times a year needs no
 * cached document); never the secret (stored nowhere) nor its hash. */
static json_t *build_keys(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const char *p[] = {cls};
    PGresult *r = pgc_query(pg, "SELECT EXISTS (SELECT 1 FROM psop.providers WHERE id = $1)", 1, p,
                            err, errlen);
    if (!r)
        return NULL;
    int found = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!found) {
        err[0] = '\0';
        return NULL;
    }
    /* clang-format off */
    r = pgc_query(pg,
                  "SELECT id, name, scope, " PG_TS_SQL("created_at") ", "
                  PG_TS_SQL("expires_at") ", "
                  PG_TS_SQL("last_used_at") ", " PG_TS_SQL("revoked_at") ", created_by, "
                  "revoked_at IS NULL AND expires_at > now() "
                  "FROM psop.api_keys WHERE provider_id = $1 ORDER BY created_at DESC, id",
                  1, p, err, errlen);
    /* clang-format on */
    if (!r)
        return NULL;
    json_t *keys = json_array();
    int live = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *k =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "key_id", PQgetvalue(r, i, 0), "name",
                      PQgetvalue(r, i, 1), "scope", PQgetvalue(r, i, 2), "created_at",
                      PQgetvalue(r, i, 3), "expires_at", PQgetvalue(r, i, 4), "created_by",
                      PQgetvalue(r, i, 7), "live", strcmp(PQgetvalue(r, i, 8), "t") == 0);
        json_object_set_new(k, "last_used_at",
                            PQgetisnull(r, i, 5) ? json_null() : json_string(PQgetvalue(r, i, 5)));
        json_object_set_new(k, "revoked_at",
                            PQgetisnull(r, i, 6) ? json_null() : json_string(PQgetvalue(r, i, 6)));
        live += strcmp(PQgetvalue(r, i, 8), "t") == 0;
        json_array_append_new(keys, k);
    }
    PQclear(r);
    return json_pack("{s:s, s:i, s:o}", "provider_id", (const char *)cls, "live", live, "keys",
                     keys);
}

void read_api_keys(const struct read_req *rq, struct read_res *res)
{
    const char *id = own_provider(rq, res, "API keys");
    if (!id)
        return;
    json_t *doc = NULL;
    int rc = read_from_pg(rq, build_keys, (void *)id, &doc, res);
    answer(res, rc, doc);
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
    return view_public_providers(pg, q->organiser_id, q->service_type, q->today, NULL, err, errlen);
}

int read_public_list(const struct read_req *rq, const char *organiser_id, const char *service_type,
                     day_t today, json_t **out, struct read_res *res)
{
    struct public_q q = {organiser_id, service_type, ""};
    date_format(today, q.today);
    char key[160];
    snprintf(key, sizeof(key), VIEW_PUBLIC_KEY_FMT, organiser_id, service_type);
    return read_doc(rq, key, public_fresh, build_public, &q, out, res);
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
    struct {
        const char *organiser_id, *service_type;
    } q = {read_query(rq, "organiser_id"), read_query(rq, "service_type")};
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
    json_t *doc = NULL;
    int rc = read_public_list(rq, q.organiser_id, q.service_type, date_today_helsinki(), &doc, res);
    if (rc == 0)
        read_fail(res, 404, "no such organiser or service type");
    if (rc != 1)
        return;
    res->status = 200;
    res->body = doc;
}
