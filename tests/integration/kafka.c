/* Integration tests of lib/store/kprod.c, store/kcons.c and
 * store/kadmin.c on the stack's Kafka. Each test uses its own topic and
 * consumer group. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store/kadmin.h"
#include "store/kcons.h"
#include "store/kprod.h"
#include "stack.h"
#include "store/topics.h"

TestSuite(kafka, .timeout = 120);

/* What a delivery report said about one message. */
struct dr {
    atomic_int calls;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
    pthread_t thread;
};

static void on_dr(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    struct dr *d = opaque;
    d->err = err;
    d->partition = partition;
    d->offset = offset;
    d->thread = pthread_self();
    atomic_fetch_add(&d->calls, 1);
}

/* Deletes a test topic so runs don't pile up topics on the dev broker. */
static void drop_topic(char *topic)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", st_config()->kafka_brokers, why, sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    cr_assert_not_null(rk, "%s", why);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_destroy(rk);
    free(topic);
}

static char *fresh_topic(int partitions)
{
    char *topic = st_unique("psop.test");
    /* The cluster's own replication (3 copies on the 3-broker stack, whose
     * min.insync.replicas of 2 would refuse acks=all writes to 1 copy). */
    struct kadmin_topic t = {topic, partitions, -1, 0};
    char err[512];
    cr_assert_eq(kadmin_create_topics(st_config(), &t, 1, 15000, err, sizeof(err)), 0, "%s", err);
    /* Creating it again is not an error. */
    cr_assert_eq(kadmin_create_topics(st_config(), &t, 1, 15000, err, sizeof(err)), 0, "%s", err);
    return topic;
}

static struct kprod *producer(const struct psop_config *cfg)
{
    char err[512];
    struct kprod *p = kprod_new(cfg, on_dr, err, sizeof(err));
    cr_assert_not_null(p, "%s", err);
    return p;
}

/* Waits up to secs for p's reports; asserts exactly one for each of the n
 * messages, an acknowledgement with an offset. */
static void assert_each_acknowledged(struct kprod *p, struct dr *d, int n, int secs)
{
    cr_assert_eq(kprod_flush(p, secs * 1000), 0, "undelivered after %d s", secs);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(atomic_load(&d[i].calls), 1, "message %d: %d reports", i,
                     atomic_load(&d[i].calls));
        cr_assert_eq(d[i].err, RD_KAFKA_RESP_ERR_NO_ERROR, "message %d: %s", i,
                     rd_kafka_err2str(d[i].err));
        cr_assert_geq(d[i].offset, 0);
    }
}

/* Produces n messages "m<i>" with key "k<i % 3>"; asserts each acknowledged. */
static void produce_acked(const char *topic, int n)
{
    struct kprod *p = producer(st_config());
    struct dr *d = xcalloc((size_t)n, sizeof(*d));
    char err[512];
    for (int i = 0; i < n; i++) {
        char key[16], val[16];
        snprintf(key, sizeof(key), "k%d", i % 3);
        snprintf(val, sizeof(val), "m%d", i);
        cr_assert_eq(
            kprod_send(p, topic, key, strlen(key), val, strlen(val), NULL, &d[i], err, sizeof(err)),
            0, "%s", err);
    }
    assert_each_acknowledged(p, d, n, 20);
    kprod_free(p, 5000);
    free(d);
}

Test(kafka, idempotent_produce_is_acknowledged_with_an_offset_on_the_poll_thread)
{
    char *topic = fresh_topic(3);
    struct kprod *p = producer(st_config());
    struct dr d[6] = {0};
    char err[512];

    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, "command_id", -1, "c-1", -1);
    cr_assert_eq(kprod_send(p, topic, "voucher-1", 9, "{}", 2, h, &d[0], err, sizeof(err)), 0, "%s",
                 err);
    for (int i = 1; i < 6; i++)
        cr_assert_eq(kprod_send(p, topic, "voucher-1", 9, "{}", 2, NULL, &d[i], err, sizeof(err)),
                     0, "%s", err);
    cr_assert_eq(kprod_flush(p, 20000), 0);
    cr_assert_eq(kprod_outstanding(p), 0);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(atomic_load(&d[i].calls), 1);
        cr_assert_eq(d[i].err, 0, "%s", rd_kafka_err2str(d[i].err));
        cr_assert_not(pthread_equal(d[i].thread, pthread_self()), "report on the caller's thread");
        /* One key, one partition, consecutive offsets: ordered and no dups. */
        cr_assert_eq(d[i].partition, d[0].partition);
        cr_assert_eq(d[i].offset, d[0].offset + i);
    }
    cr_assert_not(kprod_fatal(p, err, sizeof(err)));

    /* The handle's configuration is what architecture.md promises. */
    const rd_kafka_conf_t *conf = rd_kafka_conf(kprod_handle(p));
    char v[64];
    size_t vlen = sizeof(v);
    cr_assert_eq(rd_kafka_conf_get(conf, "enable.idempotence", v, &vlen), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "true");
    vlen = sizeof(v);
    cr_assert_eq(rd_kafka_conf_get(conf, "partitioner", v, &vlen), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "murmur2_random");
    vlen = sizeof(v);
    cr_assert_eq(rd_kafka_conf_get(conf, "acks", v, &vlen), RD_KAFKA_CONF_OK);
    cr_assert_str_eq(v, "-1");
    kprod_free(p, 5000);
    drop_topic(topic);
}

/* Polls c until want messages arrived or secs passed; returns the count. */
static size_t poll_n(struct kcons *c, rd_kafka_message_t **msgs, size_t want, double secs)
{
    size_t n = 0;
    double until = st_now() + secs;
    while (n < want && st_now() < until)
        n += kcons_poll_batch(c, msgs + n, want - n, 500);
    return n;
}

static int msg_index(const rd_kafka_message_t *m)
{
    char buf[16] = "";
    size_t len = m->len < sizeof(buf) - 1 ? m->len : sizeof(buf) - 1;
    memcpy(buf, m->payload, len);
    return buf[0] == 'm' ? atoi(buf + 1) : -1;
}

/* A member of group reading topic; static (group.instance.id) when
 * instance is set. */
static struct kcons *member(const char *group, const char *instance, const char *topic)
{
    const char *topics[] = {topic, NULL};
    char err[512];
    struct kcons *c = kcons_new(st_config(), group, instance, topics, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    return c;
}

static struct kcons *consumer(const char *group, const char *topic)
{
    return member(group, NULL, topic);
}

Test(kafka, consumer_group_resumes_after_stored_offsets_and_redelivers_unstored)
{
    /* One partition so "after the stored offset" is a single position. */
    char *topic = fresh_topic(1);
    char *group = st_unique("psop-test-group");
    enum { N = 10, STORED = 6 };
    rd_kafka_message_t *msgs[N + 4];
    produce_acked(topic, N);

    /* First member: reads everything, "processes" (stores) only the first 6. */
    struct kcons *c = consumer(group, topic);
    size_t got = poll_n(c, msgs, N, 45);
    cr_assert_eq(got, N, "first consumer got %zu of %d", got, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(msg_index(msgs[i]), i, "message %d is m%d", i, msg_index(msgs[i]));
    cr_assert_eq(kcons_store(c, msgs, STORED), 0);
    cr_assert_eq(kcons_commit_sync(c), 0);
    for (int i = 0; i < N; i++)
        rd_kafka_message_destroy(msgs[i]);
    kcons_close(c);

    /* Second member of the same group: starts at m6; m0..m5 never again. */
    c = consumer(group, topic);
    got = poll_n(c, msgs, N - STORED, 45);        /* joining the group may be slow */
    got += poll_n(c, msgs + got, N + 4 - got, 3); /* anything more would be a redelivery */
    cr_assert_eq(got, N - STORED, "second consumer got %zu, want %d", got, N - STORED);
    for (size_t i = 0; i < got; i++)
        cr_assert_eq(msg_index(msgs[i]), STORED + (int)i, "got m%d", msg_index(msgs[i]));
    /* Stored and committed only at close (auto-commit, then close commits). */
    cr_assert_eq(kcons_store(c, msgs, got), 0);
    for (size_t i = 0; i < got; i++)
        rd_kafka_message_destroy(msgs[i]);
    kcons_close(c);

    /* Third: nothing left. */
    c = consumer(group, topic);
    got = poll_n(c, msgs, 1, 8);
    cr_assert_eq(got, 0, "redelivered m%d after it was stored", got ? msg_index(msgs[0]) : -1);
    kcons_close(c);
    free(group);
    drop_topic(topic);
}

/* What broke the voucher workers in a quorum-loss run: a static member fenced
 * by a newer member with its group.instance.id raises a fatal error and
 * never consumes again. kcons_failed tells; abandoned and made anew (what
 * the workers do, store/kcons.h kcons_renew), the member consumes
 * what was produced meanwhile. */
Test(kafka, a_fenced_static_member_is_told_and_a_new_one_consumes)
{
    char *topic = fresh_topic(1);
    char *group = st_unique("psop-test-fence");
    rd_kafka_message_t *msgs[8];
    char err[512];
    produce_acked(topic, 2);
    struct kcons *a = member(group, "fence-1", topic);
    size_t got = poll_n(a, msgs, 2, 45);
    cr_assert_eq(got, 2, "first member got %zu of 2", got);
    cr_assert_eq(kcons_store(a, msgs, got), 0);
    for (size_t i = 0; i < got; i++)
        rd_kafka_message_destroy(msgs[i]);
    cr_assert_not(kcons_failed(a, err, sizeof(err)));

    /* Another member with the same instance id joins: a is fenced. */
    struct kcons *b = member(group, "fence-1", topic);
    double until = st_now() + 60;
    bool fenced = false;
    while (!fenced && st_now() < until) {
        /* Both poll (a's commits and heartbeats are what the broker fences). */
        struct kcons *both[] = {a, b};
        for (int k = 0; k < 2; k++) {
            rd_kafka_message_t *m;
            if (kcons_poll_batch(both[k], &m, 1, 200) == 1)
                rd_kafka_message_destroy(m);
        }
        fenced = kcons_failed(a, err, sizeof(err));
    }
    cr_assert(fenced, "the older member was never fenced");
    cr_assert(strstr(err, "fenced") || strstr(err, "FENCED"), "fatal error: %s", err);
    kcons_close(b);

    /* kcons_renew (what the workers call): a new member with that instance
     * id reads on from the committed offset. */
    const char *topics[] = {topic, NULL};
    volatile sig_atomic_t stop = 0;
    cr_assert_eq(kcons_renew(&a, st_config(), group, "fence-1", topics, &stop), 0);
    cr_assert_not_null(a);
    produce_acked(topic, 1);
    got = poll_n(a, msgs, 1, 45);
    cr_assert_eq(got, 1, "the new member consumed nothing");
    cr_assert_not(kcons_failed(a, err, sizeof(err)), "%s", err);
    for (size_t i = 0; i < got; i++)
        rd_kafka_message_destroy(msgs[i]);
    kcons_close(a);
    free(group);
    drop_topic(topic);
}

/* What stopped every command of a CI chaos run after one broker was killed:
 * librdkafka 2.0.2's idempotent producer can lose its sequence numbers when
 * a broker dies mid-request and fails for good (fatal), refusing every
 * produce after. kprod replaces the handle: the messages it held and the
 * ones sent after are all acknowledged, once each, none lost, and the ones
 * sent after the failure are stored after every earlier one. */
Test(kafka, a_producer_that_fails_for_good_is_replaced_and_loses_nothing)
{
    char *topic = fresh_topic(1);
    struct kprod *p = producer(st_config());
    enum { N = 100, HALF = 50 };
    struct dr *d = xcalloc(N, sizeof(*d));
    char err[512];
    for (int i = 0; i < N; i++) {
        if (i == HALF) /* the first half queued or in flight */
            cr_assert_eq(rd_kafka_test_fatal_error(kprod_handle(p),
                                                   RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                                   "test: sequence desynchronization"),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        char val[16], n[16];
        snprintf(val, sizeof(val), "m%d", i);
        snprintf(n, sizeof(n), "%d", i);
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "n", -1, n, -1);
        cr_assert_eq(kprod_send(p, topic, "k", 1, val, strlen(val), h, &d[i], err, sizeof(err)), 0,
                     "message %d: %s", i, err);
    }
    assert_each_acknowledged(p, d, N, 30);
    cr_assert_eq(kprod_renewals(p), 1, "renewals: %lu", kprod_renewals(p));
    cr_assert_not(kprod_fatal(p, err, sizeof(err)), "%s", err);
    kprod_free(p, 5000);

    /* Read back: every message at least once with its own header; the
     * second half after the last copy of any of the first. */
    char *group = st_unique("psop-test-renew");
    struct kcons *c = consumer(group, topic);
    enum { MAX = 2 * N };
    rd_kafka_message_t *msgs[MAX];
    size_t got = poll_n(c, msgs, N, 45);
    got += poll_n(c, msgs + got, MAX - got, 3); /* copies of the first half, if any */
    int first_at[N], last_at[N];
    for (int i = 0; i < N; i++)
        first_at[i] = last_at[i] = -1;
    for (size_t j = 0; j < got; j++) {
        int i = msg_index(msgs[j]);
        cr_assert(i >= 0 && i < N, "unexpected message");
        rd_kafka_headers_t *h = NULL;
        const void *v = NULL;
        size_t vlen = 0;
        cr_assert_eq(rd_kafka_message_headers(msgs[j], &h), RD_KAFKA_RESP_ERR_NO_ERROR,
                     "m%d lost its headers", i);
        cr_assert_eq(rd_kafka_header_get_last(h, "n", &v, &vlen), RD_KAFKA_RESP_ERR_NO_ERROR);
        char n[16] = "";
        memcpy(n, v, vlen < sizeof(n) - 1 ? vlen : sizeof(n) - 1);
        cr_assert_eq(atoi(n), i, "m%d carries header n=%s", i, n);
        if (first_at[i] < 0)
            first_at[i] = (int)j;
        last_at[i] = (int)j;
    }
    for (int i = 0; i < N; i++)
        cr_assert_geq(first_at[i], 0, "m%d lost (%zu messages read)", i, got);
    for (int i = HALF; i < N; i++) {
        cr_assert_eq(first_at[i], last_at[i], "m%d, sent after the failure, stored twice", i);
        for (int e = 0; e < HALF; e++)
            cr_assert_lt(last_at[e], first_at[i], "m%d stored after m%d", e, i);
    }
    for (size_t j = 0; j < got; j++)
        rd_kafka_message_destroy(msgs[j]);
    kcons_close(c);
    free(group);
    free(d);
    drop_topic(topic);
}

Test(kafka, store_keeps_the_highest_offset_per_partition)
{
    char *topic = fresh_topic(3);
    char *group = st_unique("psop-test-group");
    enum { N = 12 };
    rd_kafka_message_t *msgs[N];
    produce_acked(topic, N);

    struct kcons *c = consumer(group, topic);
    size_t got = poll_n(c, msgs, N, 45);
    cr_assert_eq(got, N);
    /* Stored in reverse: the lower offsets must not win. */
    rd_kafka_message_t *rev[N];
    for (size_t i = 0; i < got; i++)
        rev[i] = msgs[got - 1 - i];
    cr_assert_eq(kcons_store(c, rev, got), 0);
    cr_assert_eq(kcons_commit_sync(c), 0);

    rd_kafka_topic_partition_list_t *parts = NULL;
    cr_assert_eq(rd_kafka_assignment(kcons_handle(c), &parts), 0);
    cr_assert_eq(rd_kafka_committed(kcons_handle(c), parts, 10000), 0);
    long long total = 0;
    for (int i = 0; i < parts->cnt; i++)
        total += parts->elems[i].offset > 0 ? parts->elems[i].offset : 0;
    cr_assert_eq(total, N, "committed offsets sum to %lld", total);
    rd_kafka_topic_partition_list_destroy(parts);
    for (size_t i = 0; i < got; i++)
        rd_kafka_message_destroy(msgs[i]);
    kcons_close(c);
    free(group);
    drop_topic(topic);
}

Test(kafka, unreachable_broker_reports_failure_once_within_the_timeout)
{
    struct psop_config cfg = *st_config();
    cfg.kafka_brokers = (char *)"127.0.0.1:1";
    cfg.produce_timeout_ms = 1500;
    struct kprod *p = producer(&cfg);
    struct dr d = {0};
    char err[512];
    double t0 = st_now();
    cr_assert_eq(kprod_send(p, TOPIC_CMD_VOUCHER, "k", 1, "x", 1, NULL, &d, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(kprod_flush(p, 10000), 0);
    cr_assert_eq(atomic_load(&d.calls), 1);
    cr_assert_eq(d.err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "%s", rd_kafka_err2str(d.err));
    cr_assert(st_now() - t0 < 10.0, "took %.1f s", st_now() - t0);

    /* Closing with messages still queued purges them: each still gets its
     * one report, so the caller's opaque is never leaked. */
    struct dr q[3] = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(
            kprod_send(p, TOPIC_CMD_VOUCHER, "k", 1, "x", 1, NULL, &q[i], err, sizeof(err)), 0,
            "%s", err);
    cr_assert_eq(kprod_outstanding(p), 3);
    kprod_free(p, 100);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&q[i].calls), 1);
        cr_assert_neq(q[i].err, 0);
    }
}

static void assert_conf(rd_kafka_t *rk, const char *name, const char *want)
{
    char v[256];
    size_t vlen = sizeof(v);
    cr_assert_eq(rd_kafka_conf_get(rd_kafka_conf(rk), name, v, &vlen), RD_KAFKA_CONF_OK, "%s",
                 name);
    cr_assert_str_eq(v, want, "%s", name);
}

Test(kafka, consumer_configuration_is_eager_manual_store_and_static_when_asked)
{
    char *group = st_unique("psop-test-group");
    const char *topics[] = {TOPIC_CMD_VOUCHER, NULL};
    char err[512];
    struct kcons *c = kcons_new(st_config(), group, "worker-test-1", topics, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    rd_kafka_t *rk = kcons_handle(c);
    assert_conf(rk, "group.id", group);
    assert_conf(rk, "group.instance.id", "worker-test-1");
    assert_conf(rk, "partition.assignment.strategy", "range");
    assert_conf(rk, "enable.auto.offset.store", "false");
    assert_conf(rk, "enable.auto.commit", "true");
    assert_conf(rk, "auto.offset.reset", "smallest");
    assert_conf(rk, "session.timeout.ms", "10000");
    /* Nothing stored yet: committing is a no-op, not an error. */
    cr_assert_eq(kcons_commit_sync(c), 0);
    kcons_close(c);
    free(group);
}

Test(kafka, bad_configuration_is_an_error)
{
    struct psop_config cfg = *st_config();
    char err[512] = "";
    cfg.produce_timeout_ms = 0;
    cr_assert_null(kprod_new(&cfg, NULL, err, sizeof(err)));
    cr_assert(strstr(err, "produce_timeout_ms"), "%s", err);

    const char *topics[] = {"x", NULL};
    cr_assert_null(kcons_new(st_config(), "", NULL, topics, err, sizeof(err)));
    const char *none[] = {NULL};
    cr_assert_null(kcons_new(st_config(), "g", NULL, none, err, sizeof(err)));
}

Test(kafka, ensure_topics_creates_the_psop_topics_idempotently)
{
    char err[512] = "";
    int used = 0;
    cr_assert_eq(
        kadmin_ensure_topics(st_config(), KADMIN_REPLICATION_AUTO, &used, err, sizeof(err)), 0,
        "%s", err);
    /* Auto: the broker count, at most 3. */
    int brokers = kadmin_broker_count(st_config(), 10000, err, sizeof(err));
    cr_assert_gt(brokers, 0, "%s", err);
    cr_assert_eq(used, brokers < 3 ? brokers : 3);
    cr_assert_eq(kadmin_ensure_topics(st_config(), used, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(kadmin_ensure_topics(st_config(), -2, NULL, err, sizeof(err)), -1);
    cr_assert_eq(kadmin_min_insync_for(3), 2);
    cr_assert_eq(kadmin_min_insync_for(1), 1);
    /* The stack's topics were made for this cluster: none is short of copies,
     * and every one is short of one copy more than there are. */
    cr_assert_eq(kadmin_check_replication(st_config(), used, NULL, NULL, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(kadmin_check_replication(st_config(), used + 1, NULL, NULL, err, sizeof(err)),
                 (int)psop_n_topics, "%s", err);

    struct kprod *p = producer(st_config());
    const rd_kafka_metadata_t *md = NULL;
    cr_assert_eq(rd_kafka_metadata(kprod_handle(p), 1, NULL, &md, 10000), 0);
    for (size_t i = 0; i < psop_n_topics; i++) {
        int found = -1;
        for (int t = 0; t < md->topic_cnt; t++)
            if (strcmp(md->topics[t].topic, psop_topics[i].name) == 0)
                found = md->topics[t].partition_cnt;
        cr_assert_gt(found, 0, "%s missing", psop_topics[i].name);
        if (psop_topics[i].kind == TOPIC_KIND_DLQ)
            cr_assert_eq(found, TOPIC_DLQ_PARTITIONS);
    }
    rd_kafka_metadata_destroy(md);
    kprod_free(p, 1000);

    cr_assert_str_eq(topics_command("voucher"), TOPIC_CMD_VOUCHER);
    cr_assert_str_eq(topics_event("settlement"), TOPIC_EVT_SETTLEMENT);
    cr_assert_null(topics_command("nope"));
    cr_assert_eq(topics_find(TOPIC_DLQ)->kind, TOPIC_KIND_DLQ);
}
