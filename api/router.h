/*
 * router.h - the api's routes as one table, and matching a request to a row.
 *
 * A row is (method, path pattern) -> handler kind, and for command routes the
 * command type, the roles allowed, the Kafka topic and the data field that
 * keys the message. Pattern segments "{name}" match one path segment and,
 * for commands, become data.name: the placeholder is named after the data
 * field it fills. Adding a command is one row here plus one schema in
 * schemas/commands/<type>.json. Read routes are rows too (kind ROUTE_READ
 * with their own handler; roles ROLE_NONE = anyone, no token). The table is static and read-only:
 * thread-safe.
 */
#ifndef PSOP_API_ROUTER_H
#define PSOP_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "wire/actor.h" /* enum role */

enum route_kind {
    ROUTE_COMMAND, /* body (+ path params) is one command's data */
    ROUTE_BATCH,   /* POST /v1/commands */
    ROUTE_HEALTHZ,
    ROUTE_READYZ,
    ROUTE_METRICS,
    ROUTE_OPENAPI,
    ROUTE_READ, /* GET handlers reading Redis, falling back to PostgreSQL (read.h) */
};

struct read_req;
struct read_res;
/* A read route's handler (read.h). */
typedef void (*read_fn)(const struct read_req *rq, struct read_res *res);

struct route {
    const char *method;
    const char *pattern;
    enum route_kind kind;
    /* Roles allowed; ROLE_NONE = no authentication (health, metrics...). */
    unsigned roles;
    /* Command routes only: */
    const char *type;
    const char *topic;
    const char *key_field;      /* data field whose value keys the message */
    const char *resource_field; /* data field answered as resource_id */
    const char *create_field;   /* optional client-chosen id, generated if absent */
    const char *summary;        /* one line for the OpenAPI document */
    read_fn read;               /* ROUTE_READ only */
    /* ROUTE_READ of client data: the resource type its access records name
     * (api/access.h); NULL for every other route. */
    const char *audit;
};

#define ROUTER_MAX_PARAMS 4

struct route_match {
    const struct route *route;
    int index; /* row number, for per-route metrics */
    int n_params;
    struct {
        const char *name; /* borrowed from the pattern, without braces */
        size_t name_len;
        char value[256];
    } params[ROUTER_MAX_PARAMS];
};

enum router_result { ROUTER_FOUND, ROUTER_NOT_FOUND, ROUTER_METHOD_NOT_ALLOWED };

/* All rows, and their count. */
const struct route *router_routes(size_t *n);

/* Matches method and path (already percent-decoded). On
 * ROUTER_METHOD_NOT_ALLOWED, allow (if non-NULL) receives the methods the
 * path accepts, e.g. "GET, HEAD" or "PATCH, DELETE". HEAD matches GET rows.
 * Path segments longer than 255 bytes never match. */
enum router_result router_match(const char *method, const char *path, struct route_match *m,
                                char *allow, size_t allowlen);

/* Command rows for a type (several for service_event.*: under vouchers and
 * under orders). Returns how many were written to out (at most max). */
size_t router_rows_for_type(const char *type, const struct route **out, size_t max);

/* True when type names a command. */
bool router_is_command_type(const char *type);

#endif
