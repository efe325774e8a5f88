/*
 * read.h - the read routes (kind ROUTE_READ): their handler interface and
 * the one way they find a document.
 *
 * A read handler gets the matched route, the verified actor and the query
 * string, and fills a read_res: 200 with a JSON document, or a problem
 * status with a detail. It runs on the libmicrohttpd thread that took the
 * request; its waits are bounded by the Redis command timeout and by
 * PostgreSQL's connect and statement timeouts (pgpool.h).
 *
 * Documents come from Redis (hash {v, d}, written by the workers) and, on a
 * miss or when Redis is down, from PostgreSQL through the lib/view_*
 * function that built the cached one: the same document either way. The
 * api never writes a read model back (a flushed Redis is refilled by the
 * workers and `psopctl cache rebuild`). PostgreSQL unreachable on a miss is
 * 503 + Retry-After.
 *
 * Authorisation: the route row's roles are checked before the handler runs
 * (403); the handler checks ownership of the resource (docs/api-decisions.md
 * says where that is 403 and where 404).
 */
#ifndef PSOP_API_READ_H
#define PSOP_API_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "auth.h"
#include "core/date.h"
#include "store/pgc.h"
#include "pgpool.h"
#include "router.h"
#include "rpool.h"

/* Seconds a client should wait after a 503 from a read. */
#define READ_RETRY_AFTER_S 2

/* What read handlers use; borrowed, alive as long as the server. */
struct read_ctx {
    struct rpool *redis;
    struct pgpool *pg;
};

struct read_req {
    const struct read_ctx *ctx;
    const struct route_match *m;
    const struct actor *actor; /* NULL on routes without authentication */
    /* The query argument name (percent-decoded), or NULL. */
    const char *(*query)(void *cls, const char *name);
    void *query_cls;
};

struct read_res {
    int status;               /* 200, or a problem status */
    json_t *body;             /* 200: the document (owned) */
    char *text;               /* 200, instead of body: a non-JSON document (owned, malloc) */
    const char *content_type; /* with text: its media type (static string) */
    char detail[256];         /* problem detail */
    json_t *errors;           /* 422: [{path, message}] (owned), or NULL */
    char on_behalf_of[65];    /* a proxy's read under a mandate: the represented client */
};

/* ------------------------------------------------------------- helpers */

/* Frees what res holds (body, errors, text) and zeroes it. */
void read_res_free(struct read_res *res);

/* The path parameter name, "" when absent. */
const char *read_param(const struct read_req *rq, const char *name);
/* The query argument name, or NULL. */
const char *read_query(const struct read_req *rq, const char *name);

/* Sets a problem answer (detail printf-style). */
void read_fail(struct read_res *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A client id as the schemas allow it: 1-64 printable ASCII, no space. */
#define READ_CLIENT_ID_MAX 64
bool read_client_id_valid(const char *s);

/* The query's client_id (dflt when absent), or NULL with a 422 in res when
 * it is absent without a default or is not a client id. */
const char *read_client_arg(const struct read_req *rq, struct read_res *res, const char *dflt);

/* Adds {path: "?name", message} to a 422 answer. */
void read_bad_query(struct read_res *res, const char *name, const char *message);

/* Builds a document from PostgreSQL: the document (new reference), or NULL
 * with err "" when the resource does not exist, or NULL with err filled. */
typedef json_t *(*read_build_fn)(struct pgc *pg, void *cls, char *err, size_t errlen);
/* Whether a cached document may be answered (e.g. it is today's); NULL: yes. */
typedef bool (*read_fresh_fn)(const json_t *doc, void *cls);

/* The cached document at key, or NULL (absent, stale, Redis down). */
json_t *read_cached(const struct read_req *rq, const char *key, read_fresh_fn fresh, void *cls);

/* Builds with a pooled connection; a connection found broken is reset and
 * the build run once more. Returns 1 and *out, 0 when not found, or -1 with
 * res filled (503 unreachable, 500 other database errors). */
int read_from_pg(const struct read_req *rq, read_build_fn build, void *cls, json_t **out,
                 struct read_res *res);

/* read_cached, else read_from_pg. Same returns as read_from_pg. Where the
 * key held a worker's stale marker (store/rds.h), the document built
 * from PostgreSQL is written back, version-checked (read-through); an
 * absent key is left absent (`psopctl cache rebuild` refills Redis). */
int read_doc(const struct read_req *rq, const char *key, read_fresh_fn fresh, read_build_fn build,
             void *cls, json_t **out, struct read_res *res);

/* The id a list is scoped to for a token bound to one (its org, its
 * provider: mine): mine when asked is NULL or the same id; NULL with a 403
 * in res when the token lacks it (missing) or asked is another (other). */
const char *read_own_scope(struct read_res *res, const char *asked, const char *mine,
                           const char *missing, const char *other);

/* The providers in force on today (Helsinki) for (organiser_id,
 * service_type), the public list (views/view_provider.h), through
 * read_doc: same returns. */
int read_public_list(const struct read_req *rq, const char *organiser_id, const char *service_type,
                     day_t today, json_t **out, struct read_res *res);

/* ------------------------------------------------------------ handlers */

/* GET /v1/commands/{id} (read_command.c) */
void read_command(const struct read_req *rq, struct read_res *res);
/* GET /v1/providers/{provider_id}, GET /v1/public/providers (read_provider.c) */
void read_provider(const struct read_req *rq, struct read_res *res);
void read_public_providers(const struct read_req *rq, struct read_res *res);
/* GET /v1/providers/{provider_id}/api-keys (read_provider.c) */
void read_api_keys(const struct read_req *rq, struct read_res *res);
/* GET /v1/vouchers/{voucher_id}, /v1/vouchers?client_id=,
 * /v1/vouchers/{voucher_id}/providers, /v1/vouchers/{voucher_id}/service-events
 * (read_voucher.c) */
void read_voucher(const struct read_req *rq, struct read_res *res);
void read_voucher_list(const struct read_req *rq, struct read_res *res);
void read_voucher_providers(const struct read_req *rq, struct read_res *res);
void read_voucher_events(const struct read_req *rq, struct read_res *res);
/* GET /v1/orders/{order_id}, /v1/orders?client_id=, /v1/orders/{order_id}/service-events,
 * /v1/contracts/{contract_id} (read_order.c) */
void read_order(const struct read_req *rq, struct read_res *res);
void read_order_list(const struct read_req *rq, struct read_res *res);
void read_order_events(const struct read_req *rq, struct read_res *res);
void read_contract(const struct read_req *rq, struct read_res *res);

/* GET /v1/audit, GET /v1/me/access-log (read_audit.c) */
void read_audit(const struct read_req *rq, struct read_res *res);
void read_my_access_log(const struct read_req *rq, struct read_res *res);

/* The answer shape of a status document (borrowed): without actor_sub and
 * without null fields (new reference). */
json_t *read_command_public(const json_t *doc);

#endif
