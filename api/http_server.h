/*
 * http_server.h - the libmicrohttpd front: request lifecycle, limits, errors,
 * health/readiness/metrics, access log, draining.
 *
 * A command request is authenticated and checked from its headers on the
 * first callback (429, 404/405, 401/403, 415, 413 by Content-Length), its
 * body is collected under the size limit, then parsed, validated, claimed
 * against its Idempotency-Key and published. The connection is then
 * suspended and resumed by the delivery report (or the deadline), and only
 * then answered: 202 when every command is on Kafka, else 503. No server
 * thread ever waits for Kafka.
 *
 * With "Prefer: wait=N" (N clamped to 10 s, counted from the request's
 * arrival) a request whose commands are on Kafka is suspended again until
 * the workers' verdicts arrive (waiters.h): 200 with the status document
 * (422 problem when the one command was rejected; {"commands": [...]} for
 * a batch, rejections included), or 202 as usual when N passes first.
 *
 * A read route (ROUTE_READ) is authenticated when its row has roles, then
 * answered by its handler (read.h) from the first callback.
 */
#ifndef PSOP_API_HTTP_SERVER_H
#define PSOP_API_HTTP_SERVER_H

#include <stddef.h>

#include "auth.h"
#include "core/config.h"
#include "idempotency.h"
#include "wire/jschema.h"
#include "metrics.h"
#include "apikeys.h"
#include "cmd_status.h"
#include "pgpool.h"
#include "publish.h"
#include "ratelimit.h"
#include "rpool.h"
#include "waiters.h"

/* What the server uses; all borrowed and alive until api_server_stop. */
struct api_deps {
    const struct psop_config *cfg;
    const struct auth *auth;
    const struct jschema_registry *reg;
    struct pub *pub;
    struct idem *idem;
    struct metrics *metrics;
    struct ratelimit *ratelimit;
    const char *openapi_json;  /* the document served at /v1/openapi.json */
    struct rpool *redis;       /* reads (may be NULL) */
    struct cmd_status *status; /* "accepted" command statuses, written grouped */
    struct pgpool *pg;         /* reads that miss Redis */
    struct waiters *waiters;   /* Prefer: wait (NULL: never wait) */
    struct apikeys *apikeys;   /* provider integration keys (NULL: refused) */
};

struct api_server;

/* Binds cfg->api_listen_addr:api_port and starts the thread pool. */
struct api_server *api_server_start(const struct api_deps *deps, char *err, size_t errlen);

/* The port actually bound (for api_port 0). */
int api_server_port(const struct api_server *s);

/* /readyz answers 503 from now on; responses carry Connection: close. */
void api_server_set_draining(struct api_server *s);

/* Stops accepting connections (MHD_quiesce_daemon) and closes the listener. */
void api_server_quiesce(struct api_server *s);

/* Waits until no request is in flight (suspended ones included) or
 * timeout_ms passed. Returns the number still in flight. */
long api_server_wait_idle(struct api_server *s, int timeout_ms);

/* Stops the daemon (closing idle connections) and frees the server. */
void api_server_stop(struct api_server *s);

#endif
