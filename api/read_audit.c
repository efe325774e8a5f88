/*
 * read_audit.c - the access log (docs/domain.md, "Access log and
 * representation"), from PostgreSQL (psop.access_log), newest first:
 *
 *   GET /v1/audit?client_id=&organiser_id=&from=&to=&limit=&cursor=
 *       organiser: the records of its own organiser's clients; admin: all
 *       (organiser_id filters)
 *   GET /v1/me/access-log?from=&to=&limit=&cursor=
 *       client: the records about itself at its organiser, without the
 *       reader's address (ip)
 *
 * Both answer {items: [record...], next_cursor?}; a cursor is opaque
 * ("<at in microseconds>_<id>") and continues after the last item. Reads of
 * the log are themselves recorded (their routes carry `audit`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/date.h"
#include "core/ids.h"
#include "read.h"

#define AUDIT_LIMIT_DEFAULT 50
#define AUDIT_LIMIT_MAX 500

/* clang-format off */
static const char LIST_SQL[] =
    "SELECT coalesce(json_agg(json_strip_nulls(json_build_object("
    "   'id', l.id, 'at', " PG_TS_SQL("l.at") ","
    "   'actor', json_build_object('sub', l.actor_sub, 'role', l.actor_role, 'org', l.actor_org,"
    "     'provider', l.actor_provider, 'client', l.actor_client, 'key_id', l.actor_key_id),"
    "   'on_behalf_of', l.on_behalf_of, 'action', l.action,"
    "   'resource', json_build_object('type', l.resource_type, 'id', l.resource_id),"
    "   'organiser_id', l.organiser_id, 'client_ids', to_json(l.client_ids), 'status', l.status,"
    "   'ip', CASE WHEN $8 THEN l.ip END, 'traceparent', l.traceparent,"
    "   'cursor', (extract(epoch FROM l.at) * 1000000)::bigint || '_' || l.id"
    " )) ORDER BY l.at DESC, l.id DESC), '[]')::text"
    " FROM (SELECT * FROM psop.access_log"
    "  WHERE ($1::uuid IS NULL OR organiser_id = $1::uuid)"
    "    AND ($2::text IS NULL OR client_ids @> ARRAY[$2::text])"
    "    AND ($3::date IS NULL OR at >= ($3::date::timestamp AT TIME ZONE 'Europe/Helsinki'))"
    "    AND ($4::date IS NULL OR at < (($4::date + 1)::timestamp AT TIME ZONE 'Europe/Helsinki'))"
    "    AND ($5::bigint IS NULL OR (at, id) < (timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6::uuid))"
    "  ORDER BY at DESC, id DESC LIMIT $7::int) l";
/* clang-format on */

struct audit_q {
    const char *p[8];
};

static json_t *build_list(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    struct audit_q *q = cls;
    PGresult *r = pgc_query(pg, LIST_SQL, 8, q->p, err, errlen);
    if (!r)
        return NULL;
    json_t *items = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    if (!items)
        snprintf(err, errlen, "access log: unreadable answer");
    return items;
}

/* "<digits>_<uuid>" into micros and id; false when malformed. */
static bool parse_cursor(const char *c, char micros[24], char id[UUID_STR_LEN])
{
    const char *us = strchr(c, '_');
    size_t n = us ? (size_t)(us - c) : 0;
    if (n == 0 || n > 19 || !ids_uuid_valid(us + 1))
        return false;
    for (size_t i = 0; i < n; i++)
        if (c[i] < '0' || c[i] > '9')
            return false;
    snprintf(micros, 24, "%.*s", (int)n, c);
    snprintf(id, UUID_STR_LEN, "%s", us + 1);
    return true;
}

/* A calendar date YYYY-MM-DD that exists (2026-02-31 does not). */
static bool date_arg_valid(const char *s)
{
    day_t d;
    return date_parse(s, &d) == 0;
}

/* organiser and client fix the scope (NULL: any); the query adds filters. */
static void list(const struct read_req *rq, struct read_res *res, const char *organiser,
                 const char *client, bool with_ip)
{
    const char *from = read_query(rq, "from"), *to = read_query(rq, "to");
    const char *limit_s = read_query(rq, "limit"), *cursor = read_query(rq, "cursor");
    if (from && !date_arg_valid(from))
        read_bad_query(res, "from", "must be a date YYYY-MM-DD");
    if (to && !date_arg_valid(to))
        read_bad_query(res, "to", "must be a date YYYY-MM-DD");
    long limit = AUDIT_LIMIT_DEFAULT;
    if (limit_s) {
        char *end = NULL;
        limit = strtol(limit_s, &end, 10);
        if (!*limit_s || *end || limit < 1 || limit > AUDIT_LIMIT_MAX)
            read_bad_query(res, "limit", "must be an integer from 1 to 500");
    }
    char micros[24] = "", cid[UUID_STR_LEN] = "";
    if (cursor && !parse_cursor(cursor, micros, cid))
        read_bad_query(res, "cursor", "is not a cursor this API gave");
    if (res->status)
        return;
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit + 1); /* one more: is there a next page? */
    struct audit_q q = {{organiser, client, from, to, cursor ? micros : NULL, cursor ? cid : NULL,
                         lim, with_ip ? "true" : "false"}};
    json_t *items = NULL;
    if (read_from_pg(rq, build_list, &q, &items, res) != 1)
        return;
    json_t *out = json_object();
    if (json_array_size(items) > (size_t)limit) {
        json_array_remove(items, (size_t)limit);
        json_t *last = json_array_get(items, (size_t)limit - 1);
        json_object_set(out, "next_cursor", json_object_get(last, "cursor"));
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) json_object_del(it, "cursor");
    json_object_set_new(out, "items", items);
    res->status = 200;
    res->body = out;
}

void read_audit(const struct read_req *rq, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    const char *client = read_query(rq, "client_id");
    const char *org = read_query(rq, "organiser_id");
    if (client && !read_client_id_valid(client))
        read_bad_query(res, "client_id", "must be 1-64 printable ASCII characters");
    if (org && !ids_uuid_valid(org))
        read_bad_query(res, "organiser_id", "must be a UUID");
    if (res->status)
        return;
    if (ac->role == ROLE_ORGANISER) {
        org = read_own_scope(res, org, ac->org, "an organiser token must carry org",
                             "an organiser reads the access records of its own clients only");
        if (!org)
            return;
    }
    list(rq, res, org, client, true);
}

void read_my_access_log(const struct read_req *rq, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    if (!ac->org[0] || !ac->client[0]) {
        read_fail(res, 403, "a client token must carry org and client");
        return;
    }
    list(rq, res, ac->org, ac->client, false);
}
