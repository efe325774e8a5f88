/*
 * harness.h - helpers for integration tests on the real stack (header-only:
 * every test file is its own binary).
 *
 * The stack's address comes from the PSOP_* environment (source
 * .run/stack.env), read through config_load like every psop process.
 */
#ifndef PSOP_TEST_HARNESS_H
#define PSOP_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ids.h"
#include "core/xmalloc.h"

/* The programs' allocation policy (lib/core/xmalloc.h) in every test process,
 * Criterion's workers included: jansson allocates through xmalloc. */
__attribute__((constructor)) static void h_alloc_policy(void)
{
    xmalloc_install();
}

static inline struct psop_config *h_config(void)
{
    static struct psop_config cfg;
    static int loaded;
    if (!loaded) {
        char err[256];
        cr_assert_eq(config_load(&cfg, NULL, err, sizeof(err)), 0, "config: %s", err);
        loaded = 1;
    }
    return &cfg;
}

static inline double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void h_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A PostgreSQL connection to the stack's database; fails the test if down. */
static inline PGconn *h_pg(void)
{
    PGconn *c = PQconnectdb(h_config()->pg_dsn);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "postgres: %s", PQerrorMessage(c));
    return c;
}

/* h_pg_value with its arguments in ap. */
static inline char *h_pg_vvalue(PGconn *c, const char *fmt, va_list ap)
{
    char *sql;
    if (vasprintf(&sql, fmt, ap) < 0)
        abort();
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
              PQresultErrorMessage(r));
    char *out = xstrdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    free(sql);
    return out;
}

/* Runs a query with printf-formatted SQL; returns the first column of the
 * first row as a new string ("" when no row), failing the test on error. */
static inline char *h_pg_value(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline char *h_pg_value(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = h_pg_vvalue(c, fmt, ap);
    va_end(ap);
    return out;
}

/* The same as a number (0 when NULL or no row). */
static inline long long h_pg_ll(PGconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline long long h_pg_ll(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *v = h_pg_vvalue(c, fmt, ap);
    va_end(ap);
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

/* The dev stack's run folder (scripts/dev: pid files, logs). */
static inline const char *h_run_dir(void)
{
    const char *r = getenv("PSOP_RUN");
    return r && *r ? r : PSOP_SOURCE_DIR "/.run";
}

/* The pid a pid file holds, 0 when none. */
static inline pid_t h_read_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long p = 0;
    if (fscanf(f, "%ld", &p) != 1)
        p = 0;
    fclose(f);
    return (pid_t)p;
}

/* The port of the stack's api (HAProxy), from PSOP_API_URL. */
static inline int h_api_port(void)
{
    const char *url = getenv("PSOP_API_URL");
    cr_assert(url && *url, "PSOP_API_URL is not set: source .run/stack.env");
    const char *colon = strrchr(url, ':');
    cr_assert_not_null(colon, "PSOP_API_URL %s has no port", url);
    return atoi(colon + 1);
}

/* Starts a psop binary with extra environment "K=V" strings (NULL-ended).
 * Output goes to a log file under /tmp. Returns the pid. */
static inline pid_t h_spawn(const char *path, const char *const *argv_extra,
                            const char *const *env_extra)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        for (const char *const *e = env_extra; e && *e; e++)
            putenv((char *)*e);
        char log[256];
        snprintf(log, sizeof(log), "/tmp/psop-test-%d.log", (int)getpid());
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        const char *argv[32] = {path};
        int n = 1;
        for (const char *const *a = argv_extra; a && *a && n < 31; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Sends sig and waits up to secs for the exit; returns the exit status
 * (or 128+signal), -1 when it did not exit (then it is SIGKILLed). */
static inline int h_stop(pid_t pid, int sig, int secs)
{
    kill(pid, sig);
    for (int i = 0; i < secs * 20; i++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        h_sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* Polls cond_sql (a query returning one boolean) until true or secs pass. */
static inline int h_wait_pg(PGconn *c, double secs, const char *fmt, ...)
{
    char *sql;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&sql, fmt, ap) < 0)
        abort();
    va_end(ap);
    double until = h_now() + secs;
    int ok = 0;
    while (h_now() < until) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 &&
             strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (ok)
            break;
        h_sleep_ms(100);
    }
    free(sql);
    return ok;
}

#endif
