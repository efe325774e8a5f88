#include "store/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "core/file.h"
#include "core/log.h"
#include "core/xmalloc.h"

struct mfile {
    int version;
    char *name; /* file name without the directory */
    char *path;
};

static int by_version(const void *a, const void *b)
{
    const struct mfile *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* NNNN_name.sql -> version; -1 when the name does not match. */
static int parse_name(const char *name)
{
    const char *p = name;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return -1;
        p++;
    }
    size_t n = strlen(name);
    if (p == name || *p != '_' || p[1] == '\0' || n < 5 || strcmp(name + n - 4, ".sql") != 0 ||
        p + 1 >= name + n - 4)
        return -1;
    return (int)v;
}

static void free_files(struct mfile *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].name);
        free(f[i].path);
    }
    free(f);
}

/* Lists the migration files of dir in version order. -1 with err. */
static int list_files(const char *dir, struct mfile **out, size_t *nout, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct mfile *f = NULL;
    size_t n = 0, cap = 0;
    if (!d) {
        snprintf(err, errlen, "migrations dir %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        int v = parse_name(e->d_name);
        if (v < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            f = xrealloc(f, cap * sizeof(*f));
        }
        f[n].version = v;
        f[n].name = xstrdup(e->d_name);
        f[n].path = xasprintf("%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    qsort(f, n, sizeof(*f), by_version);
    for (size_t i = 1; i < n; i++) {
        if (f[i].version == f[i - 1].version) {
            snprintf(err, errlen, "migrations %s and %s share version %d", f[i - 1].name, f[i].name,
                     f[i].version);
            free_files(f, n);
            return -1;
        }
    }
    *out = f;
    *nout = n;
    return 0;
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

/* Applies one file and its row in one transaction. */
static int apply_one(struct pgc *c, const struct mfile *f, const char *sql, const char *sum,
                     char *err, size_t errlen)
{
    char ver[16], why[1024];
    snprintf(ver, sizeof(ver), "%d", f->version);
    const char *params[] = {ver, f->name, sum};
    PGresult *res = NULL;

    if (pgc_begin(c, why, sizeof(why)) < 0)
        goto fail;
    if (pgc_exec(c, sql, why, sizeof(why)) < 0)
        goto fail;
    res = pgc_query(c,
                    "INSERT INTO public.schema_migrations (version, name, checksum, applied_at) "
                    "VALUES ($1::int, $2, $3, now())",
                    3, params, why, sizeof(why));
    if (!res)
        goto fail;
    PQclear(res);
    if (pgc_commit(c, why, sizeof(why)) < 0)
        goto fail;
    /* A file's plain SET (not SET LOCAL) outlives its transaction; the next
     * file starts from the session defaults. */
    if (pgc_exec(c, "RESET ALL", why, sizeof(why)) < 0)
        goto fail;
    return 0;
fail:
    pgc_rollback(c);
    snprintf(err, errlen, "migration %s: %s", f->name, why);
    return -1;
}

/* The files of a directory with their text and checksums. */
struct mset {
    struct mfile *files;
    size_t n;
    char **sql;
    char (*sums)[65];
    bool *done; /* applied already (mark_applied) */
};

static void mset_free(struct mset *m)
{
    for (size_t i = 0; m->sql && i < m->n; i++)
        free(m->sql[i]);
    free(m->sql);
    free(m->sums);
    free(m->done);
    free_files(m->files, m->n);
    memset(m, 0, sizeof(*m));
}

/* Lists dir and reads every file. 0, or -1 with err (m freed). */
static int mset_load(struct mset *m, const char *dir, char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    if (list_files(dir, &m->files, &m->n, err, errlen) < 0)
        return -1;
    size_t k = m->n ? m->n : 1;
    m->sql = xcalloc(k, sizeof(*m->sql));
    m->sums = xcalloc(k, sizeof(*m->sums));
    m->done = xcalloc(k, sizeof(*m->done));
    for (size_t i = 0; i < m->n; i++) {
        m->sql[i] = file_read(m->files[i].path, MIGRATE_MAX_FILE, NULL, err, errlen);
        if (!m->sql[i]) {
            mset_free(m);
            return -1;
        }
        sha256_hex(m->sql[i], m->sums[i]);
    }
    return 0;
}

/* Sets m->done[i] for the files already applied, checking their checksums
 * (a changed released file is an error). 0, or -1 with err. */
static int mark_applied(struct pgc *c, struct mset *m, char *err, size_t errlen)
{
    char why[1024];
    PGresult *res = pgc_query(c, "SELECT version, name, checksum FROM public.schema_migrations", 0,
                              NULL, why, sizeof(why));
    if (!res) {
        snprintf(err, errlen, "schema_migrations: %s", why);
        return -1;
    }
    for (int row = 0; row < PQntuples(res); row++) {
        int v = atoi(PQgetvalue(res, row, 0));
        for (size_t i = 0; i < m->n; i++) {
            if (m->files[i].version != v)
                continue;
            if (strcmp(PQgetvalue(res, row, 2), m->sums[i]) != 0) {
                snprintf(err, errlen,
                         "migration %s was changed after it was applied (as %s): checksum %.12s "
                         "in the database, %.12s on disk; write a new migration instead",
                         m->files[i].name, PQgetvalue(res, row, 1), PQgetvalue(res, row, 2),
                         m->sums[i]);
                PQclear(res);
                return -1;
            }
            m->done[i] = true;
        }
    }
    PQclear(res);
    return 0;
}

int migrate_apply(struct pgc *c, const char *dir, int *applied, char *err, size_t errlen)
{
    struct mset m;
    PGresult *res = NULL;
    bool locked = false;
    int rc = -1, count = 0;
    char why[1024];
    const char *key[] = {MIGRATE_LOCK_KEY};

    if (applied)
        *applied = 0;
    if (mset_load(&m, dir, err, errlen) < 0)
        return -1;

    res = pgc_query(c, "SELECT pg_advisory_lock($1::bigint)", 1, key, why, sizeof(why));
    if (!res) {
        snprintf(err, errlen, "migration lock: %s", why);
        goto out;
    }
    PQclear(res);
    locked = true;
    /* Checked first rather than IF NOT EXISTS, which NOTICEs on every run;
     * the lock makes check-then-create safe. */
    res = pgc_query(c, "SELECT to_regclass('public.schema_migrations') IS NULL", 0, NULL, why,
                    sizeof(why));
    if (!res) {
        snprintf(err, errlen, "schema_migrations: %s", why);
        goto out;
    }
    bool missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    res = NULL;
    if (missing && pgc_exec(c,
                            "CREATE TABLE public.schema_migrations ("
                            " version int PRIMARY KEY,"
                            " name text NOT NULL,"
                            " checksum text NOT NULL,"
                            " applied_at timestamptz NOT NULL DEFAULT now())",
                            why, sizeof(why)) < 0) {
        snprintf(err, errlen, "schema_migrations: %s", why);
        goto out;
    }
    if (mark_applied(c, &m, err, errlen) < 0)
        goto out;

    for (size_t i = 0; i < m.n; i++) {
        if (m.done[i])
            continue;
        if (apply_one(c, &m.files[i], m.sql[i], m.sums[i], err, errlen) < 0)
            goto out;
        count++;
        LOG_INFO("migration applied", "file", m.files[i].name, "checksum", m.sums[i], NULL);
    }
    rc = 0;
out:
    if (res)
        PQclear(res);
    /* Raw libpq: keeps the failure above for pgc_last_transient(). If the
     * connection is gone, so is the lock. */
    if (locked)
        PQclear(PQexecParams(pgc_conn(c), "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, key,
                             NULL, NULL, 0));
    if (applied)
        *applied = count;
    mset_free(&m);
    return rc;
}

int migrate_check(struct pgc *c, const char *dir, int *pending, char *first, size_t firstlen,
                  char *err, size_t errlen)
{
    struct mset m;
    char why[1024];
    int rc = -1;
    *pending = 0;
    if (firstlen)
        first[0] = '\0';
    if (mset_load(&m, dir, err, errlen) < 0)
        return -1;
    PGresult *res = pgc_query(c, "SELECT to_regclass('public.schema_migrations') IS NULL", 0, NULL,
                              why, sizeof(why));
    if (!res) {
        snprintf(err, errlen, "schema_migrations: %s", why);
        goto out;
    }
    bool missing = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!missing && mark_applied(c, &m, err, errlen) < 0)
        goto out;
    for (size_t i = 0; i < m.n; i++)
        if (!m.done[i] && (*pending)++ == 0 && firstlen)
            snprintf(first, firstlen, "%s", m.files[i].name);
    rc = 0;
out:
    mset_free(&m);
    return rc;
}
