/*
 * read_command.c - GET /v1/commands/{id}: a command's status.
 *
 * Redis psop:cmd:{id} holds "accepted" (version 0, written by the api when
 * it answered 202) or the worker's verdict (version 1). A miss falls back to
 * psop.command_status, which knows verdicts only. An "accepted" document is
 * checked against PostgreSQL too: a verdict whose Redis write failed must not
 * stay "accepted" for a week. Only the issuer and admins see a command; for
 * anyone else it does not exist (404). The issuer is the whole principal
 * (role, org, provider, client, sub: the document's "actor"), not the sub
 * alone: the same sub at another organiser is someone else.
 */
#include <string.h>

#include "core/ids.h"
#include "principal.h"
#include "read.h"
#include "views/view_command.h"
#include "waiters.h"

static json_t *build(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    return view_command(pg, cls, err, errlen);
}

/* A cached document without its whole issuer (written by a release that
 * kept the sub only) cannot be authorised: PostgreSQL has the issuer. */
static bool has_issuer(const json_t *doc, void *cls)
{
    (void)cls;
    return json_is_string(json_object_get(json_object_get(doc, "actor"), "sub"));
}

json_t *read_command_public(const json_t *doc)
{
    /* The worker writes absent fields as null, the view leaves them out:
     * answer the same either way. */
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (!json_is_null(v) && strcmp(k, "actor_sub") != 0 && strcmp(k, "actor") != 0)
            json_object_set(out, k, v);
    }
    return out;
}

void read_command(const struct read_req *rq, struct read_res *res)
{
    char id[UUID_STR_LEN];
    const char *p = read_param(rq, "id");
    if (!ids_uuid_valid(p)) {
        read_fail(res, 404, "no such command");
        return;
    }
    /* Keys and the view use the canonical lower-case form. */
    for (size_t i = 0; i < UUID_STR_LEN; i++)
        id[i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] + 32 : p[i]);
    char key[96];
    snprintf(key, sizeof(key), VIEW_COMMAND_KEY_FMT, id);
    json_t *doc = read_cached(rq, key, has_issuer, NULL);
    if (doc && !waiters_doc_done(doc)) {
        json_t *verdict = NULL;
        struct read_res ignored = {0}; /* PostgreSQL down: "accepted" is still true */
        if (read_from_pg(rq, build, id, &verdict, &ignored) == 1) {
            json_decref(doc);
            doc = verdict;
        }
        json_decref(ignored.errors);
    } else if (!doc) {
        int rc = read_from_pg(rq, build, id, &doc, res);
        if (rc < 0)
            return;
        if (rc == 0) {
            read_fail(res, 404, "no such command");
            return;
        }
    }
    if (rq->actor->role != ROLE_ADMIN &&
        !principal_matches(json_object_get(doc, "actor"), rq->actor)) {
        json_decref(doc);
        read_fail(res, 404, "no such command");
        return;
    }
    res->status = 200;
    res->body = read_command_public(doc);
    json_decref(doc);
}
