/*
 * psopctl dlq list|replay against the real broker and workers: a command
 * parked in psop.dlq the way a worker parks it (original topic and error in
 * headers) is listed without being applied, applied once after a replay,
 * and still applied once after a second replay.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "commands.h"
#include "harness.h"
#include "store/topics.h"

/* Runs psopctl with args; returns its exit status, output in *out. */
static int psopctl(const char *args, char **out)
{
    char *cmd = xasprintf("'%s/tools/psopctl' %s 2>&1", PSOP_BINARY_DIR, args);
    FILE *p = popen(cmd, "r");
    free(cmd);
    cr_assert_not_null(p);
    size_t cap = 1 << 16, len = 0, r;
    char *b = xmalloc(cap + 1);
    while ((r = fread(b + len, 1, cap - len, p)) > 0) {
        len += r;
        if (len == cap) {
            cap *= 2;
            b = xrealloc(b, cap + 1);
        }
    }
    b[len] = '\0';
    int st = pclose(p);
    *out = b;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Parks an organiser.upsert in the DLQ as a worker would; id in cid. */
static void park(struct tc *t, char cid[UUID_STR_LEN], char org[UUID_STR_LEN])
{
    const struct tc_actor admin = {.sub = "dlq-test", .role = "admin"};
    char yt[10], iban[19], prefix[11] = "D";
    tc_uuid(cid);
    tc_uuid(org);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    tc_alnum(prefix + 1, 9);
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", org, "name",
                             "Parked organiser", "business_id", yt, "iban", iban, "invoice_prefix",
                             prefix, "settlement_day", 5, "auto_approve_days", 0);
    char *env = tc_envelope(cid, "organiser.upsert", &admin, data);
    json_decref(data);
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    rd_kafka_header_add(h, "psop-error", -1, "test: parked by dlq_replay.c", -1);
    rd_kafka_header_add(h, "psop-topic", -1, TOPIC_CMD_REFERENCE, -1);
    rd_kafka_header_add(h, "psop-worker", -1, "test", -1);
    struct tc_delivery d = {0, RD_KAFKA_RESP_ERR_NO_ERROR};
    char err[256];
    cr_assert_eq(
        kprod_send(t->kp, TOPIC_DLQ, org, strlen(org), env, strlen(env), h, &d, err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(kprod_flush(t->kp, 15000), 0, "DLQ message not delivered within 15 s");
    cr_assert(d.done && d.err == RD_KAFKA_RESP_ERR_NO_ERROR, "DLQ produce failed");
    free(env);
}

static long applied_count(PGconn *pg, const char *cid)
{
    char *n =
        h_pg_value(pg, "SELECT count(*) FROM psop.processed_commands WHERE command_id = '%s'", cid);
    long v = atol(n);
    free(n);
    return v;
}

Test(dlq_replay, a_parked_command_is_listed_then_applied_once, .timeout = 120)
{
    struct tc *t = tc_open();
    PGconn *pg = h_pg();
    char cid[UUID_STR_LEN], org[UUID_STR_LEN], group[64];
    park(t, cid, org);
    snprintf(group, sizeof(group), "dlq-test-%.8s", cid + 28);

    char *args = xasprintf("dlq list --id %s --group %s", cid, group);
    char *out;
    cr_assert_eq(psopctl(args, &out), 0, "%s", out);
    free(args);
    cr_expect(strstr(out, cid) && strstr(out, "would replay"), "list output:\n%s", out);
    cr_expect(strstr(out, "test: parked by dlq_replay.c") != NULL, "no error shown:\n%s", out);
    free(out);
    h_sleep_ms(1000);
    cr_expect_eq(applied_count(pg, cid), 0, "listing applied the command");

    args = xasprintf("dlq replay --id %s --group %s", cid, group);
    cr_assert_eq(psopctl(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "replayed") != NULL, "replay output:\n%s", out);
    free(out);
    tc_expect_applied(pg, cid);
    char *name = h_pg_value(pg, "SELECT name FROM psop.organisers WHERE id = '%s'", org);
    cr_expect_str_eq(name, "Parked organiser");
    free(name);

    /* Replayed again (a filtered replay commits nothing): skipped as a duplicate. */
    cr_assert_eq(psopctl(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "1 replayed") != NULL, "second replay output:\n%s", out);
    free(out);
    free(args);
    h_sleep_ms(2000);
    cr_expect_eq(applied_count(pg, cid), 1);

    PQfinish(pg);
    tc_close(t);
}

Test(dlq_replay, bad_usage_is_refused)
{
    char *out;
    cr_expect_eq(psopctl("dlq", &out), 2);
    free(out);
    cr_expect_eq(psopctl("dlq replay --timeout 0", &out), 2);
    free(out);
    cr_expect_eq(psopctl("dlq list extra", &out), 2);
    free(out);
}
