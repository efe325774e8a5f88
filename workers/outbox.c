#include "outbox.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/heartbeat.h"
#include "core/ids.h"
#include "core/log.h"
#include "produce_wait.h"
#include "core/xmalloc.h"

/* A fixed advisory-lock key: the relay leader. */
#define RELAY_LOCK_KEY "727001"
#define RELAY_GRACE "10 seconds"
#define RELAY_BATCH "1000"

static void now_rfc3339(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06ldZ", (long)tv.tv_usec);
}

void outbox_add(struct apply_ctx *ctx, const char *topic, const char *key, const char *type,
                json_t *data)
{
    if (!ctx->events)
        ctx->events = json_array();
    char id[UUID_STR_LEN], ts[32];
    ids_uuid7(id);
    now_rfc3339(ts);
    json_t *ce =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id", id,
                  "source", ctx->source ? ctx->source : "psop", "type", type, "subject", key,
                  "time", ts, "datacontenttype", "application/json", "data", data);
    if (ctx->cmd && ctx->cmd->id)
        json_object_set_new(ce, "psopcommandid", json_string(ctx->cmd->id));
    json_array_append_new(ctx->events, json_pack("{s:s, s:s, s:s, s:o}", "event_id", id, "topic",
                                                 topic, "key", key, "payload", ce));
}

int outbox_write(struct pgc *pg, json_t *events, char *err, size_t errlen)
{
    if (json_array_size(events) == 0)
        return 0;
    char *doc = json_dumps(events, JSON_COMPACT | JSON_REAL_PRECISION(15));
    const char *params[] = {doc};
    PGresult *r = pgc_query(pg,
                            "INSERT INTO psop.outbox (event_id, topic, key, payload) "
                            "SELECT (e->>'event_id')::uuid, e->>'topic', e->>'key', e->'payload' "
                            "FROM jsonb_array_elements($1::jsonb) AS e",
                            1, params, err, errlen);
    free(doc);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int mark_published(struct pgc *pg, json_t *ids)
{
    if (json_array_size(ids) == 0)
        return 0;
    char *doc = json_dumps(ids, JSON_COMPACT | JSON_REAL_PRECISION(15));
    const char *params[] = {doc};
    char err[256];
    PGresult *r = pgc_query(pg,
                            /* By the unique index on event_id (a filter on published_at IS NULL
                             * let the planner scan the partial index of every unpublished
                             * row, dead entries included: 24 ms a batch under load). */
                            "UPDATE psop.outbox SET published_at = coalesce(published_at, now()) "
                            "WHERE event_id = ANY "
                            "(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)::uuid))",
                            1, params, err, sizeof(err));
    free(doc);
    if (!r) {
        LOG_WARN("outbox: marking published failed", "error", err, NULL);
        return -1;
    }
    PQclear(r);
    return 0;
}

int outbox_publish(struct kprod *p, struct pgc *pg, json_t *events, int timeout_ms)
{
    (void)timeout_ms;
    size_t n = json_array_size(events);
    if (n == 0)
        return 0;
    struct pw_msg *msgs = xcalloc(n, sizeof(*msgs));
    bool *acked = xcalloc(n, sizeof(*acked));
    char **bodies = xcalloc(n, sizeof(*bodies));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        bodies[i] =
            json_dumps(json_object_get(e, "payload"), JSON_COMPACT | JSON_REAL_PRECISION(15));
        msgs[i].topic = json_string_value(json_object_get(e, "topic"));
        msgs[i].key = json_string_value(json_object_get(e, "key"));
        msgs[i].payload = bodies[i];
        msgs[i].len = strlen(bodies[i]);
    }
    size_t unacked = pw_send_all(p, msgs, n, acked);
    json_t *ids = json_array();
    for (size_t i = 0; i < n; i++) {
        if (acked[i])
            json_array_append(ids, json_object_get(json_array_get(events, i), "event_id"));
        free(bodies[i]);
    }
    mark_published(pg, ids);
    json_decref(ids);
    free(bodies);
    free(acked);
    free(msgs);
    return (int)unacked;
}

int outbox_relay_run(const struct psop_config *cfg, volatile sig_atomic_t *stop)
{
    char err[512];
    struct kprod *p = kprod_new(cfg, pw_dr, err, sizeof(err));
    if (!p) {
        LOG_ERROR("relay: producer", "error", err, NULL);
        return -1;
    }
    struct pgc *pg = NULL;
    int leader = 0;
    while (!*stop) {
        heartbeat_touch(cfg->worker_heartbeat_file);
        if (!pg) {
            pg = pgc_connect(cfg->pg_dsn, err, sizeof(err));
            if (!pg) {
                LOG_WARN("relay: postgres unavailable, retrying", "error", err, NULL);
                sleep(1);
                continue;
            }
            leader = 0;
        }
        if (!leader) {
            PGresult *r = pgc_query(pg, "SELECT pg_try_advisory_lock(" RELAY_LOCK_KEY ")", 0, NULL,
                                    err, sizeof(err));
            if (!r) {
                pgc_free(pg);
                pg = NULL;
                continue;
            }
            leader = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
            PQclear(r);
            if (!leader) {
                sleep(1);
                continue;
            }
            LOG_INFO("relay: leader", NULL);
        }
        /* Only rows whose transaction is older than every running one: a
         * later-committing transaction can't slip in before them. */
        PGresult *r = pgc_query(
            pg,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('event_id', event_id, 'topic', topic, "
            "'key', key, 'payload', payload) ORDER BY created_txid, id), '[]') FROM ("
            " SELECT * FROM psop.outbox WHERE published_at IS NULL"
            " AND created_at < now() - interval '" RELAY_GRACE "'"
            " AND created_txid < pg_snapshot_xmin(pg_current_snapshot())"
            " ORDER BY created_txid, id LIMIT " RELAY_BATCH ") o",
            0, NULL, err, sizeof(err));
        if (!r) {
            LOG_WARN("relay: query failed", "error", err, NULL);
            pgc_free(pg);
            pg = NULL;
            sleep(1);
            continue;
        }
        json_t *events = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        PQclear(r);
        size_t n = json_array_size(events);
        if (n > 0) {
            int left = outbox_publish(p, pg, events, cfg->produce_timeout_ms);
            char nbuf[32], lbuf[32];
            snprintf(nbuf, sizeof(nbuf), "%zu", n);
            snprintf(lbuf, sizeof(lbuf), "%d", left);
            LOG_INFO("relay: republished", "events", nbuf, "unacknowledged", lbuf, NULL);
        }
        json_decref(events);
        if (n == 0)
            sleep(1);
    }
    if (pg)
        pgc_free(pg);
    kprod_free(p, 5000);
    return 0;
}
