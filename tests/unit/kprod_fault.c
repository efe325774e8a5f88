/* lib/store/kprod.c against a broker answer a real cluster gives only by
 * chance: a Produce request refused with OUT_OF_ORDER_SEQUENCE_NUMBER (what
 * a CI chaos run met when broker 3 was killed). librdkafka 2.0.2's
 * idempotent producer then fails for good, and the messages of the refused
 * request come back with that error in their delivery reports.
 *
 * The answer is injected with librdkafka's own in-process cluster
 * (rdkafka_mock.h): the producer code under test is the real librdkafka
 * client talking the Kafka protocol. This is a fault-injection unit test,
 * not a stand-in for Kafka: tests/integration/kafka.c covers the same
 * producer against the stack's three real brokers. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "store/kprod.h"

TestSuite(kprod_fault, .timeout = 60);

#define PRODUCE_API_KEY 0 /* Kafka protocol: ProduceRequest */

struct dr {
    atomic_int calls;
    rd_kafka_resp_err_t err;
    int64_t offset;
};

static void on_dr(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    (void)partition;
    struct dr *d = opaque;
    d->err = err;
    d->offset = offset;
    atomic_fetch_add(&d->calls, 1);
}

struct cluster {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mc;
    struct psop_config cfg;
};

static void cluster_start(struct cluster *c, const char *topic)
{
    char err[512];
    c->owner = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    cr_assert_not_null(c->owner, "%s", err);
    c->mc = rd_kafka_mock_cluster_new(c->owner, 1);
    cr_assert_not_null(c->mc);
    cr_assert_eq(rd_kafka_mock_topic_create(c->mc, topic, 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(config_load(&c->cfg, "/dev/null", err, sizeof(err)), 0, "%s", err);
    free(c->cfg.kafka_brokers);
    c->cfg.kafka_brokers = xstrdup(rd_kafka_mock_cluster_bootstraps(c->mc));
}

/* A cluster whose next Produce request is refused with refuse, and a
 * producer on it. */
static struct kprod *start(struct cluster *c, rd_kafka_resp_err_t refuse)
{
    cluster_start(c, "psop.fault");
    rd_kafka_mock_push_request_errors(c->mc, PRODUCE_API_KEY, 1, refuse);
    char err[512];
    struct kprod *p = kprod_new(&c->cfg, on_dr, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    return p;
}

static void cluster_stop(struct cluster *c)
{
    config_free(&c->cfg);
    rd_kafka_mock_cluster_destroy(c->mc);
    rd_kafka_destroy(c->owner);
}

/* The messages of the refused request, and those sent after, are all
 * acknowledged, each reported once, on a new handle: no caller hears of
 * the failure (before the fix, the refused request's messages were
 * reported as failed, and the api answered 503 for them). */
Test(kprod_fault, reports_carrying_the_fatal_error_are_produced_again_on_a_new_handle)
{
    struct cluster c;
    struct kprod *p = start(&c, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    char err[512];
    enum { N = 40 };
    struct dr d[N];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < N; i++) {
        char val[16];
        snprintf(val, sizeof(val), "m%d", i);
        cr_assert_eq(
            kprod_send(p, "psop.fault", "k", 1, val, strlen(val), NULL, &d[i], err, sizeof(err)), 0,
            "message %d: %s", i, err);
    }
    cr_assert_eq(kprod_flush(p, 30000), 0, "undelivered after 30 s");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(atomic_load(&d[i].calls), 1, "m%d: %d reports", i, atomic_load(&d[i].calls));
        cr_assert_eq(d[i].err, RD_KAFKA_RESP_ERR_NO_ERROR, "m%d reported as failed: %s", i,
                     rd_kafka_err2name(d[i].err));
        cr_assert_geq(d[i].offset, 0, "m%d", i);
    }
    cr_assert_eq(kprod_renewals(p), 1, "the refused request did not fail the handle (renewals %lu)",
                 kprod_renewals(p));
    cr_assert_not(kprod_fatal(p, err, sizeof(err)), "%s", err);
    kprod_free(p, 5000);
    cluster_stop(&c);
}

/* A message whose own error is not the handle's (here: a request refused
 * for good without failing the producer) is still reported as failed,
 * once, and the handle is kept. */
Test(kprod_fault, a_message_refused_for_its_own_sake_is_reported_failed_once)
{
    struct cluster c;
    struct kprod *p = start(&c, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    char err[512];
    struct dr d;
    memset(&d, 0, sizeof(d));
    cr_assert_eq(kprod_send(p, "psop.fault", "k", 1, "m", 1, NULL, &d, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(kprod_flush(p, 30000), 0, "unreported after 30 s");
    cr_assert_eq(atomic_load(&d.calls), 1);
    cr_assert_eq(d.err, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, "%s", rd_kafka_err2name(d.err));
    cr_assert_eq(kprod_renewals(p), 0);
    kprod_free(p, 5000);
    cluster_stop(&c);
}
