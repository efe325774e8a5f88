/*
 * Schema coexistence during a rollout: the two reference workers of the
 * stack are replaced, under their own group.instance.ids (static
 * membership: each takes over its predecessor's partitions), by one worker
 * still speaking envelope version 1 (the previous release, simulated with
 * PSOP_ENVELOPE_VERSION=1) and one speaking version 2. Commands in version
 * 1, 2 and a future 3 (with a field nobody knows yet) are spread over every
 * partition. Both workers must apply commands of every version, each
 * command exactly once, with the same effect; the old worker never sees the
 * version-2 traceparent, the new one logs it. Afterwards the stack's own
 * workers are started again (`scripts/dev up`).
 *
 * Skipped when the stack's reference workers do not run (no pid files).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "harness.h"
#include "store/topics.h"

#define N_COMMANDS 60

static pid_t pid_of(const char *name)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/pids/%s.pid", h_run_dir(), name);
    pid_t p = h_read_pid(path);
    return p > 0 && kill(p, 0) == 0 ? p : 0;
}

/* SIGTERM and wait for a process that is not our child. */
static void stop_foreign(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 400 && kill(pid, 0) == 0; i++)
        h_sleep_ms(50);
    if (kill(pid, 0) == 0) {
        kill(pid, SIGKILL);
        h_sleep_ms(200);
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return xstrdup("");
    size_t cap = 1 << 16, len = 0;
    char *b = xmalloc(cap + 1);
    size_t r;
    while ((r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            b = xrealloc(b, cap + 1);
        }
    }
    fclose(f);
    b[len] = '\0';
    return b;
}

/* The JSON log line of log that says msg about command_id; NULL if none. */
static json_t *log_line(const char *log, const char *msg, const char *command_id)
{
    for (const char *p = log; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (memmem(p, n, command_id, strlen(command_id))) {
            json_t *j = json_loadb(p, n, 0, NULL);
            if (j && json_is_string(json_object_get(j, "msg")) &&
                strcmp(json_string_value(json_object_get(j, "msg")), msg) == 0)
                return j;
            json_decref(j);
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static const char *log_path(pid_t pid, char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/psop-test-%d.log", (int)pid);
    return buf;
}

/* Waits until the worker's log says it has partitions. */
static void wait_assigned(pid_t pid)
{
    char path[64];
    log_path(pid, path, sizeof(path));
    for (int i = 0; i < 600; i++) {
        char *log = slurp(path);
        int ok = strstr(log, "kafka partitions assigned") != NULL;
        free(log);
        if (ok)
            return;
        cr_assert_eq(kill(pid, 0), 0, "worker %d died: see %s", (int)pid, path);
        h_sleep_ms(50);
    }
    cr_assert_fail("worker %d got no partitions in 30 s: see %s", (int)pid, path);
}

static pid_t spawned[2];

/* A reference worker of the given envelope version, all output to
 * /tmp/psop-test-PID.log; it gets SIGTERM if the test process dies. */
static pid_t spawn_worker(const char *instance, const char *version)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        char log[64];
        log_path(getpid(), log, sizeof(log));
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        setenv("PSOP_WORKER_INSTANCE_ID", instance, 1);
        setenv("PSOP_ENVELOPE_VERSION", version, 1);
        setenv("PSOP_WORKER_ROLE", "reference", 1);
        execl(PSOP_BINARY_DIR "/workers/psop-worker", "psop-worker", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Whatever happened: our workers stopped, the stack's own started again. */
static void restore_stack(void)
{
    for (int i = 0; i < 2; i++)
        if (spawned[i] > 0)
            h_stop(spawned[i], SIGTERM, 20);
    if (!getenv("PSOP_TEST_NO_DEV_UP")) {
        int rc = system("PSOP_DEMO_DATA=0 '" PSOP_SOURCE_DIR
                        "/scripts/dev' up >/tmp/psop-envelope-dev-up.log 2>&1");
        if (rc != 0)
            fprintf(stderr, "scripts/dev up failed: see /tmp/psop-envelope-dev-up.log\n");
    }
}

/* An organiser.upsert envelope in version v (3: with a field of the future). */
static char *organiser_envelope(const char *cid, const char *org, const char *name, int v)
{
    const struct tc_actor admin = {.sub = "rollout-test", .role = "admin"};
    char yt[10], iban[19], prefix[11] = "R";
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    tc_alnum(prefix + 1, 9);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", org, "name", name,
                             "business_id", yt, "iban", iban, "invoice_prefix", prefix,
                             "settlement_day", 5, "auto_approve_days", 0);
    char *s = tc_envelope(cid, "organiser.upsert", &admin, data);
    json_decref(data);
    json_t *env = json_loads(s, 0, NULL);
    free(s);
    json_object_set_new(env, "schema_version", json_integer(v));
    if (v >= 2)
        json_object_set_new(env, "traceparent",
                            json_string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    if (v >= 3)
        json_object_set_new(env, "tenant_region", json_string("fi-south"));
    s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return s;
}

static pid_t dev1, dev2;

static void check_stack(void)
{
    dev1 = pid_of("worker-reference-1");
    dev2 = pid_of("worker-reference-2");
}

Test(worker_envelope_versions, old_and_new_workers_share_a_group, .init = check_stack,
     .fini = restore_stack, .timeout = 240)
{
    if (!dev1 || !dev2)
        cr_skip_test("the stack's reference workers are not running");

    /* Roll both replicas: 1 becomes the previous release, 2 the new one. */
    stop_foreign(dev1);
    pid_t old_w = spawned[0] = spawn_worker("reference-1", "1");
    stop_foreign(dev2);
    pid_t new_w = spawned[1] = spawn_worker("reference-2", "2");
    wait_assigned(old_w);
    wait_assigned(new_w);

    struct tc *t = tc_open();
    PGconn *pg = h_pg();
    char cid[N_COMMANDS][UUID_STR_LEN], org[N_COMMANDS][UUID_STR_LEN];
    int version[N_COMMANDS];
    for (int i = 0; i < N_COMMANDS; i++) {
        tc_uuid(cid[i]);
        tc_uuid(org[i]);
        version[i] = 1 + i % 3;
        char name[64];
        snprintf(name, sizeof(name), "Rollout organiser %d (v%d)", i, version[i]);
        char *env = organiser_envelope(cid[i], org[i], name, version[i]);
        tc_send_raw(t, TOPIC_CMD_REFERENCE, org[i], env);
        free(env);
    }
    for (int i = 0; i < N_COMMANDS; i++)
        tc_expect_applied(pg, cid[i]);

    /* Once each, with the effect the command asked for. */
    for (int i = 0; i < N_COMMANDS; i++) {
        char *n = h_pg_value(
            pg, "SELECT count(*) FROM psop.processed_commands WHERE command_id = '%s'", cid[i]);
        cr_expect_str_eq(n, "1", "command %d recorded %s times", i, n);
        free(n);
        char *name = h_pg_value(pg, "SELECT name FROM psop.organisers WHERE id = '%s'", org[i]);
        char want[64];
        snprintf(want, sizeof(want), "Rollout organiser %d (v%d)", i, version[i]);
        cr_expect_str_eq(name, want);
        free(name);
    }

    /* Who applied what: every command in exactly one worker's log; each
     * worker applied commands of every version; only the new one knew the
     * traceparent. */
    char p1[64], p2[64];
    char *log_old = NULL, *log_new = NULL;
    /* A worker logs "applied" after COMMIT and the read-model refresh. */
    for (int tries = 0; tries < 1200; tries++) {
        free(log_old);
        free(log_new);
        log_old = slurp(log_path(old_w, p1, sizeof(p1)));
        log_new = slurp(log_path(new_w, p2, sizeof(p2)));
        if (strstr(log_old, cid[N_COMMANDS - 1]) || strstr(log_new, cid[N_COMMANDS - 1])) {
            int all = 1;
            for (int i = 0; i < N_COMMANDS && all; i++)
                all = strstr(log_old, cid[i]) || strstr(log_new, cid[i]);
            if (all)
                break;
        }
        h_sleep_ms(50);
    }
    int by_old[4] = {0}, by_new[4] = {0};
    for (int i = 0; i < N_COMMANDS; i++) {
        json_t *a = log_line(log_old, "applied", cid[i]);
        json_t *b = log_line(log_new, "applied", cid[i]);
        cr_expect((a != NULL) != (b != NULL), "command %d applied by %s", i,
                  a && b ? "both workers" : "neither worker's log");
        if (a) {
            by_old[version[i]]++;
            cr_expect_not(json_is_string(json_object_get(a, "traceparent")),
                          "a version-1 worker logged a traceparent");
        }
        if (b) {
            by_new[version[i]]++;
            if (version[i] >= 2)
                cr_expect_str_eq(json_string_value(json_object_get(b, "traceparent")),
                                 "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        }
        json_decref(a);
        json_decref(b);
    }
    for (int v = 1; v <= 3; v++) {
        cr_expect_gt(by_old[v], 0, "the version-1 worker applied no version-%d command", v);
        cr_expect_gt(by_new[v], 0, "the version-2 worker applied no version-%d command", v);
    }
    cr_expect_null(strstr(log_old, "message to dlq"), "the old worker sent something to the DLQ");
    cr_expect_null(strstr(log_new, "message to dlq"), "the new worker sent something to the DLQ");
    free(log_old);
    free(log_new);

    cr_expect_eq(h_stop(old_w, SIGTERM, 20), 0, "old worker did not stop cleanly");
    cr_expect_eq(h_stop(new_w, SIGTERM, 20), 0, "new worker did not stop cleanly");
    spawned[0] = spawned[1] = 0;
    PQfinish(pg);
    tc_close(t);
}
