/*
 * core/config.h - configuration of every psop process.
 *
 * Values come, in rising priority, from the defaults in core/config.c's table,
 * the file (config/psop.conf or --config / PSOP_CONFIG), and PSOP_* environment
 * variables (key "api_port" -> PSOP_API_PORT). Keys starting with "kafka." are
 * not ours: they pass straight through to rd_kafka_conf_set() (file key
 * "kafka.linger.ms", or env PSOP_KAFKA__LINGER_MS -> "linger.ms").
 *
 * The file format is "key = value" lines; '#' starts a comment.
 * A config is loaded once at start-up and then read-only: safe to share
 * between threads.
 */
#ifndef PSOP_CONFIG_H
#define PSOP_CONFIG_H

#include <stddef.h>
#include <librdkafka/rdkafka.h>

struct config_kv {
    char *key; /* without the "kafka." prefix */
    char *val;
};

struct psop_config {
    /* infrastructure */
    char *kafka_brokers;
    char *pg_dsn;
    char *redis_url;
    char *log_level;
    int topic_partitions;
    int produce_timeout_ms; /* delivery report deadline: after it, 503 */

    /* api */
    char *api_listen_addr;
    int api_port;
    int api_threads;
    long api_body_limit;
    int api_conn_limit;
    int api_per_ip_conn_limit;
    int api_conn_timeout_s;
    int api_rate_limit_rps; /* per client IP; 0 = unlimited */
    int api_drain_delay_ms; /* readiness 503 before the listener closes */
    char *api_stack_id;     /* which deployment a replica belongs to (api/port_guard.h) */
    char *schemas_dir;
    char *openapi_file;

    /* auth */
    char *jwt_alg; /* HS256 or RS256, never taken from the token */
    char *jwt_secret;
    char *jwt_public_key_file;
    char *jwt_private_key_file; /* psopctl token with RS256 */
    char *jwt_jwks_file;        /* set: RS256/ES256 keys by kid, re-read when it changes */
    char *jwt_mint_jwks_file;   /* psopctl token --jwks-private: a JWKS of private keys */
    char *jwt_mint_kid;         /* ... and --kid: which of them signs */
    char *jwt_issuer;
    char *jwt_audience;

    /* workers */
    char *worker_role;
    char *worker_instance_id;
    int worker_batch_max;
    int audit_retention_days; /* access records are kept at least this long (issue 18) */
    /* Aggregates of one kind a batch rebuilds in Redis one by one; past it
     * the batch writes stale markers instead (read_models.h). */
    int read_model_rebuild_max;
    char *worker_heartbeat_file; /* touched while the loop turns; "" = none (core/heartbeat.h) */
    int settlement_due_days;
    int envelope_version; /* the command envelope version this process writes and reads */

    /* kafka.* passthrough, in file order then env */
    struct config_kv *kafka_props;
    size_t n_kafka_props;
};

/* Loads defaults, then path (NULL: $PSOP_CONFIG, else ./config/psop.conf if it
 * exists), then the environment. A missing default file is not an error; a
 * missing explicit path is. Returns 0, or -1 with err filled. */
int config_load(struct psop_config *cfg, const char *path, char *err, size_t errlen);
void config_free(struct psop_config *cfg);

/* Sets every kafka.* property on conf. Returns 0 or -1 with err filled. */
int config_apply_kafka(const struct psop_config *cfg, rd_kafka_conf_t *conf, char *err,
                       size_t errlen);

/* Finds "--config PATH" or "--config=PATH" in argv; NULL when absent. */
const char *config_path_from_args(int argc, char **argv);

#endif
