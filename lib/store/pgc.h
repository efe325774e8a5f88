/*
 * store/pgc.h - PostgreSQL connection and transaction helpers over libpq.
 *
 * A struct pgc is one connection; not thread-safe. Errors are classified so
 * callers can retry transient ones (connection loss, serialization failure
 * 40001, deadlock 40P01, admin shutdown 57P01..57P03, cannot connect 08xxx,
 * too many connections 53300) and treat the rest as permanent. Each call
 * starts by clearing the previous failure, so pgc_last_*() describe the
 * latest call. The connection's application_name is the program's name
 * unless the DSN sets one; server NOTICEs go to the log.
 */
#ifndef PSOP_PG_H
#define PSOP_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

#include "core/mustcheck.h"

/* SQL that renders a timestamptz column (or expression) col as the API's
 * RFC 3339 UTC text with microseconds, "2026-12-05T07:09:40.123456Z": the
 * one spelling of a time that leaves PostgreSQL for a document or event. */
#define PG_TS_SQL(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

struct pgc;

/* Connects; on failure returns NULL with err filled. */
PSOP_MUSTCHECK struct pgc *pgc_connect(const char *dsn, char *err, size_t errlen);
/* Reconnects a broken connection. 0 or -1. */
PSOP_MUSTCHECK int pgc_reset(struct pgc *c, char *err, size_t errlen);
void pgc_free(struct pgc *c);
PGconn *pgc_conn(struct pgc *c);

/* Runs a statement without results (BEGIN, COMMIT, DDL...). 0 or -1. */
PSOP_MUSTCHECK int pgc_exec(struct pgc *c, const char *sql, char *err, size_t errlen);

/* PQexecParams with text params. Returns the result (caller PQclear()s) when
 * its status is COMMAND_OK or TUPLES_OK, else NULL with err filled and the
 * last SQLSTATE kept for pgc_last_transient(). */
PSOP_MUSTCHECK PGresult *pgc_query(struct pgc *c, const char *sql, int nparams,
                                   const char *const *params, char *err, size_t errlen);

PSOP_MUSTCHECK int pgc_begin(struct pgc *c, char *err, size_t errlen);
PSOP_MUSTCHECK int pgc_commit(struct pgc *c, char *err, size_t errlen);
/* Never fails loudly: a rollback on a broken connection is a no-op. */
void pgc_rollback(struct pgc *c);

/* True when the last failure on c is worth retrying. */
bool pgc_last_transient(const struct pgc *c);
/* SQLSTATE of the last failure ("" if none). */
const char *pgc_last_sqlstate(const struct pgc *c);
/* Constraint and table the last failure names (PG_DIAG_CONSTRAINT_NAME,
 * PG_DIAG_TABLE_NAME; "" if none): how a constraint violation is turned
 * into a domain sentence (workers/reasons.h). */
const char *pgc_last_constraint(const struct pgc *c);
const char *pgc_last_table(const struct pgc *c);

#endif
