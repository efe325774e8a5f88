#include "outbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/heartbeat.h"
#include "core/ids.h"
#include "core/log.h"
#include "produce_wait.h"
#include "core/xmalloc.h"
#include "store/topics.h"
#include "wire/access_key.h"

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

void outbox_add_access(json_t *events, json_t *access)
{
    json_array_append_new(events, json_pack("{s:O, s:s, s:s, s:O}", "event_id",
                                            json_object_get(access, "id"), "topic", TOPIC_AUDIT,
                                            "key", access_record_key(access), "payload", access));
}

int outbox_write(struct pgc *pg, json_t *events, char *err, size_t errlen)
{
    if (json_array_size(events) == 0)
        return 0;
    char *doc = json_dumps(events, JSON_COMPACT | JSON_REAL_PRECISION(15));
    const char *params[] = {doc};
    PGresult *r =
        pgc_query(pg,
                  "INSERT INTO psop.outbox (event_id, topic, key, payload) "
                  "SELECT (e->>'event_id')::uuid, e->>'topic', e->>'key', e->'payload' "
                  "FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT (event_id) DO NOTHING",
                  1, params, err, errlen);
    free(doc);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* The text of a UUID as a safe SQL literal element: hex digits and dashes. */
static bool uuid_text(const char *s)
{
    size_t n = strlen(s);
    return n == UUID_STR_LEN - 1 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* One transaction, sent as one query string (one round trip), whose COMMIT
 * does not wait for the WAL flush: a mark lost in a crash only means the
 * relay sends the event again, which subscribers already take (by event id);
 * the batches' own transactions keep waiting. The ids are our own UUIDs,
 * checked character by character before they go into the text. */
static int mark_published(struct pgc *pg, const char *const *ids, size_t n)
{
    if (n == 0)
        return 0;
    static const char head[] =
        "BEGIN; SET LOCAL synchronous_commit = off; "
        /* By the unique index on event_id (a filter on
         * published_at IS NULL let the planner scan the
         * partial index of every unpublished row, dead
         * entries included: 24 ms a batch under load). */
        "UPDATE psop.outbox SET published_at = coalesce(published_at, now()) "
        "WHERE event_id = ANY ('{";
    static const char tail[] = "}'::uuid[]); COMMIT";
    char *sql = xmalloc(sizeof(head) + n * UUID_STR_LEN + sizeof(tail));
    size_t len = 0;
    memcpy(sql, head, sizeof(head) - 1);
    len += sizeof(head) - 1;
    for (size_t i = 0; i < n; i++) {
        const char *t = ids[i];
        if (!t || !uuid_text(t))
            continue;
        if (sql[len - 1] != '{')
            sql[len++] = ',';
        memcpy(sql + len, t, UUID_STR_LEN - 1);
        len += UUID_STR_LEN - 1;
    }
    memcpy(sql + len, tail, sizeof(tail));
    char err[256];
    int rc = pgc_exec(pg, sql, err, sizeof(err));
    free(sql);
    if (rc < 0) {
        pgc_rollback(pg);
        LOG_WARN("outbox: marking published failed", "error", err, NULL);
        return -1;
    }
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
    const char **ids = xcalloc(n, sizeof(*ids));
    size_t nids = 0;
    for (size_t i = 0; i < n; i++)
        if (acked[i])
            ids[nids++] = json_string_value(json_object_get(json_array_get(events, i), "event_id"));
    mark_published(pg, ids, nids);
    free(ids);
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(acked);
    free(msgs);
    return (int)unacked;
}

struct outbox_acks {
    pthread_mutex_t mu;
    char (*ids)[UUID_STR_LEN];
    size_t n, cap;
};

struct outbox_acks *outbox_acks_new(void)
{
    struct outbox_acks *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void outbox_acks_free(struct outbox_acks *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free(a->ids);
    free(a);
}

/* Under a->mu. */
static void acks_push(struct outbox_acks *a, const char *id)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        a->ids = xrealloc(a->ids, a->cap * sizeof(*a->ids));
    }
    snprintf(a->ids[a->n++], UUID_STR_LEN, "%s", id);
}

struct sent_event {
    struct pw_report r; /* first: the message's opaque points here */
    struct outbox_acks *a;
    char id[UUID_STR_LEN];
};

static void sent_event_done(struct pw_report *r, rd_kafka_resp_err_t err)
{
    struct sent_event *e = (struct sent_event *)r;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pthread_mutex_lock(&e->a->mu);
        acks_push(e->a, e->id);
        pthread_mutex_unlock(&e->a->mu);
    } else {
        LOG_WARN("event not acknowledged, left to the relay", "event_id", e->id, "error",
                 rd_kafka_err2str(err), NULL);
    }
    free(e);
}

int outbox_send(struct kprod *p, struct outbox_acks *a, json_t *events)
{
    int failed = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *topic = json_string_value(json_object_get(ev, "topic"));
        const char *key = json_string_value(json_object_get(ev, "key"));
        if (!key)
            key = "";
        char *body =
            json_dumps(json_object_get(ev, "payload"), JSON_COMPACT | JSON_REAL_PRECISION(15));
        struct sent_event *e = xmalloc(sizeof(*e));
        e->r.done = sent_event_done;
        e->a = a;
        snprintf(e->id, sizeof(e->id), "%s", json_string_value(json_object_get(ev, "event_id")));
        char err[256];
        if (kprod_send(p, topic, key, strlen(key), body, strlen(body), NULL, &e->r, err,
                       sizeof(err)) < 0) {
            LOG_WARN("produce failed, event left to the relay", "topic", topic, "error", err, NULL);
            free(e);
            failed++;
        }
        free(body);
    }
    return failed;
}

int outbox_mark_acked(struct outbox_acks *a, struct pgc *pg)
{
    if (!pg)
        return 0;
    /* Taken out under the lock; put back if the mark fails. */
    pthread_mutex_lock(&a->mu);
    char(*ids)[UUID_STR_LEN] = a->ids;
    size_t n = a->n;
    a->ids = NULL;
    a->n = a->cap = 0;
    pthread_mutex_unlock(&a->mu);
    if (n == 0) {
        free(ids);
        return 0;
    }
    const char **texts = xcalloc(n, sizeof(*texts));
    for (size_t i = 0; i < n; i++)
        texts[i] = ids[i];
    int rc = mark_published(pg, texts, n);
    free(texts);
    if (rc < 0) {
        pthread_mutex_lock(&a->mu);
        for (size_t i = 0; i < n; i++)
            acks_push(a, ids[i]);
        pthread_mutex_unlock(&a->mu);
    }
    free(ids);
    return rc < 0 ? -1 : (int)n;
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
