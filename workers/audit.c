#include "audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/heartbeat.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/kcons.h"
#include "store/pgc.h"
#include "store/topics.h"
#include "wire/jschema.h"
#include "wire/json_strict.h"

#define AUDIT_GROUP "psop-worker-audit"
#define RETENTION_EVERY_MS (3600LL * 1000)
/* How long a batch gathers records after its first (latency of the log,
 * not of any read: the read waited for Kafka only). */
#define AUDIT_GATHER_MS 100

/* Records in, rows out: client ids and organiser from the resource's row
 * where the record has none; a replayed record is a no-op. */
/* clang-format off */
static const char INSERT_SQL[] =
    "WITH x AS (SELECT r.*,"
    "   CASE WHEN r.resource_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
    "        THEN r.resource_id::uuid END AS rid"
    "  FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, at timestamptz, actor_sub text,"
    "       actor_role text, actor_org uuid, actor_provider uuid, actor_client text,"
    "       actor_key_id uuid, on_behalf_of text, action text, resource_type text,"
    "       resource_id text, organiser_id uuid, client_ids jsonb, status int, ip text,"
    "       traceparent text))"
    " INSERT INTO psop.access_log (id, at, actor_sub, actor_role, actor_org, actor_provider,"
    "   actor_client, actor_key_id, on_behalf_of, action, resource_type, resource_id,"
    "   organiser_id, client_ids, status, ip, traceparent)"
    " SELECT x.id, x.at, x.actor_sub, x.actor_role, x.actor_org, x.actor_provider,"
    "   x.actor_client, x.actor_key_id, x.on_behalf_of, x.action, x.resource_type, x.resource_id,"
    "   coalesce(x.organiser_id, res.org),"
    "   CASE WHEN jsonb_array_length(x.client_ids) > 0"
    "        THEN ARRAY(SELECT jsonb_array_elements_text(x.client_ids))"
    "        ELSE coalesce(res.clients, '{}') END,"
    "   x.status, x.ip, x.traceparent"
    " FROM x LEFT JOIN LATERAL ("
    "   SELECT v.organiser_id AS org, ARRAY[v.client_id] AS clients FROM psop.vouchers v"
    "    WHERE x.resource_type LIKE 'voucher%' AND v.id = x.rid"
    "   UNION ALL"
    "   SELECT o.organiser_id, ARRAY[o.client_id] FROM psop.orders o"
    "    WHERE x.resource_type LIKE 'order%' AND o.id = x.rid"
    "   UNION ALL"
    "   SELECT m.organiser_id, ARRAY[m.client_id, m.proxy_client_id] FROM psop.mandates m"
    "    WHERE x.resource_type LIKE 'mandate%' AND m.id = x.rid"
    "   UNION ALL"
    "   SELECT s.organiser_id, ARRAY(SELECT DISTINCT coalesce(v.client_id, o.client_id)"
    "            FROM psop.settlement_lines l"
    "            LEFT JOIN psop.vouchers v ON v.id = l.voucher_id"
    "            LEFT JOIN psop.orders o ON o.id = l.order_id"
    "           WHERE l.settlement_id = s.id ORDER BY 1)"
    "     FROM psop.settlements s WHERE x.resource_type LIKE 'settlement%' AND s.id = x.rid"
    "   LIMIT 1) res ON true"
    " ON CONFLICT DO NOTHING";
/* clang-format on */

/* The row's text columns and where each is in the record: a member of the
 * record itself (in NULL) or of one of its objects. Absent ones stay NULL. */
static const struct {
    const char *column, *in, *member;
} TEXT_COLUMNS[] = {
    {"id", NULL, "id"},
    {"at", NULL, "at"},
    {"actor_sub", "actor", "sub"},
    {"actor_role", "actor", "role"},
    {"actor_org", "actor", "org"},
    {"actor_provider", "actor", "provider"},
    {"actor_client", "actor", "client"},
    {"actor_key_id", "actor", "key_id"},
    {"on_behalf_of", NULL, "on_behalf_of"},
    {"action", NULL, "action"},
    {"resource_type", "resource", "type"},
    {"resource_id", "resource", "id"},
    {"organiser_id", NULL, "organiser_id"},
    {"ip", NULL, "ip"},
    {"traceparent", NULL, "traceparent"},
};

json_t *audit_row(const struct jschema_registry *reg, const char *payload, size_t len, char *err,
                  size_t errlen)
{
    char perr[256];
    json_t *rec = json_strict_parse(payload, len, JSON_STRICT_MAX_DEPTH, perr, sizeof(perr));
    if (!rec) {
        snprintf(err, errlen, "not valid JSON: %s", perr);
        return NULL;
    }
    json_t *errors = NULL;
    if (reg && jschema_validate(reg, "audit/access_record", rec, "", &errors) != 0) {
        json_t *first = json_array_get(errors, 0);
        snprintf(err, errlen, "invalid access record: %s %s",
                 json_string_value(json_object_get(first, "path")),
                 json_string_value(json_object_get(first, "message")));
        json_decref(errors);
        json_decref(rec);
        return NULL;
    }
    json_t *row = json_object();
    for (size_t i = 0; i < sizeof(TEXT_COLUMNS) / sizeof(TEXT_COLUMNS[0]); i++) {
        const json_t *in = TEXT_COLUMNS[i].in ? json_object_get(rec, TEXT_COLUMNS[i].in) : rec;
        json_t *v = json_object_get(in, TEXT_COLUMNS[i].member);
        if (json_is_string(v))
            json_object_set(row, TEXT_COLUMNS[i].column, v);
    }
    json_t *clients = json_object_get(rec, "client_ids");
    json_object_set_new(row, "client_ids",
                        json_is_array(clients) ? json_copy(clients) : json_array());
    json_object_set(row, "status", json_object_get(rec, "status"));
    json_decref(rec);
    if (!json_is_string(json_object_get(row, "id")) ||
        !json_is_integer(json_object_get(row, "status"))) {
        snprintf(err, errlen, "access record without id or status");
        json_decref(row);
        return NULL;
    }
    return row;
}

/* The month partitions the rows need, created first: a partition made
 * within the INSERT itself would not be seen by its tuple routing. */
static const char PARTITIONS_SQL[] = "SELECT psop.access_log_partition(m) FROM (SELECT DISTINCT"
                                     " date_trunc('month', (e->>'at')::timestamptz) AS m"
                                     " FROM jsonb_array_elements($1::jsonb) e) ms";

/* Writes rows in one transaction. 0, or -1 (nothing written). */
static int write_rows(struct pgc *pg, json_t *rows, char *err, size_t errlen)
{
    char *text = json_dumps(rows, JSON_COMPACT);
    const char *p[] = {text};
    int rc = -1;
    if (pgc_begin(pg, err, errlen) == 0) {
        PGresult *r = pgc_query(pg, PARTITIONS_SQL, 1, p, err, errlen);
        if (r) {
            PQclear(r);
            r = pgc_query(pg, INSERT_SQL, 1, p, err, errlen);
        }
        if (r) {
            PQclear(r);
            rc = pgc_commit(pg, err, errlen);
        }
        if (rc < 0)
            pgc_rollback(pg);
    }
    free(text);
    return rc;
}

/* Drops the whole months older than the retention. */
static void apply_retention(struct pgc *pg, int days)
{
    char err[256], d[32];
    snprintf(d, sizeof(d), "%d", days); /* >= 1: config_load refuses less */
    const char *p[] = {d};
    PGresult *r =
        pgc_query(pg, "SELECT psop.access_log_drop_before(now() - make_interval(days => $1::int))",
                  1, p, err, sizeof(err));
    if (!r) {
        LOG_WARN("audit: retention failed", "error", err, NULL);
        return;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0)
        LOG_INFO("audit: retention dropped months", "months", PQgetvalue(r, 0, 0), "days", d, NULL);
    PQclear(r);
}

int audit_run(const struct psop_config *cfg, volatile sig_atomic_t *stop)
{
    char err[512];
    struct jschema_registry *reg = jschema_registry_load(cfg->schemas_dir, err, sizeof(err));
    if (!reg) {
        LOG_ERROR("schemas", "error", err, NULL);
        return 1;
    }
    const char *topics[] = {TOPIC_AUDIT, NULL};
    struct kcons *kc =
        kcons_new(cfg, AUDIT_GROUP, cfg->worker_instance_id, topics, err, sizeof(err));
    if (!kc) {
        LOG_ERROR("consumer", "error", err, NULL);
        jschema_registry_free(reg);
        return 1;
    }
    LOG_INFO("worker started", "role", "audit", "topic", TOPIC_AUDIT, "group", AUDIT_GROUP,
             "instance", cfg->worker_instance_id, NULL);
    size_t max = cfg->worker_batch_max > 0 ? (size_t)cfg->worker_batch_max : 500;
    rd_kafka_message_t **msgs = xcalloc(max, sizeof(*msgs));
    struct pgc *pg = NULL;
    long long next_retention = 0;
    while (!*stop) {
        heartbeat_touch(cfg->worker_heartbeat_file);
        if (!pg) {
            pg = pgc_connect(cfg->pg_dsn, err, sizeof(err));
            if (!pg) {
                LOG_WARN("audit: postgres unavailable, retrying", "error", err, NULL);
                sleep(1);
                continue;
            }
        }
        if (clock_mono_ms() >= next_retention) {
            apply_retention(pg, cfg->audit_retention_days);
            next_retention = clock_mono_ms() + RETENTION_EVERY_MS;
        }
        if (kcons_failed(kc, err, sizeof(err)) &&
            kcons_renew(&kc, cfg, AUDIT_GROUP, cfg->worker_instance_id, topics, stop) < 0)
            break;
        size_t n = kcons_poll_batch(kc, msgs, max, 200);
        if (n == 0)
            continue;
        /* Gather for up to AUDIT_GATHER_MS: one transaction (one WAL flush)
         * for many records, not one per read. */
        long long until = clock_mono_ms() + AUDIT_GATHER_MS;
        while (n < max && clock_mono_ms() < until)
            n += kcons_poll_batch(kc, msgs + n, max - n, (int)(until - clock_mono_ms()));
        json_t *rows = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *row = audit_row(reg, msgs[i]->payload, msgs[i]->len, err, sizeof(err));
            if (row)
                json_array_append_new(rows, row);
            else
                LOG_ERROR("audit: record skipped", "error", err, "record",
                          msgs[i]->payload ? (const char *)msgs[i]->payload : "", NULL);
        }
        /* Until written: a failure keeps the offsets unstored and retries;
         * stopped before, the records are redelivered to the next member. */
        bool written = json_array_size(rows) == 0;
        while (!written && !*stop) {
            written = write_rows(pg, rows, err, sizeof(err)) == 0;
            if (written)
                break;
            LOG_WARN("audit: write failed, retrying", "error", err, NULL);
            if (pgc_reset(pg, err, sizeof(err)) < 0)
                sleep(1);
            heartbeat_touch(cfg->worker_heartbeat_file);
        }
        if (written)
            (void)kcons_store(kc, msgs, n);
        json_decref(rows);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    if (kc)
        kcons_close(kc);
    if (pg)
        pgc_free(pg);
    jschema_registry_free(reg);
    return 0;
}
