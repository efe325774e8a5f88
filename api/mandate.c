/*
 * mandate.c - representation at the front (docs/domain.md, "Access log and
 * representation"): whether a client token may act for another client, and
 * GET /v1/mandates.
 *
 * A mandate is in force on a day by psop.mandate_in_force (0012_mandates.sql),
 * the same function the workers ask when they apply a proxy's command; the
 * api asks PostgreSQL directly (mandates are rare and change seldom; no
 * read model). Reads of a represented client's voucher or order pass here
 * from read_care.c; commands sent with On-Behalf-Of from http_server.c.
 */
#include "mandate.h"

#include <stdio.h>
#include <string.h>

#include "core/date.h"

#define MANDATE_LIST_MAX 500

struct in_force_q {
    const char *org, *proxy, *client;
    char day[11];
};

static json_t *build_in_force(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct in_force_q *q = cls;
    const char *p[] = {q->org, q->proxy, q->client, q->day};
    err[0] = '\0';
    PGresult *r = pgc_query(pg,
                            "SELECT count(*) FILTER (WHERE psop.mandate_in_force(organiser_id,"
                            "  proxy_client_id, client_id, $4::date)), count(*)"
                            " FROM psop.mandates WHERE organiser_id = $1::uuid"
                            "  AND proxy_client_id = $2 AND client_id = $3",
                            4, p, err, errlen);
    if (!r)
        return NULL;
    int state = strcmp(PQgetvalue(r, 0, 0), "0") != 0   ? MANDATE_IN_FORCE
                : strcmp(PQgetvalue(r, 0, 1), "0") != 0 ? MANDATE_OUTSIDE
                                                        : MANDATE_NONE;
    PQclear(r);
    return json_integer(state);
}

int mandate_in_force(const struct read_req *rq, const char *client, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    if (!ac || ac->role != ROLE_CLIENT || !ac->client[0] || !ac->org[0] || !client || !client[0] ||
        strcmp(client, ac->client) == 0)
        return MANDATE_NONE;
    struct in_force_q q = {ac->org, ac->client, client, ""};
    date_format(date_today_helsinki(), q.day);
    json_t *state = NULL;
    int rc = read_from_pg(rq, build_in_force, &q, &state, res);
    int out = rc == 1 ? (int)json_integer_value(state) : rc < 0 ? -1 : MANDATE_NONE;
    json_decref(state);
    if (out == MANDATE_OUTSIDE)
        read_fail(res, 403, "the mandate of client %s for client %s is not in force on %s",
                  ac->client, client, q.day);
    return out;
}

struct list_q {
    const char *org, *client;
};

static json_t *build_list(struct pgc *pg, void *cls, char *err, size_t errlen)
{
    const struct list_q *q = cls;
    char today[11], limit[8];
    date_format(date_today_helsinki(), today);
    snprintf(limit, sizeof(limit), "%d", MANDATE_LIST_MAX);
    const char *p[] = {q->org, q->client, today, limit};
    err[0] = '\0';
    /* clang-format off */
    PGresult *r = pgc_query(
        pg,
        "SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object("
        "  'mandate_id', id, 'organiser_id', organiser_id, 'client_id', client_id,"
        "  'proxy_client_id', proxy_client_id, 'kind', kind, 'valid_from', valid_from,"
        "  'valid_to', valid_to, 'revoked_from', revoked_from,"
        "  'granted_at', " PG_TS_SQL("granted_at") ","
        "  'in_force', psop.mandate_in_force(organiser_id, proxy_client_id, client_id, $3::date)))"
        "  ORDER BY valid_from DESC, id), '[]')::text"
        " FROM (SELECT * FROM psop.mandates WHERE organiser_id = $1::uuid"
        "        AND (client_id = $2 OR proxy_client_id = $2)"
        "        ORDER BY valid_from DESC, id LIMIT $4::int) m",
        4, p, err, errlen);
    /* clang-format on */
    if (!r)
        return NULL;
    json_error_t je;
    json_t *list = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    PQclear(r);
    if (!list)
        snprintf(err, errlen, "mandate list: %s", je.text);
    return list;
}

void read_mandates(const struct read_req *rq, struct read_res *res)
{
    const struct actor *ac = rq->actor;
    const char *client = read_client_arg(rq, res, ac->role == ROLE_CLIENT ? ac->client : NULL);
    if (!client)
        return;
    if (!ac->org[0]) {
        read_fail(res, 403, "an organiser or client token must carry org");
        return;
    }
    if (ac->role == ROLE_CLIENT && strcmp(ac->client, client) != 0) {
        read_fail(res, 403, "a client lists its own mandates only");
        return;
    }
    struct list_q q = {ac->org, client};
    json_t *list = NULL;
    if (read_from_pg(rq, build_list, &q, &list, res) != 1)
        return;
    res->status = 200;
    res->body = json_pack("{s:s, s:s, s:o}", "client_id", client, "organiser_id", ac->org,
                          "mandates", list);
}
