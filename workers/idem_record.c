#include "idem_record.h"

#include <string.h>

#define PK_WHERE                                                                                   \
    "actor_role = $1 AND actor_org = coalesce($2, '') AND actor_provider = coalesce($3, '') "      \
    "AND actor_client = coalesce($4, '') AND actor_sub = $5 AND idempotency_key = $6"

/* One statement in the usual cases (new key; key committed earlier). When
 * another transaction held the key uncommitted, DO NOTHING waited for it and
 * this statement's snapshot cannot see its row: no row comes back and the
 * second query below reads it. */
static const char RECORD_SQL[] =
    "WITH ins AS ("
    " INSERT INTO psop.idempotency_keys (actor_role, actor_org, actor_provider, actor_client,"
    "  actor_sub, idempotency_key, command_id, request_digest)"
    " VALUES ($1, coalesce($2, ''), coalesce($3, ''), coalesce($4, ''), $5, $6, $7::uuid, $8)"
    " ON CONFLICT DO NOTHING RETURNING request_digest) "
    "SELECT request_digest FROM ins "
    "UNION ALL SELECT request_digest FROM psop.idempotency_keys WHERE " PK_WHERE
    " AND NOT EXISTS (SELECT 1 FROM ins)";

static const char HOLDER_SQL[] = "SELECT request_digest FROM psop.idempotency_keys WHERE " PK_WHERE;

enum idem_rec idem_record(struct pgc *pg, const struct envelope *c, char *err, size_t errlen)
{
    if (!c->idempotency_key || !c->request_digest || c->actor.role == ROLE_NONE || !c->actor.sub[0])
        return IDEM_REC_OK;
    const char *p[] = {role_name(c->actor.role),
                       actor_opt(c->actor.org),
                       actor_opt(c->actor.provider),
                       actor_opt(c->actor.client),
                       c->actor.sub,
                       c->idempotency_key,
                       c->id,
                       c->request_digest};
    PGresult *r = pgc_query(pg, RECORD_SQL, 8, p, err, errlen);
    if (!r)
        return IDEM_REC_ERROR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = pgc_query(pg, HOLDER_SQL, 6, p, err, errlen);
        if (!r)
            return IDEM_REC_ERROR;
    }
    enum idem_rec v = IDEM_REC_OK;
    if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), c->request_digest) != 0)
        v = IDEM_REC_REUSED;
    PQclear(r);
    return v;
}
