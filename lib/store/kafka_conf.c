#include "store/kafka_conf.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* librdkafka levels are syslog's. It logs broker connection failures at
 * LOG_ERR (3) although it retries them by itself, and reports them again
 * through error_cb: so 3 and 4 are warnings here, only 0..2 errors. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl = level <= 2   ? LOG_LVL_ERROR
                         : level <= 4 ? LOG_LVL_WARN
                         : level <= 6 ? LOG_LVL_INFO
                                      : LOG_LVL_DEBUG;
    log_line(lvl, "librdkafka", "client", rk ? rd_kafka_name(rk) : NULL, "facility", fac, "detail",
             buf, NULL);
}

/* Most errors here are transient (broker down, transport) and librdkafka
 * retries by itself; only a fatal error (an idempotence guarantee broken)
 * makes the handle unusable. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        LOG_ERROR("kafka fatal error", "client", rd_kafka_name(rk), "error",
                  rd_kafka_err2name(orig), "detail", why, NULL);
        return;
    }
    LOG_WARN("kafka error", "client", rd_kafka_name(rk), "error",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), "detail", reason, NULL);
}

/* Every client, before the caller's defaults (all overridable by kafka.*).
 * With three brokers one may be down and come back: reconnect to it within
 * 2 s (not up to 10) so the leaderships it takes back are served at once,
 * and notice a partition leader change by its error at once plus a refresh
 * every 30 s (the default 5 min is for clusters that rarely change). */
static const char *const common_defaults[] = {"reconnect.backoff.max.ms", "2000",
                                              "topic.metadata.refresh.interval.ms", "30000", NULL};

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka %s=%s: %s", name, value, why);
        return -1;
    }
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct psop_config *cfg, rd_kafka_topic_conf_t *tconf,
                                const char *const *defaults, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (tconf)
        rd_kafka_conf_set_default_topic_conf(conf, tconf);
    if (!cfg->kafka_brokers || !*cfg->kafka_brokers) {
        snprintf(err, errlen, "kafka_brokers is empty");
        goto fail;
    }
    if (kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err, errlen) < 0)
        goto fail;
    for (const char *const *d = common_defaults; d[0]; d += 2)
        if (kafka_conf_set(conf, d[0], d[1], err, errlen) < 0)
            goto fail;
    for (const char *const *d = defaults; d && d[0]; d += 2)
        if (kafka_conf_set(conf, d[0], d[1], err, errlen) < 0)
            goto fail;
    if (config_apply_kafka(cfg, conf, err, errlen) < 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}
