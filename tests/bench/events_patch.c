/*
 * events_patch.c - psop-bench-events: what keeping a voucher's events
 * document (psop:voucher-events:{id}) costs per changed event, on the
 * vouchers of the stack with the most events, two ways alternately in the
 * same run:
 *   whole     the peer: the document patched as one text, as the release
 *             before itemised documents did it (read ~80 KB at 200 events,
 *             parse, replace the event, sort, serialise, write back), on a
 *             key of its own (psop:bench:events-whole:{id});
 *   itemised  views/view_events_delta.h as the voucher worker runs it: the
 *             changed events read from PostgreSQL (one statement per call of
 *             BATCH vouchers) and written as items.
 * The whole way is given its event for free (no PostgreSQL): a bound in its
 * favour.
 *
 *   psop-bench-events [VOUCHERS [PATCHES [ROUNDS]]]
 *                     (default 200 vouchers, 2 000 patches, 3 rounds)
 *
 * Per round and way one JSON line: patches/s, this process's CPU and Redis's
 * CPU (INFO cpu) per patch in microseconds, the mean events per document.
 * Needs the stack (source .run/stack.env) and a psop-bench-seed run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ids.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_voucher.h"
#include "views/view_events_delta.h"

enum { BATCH = 10 };

struct voucher {
    char id[40], event[40], key[96];
    long long version, whole_version;
    json_t *event_ids; /* [event] */
    json_t *event_doc; /* the event's object, for the whole way */
    size_t events;
};

static const char *field(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The whole document's order (date, recorded_at, id), as the former patch. */
static int event_cmp(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(field(x, "date"), field(y, "date"));
    if (c == 0)
        c = strcmp(field(x, "recorded_at"), field(y, "recorded_at"));
    return c ? c : strcmp(field(x, "id"), field(y, "id"));
}

/* The former patch of one event: read, parse, replace, sort, serialise, write. */
static int whole_patch(struct rds *r, struct voucher *v)
{
    char *text = NULL, err[256];
    if (rds_get_versioned(r, v->key, &text, NULL, err, sizeof(err)) != RDS_FOUND)
        return -1;
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    json_t *events = json_object_get(doc, "events");
    size_t n = json_array_size(events);
    json_t **all = calloc(n ? n : 1, sizeof(*all));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        all[i] = json_incref(strcmp(field(e, "id"), v->event) == 0 ? v->event_doc : e);
    }
    qsort(all, n, sizeof(*all), event_cmp);
    json_array_clear(events);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(events, all[i]);
    free(all);
    json_object_set_new(doc, "version", json_integer(++v->whole_version));
    char *out = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    int rc = rds_put_versioned(r, v->key, v->whole_version, out, 0, err, sizeof(err));
    free(out);
    return rc == 1 ? 0 : -1;
}

/* Patches n vouchers from at, BATCH at a time through the worker's path. */
static int itemised_patch(struct rds *r, struct pgc *pg, struct voucher *vs, size_t nv, size_t at,
                          size_t n)
{
    struct ved_delta d[BATCH];
    char err[512];
    for (size_t i = 0; i < n; i++) {
        struct voucher *v = &vs[(at + i) % nv];
        d[i] = (struct ved_delta){v->id, v->version, v->version, v->event_ids, false};
    }
    return view_events_delta(VED_VOUCHER, r, pg, d, n, err, sizeof(err)) == (long)n ? 0 : -1;
}

/* The VOUCHERS vouchers with the most events, an event of each, their
 * documents written itemised (the real key) and whole (the peer's key). */
static size_t setup(struct rds *r, struct pgc *pg, int want, struct voucher **out)
{
    char err[512], lim[16];
    snprintf(lim, sizeof(lim), "%d", want);
    const char *p[] = {lim};
    PGresult *res =
        pgc_query(pg,
                  "SELECT v.id::text, v.version, (SELECT id::text FROM psop.service_events e "
                  "  WHERE e.voucher_id = v.id ORDER BY date DESC LIMIT 1) "
                  "FROM (SELECT voucher_id FROM psop.service_events WHERE voucher_id IS NOT NULL "
                  "      GROUP BY voucher_id ORDER BY count(*) DESC LIMIT $1::int) top "
                  "JOIN psop.vouchers v ON v.id = top.voucher_id",
                  1, p, err, sizeof(err));
    if (!res) {
        fprintf(stderr, "vouchers: %s\n", err);
        return 0;
    }
    size_t n = (size_t)PQntuples(res);
    struct voucher *vs = calloc(n ? n : 1, sizeof(*vs));
    struct ids_list ids;
    ids_list_init(&ids);
    for (size_t i = 0; i < n; i++) {
        struct voucher *v = &vs[i];
        snprintf(v->id, sizeof(v->id), "%s", PQgetvalue(res, (int)i, 0));
        v->version = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
        snprintf(v->event, sizeof(v->event), "%s", PQgetvalue(res, (int)i, 2));
        v->event_ids = json_pack("[s]", v->event);
        snprintf(v->key, sizeof(v->key), "psop:bench:events-whole:%s", v->id);
        char real[96];
        snprintf(real, sizeof(real), VIEW_VOUCHER_EVENTS_KEY_FMT, v->id);
        redisReply *del = rds_command(r, "DEL %s %s", real, v->key);
        if (del)
            freeReplyObject(del);
        ids_list_add(&ids, v->id);
        long long ver = 0;
        char *text = view_voucher_events_text(pg, v->id, &ver, err, sizeof(err));
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(doc, "events"), k,
                           e) if (strcmp(field(e, "id"), v->event) == 0) v->event_doc =
            json_deep_copy(e);
        v->events = json_array_size(json_object_get(doc, "events"));
        v->whole_version = ver;
        if (!text || rds_put_versioned(r, v->key, ver, text, 0, err, sizeof(err)) != 1 ||
            !v->event_doc) {
            fprintf(stderr, "voucher %s: %s\n", v->id, text ? err : "no document");
            exit(1);
        }
        free(text);
        json_decref(doc);
    }
    PQclear(res);
    long w = 0;
    if (view_voucher_put_many(r, pg, ids.text, &w, err, sizeof(err)) < 0) {
        fprintf(stderr, "itemised documents: %s\n", err);
        exit(1);
    }
    ids_list_free(&ids);
    *out = vs;
    return n;
}

int main(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 200;
    long patches = argc > 2 ? atol(argv[2]) : 2000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (want < 1 || patches < 1 || rounds < 1) {
        fprintf(stderr, "usage: psop-bench-events [VOUCHERS [PATCHES [ROUNDS]]]\n");
        return 2;
    }
    struct psop_config cfg;
    char err[512];
    bench_config(&cfg);
    struct rds *r = rds_connect(cfg.redis_url, 5000, err, sizeof(err));
    struct pgc *pg = r ? pgc_connect(cfg.pg_dsn, err, sizeof(err)) : NULL;
    if (!pg) {
        fprintf(stderr, "stack: %s\n", err);
        return 1;
    }
    struct voucher *vs = NULL;
    size_t nv = setup(r, pg, want, &vs);
    if (nv == 0)
        return 1;
    double mean = 0;
    for (size_t i = 0; i < nv; i++)
        mean += (double)vs[i].events / (double)nv;
    fprintf(stderr, "%zu vouchers, %.0f events each on average\n", nv, mean);
    for (int round = 1; round <= rounds; round++)
        for (int way = 0; way < 2; way++) {
            double c0 = bench_cpu_self(), rc0 = bench_cpu_redis(r);
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            long failed = 0;
            for (long p = 0; p < patches;) {
                long n = way == 0 ? 1 : (patches - p < BATCH ? patches - p : BATCH);
                int rc = way == 0 ? whole_patch(r, &vs[p % (long)nv])
                                  : itemised_patch(r, pg, vs, nv, (size_t)p, (size_t)n);
                failed += rc < 0 ? n : 0;
                p += n;
            }
            double wall = clock_since_ms(&t0) / 1000.0;
            double cpu = bench_cpu_self() - c0, rcpu = bench_cpu_redis(r) - rc0;
            printf("{\"round\":%d,\"way\":\"%s\",\"vouchers\":%zu,\"events_per_document\":%.0f,"
                   "\"patches\":%ld,\"failed\":%ld,\"patches_per_s\":%.0f,"
                   "\"client_cpu_us_per_patch\":%.1f,\"redis_cpu_us_per_patch\":%.1f}\n",
                   round, way == 0 ? "whole" : "itemised", nv, mean, patches, failed,
                   (double)patches / wall, cpu * 1e6 / (double)patches,
                   rcpu * 1e6 / (double)patches);
            fflush(stdout);
        }
    for (size_t i = 0; i < nv; i++) {
        redisReply *del = rds_command(r, "DEL %s", vs[i].key);
        if (del)
            freeReplyObject(del);
        json_decref(vs[i].event_ids);
        json_decref(vs[i].event_doc);
    }
    free(vs);
    pgc_free(pg);
    rds_free(r);
    config_free(&cfg);
    return 0;
}
