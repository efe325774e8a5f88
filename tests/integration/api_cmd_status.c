/* Integration tests of api/cmd_status.c on the stack's Redis: concurrent
 * requests share round trips, and still each returns only once its own
 * "accepted" status can be read. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cmd_status.h"
#include "core/clock.h"
#include "stack.h"
#include "views/view_command.h"

TestSuite(api_cmd_status, .timeout = 60);

enum { THREADS = 24, PER_THREAD = 40 };

struct writer {
    struct cmd_status *s;
    struct rds *check; /* its own connection, to read right after */
    char prefix[64];
    int failed, missing;
};

/* A request of 1-3 commands with ids prefix-t-i-j. */
static void *write_many(void *arg)
{
    struct writer *w = arg;
    struct actor ac = {.role = ROLE_ORGANISER};
    snprintf(ac.sub, sizeof(ac.sub), "sub-%s", w->prefix);
    snprintf(ac.org, sizeof(ac.org), "00000000-0000-4000-8000-000000000001");
    for (int i = 0; i < PER_THREAD; i++) {
        struct cmd_item items[3];
        memset(items, 0, sizeof(items));
        struct cmd_batch b = {.items = items, .n = 1 + (size_t)(i % 3)};
        for (size_t j = 0; j < b.n; j++) {
            items[j].type = "voucher.grant";
            items[j].resource_id = "r";
            int len = snprintf(items[j].command_id, sizeof(items[j].command_id), "%s-%d-%zu",
                               w->prefix, i, j);
            cr_assert_lt(len, (int)sizeof(items[j].command_id), "id too long");
        }
        if (cmd_status_accepted(w->s, &b, &ac) != 0)
            w->failed++;
        /* Readable as soon as the call returned. */
        for (size_t j = 0; j < b.n; j++) {
            redisReply *r =
                rds_command(w->check, "HGET " VIEW_COMMAND_KEY_FMT " d", items[j].command_id);
            cr_assert_not_null(r);
            if (r->type != REDIS_REPLY_STRING || !strstr(r->str, items[j].command_id) ||
                !strstr(r->str, "\"status\":\"accepted\""))
                w->missing++;
            freeReplyObject(r);
        }
    }
    return NULL;
}

static void run_writers(struct cmd_status *s, const char *tag, struct writer *w)
{
    char err[256];
    pthread_t t[THREADS];
    /* Short enough for a command id: tag, time, thread. */
    char run[24];
    snprintf(run, sizeof(run), "%.4s%lld", tag, clock_mono_ms() % 100000000LL);
    for (int i = 0; i < THREADS; i++) {
        w[i].s = s;
        w[i].check = rds_connect(st_config()->redis_url, 2000, err, sizeof(err));
        cr_assert_not_null(w[i].check, "%s", err);
        cr_assert_lt(snprintf(w[i].prefix, sizeof(w[i].prefix), "%s-%d", run, i), 20);
        pthread_create(&t[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        rds_free(w[i].check);
    }
}

/* THREADS x PER_THREAD requests through a writer of max_group; asserts
 * every status was there on return. *writes, *requests: its counts. */
static void write_all(int max_group, const char *tag, unsigned long *writes,
                      unsigned long *requests)
{
    struct rpool *p = rpool_new(st_config()->redis_url, 4, 1000);
    struct cmd_status *s = cmd_status_new(p, max_group);
    struct writer w[THREADS];
    memset(w, 0, sizeof(w));
    run_writers(s, tag, w);
    for (int i = 0; i < THREADS; i++)
        cr_assert(w[i].failed == 0 && w[i].missing == 0, "thread %d: %d failed, %d missing", i,
                  w[i].failed, w[i].missing);
    cmd_status_counts(s, writes, requests);
    cr_assert_eq(*requests, (unsigned long)THREADS * PER_THREAD);
    cmd_status_free(s);
    rpool_free(p);
}

Test(api_cmd_status, concurrent_requests_share_round_trips_and_each_status_is_there_on_return)
{
    unsigned long writes, requests;
    write_all(CMD_STATUS_MAX_GROUP, "grouped", &writes, &requests);
    /* 24 threads at once: some requests must have shared a write. */
    cr_assert_lt(writes, requests, "%lu writes for %lu requests", writes, requests);
    cr_log_info("%lu requests in %lu writes", requests, writes);
}

Test(api_cmd_status, a_group_of_one_is_a_round_trip_per_request)
{
    unsigned long writes, requests;
    write_all(1, "alone", &writes, &requests);
    cr_assert_eq(writes, requests);
}

/* A worker's verdict stored first is never overwritten by the acceptance. */
Test(api_cmd_status, a_verdict_stored_first_stays)
{
    char err[256];
    struct rds *r = rds_connect(st_config()->redis_url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    char *id = st_unique("verdict");
    redisReply *rep =
        rds_command(r, "HSET " VIEW_COMMAND_KEY_FMT " v 1 d {\"status\":\"applied\"}", id);
    cr_assert_not_null(rep);
    freeReplyObject(rep);
    struct rpool *p = rpool_new(st_config()->redis_url, 2, 1000);
    struct cmd_status *s = cmd_status_new(p, CMD_STATUS_MAX_GROUP);
    struct cmd_item it = {.type = "voucher.grant", .resource_id = "r"};
    snprintf(it.command_id, sizeof(it.command_id), "%s", id);
    struct cmd_batch b = {.items = &it, .n = 1};
    struct actor ac = {.role = ROLE_ADMIN, .sub = "admin"};
    cr_assert_eq(cmd_status_accepted(s, &b, &ac), 0);
    rep = rds_command(r, "HGET " VIEW_COMMAND_KEY_FMT " d", id);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep->str, "{\"status\":\"applied\"}");
    freeReplyObject(rep);
    rep = rds_command(r, "DEL " VIEW_COMMAND_KEY_FMT, id);
    freeReplyObject(rep);
    cmd_status_free(s);
    rpool_free(p);
    rds_free(r);
    free(id);
}

struct down_writer {
    struct cmd_status *s;
    int rc;
    long long ms;
};

static void *write_down(void *arg)
{
    struct down_writer *d = arg;
    struct cmd_item it = {.type = "voucher.grant", .resource_id = "r"};
    snprintf(it.command_id, sizeof(it.command_id), "down-%p", arg);
    struct cmd_batch b = {.items = &it, .n = 1};
    struct actor ac = {.role = ROLE_ADMIN, .sub = "admin"};
    long long t0 = clock_mono_ms();
    d->rc = cmd_status_accepted(d->s, &b, &ac);
    d->ms = clock_mono_ms() - t0;
    return NULL;
}

/* Redis gone: every request hears so promptly (its answer stands), none
 * waits behind another for longer than a write's timeout. */
Test(api_cmd_status, redis_unreachable_fails_every_request_promptly)
{
    struct rpool *p = rpool_new("redis://127.0.0.1:1", 2, 250);
    struct cmd_status *s = cmd_status_new(p, CMD_STATUS_MAX_GROUP);
    enum { N = 16 };
    struct down_writer d[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        d[i] = (struct down_writer){.s = s};
        pthread_create(&t[i], NULL, write_down, &d[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(d[i].rc, -1, "request %d", i);
        cr_assert_lt(d[i].ms, 1500, "request %d waited %lld ms", i, d[i].ms);
    }
    cmd_status_free(s);
    rpool_free(p);
}
