/*
 * status_cost.c - psop-bench-status: what the "accepted" command status
 * write (api/cmd_status.h) costs, a round trip per request (group of one,
 * the peer) against requests sharing round trips (the api's setting),
 * measured alternately in the same run on the stack's Redis.
 *
 *   psop-bench-status [THREADS [REQUESTS_PER_THREAD [ROUNDS]]]
 *                     (default 16 threads, 2 000 requests each, 3 rounds)
 *
 * THREADS stands for a replica's request threads all answering commands at
 * once (the worst case for a round trip each). Per round and setting, one
 * JSON line: requests/s, mean group size, this process's CPU and Redis's
 * CPU (INFO cpu) per request in microseconds. Needs PSOP_REDIS_URL or
 * config/psop.conf (source .run/stack.env).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "cmd_status.h"
#include "core/clock.h"
#include "core/config.h"
#include "store/rds.h"

struct job {
    struct cmd_status *s;
    int id, n, round;
    int failed;
};

static void *run(void *arg)
{
    struct job *j = arg;
    struct actor ac = {.role = ROLE_ORGANISER, .sub = "bench-status"};
    snprintf(ac.org, sizeof(ac.org), "00000000-0000-4000-8000-000000000001");
    for (int i = 0; i < j->n; i++) {
        struct cmd_item it = {.type = "service_event.record", .resource_id = "bench"};
        snprintf(it.command_id, sizeof(it.command_id), "bench-%d-%d-%d", j->round, j->id, i);
        struct cmd_batch b = {.items = &it, .n = 1};
        if (cmd_status_accepted(j->s, &b, &ac) != 0)
            j->failed++;
    }
    return NULL;
}

static void cleanup(struct rds *r, int round)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "psop:cmd:bench-%d-*", round);
    long long cursor = 0;
    do {
        redisReply *rep = rds_command(r, "SCAN %lld MATCH %s COUNT 5000", cursor, pat);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            if (rep)
                freeReplyObject(rep);
            return;
        }
        cursor = atoll(rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            redisReply *d = rds_command(r, "UNLINK %s", rep->element[1]->element[i]->str);
            if (d)
                freeReplyObject(d);
        }
        freeReplyObject(rep);
    } while (cursor != 0);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 16;
    int per = argc > 2 ? atoi(argv[2]) : 2000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (threads < 1 || threads > 256 || per < 1 || rounds < 1) {
        fprintf(stderr, "usage: psop-bench-status [THREADS [REQUESTS_PER_THREAD [ROUNDS]]]\n");
        return 2;
    }
    struct psop_config cfg;
    char err[512];
    bench_config(&cfg);
    struct rds *admin = rds_connect(cfg.redis_url, 2000, err, sizeof(err));
    if (!admin) {
        fprintf(stderr, "redis %s: %s\n", cfg.redis_url, err);
        return 1;
    }
    /* As api/main.c: a connection per thread and one more, 250 ms. */
    struct rpool *pool = rpool_new(cfg.redis_url, threads + 1, 250);
    int round_no = 0;
    for (int r = 0; r < rounds; r++) {
        const int groups[] = {1, CMD_STATUS_MAX_GROUP};
        for (int g = 0; g < 2; g++, round_no++) {
            struct cmd_status *s = cmd_status_new(pool, groups[g]);
            struct job *jobs = calloc((size_t)threads, sizeof(*jobs));
            pthread_t *t = calloc((size_t)threads, sizeof(*t));
            double c0 = bench_cpu_self(), rc0 = bench_cpu_redis(admin);
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (int i = 0; i < threads; i++) {
                jobs[i] = (struct job){.s = s, .id = i, .n = per, .round = round_no};
                pthread_create(&t[i], NULL, run, &jobs[i]);
            }
            int failed = 0;
            for (int i = 0; i < threads; i++) {
                pthread_join(t[i], NULL);
                failed += jobs[i].failed;
            }
            double wall = clock_since_ms(&t0) / 1000.0;
            double cpu = bench_cpu_self() - c0, rcpu = bench_cpu_redis(admin) - rc0;
            unsigned long writes, requests;
            cmd_status_counts(s, &writes, &requests);
            double n = (double)threads * per;
            printf("{\"round\":%d,\"max_group\":%d,\"threads\":%d,\"requests\":%.0f,"
                   "\"failed\":%d,\"requests_per_s\":%.0f,\"mean_group\":%.2f,"
                   "\"client_cpu_us_per_request\":%.2f,\"redis_cpu_us_per_request\":%.2f}\n",
                   r + 1, groups[g], threads, n, failed, n / wall,
                   writes ? (double)requests / (double)writes : 0.0, cpu * 1e6 / n, rcpu * 1e6 / n);
            fflush(stdout);
            cmd_status_free(s);
            free(jobs);
            free(t);
            cleanup(admin, round_no);
        }
    }
    rpool_free(pool);
    rds_free(admin);
    config_free(&cfg);
    return 0;
}
