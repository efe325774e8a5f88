#include "core/config.h"
#include "core/versions.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/xmalloc.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_LONG };

struct cfg_entry {
    const char *name;
    enum cfg_type type;
    size_t offset;
    const char *def;
};

#define E(n, t, d)                                                                                 \
    {                                                                                              \
#n, t, offsetof(struct psop_config, n), d                                                  \
    }
/* The one table of psop settings; env name is PSOP_ + upper-case name. */
static const struct cfg_entry table[] = {
    E(kafka_brokers, CFG_STR, "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"),
    E(pg_dsn, CFG_STR, "host=127.0.0.1 port=15432 dbname=psop user=psop"),
    E(redis_url, CFG_STR, "redis://127.0.0.1:16379"),
    E(log_level, CFG_STR, "info"),
    E(topic_partitions, CFG_INT, "12"),
    E(produce_timeout_ms, CFG_INT, "15000"),
    E(api_listen_addr, CFG_STR, "127.0.0.1"),
    E(api_port, CFG_INT, "18081"),
    E(api_threads, CFG_INT, "4"),
    E(api_body_limit, CFG_LONG, "1048576"),
    E(api_conn_limit, CFG_INT, "4096"),
    E(api_per_ip_conn_limit, CFG_INT, "1024"),
    E(api_conn_timeout_s, CFG_INT, "30"),
    E(api_rate_limit_rps, CFG_INT, "0"),
    E(api_drain_delay_ms, CFG_INT, "2000"),
    E(api_stack_id, CFG_STR, ""),
    E(schemas_dir, CFG_STR, PSOP_SOURCE_DIR "/schemas"),
    E(openapi_file, CFG_STR, PSOP_SOURCE_DIR "/docs/openapi.yaml"),
    E(jwt_alg, CFG_STR, "HS256"),
    E(jwt_secret, CFG_STR, "psop-dev-secret-change-me-0123456789abcdef"),
    E(jwt_public_key_file, CFG_STR, ""),
    E(jwt_private_key_file, CFG_STR, ""),
    E(jwt_jwks_file, CFG_STR, ""),
    E(jwt_mint_jwks_file, CFG_STR, ""),
    E(jwt_mint_kid, CFG_STR, ""),
    E(jwt_issuer, CFG_STR, ""),
    E(jwt_audience, CFG_STR, ""),
    E(worker_role, CFG_STR, ""),
    E(worker_instance_id, CFG_STR, ""),
    E(worker_batch_max, CFG_INT, "500"),
    E(read_model_rebuild_max, CFG_INT, "1000"),
    E(worker_heartbeat_file, CFG_STR, ""),
    E(settlement_due_days, CFG_INT, "14"),
    E(audit_retention_days, CFG_INT, "4383"),
    E(envelope_version, CFG_INT, "5"),
};
#undef E
#define N_TABLE (sizeof(table) / sizeof(table[0]))

static int set_value(struct psop_config *cfg, const struct cfg_entry *e, const char *val, char *err,
                     size_t errlen)
{
    char *base = (char *)cfg + e->offset;
    char *end = NULL;
    switch (e->type) {
    case CFG_STR: {
        char **slot = (char **)base;
        free(*slot);
        *slot = xstrdup(val);
        return 0;
    }
    case CFG_INT:
    case CFG_LONG: {
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0' ||
            (e->type == CFG_INT && (v > 2147483647L || v < -2147483647L))) {
            snprintf(err, errlen, "config %s: not an integer: '%s'", e->name, val);
            return -1;
        }
        if (e->type == CFG_INT)
            *(int *)base = (int)v;
        else
            *(long *)base = v;
        return 0;
    }
    }
    return -1;
}

static void add_kafka_prop(struct psop_config *cfg, const char *key, const char *val)
{
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        if (strcmp(cfg->kafka_props[i].key, key) == 0) {
            free(cfg->kafka_props[i].val);
            cfg->kafka_props[i].val = xstrdup(val);
            return;
        }
    }
    cfg->kafka_props =
        xrealloc(cfg->kafka_props, (cfg->n_kafka_props + 1) * sizeof(struct config_kv));
    cfg->kafka_props[cfg->n_kafka_props].key = xstrdup(key);
    cfg->kafka_props[cfg->n_kafka_props].val = xstrdup(val);
    cfg->n_kafka_props++;
}

static int set_key(struct psop_config *cfg, const char *key, const char *val, char *err,
                   size_t errlen)
{
    if (strncmp(key, "kafka.", 6) == 0 && key[6]) {
        add_kafka_prop(cfg, key + 6, val);
        return 0;
    }
    for (size_t i = 0; i < N_TABLE; i++)
        if (strcmp(table[i].name, key) == 0)
            return set_value(cfg, &table[i], val, err, errlen);
    snprintf(err, errlen, "config: unknown key '%s'", key);
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct psop_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "config %s:%d: expected key = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        if (set_key(cfg, trim(s), trim(eq + 1), err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

extern char **environ;

static int load_env(struct psop_config *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_TABLE; i++) {
        char env[128] = "PSOP_";
        size_t p = 5;
        for (const char *c = table[i].name; *c && p < sizeof(env) - 1; c++)
            env[p++] = (char)toupper((unsigned char)*c);
        env[p] = '\0';
        const char *v = getenv(env);
        if (v && set_value(cfg, &table[i], v, err, errlen) < 0)
            return -1;
    }
    /* PSOP_KAFKA__LINGER_MS=5 -> linger.ms=5 */
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "PSOP_KAFKA__", 12) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[256];
        size_t n = 0;
        for (const char *c = *e + 12; c < eq && n < sizeof(key) - 1; c++)
            key[n++] = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
        key[n] = '\0';
        add_kafka_prop(cfg, key, eq + 1);
    }
    return 0;
}

int config_load(struct psop_config *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_TABLE; i++)
        if (set_value(cfg, &table[i], table[i].def, err, errlen) < 0)
            return -1;
    if (!path)
        path = getenv("PSOP_CONFIG");
    if (path && *path) {
        if (load_file(cfg, path, err, errlen) < 0)
            return -1;
    } else if (access("config/psop.conf", R_OK) == 0) {
        if (load_file(cfg, "config/psop.conf", err, errlen) < 0)
            return -1;
    }
    if (load_env(cfg, err, errlen) < 0)
        return -1;
    if (cfg->envelope_version < ENVELOPE_VERSION_MIN ||
        cfg->envelope_version > ENVELOPE_VERSION_CURRENT) {
        snprintf(err, errlen, "config envelope_version: %d is not between %d and %d",
                 cfg->envelope_version, ENVELOPE_VERSION_MIN, ENVELOPE_VERSION_CURRENT);
        return -1;
    }
    /* Access records are evidence: a retention of zero days or less would
     * let the nightly batch drop every month, so it is refused, not read as
     * "keep nothing". */
    if (cfg->audit_retention_days < 1) {
        snprintf(err, errlen, "config audit_retention_days: %d is not a number of days >= 1",
                 cfg->audit_retention_days);
        return -1;
    }
    return 0;
}

void config_free(struct psop_config *cfg)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i].type == CFG_STR)
            free(*(char **)((char *)cfg + table[i].offset));
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].val);
    }
    free(cfg->kafka_props);
    memset(cfg, 0, sizeof(*cfg));
}

int config_apply_kafka(const struct psop_config *cfg, rd_kafka_conf_t *conf, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < cfg->n_kafka_props; i++) {
        if (rd_kafka_conf_set(conf, cfg->kafka_props[i].key, cfg->kafka_props[i].val, err,
                              errlen) != RD_KAFKA_CONF_OK)
            return -1;
    }
    return 0;
}

const char *config_path_from_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return NULL;
}
