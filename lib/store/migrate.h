/*
 * store/migrate.h - numbered SQL migrations applied once each.
 *
 * dir holds files NNNN_name.sql (digits, '_', name, ".sql"; other files are
 * ignored). They are applied in numeric order, each in its own transaction
 * together with its row in public.schema_migrations(version, name, checksum
 * SHA-256 hex, applied_at). So files hold no BEGIN/COMMIT and nothing that
 * cannot run in a transaction (CREATE INDEX CONCURRENTLY).
 *
 * The whole run holds a session advisory lock (MIGRATE_LOCK_KEY), so
 * concurrent runs (several replicas starting) apply each file once: the
 * second waits, then finds nothing pending. A file already applied whose
 * checksum differs is an error and nothing is applied: released files never
 * change, fixes are new files. Applied versions without a file (a newer
 * release ran) are ignored.
 */
#ifndef PSOP_MIGRATE_H
#define PSOP_MIGRATE_H

#include <stddef.h>

#include "store/pgc.h"

/* "psopmigr" in ASCII: a key no other advisory lock of ours uses. */
#define MIGRATE_LOCK_KEY "8102942683232298866"

/* Files larger than this are refused: a migration is code, not data. */
#define MIGRATE_MAX_FILE (16u * 1024 * 1024)

/* Applies the pending files of dir on c. *applied (may be NULL) gets how
 * many were applied by this call, also on failure. Returns 0, or -1 with err
 * naming the file; the failed file's transaction is rolled back, earlier
 * ones stay applied. c must not be inside a transaction. */
int migrate_apply(struct pgc *c, const char *dir, int *applied, char *err, size_t errlen);

/* Read-only: how many files of dir are not applied yet (*pending; the first
 * one's name in first), checking the applied ones' checksums like
 * migrate_apply. For a start-up check ("wait for the schema"): takes no lock,
 * writes nothing. 0, or -1 with err (a changed applied file, no database). */
int migrate_check(struct pgc *c, const char *dir, int *pending, char *first, size_t firstlen,
                  char *err, size_t errlen);

#endif
