/*
 * Integration tests of psop-batch (tools/psop-batch.c), the nightly job, on
 * the running stack (source .run/stack.env): the batch is run as a
 * subprocess against $PSOP_API_URL and the tests look at PostgreSQL.
 *
 * Every test makes its own organisers (voucher_world.h) and passes
 * --organiser, so the batch never touches the other tests' organisers in the
 * shared database. Event dates are in the month before today (Helsinki).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "core/date.h"
#include "harness.h"
#include "wire/jwt.h"
#include "store/topics.h"
#include "voucher_world.h"
#include "core/xmalloc.h"

#define BATCH PSOP_BINARY_DIR "/tools/psop-batch"

/* Runs psop-batch with args (NULL-terminated); returns its exit status,
 * 128+signal, or -1 when it had not ended after secs (then it is killed).
 * Its stderr goes to /tmp/psop-test-<pid>.log. */
static int run_batch(const char *const *args, double secs, double *elapsed)
{
    double t0 = h_now();
    pid_t pid = h_spawn(BATCH, args, NULL);
    int rc = -1;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (h_now() - t0 > secs) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        h_sleep_ms(50);
    }
    if (elapsed)
        *elapsed = h_now() - t0;
    if (rc != 0)
        cr_log_info("psop-batch %s exited %d; its log: /tmp/psop-test-%d.log", args[0], rc,
                    (int)pid);
    return rc;
}

/* Upserts organiser org of w again with settlement_day and auto_approve_days. */
static void org_settings(struct vworld *w, const char *org, int settlement_day, int aad)
{
    char *bid = h_pg_value(w->pg, "SELECT business_id FROM psop.organisers WHERE id = '%s'", org);
    char *iban = h_pg_value(w->pg, "SELECT iban FROM psop.organisers WHERE id = '%s'", org);
    char *prefix =
        h_pg_value(w->pg, "SELECT invoice_prefix FROM psop.organisers WHERE id = '%s'", org);
    char id[UUID_STR_LEN];
    tc_send(w->t, TOPIC_CMD_REFERENCE, org, "organiser.upsert", &w->admin,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "id", org, "name",
                      "Yöajokunta (batch)", "business_id", bid, "iban", iban, "invoice_prefix",
                      prefix, "settlement_day", settlement_day, "auto_approve_days", aad),
            id);
    tc_expect_applied(w->pg, id);
    free(bid);
    free(iban);
    free(prefix);
}

static void record(struct vworld *w, const char *vid, const char *pid, char eid[UUID_STR_LEN],
                   const char *date)
{
    struct tc_actor p = vw_prov_actor(pid);
    vw_applied(w, vid, "service_event.record", &p, vw_event(eid, date, 1, NULL, -1));
}

static char *event_state(struct vworld *w, const char *eid)
{
    return h_pg_value(w->pg,
                      "SELECT state || '/' || coalesce(approved_by, '-') "
                      "FROM psop.service_events WHERE id = '%s'",
                      eid);
}

Test(batch, approves_then_settles_last_month_once)
{
    struct vworld w;
    vw_init(&w);
    org_settings(&w, w.org_a, 1, 1);

    day_t today = date_today_helsinki();
    struct ymd t = date_to_ymd(today);
    int py = t.m == 1 ? t.y - 1 : t.y, pm = t.m == 1 ? 12 : t.m - 1;
    day_t first = date_from_ymd(py, pm, 1);
    char today_s[11], first_s[11], d10[11], d12[11], d14[11], period[32];
    date_format(today, today_s);
    date_format(first, first_s);
    date_format(first + 9, d10);
    date_format(first + 11, d12);
    date_format(first + 13, d14);
    snprintf(period, sizeof(period), "%04d-%02d", py, pm);

    char pid[UUID_STR_LEN], vid[UUID_STR_LEN], client[48];
    vw_provider(&w, pid, first_s);
    snprintf(client, sizeof(client), "batch-%.12s", w.org_a + 24);
    vw_grant(&w, vid, w.plain, VW_PRICE_VISIT, 0, pid, first_s, client);

    /* approved by the organiser; recorded two days ago (auto-approved
     * tonight); recorded just now (left alone: not older than 1 day). */
    char e_appr[UUID_STR_LEN], e_old[UUID_STR_LEN], e_new[UUID_STR_LEN];
    record(&w, vid, pid, e_appr, d10);
    vw_applied(&w, vid, "service_event.approve", &w.orgs_a, json_pack("{s:s}", "event_id", e_appr));
    record(&w, vid, pid, e_old, d12);
    vw_sql(&w,
           "UPDATE psop.service_events SET recorded_at = now() - interval '2 days' "
           "WHERE id = '%s'",
           e_old);
    record(&w, vid, pid, e_new, d14);

    const char *args[] = {"--date", today_s, "--organiser", w.org_a, "--timeout", "60", NULL};
    cr_assert_eq(run_batch(args, 90, NULL), 0, "first run");

    char *s = event_state(&w, e_old);
    cr_expect_str_eq(s, "settled/auto-approval", "event recorded 2 days ago: %s", s);
    free(s);
    s = event_state(&w, e_appr);
    cr_expect_str_eq(s, "settled/kasittelija-a", "approved event: %s", s);
    free(s);
    s = event_state(&w, e_new);
    cr_expect_str_eq(s, "recorded/-", "event recorded now: %s", s);
    free(s);
    cr_expect_eq(vw_ll(&w,
                       "SELECT count(*) FROM psop.settlements WHERE organiser_id = '%s' "
                       "AND period = '%s'",
                       w.org_a, first_s),
                 1, "one settlement for %s", period);
    cr_expect_eq(vw_ll(&w,
                       "SELECT count(*) FROM psop.settlement_lines l JOIN psop.settlements s "
                       "ON s.id = l.settlement_id WHERE s.organiser_id = '%s'",
                       w.org_a),
                 2, "its lines: the approved and the auto-approved event");
    cr_expect_eq(vw_ll(&w,
                       "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s' "
                       "AND period = '%s'",
                       w.org_a, first_s),
                 1, "one run for %s", period);

    /* Again the same night: the period is settled, no settlement.run. */
    cr_assert_eq(run_batch(args, 90, NULL), 0, "second run");
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlements WHERE organiser_id = '%s'", w.org_a), 1,
        "still one settlement");
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s'", w.org_a),
        1, "still one run: the second batch sent no settlement.run");

    /* No api: a quick failure. */
    double took = 0;
    const char *down[] = {"--api", "http://127.0.0.1:1", "--date", today_s, "--organiser", w.org_a,
                          NULL};
    int rc = run_batch(down, 30, &took);
    cr_expect(rc != 0 && rc != -1, "stopped api: exit %d", rc);
    cr_expect_lt(took, 10.0, "stopped api: took %.1f s", took);
    vw_fini(&w);
}

/* --wait 0: no Prefer: wait, every answer is 202 and the batch polls
 * GET /v1/commands/{id}. A run that finds nothing is still a run. */
Test(batch, polls_the_command_status_without_prefer_wait)
{
    struct vworld w;
    vw_init(&w);
    org_settings(&w, w.org_b, 1, 3);
    const char *args[] = {"--wait", "0", "--organiser", w.org_b, "--timeout", "60", NULL};
    cr_assert_eq(run_batch(args, 90, NULL), 0);
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s'", w.org_b),
        1, "one (empty) run for last month");
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlements WHERE organiser_id = '%s'", w.org_b), 0,
        "nothing to settle");
    vw_fini(&w);
}

Test(batch, settles_nothing_before_the_settlement_day)
{
    struct vworld w;
    vw_init(&w); /* organiser B: settlement_day 5, auto_approve_days 14 */
    struct ymd t = date_to_ymd(date_today_helsinki());
    char first_of_month[11];
    date_format(date_from_ymd(t.y, t.m, 1), first_of_month);
    const char *args[] = {"--date", first_of_month, "--organiser", w.org_b, NULL};
    cr_assert_eq(run_batch(args, 60, NULL), 0);
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s'", w.org_b),
        0, "day 1 < settlement_day 5: no run");
    vw_fini(&w);
}

Test(batch, refused_command_exits_1)
{
    struct vworld w;
    vw_init(&w);
    /* A provider token: the api refuses auto-approval (403), a failure. */
    char *tok = NULL, err[256];
    cr_assert_eq(jwt_token_mint(h_config(), "provider", "erp", NULL, w.org_b, NULL, 600, &tok, err,
                                sizeof(err)),
                 0, "%s", err);
    const char *args[] = {"--token", tok, "--organiser", w.org_b, NULL};
    cr_expect_eq(run_batch(args, 60, NULL), 1);
    free(tok);
    vw_fini(&w);
}

Test(batch, usage_errors_exit_2)
{
    const char *bad_date[] = {"--date", "2026-02-30", NULL};
    const char *future[] = {"--date", "9999-01-01", NULL};
    const char *bad_org[] = {"--organiser", "not-a-uuid", NULL};
    const char *unknown[] = {"--frobnicate", NULL};
    const char *bad_timeout[] = {"--timeout", "0", NULL};
    const char *bad_api[] = {"--api", "ftp://127.0.0.1:18080", NULL};
    const char *api_query[] = {"--api", "http://127.0.0.1:18080/?x=1", NULL};
    const char *api_user[] = {"--api", "https://u:p@127.0.0.1:18080", NULL};
    const char *no_ca[] = {"--ca-file", "/nonexistent/ca.pem", NULL};
    const char *bad_wait[] = {"--wait", "11", NULL};
    const char *const *cases[] = {bad_date, future,    bad_org,  unknown, bad_timeout,
                                  bad_api,  api_query, api_user, no_ca,   bad_wait};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(run_batch(cases[i], 20, NULL), 2, "%s %s", cases[i][0],
                     cases[i][1] ? cases[i][1] : "");
}

/* A port the kernel has free now on 127.0.0.1. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* An api reached over HTTPS: a TLS terminator (socat, a self-signed
 * certificate for 127.0.0.1 made here) in front of $PSOP_API_URL. The batch
 * trusts the certificate with --ca-file and runs; without it the handshake
 * fails the certificate check and the batch exits 1 before sending anything. */
Test(batch, runs_against_an_https_api, .timeout = 180)
{
    const char *api = getenv("PSOP_API_URL");
    cr_assert(api && strncmp(api, "http://", 7) == 0, "PSOP_API_URL: source .run/stack.env");
    char dir[] = "/tmp/psop-tls-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char *cmd = xasprintf("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
                          ">/dev/null 2>&1",
                          dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    free(cmd);
    int port = free_port();
    char *listen = xasprintf("OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,verify=0,"
                             "cert=%s/cert.pem,key=%s/key.pem",
                             port, dir, dir);
    char *target = xasprintf("TCP:%s", api + 7);
    const char *socat_args[] = {listen, target, NULL};
    pid_t socat = h_spawn("/usr/bin/socat", socat_args, NULL);
    for (int i = 0; i < 100 && !port_open(port); i++)
        h_sleep_ms(50);
    cr_assert(port_open(port), "socat did not listen on %d", port);

    struct vworld w;
    vw_init(&w);
    org_settings(&w, w.org_b, 1, 3);
    char *https = xasprintf("https://127.0.0.1:%d", port);
    char *ca = xasprintf("%s/cert.pem", dir);
    const char *untrusted[] = {"--api", https, "--organiser", w.org_b, NULL};
    cr_expect_eq(run_batch(untrusted, 60, NULL), 1, "a certificate nobody vouches for");
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s'", w.org_b),
        0, "nothing sent without trust");
    const char *trusted[] = {"--api", https, "--ca-file", ca, "--organiser", w.org_b, NULL};
    cr_expect_eq(run_batch(trusted, 90, NULL), 0);
    cr_expect_eq(
        vw_ll(&w, "SELECT count(*) FROM psop.settlement_runs WHERE organiser_id = '%s'", w.org_b),
        1, "last month's run, sent over HTTPS");
    vw_fini(&w);

    h_stop(socat, SIGTERM, 5);
    free(https);
    free(ca);
    free(listen);
    free(target);
    cmd = xasprintf("rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    free(cmd);
}
