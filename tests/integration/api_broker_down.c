/*
 * Integration: psop-api with a private single-node Kafka that the test kills
 * and restarts (scripts/kafka-node; the shared broker is never touched).
 *
 *  - with the broker gone, a command is answered 503 + Retry-After within
 *    produce_timeout_ms (plus scheduling slack), never 202;
 *  - under load across the kill, every 202 answered is on the topic once the
 *    broker is back (nothing acknowledged that was not stored);
 *  - after the restart the api recovers by itself.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

#include "api_testlib.h"

#define NODE "apitest"
/* The test's own broker: 200 above the stack's (PSOP_KAFKA_PORT, default
 * 19092), so stacks on shifted ports (several checkouts) do not collide. */
static int node_port(void)
{
    const char *p = getenv("PSOP_KAFKA_PORT");
    int base = p && atoi(p) > 0 ? atoi(p) : 19092;
    return base + 200;
}

static const char *node_brokers(void)
{
    static char b[32];
    snprintf(b, sizeof(b), "127.0.0.1:%d", node_port());
    return b;
}
#define NODE_PORT node_port()
#define NODE_BROKERS node_brokers()
#define PRODUCE_TIMEOUT_MS 3000
#define ORG "0190a0b0-0000-7000-8000-00000000000a"
#define TOPIC "psop.commands.settlement"

static int node(const char *cmd)
{
    char line[512];
    snprintf(line, sizeof(line), "%s/scripts/kafka-node %s %s %d >/dev/null 2>&1", PSOP_SOURCE_DIR,
             cmd, NODE, NODE_PORT);
    int rc = system(line);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------ a load generator */

#define MAX_IDS 20000

struct load {
    int port;
    char *token;
    atomic_int stop;
    pthread_mutex_t mu;
    char (*ids)[40]; /* command ids answered 202 */
    int n_ids;
    int n_503, n_other, n_transport;
};

static void *sender(void *arg)
{
    struct load *l = arg;
    int i = 0;
    while (!atomic_load(&l->stop)) {
        struct tl_resp r;
        int rc = tl_post_run(l->port, l->token, ORG, 2025, 1 + (i++ % 12), &r);
        pthread_mutex_lock(&l->mu);
        if (rc < 0) {
            l->n_transport++;
            cr_log_info("transport error: %s", strerror(errno));
        } else {
            tl_count_answer(&r, l->ids, &l->n_ids, MAX_IDS, &l->n_503, &l->n_other);
        }
        pthread_mutex_unlock(&l->mu);
        if (rc == 0)
            tl_resp_free(&r);
        else
            usleep(10000);
    }
    return NULL;
}

/* Also after a failed assertion: the test's broker does not outlive it. */
static void stop_node(void)
{
    node("stop");
}

Test(api_broker_down, answers_503_in_time_and_acknowledges_only_what_is_stored, .timeout = 300,
     .fini = stop_node)
{
    cr_assert_eq(node("wipe"), 0);
    cr_assert_eq(node("start"), 0, "scripts/kafka-node start failed");
    cr_assert_eq(tl_ensure_topics(NODE_BROKERS, 3), 0);
    struct tl_marks marks;
    cr_assert_eq(tl_mark(NODE_BROKERS, TOPIC, &marks), 0);

    int port = tl_port(0);
    char to[64];
    snprintf(to, sizeof(to), "PSOP_PRODUCE_TIMEOUT_MS=%d", PRODUCE_TIMEOUT_MS);
    char brokers_env[64];
    snprintf(brokers_env, sizeof(brokers_env), "PSOP_KAFKA_BROKERS=%s", NODE_BROKERS);
    const char *env[] = {brokers_env, to, NULL};
    pid_t api = tl_api_start(port, env);
    cr_assert_gt(api, 0);
    char *tok = tl_token("organiser", ORG, NULL, NULL, 600);

    /* up: 202 (a fresh broker may need a moment for the topics' leaders) */
    struct tl_resp r;
    int status = 0;
    for (int i = 0; i < 10 && status != 202; i++) {
        cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                                "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-01\"}", NULL, &r),
                     0);
        status = r.status;
        tl_resp_free(&r);
    }
    cr_assert_eq(status, 202, "the private broker never acknowledged");

    /* load across the kill */
    struct load l = {.port = port, .token = tok};
    pthread_mutex_init(&l.mu, NULL);
    l.ids = calloc(MAX_IDS, 40);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, sender, &l);
    usleep(1500 * 1000);
    cr_assert_eq(node("kill"), 0);

    /* down: 503 within the deadline, with Retry-After */
    usleep(500 * 1000);
    for (int i = 0; i < 3; i++) {
        long t0 = now_ms();
        cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                                "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-02\"}", NULL, &r),
                     0);
        long took = now_ms() - t0;
        cr_expect_eq(r.status, 503, "broker down answered %d: %s", r.status, r.body);
        cr_expect_leq(took, PRODUCE_TIMEOUT_MS + 5000, "503 took %ld ms", took);
        char ra[16] = "";
        cr_expect(tl_header(&r, "Retry-After", ra, sizeof(ra)), "no Retry-After");
        cr_expect_str_eq(json_string_value(json_object_get(r.json, "type")),
                         "https://psop.fi/problems/unavailable");
        /* The command went to the producer: its fate is unknown, and the
         * answer names it so the client can look it up. */
        const char *cid = json_string_value(json_object_get(r.json, "command_id"));
        cr_expect(cid && strlen(cid) == 36, "503 without command_id: %s", r.body);
        cr_expect_str_eq(json_string_value(json_object_get(r.json, "outcome")), "unknown");
        tl_resp_free(&r);
    }
    /* One with an Idempotency-Key: its retry after the outage must publish
     * the same command id, so workers apply it at most once. */
    char idem_hdr[96], first_cid[64] = "";
    snprintf(idem_hdr, sizeof(idem_hdr), "Idempotency-Key: broker-down-%ld\r\n", now_ms());
    cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                            "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-04\"}", idem_hdr, &r),
                 0);
    cr_expect_eq(r.status, 503, "broker down answered %d: %s", r.status, r.body);
    snprintf(first_cid, sizeof(first_cid), "%s",
             json_string_value(json_object_get(r.json, "command_id"))
                 ? json_string_value(json_object_get(r.json, "command_id"))
                 : "");
    tl_resp_free(&r);

    atomic_store(&l.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_log_info("load: %d accepted, %d 503, %d other, %d transport errors", l.n_ids, l.n_503,
                l.n_other, l.n_transport);
    cr_expect_gt(l.n_ids, 0);
    cr_expect_gt(l.n_503, 0);
    cr_expect_eq(l.n_other, 0);
    cr_expect_eq(l.n_transport, 0);

    /* the metrics counted the produce errors: the delivery reports of the
     * lost produces arrive once message.timeout.ms has passed, which may be
     * after the 503 (the answer's own deadline) */
    bool counted = false;
    for (long t0 = now_ms(); !counted && now_ms() - t0 < 15000;) {
        cr_assert_eq(tl_request(port, "GET", "/metrics", NULL, NULL, NULL, NULL, &r), 0);
        counted = r.body && !strstr(r.body, "psop_api_produce_errors_total 0\n");
        tl_resp_free(&r);
        if (!counted)
            usleep(200 * 1000);
    }
    cr_expect(counted, "no produce errors counted");

    /* back: every 202 is stored, and the api recovers by itself */
    cr_assert_eq(node("start"), 0);
    int ok = 0;
    long t0 = now_ms();
    while (!ok && now_ms() - t0 < 60000) {
        if (tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                       "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-03\"}", NULL, &r) == 0) {
            ok = r.status == 202;
            tl_resp_free(&r);
        }
        if (!ok)
            usleep(500 * 1000);
    }
    cr_expect(ok, "no 202 within 60 s of the broker's restart");

    /* The retry of the 503'd request with its Idempotency-Key: same id. */
    cr_assert_eq(tl_request(port, "POST", "/v1/settlements/runs", tok, "application/json",
                            "{\"organiser_id\":\"" ORG "\",\"period\":\"2025-04\"}", idem_hdr, &r),
                 0);
    cr_expect_eq(r.status, 202, "retry answered %d: %s", r.status, r.body);
    const char *retry_cid = json_string_value(json_object_get(r.json, "command_id"));
    cr_expect(first_cid[0] && retry_cid && strcmp(first_cid, retry_cid) == 0,
              "the retry published command %s, the 503 named %s", retry_cid ? retry_cid : "-",
              first_cid);
    tl_resp_free(&r);

    const char **want = calloc((size_t)l.n_ids + 1, sizeof(*want));
    for (int i = 0; i < l.n_ids; i++)
        want[i] = l.ids[i];
    struct tl_msg *got = calloc((size_t)l.n_ids + 1, sizeof(*got));
    int found = tl_find(NODE_BROKERS, &marks, want, l.n_ids, got, 30000, NULL);
    cr_expect_eq(found, l.n_ids, "only %d of %d acknowledged commands are on the topic", found,
                 l.n_ids);
    for (int i = 0; i < l.n_ids; i++)
        json_decref(got[i].envelope);
    free(got);
    free(want);
    free(l.ids);
    free(tok);
    cr_expect_eq(tl_api_stop(api), 0);
}
