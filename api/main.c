/*
 * psop-api - the HTTP front. Usage:
 *   psop-api [--config PATH]      serve (settings: config file + PSOP_* env)
 *   psop-api [--config PATH] --openapi   print the OpenAPI 3.1 document
 *
 * SIGTERM/SIGINT drain: /readyz turns 503, the balancer gets
 * api_drain_delay_ms to notice, the listener is quiesced, in-flight requests
 * finish and are answered, the producer is flushed, exit 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "core/config.h"
#include "http_server.h"
#include "idempotency.h"
#include "wire/jschema.h"
#include "core/log.h"
#include "metrics.h"
#include "openapi.h"
#include "apikeys.h"
#include "pgpool.h"
#include "port_guard.h"
#include "publish.h"
#include "ratelimit.h"
#include "router.h"
#include "rpool.h"
#include "waiters.h"
#include "core/xmalloc.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static int has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct psop_config cfg;
    char err[512];
    int rc = 1;
    struct jschema_registry *reg = NULL;
    struct auth *auth = NULL;
    struct pub *pub = NULL;
    struct idem *idem = NULL;
    struct metrics *metrics = NULL;
    struct ratelimit *rl = NULL;
    struct api_server *srv = NULL;
    struct rpool *rpool = NULL;
    struct cmd_status *status = NULL;
    struct pgpool *pgpool = NULL;
    struct apikeys *apikeys = NULL;
    struct waiters *waiters = NULL;
    json_t *openapi = NULL;
    char *openapi_json = NULL;

    xmalloc_install();
    memset(&cfg, 0, sizeof(cfg));
    if (config_load(&cfg, config_path_from_args(argc, argv), err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-api: %s\n", err);
        return 1;
    }
    log_init("psop-api", log_level_parse(cfg.log_level));

    reg = jschema_registry_load(cfg.schemas_dir, err, sizeof(err));
    if (!reg) {
        LOG_ERROR("cannot load schemas", "dir", cfg.schemas_dir, "error", err, NULL);
        goto out;
    }
    openapi = openapi_build(reg, err, sizeof(err));
    if (!openapi) {
        LOG_ERROR("cannot build the OpenAPI document", "error", err, NULL);
        goto out;
    }
    if (has_flag(argc, argv, "--openapi")) {
        char *s = json_dumps(openapi, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
        rc = 0;
        goto out;
    }
    openapi_json = json_dumps(openapi, JSON_COMPACT | JSON_REAL_PRECISION(15));

    /* SO_REUSEPORT would let this process share a port with anyone of the
     * same user: only an older psop-api of this stack may be there. */
    if (port_guard_check(cfg.api_listen_addr, cfg.api_port, cfg.api_stack_id, 2000, err,
                         sizeof(err)) == PORT_TAKEN) {
        char port_s[16];
        snprintf(port_s, sizeof(port_s), "%d", cfg.api_port);
        LOG_ERROR("port already served: refusing to start", "port", port_s, "by", err, "stack",
                  cfg.api_stack_id, NULL);
        fprintf(stderr, "psop-api: port %d is already served by %s; refusing to start\n",
                cfg.api_port, err);
        rc = 3;
        goto out;
    }

    auth = auth_new(&cfg, err, sizeof(err));
    if (!auth) {
        LOG_ERROR("auth configuration", "error", err, NULL);
        goto out;
    }
    auth_use_schemas(auth, reg);

    /* Signals are taken by sigwait below; every thread started from here on
     * inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    pub = pub_new(&cfg, err, sizeof(err));
    if (!pub) {
        LOG_ERROR("kafka producer", "error", err, NULL);
        goto out;
    }
    /* A pending key blocks duplicates for as long as an answer can take. */
    idem = idem_new(cfg.redis_url, cfg.api_threads > 0 ? cfg.api_threads : 1,
                    cfg.produce_timeout_ms + 5000);
    size_t n_routes;
    router_routes(&n_routes);
    metrics = metrics_new(n_routes);
    rl = ratelimit_new(cfg.api_rate_limit_rps);
    /* Reads: one Redis and one PostgreSQL connection per server thread at
     * most, plus one Redis connection for "accepted" statuses under load. */
    int threads = cfg.api_threads > 0 ? cfg.api_threads : 1;
    /* The "accepted" status write is on the command path and optional (the
     * status falls back to PostgreSQL): the same short timeout as the
     * idempotency store, and the pool's breaker. */
    rpool = rpool_new(cfg.redis_url, threads + 1, IDEM_REDIS_TIMEOUT_MS);
    status = cmd_status_new(rpool, CMD_STATUS_MAX_GROUP);
    pgpool = pgpool_new(cfg.pg_dsn, threads);
    waiters = waiters_new(cfg.redis_url);
    apikeys = apikeys_new(pgpool);

    struct api_deps deps = {
        .cfg = &cfg,
        .auth = auth,
        .reg = reg,
        .pub = pub,
        .idem = idem,
        .metrics = metrics,
        .ratelimit = rl,
        .openapi_json = openapi_json,
        .redis = rpool,
        .status = status,
        .pg = pgpool,
        .waiters = waiters,
        .apikeys = apikeys,
    };
    srv = api_server_start(&deps, err, sizeof(err));
    if (!srv) {
        LOG_ERROR("http server", "error", err, NULL);
        goto out;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", api_server_port(srv));
    LOG_INFO("listening", "addr", cfg.api_listen_addr, "port", port, NULL);

    int sig = 0;
    sigwait(&sigs, &sig);
    LOG_INFO("draining", "signal", sig == SIGTERM ? "TERM" : "INT", NULL);
    api_server_set_draining(srv);
    sleep_ms(cfg.api_drain_delay_ms > 0 ? cfg.api_drain_delay_ms : 0);
    api_server_quiesce(srv);
    /* In-flight requests get at most one publish deadline plus the time to
     * send their answer; suspended ones are always waited for. */
    long left = api_server_wait_idle(srv, cfg.produce_timeout_ms + 5000);
    if (left)
        LOG_WARN("requests still in flight at shutdown", NULL);
    int outstanding = pub_flush(pub, cfg.produce_timeout_ms);
    if (outstanding)
        LOG_WARN("messages not flushed", NULL);
    api_server_stop(srv);
    srv = NULL;
    unsigned long writes, requests;
    cmd_status_counts(status, &writes, &requests);
    char w_s[24], r_s[24];
    snprintf(w_s, sizeof(w_s), "%lu", writes);
    snprintf(r_s, sizeof(r_s), "%lu", requests);
    LOG_INFO("stopped", "status_writes", w_s, "status_requests", r_s, NULL);
    rc = 0;
out:
    api_server_stop(srv);
    waiters_free(waiters);
    apikeys_free(apikeys);
    pgpool_free(pgpool);
    cmd_status_free(status);
    rpool_free(rpool);
    pub_free(pub, cfg.produce_timeout_ms);
    idem_free(idem);
    ratelimit_free(rl);
    metrics_free(metrics);
    auth_free(auth);
    free(openapi_json);
    json_decref(openapi);
    jschema_registry_free(reg);
    config_free(&cfg);
    return rc;
}
