/*
 * stack.h - helpers for the infrastructure integration tests (kafka, pg,
 * redis): unique names, throw-away databases. Header-only, like harness.h.
 *
 * Criterion runs tests as parallel processes, so every topic, group,
 * database and key a test uses comes from st_unique().
 */
#ifndef PSOP_TEST_STACK_H
#define PSOP_TEST_STACK_H

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/xmalloc.h"
#include "harness.h"

/* The stack's configuration (harness.h's, read once). */
static inline const struct psop_config *st_config(void)
{
    return h_config();
}

/* prefix_<pid>_<time>_<n>: lower case, digits and '_' only, so it is also a
 * valid unquoted PostgreSQL identifier and Kafka topic name. Caller frees. */
static inline char *st_unique(const char *prefix)
{
    static unsigned n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return xasprintf("%s_%d_%ld%03ld_%u", prefix, (int)getpid(), (long)ts.tv_sec,
                     ts.tv_nsec / 1000000L, n++);
}

/* The stack's DSN with dbname replaced (works for key=value and URI DSNs).
 * Caller frees. */
static inline char *st_dsn_for_db(const char *db)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(st_config()->pg_dsn, &perr);
    cr_assert_not_null(opts, "pg_dsn: %s", perr ? perr : "?");
    char *dsn = xstrdup("");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? db : o->val;
        if (!v)
            continue;
        /* Values are ours or the test config's: no quotes or backslashes. */
        char *next = xasprintf("%s%s%s='%s'", dsn, *dsn ? " " : "", o->keyword, v);
        free(dsn);
        dsn = next;
    }
    PQconninfoFree(opts);
    return dsn;
}

static inline void st_pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(st_config()->pg_dsn);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "postgres: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* Creates psop_test_<unique>; returns its name (caller frees). */
static inline char *st_db_create(void)
{
    char *db = st_unique("psop_test");
    char *sql = xasprintf("CREATE DATABASE %s", db);
    st_pg_admin(sql);
    free(sql);
    return db;
}

/* Drops db (disconnecting whoever is left) and frees the name. */
static inline void st_db_drop(char *db)
{
    char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
    st_pg_admin(sql);
    free(sql);
    free(db);
}

/* Writes text to dir/name. */
static inline void st_write_file(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    free(path);
}

/* Removes dir and its (flat) contents. */
static inline void st_rm_dir(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    (void)rc;
    free(cmd);
}

static inline double st_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
