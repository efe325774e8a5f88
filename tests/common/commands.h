/*
 * commands.h - producing command envelopes straight onto psop.commands.*
 * and waiting for the workers' verdict, for integration tests on the real
 * stack (header-only, like harness.h; every test file is its own binary).
 *
 *   struct tc *t = tc_open();
 *   struct tc_actor admin = {.sub = "test-admin", .role = "admin"};
 *   char id[UUID_STR_LEN];
 *   tc_send(t, TOPIC_CMD_REFERENCE, org_id, "organiser.upsert", &admin,
 *           json_pack(...), id);                 // data is taken
 *   tc_expect_applied(pg, id);                   // or tc_expect_rejected()
 *   tc_close(t);
 *
 * tc_send returns only after the broker acknowledged the message (acks=all),
 * and fails the test otherwise. Also: valid random Y-tunnus and Finnish
 * IBANs, so tests can run again and again on the same database, and an
 * events reader built on kcat.
 */
#ifndef PSOP_TEST_COMMANDS_H
#define PSOP_TEST_COMMANDS_H

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "harness.h"
#include "core/ids.h"
#include "store/kprod.h"
#include "core/xmalloc.h"

/* Seconds a test waits for a worker to apply a command. */
#ifndef TC_APPLY_TIMEOUT_S
#define TC_APPLY_TIMEOUT_S 30
#endif

struct tc {
    struct kprod *kp;
};

/* The envelope's actor; NULL fields are left out. */
struct tc_actor {
    const char *sub, *role, *org, *provider, *client;
};

struct tc_delivery {
    int done;
    rd_kafka_resp_err_t err;
};

static inline void tc_dr(void *opaque, rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    (void)partition;
    (void)offset;
    struct tc_delivery *d = opaque;
    __atomic_store_n(&d->err, err, __ATOMIC_RELAXED);
    __atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
}

static inline struct tc *tc_open(void)
{
    char err[512];
    struct tc *t = xcalloc(1, sizeof(*t));
    t->kp = kprod_new(h_config(), tc_dr, err, sizeof(err));
    cr_assert_not_null(t->kp, "producer: %s", err);
    return t;
}

static inline void tc_close(struct tc *t)
{
    if (!t)
        return;
    kprod_free(t->kp, 5000);
    free(t);
}

/* A fresh UUIDv7 string. */
static inline void tc_uuid(char out[UUID_STR_LEN])
{
    ids_uuid7(out);
}

static inline unsigned tc_rand(void)
{
    static int seeded;
    if (!seeded) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        srandom((unsigned)(tv.tv_sec ^ tv.tv_usec ^ ((unsigned)getpid() << 16)));
        seeded = 1;
    }
    return (unsigned)random();
}

/* A random checksum-valid Y-tunnus "NNNNNNN-C" (out: 10 bytes). */
static inline void tc_ytunnus_random(char out[10])
{
    static const int w[7] = {7, 9, 10, 5, 8, 4, 2};
    for (;;) {
        int s = 0;
        for (int i = 0; i < 7; i++) {
            out[i] = (char)('0' + tc_rand() % 10);
            s += w[i] * (out[i] - '0');
        }
        int r = s % 11;
        if (r == 1)
            continue; /* remainder 1 has no valid check digit */
        out[7] = '-';
        out[8] = (char)('0' + (r == 0 ? 0 : 11 - r));
        out[9] = '\0';
        return;
    }
}

/* A checksum-valid Y-tunnus no organiser or provider in the stack's database
 * holds yet. Random alone is not enough: one CI run leaves ~310 organisers and
 * ~180 providers in one database (a developer's stack many more), and among
 * 9.1 million numbers the birthday bound makes a repeat ~0.7 % likely per
 * run, which the uniqueness rules rightly reject as duplicate_business_id. */
static inline void tc_ytunnus(char out[10])
{
    PGconn *pg = h_pg();
    do
        tc_ytunnus_random(out);
    while (h_pg_ll(pg,
                   "SELECT (SELECT count(*) FROM psop.organisers WHERE business_id = '%s') + "
                   "(SELECT count(*) FROM psop.providers WHERE business_id = '%s')",
                   out, out) > 0);
    PQfinish(pg);
}

/* A random checksum-valid Finnish IBAN "FIkk" + 14 digits (out: 19 bytes). */
static inline void tc_iban_fi(char out[19])
{
    char bban[15];
    for (int i = 0; i < 14; i++)
        bban[i] = (char)('0' + tc_rand() % 10);
    bban[14] = '\0';
    /* mod 97 of BBAN + "FI00" with letters as numbers (F = 15, I = 18). */
    char digits[32];
    snprintf(digits, sizeof(digits), "%s151800", bban);
    int rem = 0;
    for (const char *p = digits; *p; p++)
        rem = (rem * 10 + (*p - '0')) % 97;
    int check = 98 - rem; /* 2..98 */
    out[0] = 'F';
    out[1] = 'I';
    out[2] = (char)('0' + check / 10);
    out[3] = (char)('0' + check % 10);
    memcpy(out + 4, bban, 15);
}

/* n random upper-case letters and digits (out: n + 1 bytes). */
static inline void tc_alnum(char *out, int n)
{
    static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int i = 0; i < n; i++)
        out[i] = set[tc_rand() % (sizeof(set) - 1)];
    out[n] = '\0';
}

/* The envelope JSON of a command (caller frees). data is borrowed. */
static inline char *tc_envelope(const char *id, const char *type, const struct tc_actor *a,
                                const json_t *data)
{
    cr_assert_not_null(data, "%s: no data (a json_pack format mistake?)", type);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *actor = json_pack("{s:s, s:s}", "sub", a->sub ? a->sub : "test", "role", a->role);
    if (a->org)
        json_object_set_new(actor, "org", json_string(a->org));
    if (a->provider)
        json_object_set_new(actor, "provider", json_string(a->provider));
    if (a->client)
        json_object_set_new(actor, "client", json_string(a->client));
    json_t *env = json_pack("{s:s, s:s, s:i, s:o, s:s, s:O}", "id", id, "type", type,
                            "schema_version", 1, "actor", actor, "received_at", ts, "data", data);
    /* 15 significant digits: 1.15 stays "1.15" (the schemas allow 2 decimals). */
    char *s = json_dumps(env, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(env);
    return s;
}

/* Produces payload on topic with key and waits for the broker's ack. */
static inline void tc_send_raw(struct tc *t, const char *topic, const char *key,
                               const char *payload)
{
    char err[512];
    struct tc_delivery d = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
    int rc = kprod_send(t->kp, topic, key, key ? strlen(key) : 0, payload, strlen(payload), NULL,
                        &d, err, sizeof(err));
    cr_assert_eq(rc, 0, "produce to %s: %s", topic, err);
    cr_assert_eq(kprod_flush(t->kp, 15000), 0, "not delivered to %s within 15 s", topic);
    cr_assert(__atomic_load_n(&d.done, __ATOMIC_ACQUIRE), "no delivery report from %s", topic);
    cr_assert_eq(d.err, RD_KAFKA_RESP_ERR_NO_ERROR, "delivery to %s: %s", topic,
                 rd_kafka_err2str(d.err));
}

/* Sends a command with a new id (written to id_out, may be NULL) and
 * returns its envelope (caller frees; resend it with tc_send_raw to replay
 * the same command). data is taken. */
static inline char *tc_send_env(struct tc *t, const char *topic, const char *key, const char *type,
                                const struct tc_actor *a, json_t *data, char id_out[UUID_STR_LEN])
{
    char id[UUID_STR_LEN];
    tc_uuid(id);
    char *env = tc_envelope(id, type, a, data);
    json_decref(data);
    tc_send_raw(t, topic, key, env);
    if (id_out)
        memcpy(id_out, id, UUID_STR_LEN);
    return env;
}

/* tc_send_env without keeping the envelope. */
static inline void tc_send(struct tc *t, const char *topic, const char *key, const char *type,
                           const struct tc_actor *a, json_t *data, char id_out[UUID_STR_LEN])
{
    free(tc_send_env(t, topic, key, type, a, data, id_out));
}

/* Waits for the command's processed_commands row; returns its status
 * ("applied"/"rejected") and, when reason is not NULL, its reason (both new
 * strings, "" when none). Fails the test after TC_APPLY_TIMEOUT_S. */
static inline char *tc_wait(PGconn *pg, const char *command_id, char **reason)
{
    cr_assert(h_wait_pg(pg, TC_APPLY_TIMEOUT_S,
                        "SELECT EXISTS (SELECT 1 FROM psop.processed_commands "
                        "WHERE command_id = '%s')",
                        command_id),
              "command %s not processed within %d s: is a worker of its role running?", command_id,
              TC_APPLY_TIMEOUT_S);
    if (reason)
        *reason = h_pg_value(pg,
                             "SELECT coalesce(reason, '') FROM psop.processed_commands "
                             "WHERE command_id = '%s'",
                             command_id);
    return h_pg_value(pg, "SELECT status FROM psop.processed_commands WHERE command_id = '%s'",
                      command_id);
}

static inline void tc_expect_applied(PGconn *pg, const char *command_id)
{
    char *reason;
    char *st = tc_wait(pg, command_id, &reason);
    cr_assert_str_eq(st, "applied", "command %s: %s (%s)", command_id, st, reason);
    free(st);
    free(reason);
}

/* Expects a rejection whose reason starts with prefix; returns the reason
 * (caller frees). */
static inline char *tc_expect_rejected(PGconn *pg, const char *command_id, const char *prefix)
{
    char *reason;
    char *st = tc_wait(pg, command_id, &reason);
    cr_assert_str_eq(st, "rejected", "command %s should be rejected, is %s", command_id, st);
    cr_assert(strncmp(reason, prefix, strlen(prefix)) == 0,
              "command %s: reason \"%s\" does not start with \"%s\"", command_id, reason, prefix);
    free(st);
    return reason;
}

/* Reads topic from the beginning to its end with kcat and returns the
 * CloudEvents whose key equals key, de-duplicated by event id (as
 * subscribers do), in topic order. Caller decrefs. */
static inline json_t *tc_events_by_key(const char *topic, const char *key)
{
    /* Events are published just after the COMMIT that a test waits for:
     * first wait until the outbox has nothing unpublished for this key. */
    PGconn *pg = h_pg();
    char *q = xasprintf("SELECT count(*) = 0 FROM psop.outbox WHERE key = '%s' AND topic = '%s' "
                        "AND published_at IS NULL",
                        key, topic);
    cr_expect(h_wait_pg(pg, 30, "%s", q), "events for %s still unpublished after 30 s", key);
    free(q);
    PQfinish(pg);
    char *cmd =
        xasprintf("kcat -b '%s' -C -t '%s' -o beginning -e -q -f '%%k\\t%%s\\n' 2>/dev/null",
                  h_config()->kafka_brokers, topic);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f, "%s", cmd);
    free(cmd);
    json_t *out = json_array(), *seen = json_object();
    size_t cap = 1 << 16;
    char *line = xmalloc(cap);
    size_t klen = strlen(key);
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if ((size_t)n <= klen || strncmp(line, key, klen) != 0 || line[klen] != '\t')
            continue;
        json_t *ev = json_loads(line + klen + 1, JSON_DISABLE_EOF_CHECK, NULL);
        const char *eid = json_string_value(json_object_get(ev, "id"));
        if (ev && eid && !json_object_get(seen, eid)) {
            json_object_set_new(seen, eid, json_true());
            json_array_append(out, ev);
        }
        json_decref(ev);
    }
    free(line);
    pclose(f);
    json_decref(seen);
    return out;
}

/* Number of events of type in an array from tc_events_by_key. */
static inline int tc_count_type(const json_t *events, const char *type)
{
    int n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        const char *t = json_string_value(json_object_get(e, "type"));
        if (t && strcmp(t, type) == 0)
            n++;
    }
    return n;
}

#endif
