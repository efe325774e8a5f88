#include "store/pgc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/invariant.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* Prepared statements of this session, by SQL text (open addressing). */
#define PREP_SLOTS 512 /* a power of two; at most 3/4 used, then unprepared */

struct prep {
    char *sql; /* NULL = free slot */
    uint64_t hash;
    unsigned id; /* statement name "psop_<id>" */
};

struct pgc {
    PGconn *conn;
    char *dsn;
    char sqlstate[6];
    char constraint[64]; /* constraint named by the last failure ("" if none) */
    char table[64];      /* its table */
    bool transient;
    struct prep *prep; /* PREP_SLOTS entries, allocated on first use */
    unsigned nprep, next_id;
};

/* Server NOTICE/WARNING messages become log lines instead of libpq's bare
 * stderr output. */
static void notice_cb(void *arg, const char *message)
{
    char buf[1024];
    (void)arg;
    snprintf(buf, sizeof(buf), "%s", message);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    LOG_INFO("postgres notice", "detail", buf, NULL);
}

/* The program's name, shown in pg_stat_activity, unless the DSN sets
 * application_name itself ("fallback_" gives the DSN priority). */
static PGconn *connect_dsn(const char *dsn)
{
    const char *keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {dsn, program_invocation_short_name, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn)
        PQsetNoticeProcessor(conn, notice_cb, NULL);
    /* No JIT: our statements are short, or set-based and planned to run in
     * seconds, where compiling costs more than it saves (measured: ~0.9 s
     * of a 2.2 s settlement run statement). */
    if (conn && PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "SET jit = off"));
    return conn;
}

/* Copies libpq's message without its trailing newline. */
static void set_err(char *err, size_t errlen, const char *prefix, const char *msg)
{
    if (!err || errlen == 0)
        return;
    snprintf(err, errlen, "%s%s", prefix, msg && *msg ? msg : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

static bool sqlstate_transient(const char *s)
{
    return strncmp(s, "08", 2) == 0    /* connection exception */
           || strcmp(s, "40001") == 0  /* serialization_failure */
           || strcmp(s, "40P01") == 0  /* deadlock_detected */
           || strcmp(s, "57P01") == 0  /* admin_shutdown */
           || strcmp(s, "57P02") == 0  /* crash_shutdown */
           || strcmp(s, "57P03") == 0  /* cannot_connect_now */
           || strcmp(s, "53300") == 0; /* too_many_connections */
}

static void clear_failure(struct pgc *c)
{
    c->sqlstate[0] = '\0';
    c->constraint[0] = '\0';
    c->table[0] = '\0';
    c->transient = false;
}

/* Records the failure of res (may be NULL) for pgc_last_*. */
static void note_failure(struct pgc *c, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", st ? st : "");
    const char *cn = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *tn = res ? PQresultErrorField(res, PG_DIAG_TABLE_NAME) : NULL;
    snprintf(c->constraint, sizeof(c->constraint), "%s", cn ? cn : "");
    snprintf(c->table, sizeof(c->table), "%s", tn ? tn : "");
    c->transient = PQstatus(c->conn) == CONNECTION_BAD || sqlstate_transient(c->sqlstate);
}

struct pgc *pgc_connect(const char *dsn, char *err, size_t errlen)
{
    PGconn *conn = connect_dsn(dsn);
    if (!conn) {
        snprintf(err, errlen, "postgres: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        set_err(err, errlen, "postgres connect: ", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    struct pgc *c = xcalloc(1, sizeof(*c));
    c->conn = conn;
    c->dsn = xstrdup(dsn);
    return c;
}

/* Forgets every prepared statement (a new session has none). */
static void prep_clear(struct pgc *c)
{
    if (!c->prep)
        return;
    for (size_t i = 0; i < PREP_SLOTS; i++)
        free(c->prep[i].sql);
    free(c->prep);
    c->prep = NULL;
    c->nprep = 0;
}

int pgc_reset(struct pgc *c, char *err, size_t errlen)
{
    clear_failure(c);
    prep_clear(c);
    PQfinish(c->conn);
    c->conn = connect_dsn(c->dsn);
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK) {
        LOG_INFO("postgres reconnected", NULL);
        return 0;
    }
    set_err(err, errlen, "postgres reconnect: ", c->conn ? PQerrorMessage(c->conn) : NULL);
    c->transient = true;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "08006");
    return -1;
}

void pgc_free(struct pgc *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    prep_clear(c);
    free(c->dsn);
    free(c);
}

PGconn *pgc_conn(struct pgc *c)
{
    return c->conn;
}

/* Takes res: returns it when it succeeded, else clears it and returns NULL
 * with the failure recorded. */
static PGresult *check(struct pgc *c, PGresult *res, char *err, size_t errlen)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    note_failure(c, res);
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    set_err(err, errlen, "postgres: ", msg && *msg ? msg : PQerrorMessage(c->conn));
    PQclear(res);
    return NULL;
}

int pgc_exec(struct pgc *c, const char *sql, char *err, size_t errlen)
{
    clear_failure(c);
    /* PQexec (not PQexecParams) so a migration file of many statements runs
     * as one call; the result is the last statement's or the first error. */
    PGresult *res = check(c, PQexec(c->conn, sql), err, errlen);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

_Static_assert((PREP_SLOTS & (PREP_SLOTS - 1)) == 0, "PREP_SLOTS is a power of two");

/* The slot of sql: its entry, or the free slot where it would go. The probe
 * ends because prepared() keeps the table at most 3/4 full. */
static struct prep *prep_slot(struct pgc *c, const char *sql, uint64_t h)
{
    PSOP_ASSERT(c->nprep <= PREP_SLOTS / 4 * 3);
    for (size_t i = h & (PREP_SLOTS - 1), probes = 0;; i = (i + 1) & (PREP_SLOTS - 1)) {
        struct prep *p = &c->prep[i];
        if (!p->sql || (p->hash == h && strcmp(p->sql, sql) == 0))
            return p;
        PSOP_ASSERT(++probes < PREP_SLOTS);
    }
}

/* The name of sql's prepared statement, preparing it on first use; NULL
 * when the table is full (the caller runs it unprepared) or the PREPARE
 * failed (then *failed is the checked result: NULL, failure recorded). */
static const char *prepared(struct pgc *c, const char *sql, int nparams, char *name, size_t namelen,
                            bool *failed, char *err, size_t errlen)
{
    *failed = false;
    if (!c->prep)
        c->prep = xcalloc(PREP_SLOTS, sizeof(*c->prep));
    uint64_t h = fnv1a(sql);
    struct prep *p = prep_slot(c, sql, h);
    if (p->sql) {
        snprintf(name, namelen, "psop_%u", p->id);
        return name;
    }
    if (c->nprep >= PREP_SLOTS / 4 * 3)
        return NULL;
    unsigned id = c->next_id++;
    snprintf(name, namelen, "psop_%u", id);
    PGresult *res = check(c, PQprepare(c->conn, name, sql, nparams, NULL), err, errlen);
    if (!res) {
        *failed = true;
        return NULL;
    }
    PQclear(res);
    p->sql = xstrdup(sql);
    p->hash = h;
    p->id = id;
    c->nprep++;
    return name;
}

/* A statement whose plan a schema change made unusable ("cached plan must
 * not change result type"): forgotten, so the retry prepares it again. */
static void prep_forget_if_stale(struct pgc *c, const char *sql)
{
    if (!c->prep || strcmp(c->sqlstate, "0A000") != 0)
        return;
    uint64_t h = fnv1a(sql);
    struct prep *p = prep_slot(c, sql, h);
    if (!p->sql)
        return;
    /* Removal in open addressing: rehash the cluster after the slot. */
    free(p->sql);
    p->sql = NULL;
    c->nprep--;
    for (size_t i = ((size_t)(p - c->prep) + 1) & (PREP_SLOTS - 1); c->prep[i].sql;
         i = (i + 1) & (PREP_SLOTS - 1)) {
        struct prep moved = c->prep[i];
        c->prep[i].sql = NULL;
        *prep_slot(c, moved.sql, moved.hash) = moved;
    }
    c->transient = true; /* the batch is retried with a fresh plan */
}

PGresult *pgc_query(struct pgc *c, const char *sql, int nparams, const char *const *params,
                    char *err, size_t errlen)
{
    clear_failure(c);
    char name[32];
    bool failed;
    const char *stmt = prepared(c, sql, nparams, name, sizeof(name), &failed, err, errlen);
    if (failed)
        return NULL;
    if (!stmt)
        return check(c, PQexecParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0), err,
                     errlen);
    PGresult *res =
        check(c, PQexecPrepared(c->conn, stmt, nparams, params, NULL, NULL, 0), err, errlen);
    if (!res)
        prep_forget_if_stale(c, sql);
    return res;
}

int pgc_begin(struct pgc *c, char *err, size_t errlen)
{
    return pgc_exec(c, "BEGIN", err, errlen);
}

int pgc_commit(struct pgc *c, char *err, size_t errlen)
{
    clear_failure(c);
    PGresult *res = check(c, PQexec(c->conn, "COMMIT"), err, errlen);
    if (!res)
        return -1;
    /* COMMIT of a transaction that already failed "succeeds" with the tag
     * ROLLBACK: nothing was committed. */
    bool rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back) {
        snprintf(err, errlen, "postgres: transaction was aborted, COMMIT rolled back");
        snprintf(c->sqlstate, sizeof(c->sqlstate), "25P02"); /* in_failed_sql_transaction */
        c->transient = false;
        return -1;
    }
    return 0;
}

void pgc_rollback(struct pgc *c)
{
    if (PQstatus(c->conn) != CONNECTION_OK || PQtransactionStatus(c->conn) == PQTRANS_IDLE)
        return;
    /* Keeps the failure that led here for pgc_last_*. */
    PQclear(PQexec(c->conn, "ROLLBACK"));
}

bool pgc_last_transient(const struct pgc *c)
{
    return c->transient;
}

const char *pgc_last_sqlstate(const struct pgc *c)
{
    return c->sqlstate;
}

const char *pgc_last_constraint(const struct pgc *c)
{
    return c->constraint;
}

const char *pgc_last_table(const struct pgc *c)
{
    return c->table;
}
