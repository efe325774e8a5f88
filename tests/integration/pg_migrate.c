/* Integration tests of lib/store/pgc.c and lib/store/migrate.c on the stack's PostgreSQL.
 * Each test works in its own database, created and dropped here. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "store/pgc.h"
#include "stack.h"

static char *db;
static char *dsn;
static char dir[64];

static void setup(void)
{
    db = st_db_create();
    dsn = st_dsn_for_db(db);
    strcpy(dir, "/tmp/psop-migrations-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    st_rm_dir(dir);
    st_db_drop(db);
    free(dsn);
}

TestSuite(pg_migrate, .init = setup, .fini = teardown, .timeout = 60);

static struct pgc *connect_db(void)
{
    char err[512];
    struct pgc *c = pgc_connect(dsn, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    return c;
}

/* First column of the first row of sql, as a new string. */
static char *text_of(struct pgc *c, const char *sql)
{
    char err[512];
    PGresult *r = pgc_query(c, sql, 0, NULL, err, sizeof(err));
    cr_assert_not_null(r, "%s: %s", sql, err);
    cr_assert(PQntuples(r) > 0, "%s: no row", sql);
    char *v = xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long value(struct pgc *c, const char *sql)
{
    char *s = text_of(c, sql);
    long v = atol(s);
    free(s);
    return v;
}

static void assert_text(struct pgc *c, const char *sql, const char *want)
{
    char *s = text_of(c, sql);
    cr_assert_str_eq(s, want, "%s", sql);
    free(s);
}

/* migrate_apply of from works and applies want files. */
static void apply_ok(struct pgc *c, const char *from, int want)
{
    char err[512] = "";
    int applied = -1;
    cr_assert_eq(migrate_apply(c, from, &applied, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(applied, want);
}

/* migrate_apply of from fails naming what (and also unless NULL), having
 * applied want files (not checked where want < 0). */
static void apply_fails(struct pgc *c, const char *from, int want, const char *what,
                        const char *also)
{
    char err[512] = "";
    int applied = -1;
    cr_assert_eq(migrate_apply(c, from, &applied, err, sizeof(err)), -1);
    if (want >= 0)
        cr_assert_eq(applied, want);
    cr_assert(strstr(err, what) && (!also || strstr(err, also)), "%s", err);
}

static void write_base_migrations(void)
{
    st_write_file(dir, "0001_accounts.sql",
                  "CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);\n"
                  "INSERT INTO accounts VALUES (1, 'a'), (2, 'b');\n");
    /* 0010 must run after 0002, which creates what it uses. */
    st_write_file(dir, "0010_more.sql", "INSERT INTO notes (body) VALUES ('from 0010');\n");
    /* A plain SET must not leak into the next file (0010 needs public). */
    st_write_file(dir, "0002_notes.sql",
                  "CREATE TABLE notes (id serial PRIMARY KEY, body text);\n"
                  "INSERT INTO notes (body) VALUES ('from 0002');\n"
                  "SET search_path TO pg_catalog;\n");
    st_write_file(dir, "README.md", "not a migration\n");
    st_write_file(dir, "0003_draft.sql.bak", "SELECT broken;\n");
}

Test(pg_migrate, applies_in_numeric_order_and_a_second_run_changes_nothing)
{
    struct pgc *c = connect_db();
    write_base_migrations();

    apply_ok(c, dir, 3);
    assert_text(c,
                "SELECT string_agg(version || ':' || name, ',' ORDER BY applied_at, version) "
                "FROM public.schema_migrations",
                "1:0001_accounts.sql,2:0002_notes.sql,10:0010_more.sql");
    assert_text(c, "SELECT string_agg(body, ',' ORDER BY id) FROM public.notes",
                "from 0002,from 0010");
    assert_text(c, "SELECT bool_and(length(checksum) = 64) FROM public.schema_migrations", "t");

    apply_ok(c, dir, 0);
    cr_assert_eq(value(c, "SELECT count(*) FROM public.accounts"), 2);
    cr_assert_eq(value(c, "SELECT count(*) FROM public.notes"), 2);
    cr_assert_eq(value(c, "SELECT count(*) FROM public.schema_migrations"), 3);

    /* A new file later is applied alone. */
    st_write_file(dir, "0011_index.sql", "CREATE INDEX notes_body ON notes (body);\n");
    apply_ok(c, dir, 1);
    cr_assert_eq(value(c, "SELECT count(*) FROM public.notes"), 2);
    pgc_free(c);
}

Test(pg_migrate, changed_checksum_is_refused_and_nothing_new_runs)
{
    struct pgc *c = connect_db();
    write_base_migrations();
    apply_ok(c, dir, 3);

    st_write_file(dir, "0001_accounts.sql",
                  "CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);\n"
                  "INSERT INTO accounts VALUES (1, 'a'), (2, 'b'), (3, 'c');\n");
    st_write_file(dir, "0020_new.sql", "CREATE TABLE newer (id int);\n");
    apply_fails(c, dir, 0, "0001_accounts.sql", "changed");
    cr_assert_eq(value(c, "SELECT count(*) FROM public.accounts"), 2);
    assert_text(c, "SELECT to_regclass('public.newer') IS NULL", "t");
    cr_assert_eq(value(c, "SELECT count(*) FROM public.schema_migrations"), 3);
    /* The lock was released: another session can take it at once. */
    struct pgc *other = connect_db();
    assert_text(other, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")", "t");
    pgc_free(other);
    pgc_free(c);
}

Test(pg_migrate, check_counts_pending_files_and_writes_nothing)
{
    struct pgc *c = connect_db();
    char err[512] = "", first[64];
    int pending = -1, applied = -1;
    write_base_migrations();
    /* a fresh database: every file is pending, and the check creates nothing */
    cr_assert_eq(migrate_check(c, dir, &pending, first, sizeof(first), err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(pending, 3);
    cr_assert_str_eq(first, "0001_accounts.sql");
    assert_text(c, "SELECT to_regclass('public.schema_migrations') IS NULL", "t");

    cr_assert_eq(migrate_apply(c, dir, &applied, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(migrate_check(c, dir, &pending, first, sizeof(first), err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(pending, 0);

    st_write_file(dir, "0011_index.sql", "CREATE INDEX notes_body ON notes (body);\n");
    cr_assert_eq(migrate_check(c, dir, &pending, first, sizeof(first), err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(pending, 1);
    cr_assert_str_eq(first, "0011_index.sql");
    assert_text(c, "SELECT to_regclass('public.notes_body') IS NULL", "t");

    /* a released file changed on disk is an error, as for migrate_apply */
    st_write_file(dir, "0002_notes.sql", "CREATE TABLE notes (id int);\n");
    cr_assert_eq(migrate_check(c, dir, &pending, first, sizeof(first), err, sizeof(err)), -1);
    cr_assert(strstr(err, "0002_notes.sql") && strstr(err, "changed"), "%s", err);
    pgc_free(c);
}

Test(pg_migrate, failing_file_rolls_back_with_its_row_and_earlier_files_stay)
{
    struct pgc *c = connect_db();
    st_write_file(dir, "0001_ok.sql", "CREATE TABLE ok (id int);\n");
    st_write_file(dir, "0002_bad.sql",
                  "CREATE TABLE half (id int);\nINSERT INTO missing_table VALUES (1);\n");
    apply_fails(c, dir, 1, "0002_bad.sql", "missing_table");
    cr_assert_str_eq(pgc_last_sqlstate(c), "42P01");
    cr_assert_not(pgc_last_transient(c));
    assert_text(c, "SELECT to_regclass('public.half') IS NULL", "t");
    assert_text(c, "SELECT string_agg(name, ',') FROM public.schema_migrations", "0001_ok.sql");

    st_write_file(dir, "0002_bad.sql", "CREATE TABLE half (id int);\n");
    apply_ok(c, dir, 1);
    pgc_free(c);
}

Test(pg_migrate, duplicate_version_and_missing_dir_are_errors)
{
    struct pgc *c = connect_db();
    st_write_file(dir, "0001_a.sql", "SELECT 1;\n");
    st_write_file(dir, "001_b.sql", "SELECT 1;\n");
    apply_fails(c, dir, -1, "share version 1", NULL);
    apply_fails(c, "/nonexistent/psop", -1, "/nonexistent/psop", NULL);
    pgc_free(c);
}

struct runner {
    int applied;
    int rc;
    char err[512];
};

static void *run_migrate(void *arg)
{
    struct runner *r = arg;
    struct pgc *c = pgc_connect(dsn, r->err, sizeof(r->err));
    if (!c) {
        r->rc = -2;
        return NULL;
    }
    r->rc = migrate_apply(c, dir, &r->applied, r->err, sizeof(r->err));
    pgc_free(c);
    return NULL;
}

Test(pg_migrate, concurrent_runs_apply_each_file_once)
{
    /* Slow files so both runs overlap; a counter row per execution. */
    st_write_file(dir, "0001_runs.sql",
                  "CREATE TABLE runs (file text);\nSELECT pg_sleep(0.3);\n"
                  "INSERT INTO runs VALUES ('0001');\n");
    st_write_file(dir, "0002_runs.sql",
                  "SELECT pg_sleep(0.3);\nINSERT INTO runs VALUES ('0002');\n");
    st_write_file(dir, "0003_runs.sql", "INSERT INTO runs VALUES ('0003');\n");

    struct runner a = {0}, b = {0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_migrate, &a);
    pthread_create(&tb, NULL, run_migrate, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.rc, 0, "%s", a.err);
    cr_assert_eq(b.rc, 0, "%s", b.err);
    cr_assert_eq(a.applied + b.applied, 3, "%d + %d", a.applied, b.applied);
    cr_assert(a.applied == 0 || b.applied == 0, "one run did everything, the other waited");

    struct pgc *c = connect_db();
    assert_text(c, "SELECT string_agg(file, ',' ORDER BY file) FROM runs", "0001,0002,0003");
    cr_assert_eq(value(c, "SELECT count(*) FROM public.schema_migrations"), 3);
    pgc_free(c);
}

/* store/pgc.c's classification, which workers use to decide retry or give up. */

Test(pg_migrate, errors_are_classified_transient_or_permanent)
{
    struct pgc *c = connect_db();
    char err[512] = "";

    cr_assert_eq(pgc_exec(c, "SELECT 1/0", err, sizeof(err)), -1);
    cr_assert_str_eq(pgc_last_sqlstate(c), "22012");
    cr_assert_not(pgc_last_transient(c));
    cr_assert(strstr(err, "division by zero"), "%s", err);
    cr_assert_neq(err[strlen(err) - 1], '\n');

    const char *states[] = {"40001", "40P01", "57P01", "53300", "08006"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        char *sql = xasprintf("DO $$BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '%s'; "
                              "END$$",
                              states[i]);
        cr_assert_eq(pgc_exec(c, sql, err, sizeof(err)), -1);
        cr_assert_str_eq(pgc_last_sqlstate(c), states[i]);
        cr_assert(pgc_last_transient(c), "%s should be transient", states[i]);
        free(sql);
    }

    /* Success clears the last failure. */
    cr_assert_eq(pgc_exec(c, "SELECT 1", err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(pgc_last_sqlstate(c), "");
    cr_assert_not(pgc_last_transient(c));
    pgc_free(c);
}

Test(pg_migrate, params_are_text_and_commit_of_failed_tx_is_an_error)
{
    struct pgc *c = connect_db();
    char err[512] = "";
    const char *p[] = {"O'Brien; DROP TABLE x", NULL};
    PGresult *r = pgc_query(c, "SELECT $1::text, $2::text IS NULL", 2, p, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert_str_eq(PQgetvalue(r, 0, 0), "O'Brien; DROP TABLE x");
    cr_assert_str_eq(PQgetvalue(r, 0, 1), "t");
    PQclear(r);

    cr_assert_eq(pgc_exec(c, "CREATE TABLE t (id int PRIMARY KEY)", err, sizeof(err)), 0);
    cr_assert_eq(pgc_begin(c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(pgc_exec(c, "INSERT INTO t VALUES (1)", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(pgc_exec(c, "INSERT INTO t VALUES (1)", err, sizeof(err)), -1);
    cr_assert_str_eq(pgc_last_sqlstate(c), "23505");
    /* COMMIT after an error answers "ROLLBACK": must not look like success. */
    cr_assert_eq(pgc_commit(c, err, sizeof(err)), -1);
    cr_assert_eq(value(c, "SELECT count(*) FROM t"), 0);

    cr_assert_eq(pgc_begin(c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(pgc_exec(c, "INSERT INTO t VALUES (2)", err, sizeof(err)), 0, "%s", err);
    pgc_rollback(c);
    cr_assert_eq(PQtransactionStatus(pgc_conn(c)), PQTRANS_IDLE);
    cr_assert_eq(value(c, "SELECT count(*) FROM t"), 0);
    pgc_rollback(c); /* outside a transaction: a no-op */
    pgc_free(c);
}

Test(pg_migrate, terminated_backend_is_transient_and_reset_reconnects)
{
    struct pgc *c = connect_db();
    struct pgc *admin = connect_db();
    char err[512] = "";
    long pid = value(c, "SELECT pg_backend_pid()");
    assert_text(c, "SELECT current_setting('application_name')", program_invocation_short_name);

    char *kill = xasprintf("SELECT pg_terminate_backend(%ld)", pid);
    assert_text(admin, kill, "t");
    free(kill);

    cr_assert_null(pgc_query(c, "SELECT 1", 0, NULL, err, sizeof(err)));
    cr_assert(pgc_last_transient(c), "sqlstate '%s': %s", pgc_last_sqlstate(c), err);
    pgc_rollback(c); /* broken connection: no-op, no crash */

    cr_assert_eq(pgc_reset(c, err, sizeof(err)), 0, "%s", err);
    cr_assert_neq(value(c, "SELECT pg_backend_pid()"), pid);
    pgc_free(admin);
    pgc_free(c);
}

Test(pg_migrate, connect_failure_reports_the_reason)
{
    char err[512] = "";
    cr_assert_null(
        pgc_connect("host=127.0.0.1 port=1 dbname=x connect_timeout=2", err, sizeof(err)));
    cr_assert(strstr(err, "postgres connect"), "%s", err);
}
