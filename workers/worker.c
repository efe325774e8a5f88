#include "worker.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "core/clock.h"
#include "wire/envelope.h"
#include "core/heartbeat.h"
#include "idem_record.h"
#include "core/ids.h"
#include "wire/jschema.h"
#include "store/kcons.h"
#include "store/kprod.h"
#include "core/log.h"
#include "outbox.h"
#include "parked.h"
#include "store/pgc.h"
#include "produce_wait.h"
#include "read_models.h"
#include "record_set.h"
#include "store/rds.h"
#include "store/topics.h"
#include "core/xmalloc.h"

static const struct worker_role roles[] = {
    {"reference", TOPIC_CMD_REFERENCE},   {"provider", TOPIC_CMD_PROVIDER},
    {"voucher", TOPIC_CMD_VOUCHER},       {"order", TOPIC_CMD_ORDER},
    {"settlement", TOPIC_CMD_SETTLEMENT},
};

const struct worker_role *worker_role_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(roles[i].name, name) == 0)
            return &roles[i];
    return NULL;
}

struct worker {
    const struct psop_config *cfg;
    const struct worker_role *role;
    struct jschema_registry *reg;
    struct kcons *kc;
    struct kprod *kp;
    struct pgc *pg;
    struct rds *rds;
    struct outbox_acks *acks; /* events acknowledged, not yet marked published */
    volatile sig_atomic_t *stop;
    char source[96];
};

enum outcome { OUT_POISON, OUT_DUPLICATE, OUT_APPLIED, OUT_REJECTED };

struct slot {
    rd_kafka_message_t *msg;
    struct envelope cmd;
    bool parsed;
    enum outcome out;
    char reason[512];
    char resource_id[64];
    json_t *touched;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects (or reconnects) PostgreSQL, waiting with backoff; false on stop. */
static bool ensure_pg(struct worker *w)
{
    char err[512];
    long backoff = 100;
    while (!*w->stop) {
        heartbeat_touch(w->cfg->worker_heartbeat_file); /* waiting is alive */
        if (w->pg && PQstatus(pgc_conn(w->pg)) == CONNECTION_OK)
            return true;
        if (w->pg) {
            if (pgc_reset(w->pg, err, sizeof(err)) == 0)
                return true;
        } else {
            w->pg = pgc_connect(w->cfg->pg_dsn, err, sizeof(err));
            if (w->pg)
                return true;
        }
        LOG_WARN("postgres unavailable, pausing", "error", err, NULL);
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return false;
}

static const char *part_str(const rd_kafka_message_t *m, char *buf, size_t n)
{
    snprintf(buf, n, "%d", (int)m->partition);
    return buf;
}

static const char *off_str(const rd_kafka_message_t *m, char *buf, size_t n)
{
    snprintf(buf, n, "%lld", (long long)m->offset);
    return buf;
}

/* The events topic where this role's command.rejected goes. */
static const char *events_topic(const struct worker_role *role)
{
    if (strcmp(role->name, "reference") == 0)
        return TOPIC_EVT_REFERENCE;
    if (strcmp(role->name, "provider") == 0)
        return TOPIC_EVT_PROVIDER;
    if (strcmp(role->name, "voucher") == 0)
        return TOPIC_EVT_VOUCHER;
    if (strcmp(role->name, "order") == 0)
        return TOPIC_EVT_ORDER;
    return TOPIC_EVT_SETTLEMENT;
}

static int exec_sp(struct worker *w, const char *sql, char *err, size_t errlen)
{
    return pgc_exec(w->pg, sql, err, errlen);
}

/* Marks the batch's commands that processed_commands already holds, or
 * that came earlier in the same batch, as duplicates: one query.
 * 0, or -1 on a failure (the batch is retried). */
static int mark_duplicates(struct worker *w, struct slot *slots, size_t n)
{
    char err[512];
    struct ids_list ids;
    ids_list_init(&ids);
    for (size_t i = 0; i < n; i++)
        if (slots[i].parsed)
            ids_list_add(&ids, slots[i].cmd.id); /* the envelope schema made it a uuid */
    const char *p[] = {ids.text};
    PGresult *r = pgc_query(w->pg,
                            "SELECT command_id::text FROM psop.processed_commands "
                            "WHERE command_id = ANY ($1::uuid[])",
                            1, p, err, sizeof(err));
    ids_list_free(&ids);
    if (!r) {
        LOG_WARN("duplicate check failed, batch will be retried", "error", err, NULL);
        return -1;
    }
    json_t *seen = json_object();
    for (int i = 0; i < PQntuples(r); i++)
        json_object_set_new(seen, PQgetvalue(r, i, 0), json_true());
    PQclear(r);
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (!s->parsed)
            continue;
        char id[UUID_STR_LEN];
        ids_lower(id, s->cmd.id); /* as ::text writes it */
        if (json_object_get(seen, id))
            s->out = OUT_DUPLICATE;
        else {
            s->out = OUT_APPLIED; /* for now: apply_one decides */
            json_object_set_new(seen, id, json_true());
        }
    }
    json_decref(seen);
    return 0;
}

/* True when m came from `psopctl dlq replay`. */
static bool is_replay(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t len = 0;
    return rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           rd_kafka_header_get_last(h, "psop-replayed-from", &v, &len) ==
               RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* A replayed command whose parking gave it the verdict not_applied is
 * applied now: that verdict is removed in the batch's transaction
 * (workers/parked.h). */
static int forget_parked_verdicts(struct worker *w, struct slot *slots, size_t n)
{
    struct ids_list ids;
    ids_list_init(&ids);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (slots[i].parsed && is_replay(slots[i].msg)) {
            ids_list_add(&ids, slots[i].cmd.id);
            k++;
        }
    if (k == 0) {
        ids_list_free(&ids);
        return 0;
    }
    char err[512];
    const char *p[] = {ids.text};
    PGresult *r = pgc_query(
        w->pg,
        "DELETE FROM psop.processed_commands WHERE command_id = ANY "
        "($1::uuid[]) AND status = 'rejected' AND reason LIKE '" PARKED_REPLACEABLE_LIKE "'",
        1, p, err, sizeof(err));
    ids_list_free(&ids);
    if (!r) {
        LOG_WARN("replay: forgetting parked verdicts failed, batch will be retried", "error", err,
                 NULL);
        return -1;
    }
    PQclear(r);
    return 0;
}

/* The processed_commands row of an applied or rejected command. */
static json_t *processed_row(const struct slot *s, const char *status, const char *reason,
                             const char *resource_id)
{
    const struct envelope *c = &s->cmd;
    /* Every member may be null ("s?"): json_pack then never fails, and a
     * missing required value fails the INSERT loudly instead of dropping
     * the row (the envelope schema requires them anyway). */
    return json_pack("{s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:i, "
                     "s:I}",
                     "command_id", c->id, "type", c->type, "status", status, "reason", reason,
                     "resource_id", resource_id, "actor_sub", c->actor.sub, "actor_role",
                     role_name(c->actor.role), "actor_org", actor_opt(c->actor.org),
                     "actor_provider", actor_opt(c->actor.provider), "actor_client",
                     actor_opt(c->actor.client), "received_at", c->received_at, "kafka_topic",
                     rd_kafka_topic_name(s->msg->rkt), "kafka_partition", (int)s->msg->partition,
                     "kafka_offset", (json_int_t)s->msg->offset);
}

/* A verdict taken: the command's processed_commands row to rows, its events
 * (or its command.rejected) to batch_events, its outcome and read models on
 * the slot. ctx's events are consumed, its touched list moves to the slot. */
static void settle(struct worker *w, struct slot *s, enum apply_result res, struct apply_ctx *ctx,
                   json_t *batch_events, json_t *rows)
{
    const struct envelope *c = &s->cmd;
    if (res == APPLY_REJECTED) {
        /* Keyed like the command (its aggregate: the voucher of a service
         * event), so a subscriber sees rejections in order with changes. */
        char key[256];
        if (s->msg->key && s->msg->key_len > 0 && s->msg->key_len < sizeof(key)) {
            memcpy(key, s->msg->key, s->msg->key_len);
            key[s->msg->key_len] = '\0';
        } else {
            snprintf(key, sizeof(key), "%s", ctx->resource_id[0] ? ctx->resource_id : c->id);
        }
        outbox_add(ctx, events_topic(w->role), key, "command.rejected",
                   json_pack("{s:s, s:s, s:s, s:s?}", "command_id", c->id, "type", c->type,
                             "reason", ctx->reason, "resource_id",
                             ctx->resource_id[0] ? ctx->resource_id : NULL));
    }
    json_array_append_new(rows, processed_row(s, res == APPLY_OK ? "applied" : "rejected",
                                              res == APPLY_OK ? NULL : ctx->reason,
                                              ctx->resource_id[0] ? ctx->resource_id : NULL));
    if (ctx->events)
        json_array_extend(batch_events, ctx->events);
    /* The command's access record, whatever the verdict, once: a duplicate
     * never comes here (docs/domain.md, "Access log and representation"). */
    if (c->access)
        outbox_add_access(batch_events, c->access);
    s->out = res == APPLY_OK ? OUT_APPLIED : OUT_REJECTED;
    snprintf(s->reason, sizeof(s->reason), "%s", res == APPLY_OK ? "" : ctx->reason);
    snprintf(s->resource_id, sizeof(s->resource_id), "%s", ctx->resource_id);
    s->touched = ctx->touched;
    json_decref(ctx->events);
    ctx->events = ctx->touched = NULL;
}

/* Applies one parsed command inside the open transaction, under the
 * savepoint "cmd" (a rejection or a permanent failure rolls back to it).
 * Its processed_commands row goes to rows, its events to batch_events,
 * both written once for the batch. Returns 0, or -1 on a transient failure
 * (the batch must be retried). */
static int apply_one(struct worker *w, struct slot *s, json_t *batch_events, json_t *rows,
                     bool *sp_open)
{
    char err[512];
    const struct envelope *c = &s->cmd;
    if (s->out == OUT_DUPLICATE)
        return 0;
    apply_fn fn = apply_lookup(c->type);
    if (!fn) {
        /* Valid, but this worker version cannot apply it (a newer command
         * type during a rollout): not a rejection, which would be final.
         * Parked in the DLQ, unrecorded, for `psopctl dlq replay`. */
        s->out = OUT_POISON;
        snprintf(s->reason, sizeof(s->reason), "no handler for %s in this worker version", c->type);
        return 0;
    }
    /* The Idempotency-Key first, outside the command's savepoint: the key
     * stays taken even when the command is rejected (idem_record.h). */
    enum idem_rec key = idem_record(w->pg, c, err, sizeof(err));
    if (key == IDEM_REC_ERROR) {
        LOG_WARN("idempotency key not recorded, batch will be retried", "command_id", c->id,
                 "error", err, NULL);
        return -1;
    }
    /* One round trip: the previous command's savepoint released, this one's taken. */
    if (exec_sp(w, *sp_open ? "RELEASE SAVEPOINT cmd; SAVEPOINT cmd" : "SAVEPOINT cmd", err,
                sizeof(err)) < 0)
        return -1;
    *sp_open = true;
    struct apply_ctx ctx = {.pg = w->pg, .cfg = w->cfg, .cmd = c, .source = w->source};
    enum apply_result res =
        key == IDEM_REC_REUSED ? apply_reject(&ctx, "%s", IDEM_REUSED_REASON) : fn(&ctx);
    if (res == APPLY_FAILED) {
        snprintf(err, sizeof(err), "%s", ctx.err);
        goto failed;
    }
    if (res == APPLY_REJECTED) {
        if (exec_sp(w, "ROLLBACK TO SAVEPOINT cmd", err, sizeof(err)) < 0)
            goto failed;
        json_decref(ctx.events);
        json_decref(ctx.touched);
        ctx.events = ctx.touched = NULL;
    }
    settle(w, s, res, &ctx, batch_events, rows);
    return 0;

failed:
    json_decref(ctx.events);
    json_decref(ctx.touched);
    if (pgc_last_transient(w->pg)) {
        LOG_WARN("transient failure, batch will be retried", "command_id", c->id, "error", err,
                 NULL);
        return -1;
    }
    /* A permanent database error for a valid command is a bug or data we
     * did not foresee: roll the command back and park it in the DLQ, where
     * `psopctl dlq replay` can retry it after a fix. */
    LOG_ERROR("command failed permanently: to the DLQ", "command_id", c->id, "error", err, NULL);
    char e2[256];
    if (exec_sp(w, "ROLLBACK TO SAVEPOINT cmd", e2, sizeof(e2)) < 0)
        return -1;
    s->out = OUT_POISON;
    snprintf(s->reason, sizeof(s->reason), "apply failed: %.480s", err);
    return 0;
}

/* The batch's processed_commands rows, one statement. A row another worker
 * committed meanwhile (a rebalance overlap) makes the count short: then the
 * batch is rolled back and retried, and its duplicate check skips it. */
static int record_processed(struct worker *w, json_t *rows)
{
    if (json_array_size(rows) == 0)
        return 0;
    char err[512];
    char *doc = json_dumps(rows, JSON_COMPACT);
    const char *p[] = {doc};
    PGresult *r = pgc_query(
        w->pg,
        "INSERT INTO psop.processed_commands (command_id, type, status, reason, resource_id, "
        " actor_sub, actor_role, actor_org, actor_provider, actor_client, received_at, "
        " kafka_topic, kafka_partition, kafka_offset) "
        "SELECT x.command_id, x.type, x.status, x.reason, x.resource_id, x.actor_sub, "
        " x.actor_role, x.actor_org, x.actor_provider, x.actor_client, x.received_at, "
        " x.kafka_topic, x.kafka_partition, x.kafka_offset "
        "FROM jsonb_to_recordset($1::jsonb) AS x(command_id uuid, type text, status text, "
        " reason text, resource_id text, actor_sub text, actor_role text, actor_org text, "
        " actor_provider text, actor_client text, "
        " received_at timestamptz, kafka_topic text, kafka_partition int, kafka_offset bigint) "
        "ON CONFLICT (command_id) DO NOTHING RETURNING 1",
        1, p, err, sizeof(err));
    free(doc);
    if (!r) {
        LOG_WARN("recording the batch's commands failed, batch will be retried", "error", err,
                 NULL);
        return -1;
    }
    int got = PQntuples(r);
    PQclear(r);
    if ((size_t)got != json_array_size(rows)) {
        LOG_WARN("commands of the batch were applied meanwhile by another worker: retried", NULL);
        return -1;
    }
    return 0;
}

/* A slot a run of records passes over: nothing to apply (not parsed, or a
 * duplicate). */
static bool run_skips(const struct slot *s)
{
    return !s->parsed || s->out == OUT_DUPLICATE;
}

/* The end of the run of records starting at slots[i] (record_set.h): the
 * slots from i that are eligible records or skipped, when at least two are
 * records; i when there is no such run. */
static size_t run_end(const struct slot *slots, size_t i, size_t n)
{
    size_t records = 0, end = i, j = i;
    for (; j < n; j++) {
        if (run_skips(&slots[j]))
            continue;
        if (!record_set_eligible(&slots[j].cmd))
            break;
        records++;
        end = j + 1;
    }
    return records >= 2 ? end : i;
}

/* Applies the records of slots[from..to) as one set (record_set.h), under
 * the savepoint "rs"; when a statement of the set fails for a reason other
 * than a lost connection, rolls back to it and applies them one by one.
 * 0, or -1 when the batch must be retried. */
static int apply_run(struct worker *w, struct slot *slots, size_t from, size_t to,
                     json_t *batch_events, json_t *rows, bool *sp_open)
{
    char err[512];
    if (exec_sp(w, *sp_open ? "RELEASE SAVEPOINT cmd; SAVEPOINT rs" : "SAVEPOINT rs", err,
                sizeof(err)) < 0)
        return -1;
    *sp_open = false;
    struct rs_item *items = xcalloc(to - from, sizeof(*items));
    size_t m = 0;
    for (size_t j = from; j < to; j++)
        if (!run_skips(&slots[j]))
            items[m++].cmd = &slots[j].cmd;
    int rc = record_set_apply(w->pg, w->cfg, w->source, items, m, err, sizeof(err));
    if (rc == 0) {
        char nb[24];
        snprintf(nb, sizeof(nb), "%zu", m);
        LOG_DEBUG("records applied as a set", "records", nb, NULL);
        for (size_t j = from, k = 0; j < to; j++)
            if (!run_skips(&slots[j])) {
                settle(w, &slots[j], items[k].res, &items[k].ctx, batch_events, rows);
                k++;
            }
        free(items);
        return exec_sp(w, "RELEASE SAVEPOINT rs", err, sizeof(err)) < 0 ? -1 : 0;
    }
    record_set_clear(items, m);
    free(items);
    if (pgc_last_transient(w->pg)) {
        LOG_WARN("transient failure in a set of records, batch will be retried", "error", err,
                 NULL);
        return -1;
    }
    LOG_WARN("a set of records failed: applied one by one", "error", err, NULL);
    if (exec_sp(w, "ROLLBACK TO SAVEPOINT rs", err, sizeof(err)) < 0)
        return -1;
    for (size_t j = from; j < to; j++)
        if (slots[j].parsed && apply_one(w, &slots[j], batch_events, rows, sp_open) < 0)
            return -1;
    return 0;
}

/* One attempt at the whole batch in one transaction. 0 committed, -1 retry. */
static int apply_batch_once(struct worker *w, struct slot *slots, size_t n, json_t *events)
{
    char err[512];
    if (pgc_begin(w->pg, err, sizeof(err)) < 0)
        return -1;
    json_t *rows = json_array();
    bool sp_open = false;
    if (forget_parked_verdicts(w, slots, n) < 0 || mark_duplicates(w, slots, n) < 0)
        goto retry;
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].parsed)
            continue;
        json_decref(slots[i].touched);
        slots[i].touched = NULL;
    }
    for (size_t i = 0; i < n;) {
        heartbeat_touch(w->cfg->worker_heartbeat_file);
        size_t end = run_end(slots, i, n);
        if (end > i) {
            if (apply_run(w, slots, i, end, events, rows, &sp_open) < 0)
                goto retry;
            i = end;
            continue;
        }
        if (slots[i].parsed && apply_one(w, &slots[i], events, rows, &sp_open) < 0)
            goto retry;
        i++;
    }
    if (record_processed(w, rows) < 0)
        goto retry;
    if (outbox_write(w->pg, events, err, sizeof(err)) < 0) {
        LOG_WARN("outbox write failed, batch will be retried", "error", err, NULL);
        goto retry;
    }
    json_decref(rows);
    if (pgc_commit(w->pg, err, sizeof(err)) < 0) {
        LOG_WARN("commit failed, batch will be retried", "error", err, NULL);
        pgc_rollback(w->pg);
        return -1;
    }
    return 0;
retry:
    json_decref(rows);
    pgc_rollback(w->pg);
    return -1;
}

/* The final verdict of each command just parked in the DLQ
 * (workers/parked.h): recorded, then announced to waiting requests. Best
 * effort beyond a few tries: the message itself is safe in the DLQ. */
static void record_parked(struct worker *w, struct slot *slots, size_t n)
{
    json_t *rows = json_array(), *access = json_array();
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (s->out != OUT_POISON)
            continue;
        json_t *row =
            parked_row(s->parsed ? &s->cmd : NULL, s->msg->payload, s->msg->len, s->reason);
        if (!row)
            continue;
        if (s->parsed && s->cmd.access) {
            /* Its access record, with the verdict (as settle() does). */
            size_t at = json_array_size(access);
            outbox_add_access(access, s->cmd.access);
            json_object_set_new(json_array_get(access, at), "command_id", json_string(s->cmd.id));
        }
        json_object_set_new(row, "kafka_topic", json_string(rd_kafka_topic_name(s->msg->rkt)));
        json_object_set_new(row, "kafka_partition", json_integer((int)s->msg->partition));
        json_object_set_new(row, "kafka_offset", json_integer((json_int_t)s->msg->offset));
        json_array_append_new(rows, row);
    }
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        json_decref(access);
        return;
    }
    char *doc = json_dumps(rows, JSON_COMPACT);
    char *adoc = json_dumps(access, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(access);
    const char *p[] = {doc, adoc};
    PGresult *r = NULL;
    char err[512] = "";
    for (int attempt = 0; attempt < 3 && !r; attempt++) {
        if (attempt > 0)
            sleep_ms(200);
        if (!ensure_pg(w))
            break;
        /* One statement: the verdicts and the access records of the
         * commands newly recorded, together or not at all. */
        r = pgc_query(
            w->pg,
            "WITH done AS (INSERT INTO psop.processed_commands (command_id, type, status, "
            " reason, actor_sub, actor_role, actor_org, actor_provider, actor_client, "
            " received_at, kafka_topic, kafka_partition, kafka_offset) "
            "SELECT x.command_id, x.type, x.status, x.reason, x.actor_sub, x.actor_role, "
            " x.actor_org, x.actor_provider, x.actor_client, "
            " coalesce(x.received_at, now()), x.kafka_topic, x.kafka_partition, x.kafka_offset "
            "FROM jsonb_to_recordset($1::jsonb) AS x(command_id uuid, type text, status text, "
            " reason text, actor_sub text, actor_role text, actor_org text, actor_provider text, "
            " actor_client text, received_at timestamptz, "
            " kafka_topic text, kafka_partition int, kafka_offset bigint) "
            "ON CONFLICT (command_id) DO NOTHING RETURNING command_id), "
            "rec AS (INSERT INTO psop.outbox (event_id, topic, key, payload) "
            " SELECT (e->>'event_id')::uuid, e->>'topic', e->>'key', e->'payload' "
            " FROM jsonb_array_elements($2::jsonb) AS e "
            " WHERE (e->>'command_id')::uuid IN (SELECT command_id FROM done) "
            " ON CONFLICT (event_id) DO NOTHING) "
            "SELECT command_id::text FROM done",
            2, p, err, sizeof(err));
    }
    free(doc);
    free(adoc);
    if (!r) {
        LOG_WARN("parked commands: verdicts not recorded", "error", err, NULL);
        json_decref(rows);
        return;
    }
    PQclear(r);
    size_t m = json_array_size(rows);
    struct rm_status *st = xcalloc(m, sizeof(*st));
    for (size_t i = 0; i < m; i++) {
        json_t *row = json_array_get(rows, i);
        st[i] = (struct rm_status){
            .command_id = json_string_value(json_object_get(row, "command_id")),
            .type = json_string_value(json_object_get(row, "type")),
            .status = "rejected",
            .reason = json_string_value(json_object_get(row, "reason")),
            .actor_sub = json_string_value(json_object_get(row, "actor_sub")),
            .actor_role = json_string_value(json_object_get(row, "actor_role")),
            .actor_org = json_string_value(json_object_get(row, "actor_org")),
            .actor_provider = json_string_value(json_object_get(row, "actor_provider")),
            .actor_client = json_string_value(json_object_get(row, "actor_client"))};
        LOG_INFO("parked command rejected", "command_id", st[i].command_id, "reason", st[i].reason,
                 NULL);
    }
    rm_command_announce(w->rds, st, m);
    free(st);
    json_decref(rows);
}

/* Poison messages go to psop.dlq with the error in headers; loops until the
 * broker has them all, since their offsets are stored right after. */
static void send_dlq(struct worker *w, struct slot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (s->out != OUT_POISON)
            continue;
        char pbuf[16], obuf[32];
        long backoff = 200;
        for (;;) {
            rd_kafka_headers_t *h = rd_kafka_headers_new(6);
            rd_kafka_header_add(h, "psop-error", -1, s->reason, -1);
            rd_kafka_header_add(h, "psop-topic", -1, rd_kafka_topic_name(s->msg->rkt), -1);
            rd_kafka_header_add(h, "psop-partition", -1, part_str(s->msg, pbuf, sizeof(pbuf)), -1);
            rd_kafka_header_add(h, "psop-offset", -1, off_str(s->msg, obuf, sizeof(obuf)), -1);
            rd_kafka_header_add(h, "psop-worker", -1, w->source, -1);
            struct pw_msg m = {.topic = TOPIC_DLQ,
                               .key = NULL,
                               .payload = s->msg->payload ? s->msg->payload : "",
                               .len = s->msg->len,
                               .hdrs = h};
            char keybuf[256] = "";
            if (s->msg->key && s->msg->key_len < sizeof(keybuf)) {
                memcpy(keybuf, s->msg->key, s->msg->key_len);
                keybuf[s->msg->key_len] = '\0';
                m.key = keybuf;
            }
            bool acked = false;
            pw_send_all(w->kp, &m, 1, &acked);
            if (acked)
                break;
            LOG_WARN("dlq produce not acknowledged, retrying", "offset", obuf, NULL);
            sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        }
        LOG_WARN("message to dlq", "topic", rd_kafka_topic_name(s->msg->rkt), "partition", pbuf,
                 "offset", obuf, "error", s->reason, NULL);
    }
}

/* Marks published the events the broker has acknowledged since the last
 * call, when PostgreSQL is there (otherwise they wait for the next call). */
static void mark_acked(struct worker *w)
{
    if (w->pg && PQstatus(pgc_conn(w->pg)) == CONNECTION_OK)
        outbox_mark_acked(w->acks, w->pg);
}

static void process_batch(struct worker *w, rd_kafka_message_t **msgs, size_t n)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double t_start = 0, t_applied, t_published, t_models;
    struct slot *slots = xcalloc(n, sizeof(*slots));
    for (size_t i = 0; i < n; i++) {
        slots[i].msg = msgs[i];
        char err[512];
        if (envelope_parse(w->reg, w->cfg->envelope_version, msgs[i]->payload, msgs[i]->len,
                           &slots[i].cmd, err, sizeof(err)) == 0) {
            slots[i].parsed = true;
        } else {
            slots[i].out = OUT_POISON;
            snprintf(slots[i].reason, sizeof(slots[i].reason), "%s", err);
        }
    }
    json_t *events = json_array();
    long backoff = 100;
    for (;;) {
        if (!ensure_pg(w))
            goto out_unstored; /* stopping: nothing stored, redelivered later */
        json_array_clear(events);
        if (apply_batch_once(w, slots, n, events) == 0)
            break;
        if (*w->stop && backoff >= 5000)
            goto out_unstored;
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    /* Committed. Now the after-commit work: none of it can lose data. */
    t_applied = clock_since_ms(&t0);
    /* The events go to the broker without waiting for it: their marks come
     * later (mark_acked), the relay covers any that never get one. */
    outbox_send(w->kp, w->acks, events);
    send_dlq(w, slots, n);
    record_parked(w, slots, n);
    t_published = clock_since_ms(&t0);
    if (!w->rds) {
        /* Redis was down: try again now (cheap when it refuses at once);
         * meanwhile reads fall back to PostgreSQL. */
        char rerr[256];
        w->rds = rds_connect(w->cfg->redis_url, 500, rerr, sizeof(rerr));
    }
    /* Read models first, each touched one once per batch, then the
     * statuses that wake Prefer: wait: a client reading right after its 200
     * sees the new state. */
    json_t *touched = json_array(), *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        size_t k;
        json_t *t;
        json_array_foreach(slots[i].touched, k, t)
        {
            char tk[160];
            snprintf(tk, sizeof(tk), "%s/%s", json_string_value(json_array_get(t, 0)),
                     json_string_value(json_array_get(t, 1)));
            if (!json_object_get(seen, tk)) {
                json_object_set_new(seen, tk, json_true());
                json_array_append(touched, t);
            }
        }
    }
    rm_refresh(w->rds, w->pg, touched, w->cfg->read_model_rebuild_max);
    json_decref(touched);
    json_decref(seen);
    t_models = clock_since_ms(&t0);
    struct rm_status *st = xcalloc(n, sizeof(*st));
    size_t nst = 0;
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (s->out == OUT_APPLIED || s->out == OUT_REJECTED)
            st[nst++] = (struct rm_status){s->cmd.id,
                                           s->cmd.type,
                                           s->out == OUT_APPLIED ? "applied" : "rejected",
                                           s->out == OUT_REJECTED ? s->reason : NULL,
                                           s->resource_id[0] ? s->resource_id : NULL,
                                           s->cmd.actor.sub,
                                           role_name(s->cmd.actor.role),
                                           actor_opt(s->cmd.actor.org),
                                           actor_opt(s->cmd.actor.provider),
                                           actor_opt(s->cmd.actor.client)};
    }
    rm_command_statuses(w->rds, st, nst);
    free(st);
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (s->out == OUT_APPLIED || s->out == OUT_REJECTED) {
            LOG_INFO(s->out == OUT_APPLIED ? "applied" : "rejected", "command_id", s->cmd.id,
                     "type", s->cmd.type, "traceparent", s->cmd.traceparent, "reason",
                     s->out == OUT_REJECTED ? s->reason : NULL, NULL);
        } else if (s->out == OUT_DUPLICATE) {
            LOG_INFO("duplicate skipped", "command_id", s->cmd.id, NULL);
        }
    }
    kcons_store(w->kc, msgs, n);
    {
        /* Where a batch's time goes (docs/benchmarks.md): log_level = debug. */
        double t_end = clock_since_ms(&t0);
        char f[5][24];
        snprintf(f[0], sizeof(f[0]), "%zu", n);
        snprintf(f[1], sizeof(f[1]), "%.2f", t_applied - t_start);
        snprintf(f[2], sizeof(f[2]), "%.2f", t_published - t_applied);
        snprintf(f[3], sizeof(f[3]), "%.2f", t_models - t_published);
        snprintf(f[4], sizeof(f[4]), "%.2f", t_end - t_models);
        LOG_DEBUG("batch done", "commands", f[0], "apply_commit_ms", f[1], "publish_ms", f[2],
                  "read_models_ms", f[3], "statuses_ms", f[4], NULL);
    }
out_unstored:
    for (size_t i = 0; i < n; i++) {
        envelope_free(&slots[i].cmd);
        json_decref(slots[i].touched);
    }
    json_decref(events);
    free(slots);
}

int worker_run(const struct psop_config *cfg, const struct worker_role *role,
               volatile sig_atomic_t *stop)
{
    char err[512];
    int rc = 1;
    struct worker w = {.cfg = cfg, .role = role, .stop = stop};
    snprintf(w.source, sizeof(w.source), "psop-worker/%s", role->name);
    w.reg = jschema_registry_load(cfg->schemas_dir, err, sizeof(err));
    if (!w.reg) {
        LOG_ERROR("schemas", "error", err, NULL);
        return 1;
    }
    w.acks = outbox_acks_new();
    w.kp = kprod_new(cfg, pw_dr, err, sizeof(err));
    if (!w.kp) {
        LOG_ERROR("producer", "error", err, NULL);
        goto out;
    }
    char group[128];
    snprintf(group, sizeof(group), "psop-worker-%s", role->name);
    const char *topics[] = {role->topic, NULL};
    w.kc = kcons_new(cfg, group, cfg->worker_instance_id, topics, err, sizeof(err));
    if (!w.kc) {
        LOG_ERROR("consumer", "error", err, NULL);
        goto out;
    }
    w.rds = rds_connect(cfg->redis_url, 500, err, sizeof(err));
    if (!w.rds)
        LOG_WARN("redis unavailable at start; read models will be refreshed later", "error", err,
                 NULL);
    ensure_pg(&w);
    LOG_INFO("worker started", "role", role->name, "topic", role->topic, "group", group, "instance",
             cfg->worker_instance_id, NULL);
    size_t max = cfg->worker_batch_max > 0 ? (size_t)cfg->worker_batch_max : 500;
    rd_kafka_message_t **msgs = xcalloc(max, sizeof(*msgs));
    while (!*stop) {
        heartbeat_touch(cfg->worker_heartbeat_file);
        mark_acked(&w);
        if (kcons_failed(w.kc, err, sizeof(err)) &&
            kcons_renew(&w.kc, cfg, group, cfg->worker_instance_id, topics, stop) < 0)
            break;
        size_t n = kcons_poll_batch(w.kc, msgs, max, 200);
        if (n == 0)
            continue;
        process_batch(&w, msgs, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
    }
    free(msgs);
    LOG_INFO("worker stopping: committing offsets and leaving the group", NULL);
    rc = 0;
out:
    if (w.kc)
        kcons_close(w.kc);
    if (w.kp)
        kprod_free(w.kp, 10000);
    mark_acked(&w); /* the last reports came with the flush */
    outbox_acks_free(w.acks);
    if (w.pg)
        pgc_free(w.pg);
    if (w.rds)
        rds_free(w.rds);
    jschema_registry_free(w.reg);
    return rc;
}
