/*
 * tests/bench/bench_common.h - what the C benches that put a figure per
 * operation beside its peer's share: the stack's configuration, and the CPU
 * seconds of this process and of the Redis server (INFO cpu).
 */
#ifndef PSOP_BENCH_COMMON_H
#define PSOP_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/config.h"
#include "store/rds.h"

/* The stack's configuration (PSOP_* or config/psop.conf); exits without. */
static inline void bench_config(struct psop_config *cfg)
{
    char err[512];
    if (config_load(cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "config: %s\n", err);
        exit(1);
    }
}

static inline double bench_cpu_self(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
           ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
}

/* used_cpu_sys + used_cpu_user of the Redis server, in seconds. */
static inline double bench_cpu_redis(struct rds *r)
{
    redisReply *rep = rds_command(r, "INFO cpu");
    double sys = 0, user = 0;
    if (rep && rep->type == REDIS_REPLY_STRING) {
        const char *a = strstr(rep->str, "used_cpu_sys:");
        const char *b = strstr(rep->str, "used_cpu_user:");
        if (a)
            sys = atof(a + strlen("used_cpu_sys:"));
        if (b)
            user = atof(b + strlen("used_cpu_user:"));
    }
    if (rep)
        freeReplyObject(rep);
    return sys + user;
}

#endif
