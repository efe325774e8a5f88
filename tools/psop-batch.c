/*
 * psop-batch - the nightly job (domain.md, "The nightly batch"), a client of
 * the HTTP api with an admin token.
 *
 *   psop-batch [--config PATH] [--api URL] [--ca-file PEM] [--token JWT]
 *              [--date YYYY-MM-DD] [--timeout SECONDS] [--wait SECONDS]
 *              [--organiser ID]...
 *
 * 1. Reads the organisers (settlement_day, auto_approve_days) from PostgreSQL,
 *    read-only: the api has no list route for them.
 * 2. Auto-approval: POST /v1/service-events/auto-approval for every organiser
 *    with auto_approve_days > 0, recorded_before = now - that many days.
 * 3. Settlement: for every organiser whose settlement_day has come this month
 *    (as of --date, default today in Helsinki) and whose previous month has no
 *    applied settlement.run (a psop.settlement_runs row), once its
 *    auto-approval is applied: POST /v1/settlements/runs with an
 *    Idempotency-Key batch-<organiser>-<period>-<date>.
 * Every command is sent with Prefer: wait=10 (--wait); a 202 is then polled at
 * GET /v1/commands/{id} until --timeout (default 120 s) after it was sent.
 *
 * Progress: a rewritten line when stderr is a terminal, JSON log lines
 * otherwise. Exit: 0 everything applied (or nothing to do), 1 a command was
 * rejected or not applied in time (or the api / database could not be
 * reached), 2 usage or configuration error. docs/batch.md says more.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "batch_http.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/date.h"
#include "domain/settlement.h"
#include "core/ids.h"
#include "wire/jwt.h"
#include "core/log.h"
#include "store/pgc.h"
#include "core/xmalloc.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

#define DEFAULT_API_URL "http://127.0.0.1:18080"
#define DEFAULT_TIMEOUT_S 120
#define DEFAULT_WAIT_S 10 /* the api's maximum */
/* One HTTP exchange: the api holds a Prefer: wait answer up to wait_s. */
#define REQUEST_TIMEOUT_MS ((DEFAULT_WAIT_S + 20) * 1000)
#define POLL_INTERVAL_MS 1000
#define MAX_SEND_ATTEMPTS 4

struct org {
    char id[UUID_STR_LEN];
    int settlement_day;
    int auto_approve_days;
    bool approval_failed; /* its auto-approval was not applied tonight */
};

enum job_state { JOB_PENDING, JOB_APPLIED, JOB_FAILED };

/* One command sent tonight. */
struct job {
    const char *step; /* "auto-approval" | "settlement" */
    struct org *org;
    char period[16]; /* settlement: YYYY-MM */
    char command_id[64];
    int64_t deadline_ms;
    enum job_state state;
    char reason[512];
};

struct progress {
    bool tty;
    const char *step;
    size_t done, total;
    int failures;
};

struct batch {
    const struct psop_config *cfg;
    struct http_url api;
    char *auth_header; /* "Authorization: Bearer ..." */
    char date[11];
    day_t today;
    int timeout_s;
    int wait_s; /* Prefer: wait=N; 0 sends none */
    struct org *orgs;
    size_t n_orgs;
    struct progress prog;
    int applied; /* commands applied */
    int skipped; /* settlements already run */
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ progress */

static void progress_draw(struct progress *p)
{
    if (!p->tty)
        return;
    fprintf(stderr, "\r\033[Kpsop-batch  %-13s  %zu/%zu organisers  %d failed", p->step, p->done,
            p->total, p->failures);
    fflush(stderr);
}

static void progress_step(struct progress *p, const char *step, size_t total)
{
    p->step = step;
    p->done = 0;
    p->total = total;
    progress_draw(p);
}

/* Ends the bar's line so the next output starts on a fresh one. */
static void progress_end(struct progress *p)
{
    if (p->tty) {
        fputc('\n', stderr);
        fflush(stderr);
    }
}

/* A human line on a terminal (above the bar), else a JSON log line. */
static void report(struct batch *b, bool failure, const struct job *j, const char *what)
{
    if (b->prog.tty) {
        if (failure)
            fprintf(stderr, "\r\033[K  FAILED %s %s%s%s: %s\n", j->step, j->org->id,
                    j->period[0] ? " " : "", j->period, j->reason);
        progress_draw(&b->prog);
        return;
    }
    if (failure)
        LOG_ERROR(what, "step", j->step, "organiser_id", j->org->id, "period",
                  j->period[0] ? j->period : NULL, "command_id",
                  j->command_id[0] ? j->command_id : NULL, "reason", j->reason, NULL);
    else
        LOG_INFO(what, "step", j->step, "organiser_id", j->org->id, "period",
                 j->period[0] ? j->period : NULL, "command_id",
                 j->command_id[0] ? j->command_id : NULL, NULL);
}

static void job_fail(struct batch *b, struct job *j, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_fail(struct batch *b, struct job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
    va_end(ap);
    j->state = JOB_FAILED;
    b->prog.failures++;
    b->prog.done++;
    report(b, true, j, "command failed");
}

static void job_applied(struct batch *b, struct job *j)
{
    j->state = JOB_APPLIED;
    b->applied++;
    b->prog.done++;
    report(b, false, j, "command applied");
}

/* ------------------------------------------------------------ commands */

/* Applies a command status document ({status, reason?, command_id}) to j. */
static void job_status(struct batch *b, struct job *j, json_t *doc)
{
    const char *st = json_string_value(json_object_get(doc, "status"));
    const char *cid = json_string_value(json_object_get(doc, "command_id"));
    if (cid && !j->command_id[0])
        snprintf(j->command_id, sizeof(j->command_id), "%s", cid);
    if (st && strcmp(st, "applied") == 0) {
        job_applied(b, j);
    } else if (st && strcmp(st, "rejected") == 0) {
        const char *why = json_string_value(json_object_get(doc, "reason"));
        job_fail(b, j, "rejected: %s", why ? why : "(no reason)");
    }
    /* accepted: still pending */
}

/* Whether an answer or a transport failure is worth sending again: the api or
 * the broker was briefly unavailable, so the command was not published (or,
 * if it was, the Idempotency-Key / the command's harmlessness covers it). */
static bool retryable(int status)
{
    return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* Sends one command with Prefer: wait and records the outcome in j:
 * applied, failed, or pending with its command id (polled later). */
static void job_send(struct batch *b, struct job *j, const char *path, json_t *data,
                     const char *idem_key)
{
    char *body = json_dumps(data, JSON_COMPACT);
    char wait[32], *idem = idem_key ? xasprintf("Idempotency-Key: %s", idem_key) : NULL;
    snprintf(wait, sizeof(wait), "Prefer: wait=%d", b->wait_s);
    const char *headers[] = {b->auth_header, b->wait_s ? wait : idem, b->wait_s ? idem : NULL,
                             NULL};
    j->deadline_ms = clock_mono_ms() + (int64_t)b->timeout_s * 1000;
    j->state = JOB_PENDING;

    struct http_response r = {0};
    char err[256] = "";
    long backoff = 1000;
    for (int attempt = 1;; attempt++) {
        int64_t left = j->deadline_ms - clock_mono_ms();
        int tmo = left < REQUEST_TIMEOUT_MS ? (int)(left > 1000 ? left : 1000) : REQUEST_TIMEOUT_MS;
        http_response_free(&r);
        if (http_request(&b->api, "POST", path, headers, body, tmo, &r, err, sizeof(err)) == 0)
            err[0] = '\0';
        int status = err[0] ? 0 : r.status;
        if (!retryable(status) || attempt >= MAX_SEND_ATTEMPTS)
            break;
        long pause = r.retry_after >= 0 && !err[0] ? r.retry_after * 1000L : backoff;
        if (pause > 5000)
            pause = 5000;
        if (clock_mono_ms() + pause >= j->deadline_ms)
            break;
        if (!b->prog.tty)
            LOG_WARN("retrying", "step", j->step, "organiser_id", j->org->id, "error",
                     err[0] ? err : "api unavailable", NULL);
        sleep_ms(pause);
        backoff *= 2;
    }

    json_t *doc = err[0] ? NULL : json_loads(r.body, 0, NULL);
    if (err[0]) {
        job_fail(b, j, "POST %s: %s", path, err);
    } else if (r.status == 200) {
        if (!json_is_object(doc))
            job_fail(b, j, "POST %s: 200 without a status document", path);
        else {
            job_status(b, j, doc);
            if (j->state == JOB_PENDING)
                job_fail(b, j, "POST %s: 200 but status is not a verdict", path);
        }
    } else if (r.status == 202) {
        const char *cid = json_string_value(json_object_get(doc, "command_id"));
        if (!cid || !ids_uuid_valid(cid))
            job_fail(b, j, "POST %s: 202 without a command_id", path);
        else
            snprintf(j->command_id, sizeof(j->command_id), "%s", cid);
    } else {
        /* 422 rejected (a business verdict) or validation; anything else is
         * a refusal of the request itself (401/403: token, 409: key). */
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        const char *cid = json_string_value(json_object_get(doc, "command_id"));
        if (cid)
            snprintf(j->command_id, sizeof(j->command_id), "%s", cid);
        if (r.status == 422 && cid)
            job_fail(b, j, "rejected: %s", detail ? detail : "(no reason)");
        else
            job_fail(b, j, "POST %s: HTTP %d: %s", path, r.status,
                     detail ? detail : (r.body && r.body[0] ? r.body : "(no body)"));
    }
    json_decref(doc);
    http_response_free(&r);
    free(body);
    free(idem);
}

/* Polls GET /v1/commands/{id} for every pending job until it has a verdict
 * or its deadline passes. */
static void jobs_wait(struct batch *b, struct job *jobs, size_t n)
{
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++) {
            struct job *j = &jobs[i];
            if (j->state != JOB_PENDING)
                continue;
            if (clock_mono_ms() >= j->deadline_ms) {
                job_fail(b, j, "not applied within %d s (command %s still accepted)", b->timeout_s,
                         j->command_id);
                continue;
            }
            char path[128], err[256];
            snprintf(path, sizeof(path), "/v1/commands/%s", j->command_id);
            const char *headers[] = {b->auth_header, NULL};
            struct http_response r;
            int64_t left = j->deadline_ms - clock_mono_ms();
            if (http_request(&b->api, "GET", path, headers, NULL,
                             left < 10000 ? (int)left + 1 : 10000, &r, err, sizeof(err)) == 0) {
                if (r.status == 200) {
                    json_t *doc = json_loads(r.body, 0, NULL);
                    if (json_is_object(doc))
                        job_status(b, j, doc);
                    json_decref(doc);
                } else if (!b->prog.tty) {
                    LOG_DEBUG("poll answer", "path", path, "body", r.body, NULL);
                }
                http_response_free(&r);
            } else if (!b->prog.tty) {
                LOG_WARN("poll failed", "path", path, "error", err, NULL);
            }
            if (j->state == JOB_PENDING)
                pending++;
        }
        if (!pending)
            return;
        sleep_ms(POLL_INTERVAL_MS);
    }
}

/* ------------------------------------------------------------ steps */

static void fmt_rfc3339(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void step_auto_approval(struct batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_orgs; i++)
        n += b->orgs[i].auto_approve_days > 0;
    progress_step(&b->prog, "auto-approval", n);
    if (!n)
        return;
    struct job *jobs = xcalloc(n, sizeof(*jobs));
    time_t now = time(NULL);
    size_t k = 0;
    for (size_t i = 0; i < b->n_orgs; i++) {
        struct org *o = &b->orgs[i];
        if (o->auto_approve_days <= 0)
            continue;
        struct job *j = &jobs[k++];
        j->step = "auto-approval";
        j->org = o;
        char before[32];
        fmt_rfc3339(now - (time_t)o->auto_approve_days * 86400, before);
        json_t *data = json_pack("{s:s, s:s}", "organiser_id", o->id, "recorded_before", before);
        /* No Idempotency-Key: recorded_before differs on every run and a
         * repeat only approves what is eligible anyway. */
        job_send(b, j, "/v1/service-events/auto-approval", data, NULL);
        json_decref(data);
    }
    jobs_wait(b, jobs, n);
    for (size_t i = 0; i < n; i++)
        if (jobs[i].state != JOB_APPLIED)
            jobs[i].org->approval_failed = true;
    free(jobs);
}

/* Whether a settlement.run for (organiser, period's first day) was applied:
 * psop.settlement_runs has a row per applied run, even one that found
 * nothing. 1 yes, 0 no, -1 error. */
static int period_settled(struct pgc *pg, const char *org, const char *first_day, char *err,
                          size_t errlen)
{
    const char *p[] = {org, first_day};
    PGresult *r = pgc_query(pg,
                            "SELECT EXISTS (SELECT 1 FROM psop.settlement_runs "
                            "WHERE organiser_id = $1::uuid AND period = $2::date)",
                            2, p, err, errlen);
    if (!r)
        return -1;
    int yes = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return yes;
}

static void step_settlement(struct batch *b, struct pgc *pg)
{
    struct job *jobs = xcalloc(b->n_orgs ? b->n_orgs : 1, sizeof(*jobs));
    size_t n = 0, due = 0;
    for (size_t i = 0; i < b->n_orgs; i++) {
        int y, m;
        due += settlement_batch_period(b->today, b->orgs[i].settlement_day, &y, &m);
    }
    progress_step(&b->prog, "settlement", due);
    for (size_t i = 0; i < b->n_orgs; i++) {
        struct org *o = &b->orgs[i];
        int y, m;
        if (!settlement_batch_period(b->today, o->settlement_day, &y, &m))
            continue;
        struct job *j = &jobs[n++];
        j->step = "settlement";
        j->org = o;
        snprintf(j->period, sizeof(j->period), "%04d-%02d", y, m);
        if (o->approval_failed) {
            /* Settling now would leave tonight's eligible events out, and the
             * period would then count as run: wait for a night whose
             * auto-approval succeeds. */
            job_fail(b, j, "not run: the organiser's auto-approval was not applied");
            continue;
        }
        char first[11], err[512];
        date_format(date_from_ymd(y, m, 1), first);
        int settled = period_settled(pg, o->id, first, err, sizeof(err));
        if (settled < 0) {
            job_fail(b, j, "checking psop.settlement_runs: %s", err);
            continue;
        }
        if (settled) {
            j->state = JOB_APPLIED;
            b->skipped++;
            b->prog.done++;
            report(b, false, j, "period already settled");
            continue;
        }
        char key[128];
        snprintf(key, sizeof(key), "batch-%s-%s-%s", o->id, j->period, b->date);
        json_t *data = json_pack("{s:s, s:s}", "organiser_id", o->id, "period", j->period);
        job_send(b, j, "/v1/settlements/runs", data, key);
        json_decref(data);
    }
    jobs_wait(b, jobs, n);
    free(jobs);
}

/* ------------------------------------------------------------ set-up */

/* Loads the organisers (all, or the ids in only[]) ordered by id. */
static int load_organisers(struct batch *b, struct pgc *pg, char **only, size_t n_only, char *err,
                           size_t errlen)
{
    /* The batch only reads the database: make the session say so. */
    if (pgc_exec(pg, "SET default_transaction_read_only = on", err, errlen) < 0)
        return -1;
    json_t *ids = json_array();
    for (size_t i = 0; i < n_only; i++)
        json_array_append_new(ids, json_string(only[i]));
    char *ids_s = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    const char *p[] = {ids_s};
    PGresult *r = pgc_query(
        pg,
        n_only ? "SELECT id, settlement_day, auto_approve_days FROM psop.organisers "
                 "WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid) ORDER BY id"
               : "SELECT id, settlement_day, auto_approve_days FROM psop.organisers ORDER BY id",
        n_only ? 1 : 0, n_only ? p : NULL, err, errlen);
    free(ids_s);
    if (!r)
        return -1;
    b->n_orgs = (size_t)PQntuples(r);
    b->orgs = xcalloc(b->n_orgs ? b->n_orgs : 1, sizeof(*b->orgs));
    for (size_t i = 0; i < b->n_orgs; i++) {
        snprintf(b->orgs[i].id, sizeof(b->orgs[i].id), "%s", PQgetvalue(r, (int)i, 0));
        b->orgs[i].settlement_day = atoi(PQgetvalue(r, (int)i, 1));
        b->orgs[i].auto_approve_days = atoi(PQgetvalue(r, (int)i, 2));
    }
    PQclear(r);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: psop-batch [--config PATH] [--api URL] [--ca-file PEM] [--token JWT]\n"
            "                  [--date YYYY-MM-DD] [--timeout SECONDS] [--wait SECONDS]\n"
            "                  [--organiser ID]...\n"
            "\n"
            "The nightly job: auto-approves recorded service events, then runs last month's\n"
            "settlement for every organiser whose settlement_day has come and whose last\n"
            "month is not yet settled.\n"
            "\n"
            "  --api URL        the api, http:// or https:// (default $PSOP_API_URL, else\n"
            "                   " DEFAULT_API_URL ")\n"
            "  --ca-file PEM    trust these CAs for https (default $PSOP_API_CA_FILE, else\n"
            "                   the system's)\n"
            "  --token JWT      an admin token (default: minted with the configured secret)\n"
            "  --date DATE      the night's date (default today in Europe/Helsinki)\n"
            "  --timeout S      wait at most S seconds for each command (default %d)\n"
            "  --wait N         let the api hold each answer up to N s (Prefer: wait,\n"
            "                   0..10, default 10; then GET /v1/commands/{id} is polled)\n"
            "  --organiser ID   only this organiser (repeatable; default all)\n"
            "\n"
            "Exit: 0 all applied, 1 a command rejected or not applied, 2 usage/configuration.\n",
            DEFAULT_TIMEOUT_S);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "psop-batch: ");
    fprintf(stderr, fmt, arg);
    fputs("\n(psop-batch --help lists the options)\n", stderr);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"api", required_argument, NULL, 'a'},
        {"token", required_argument, NULL, 't'},   {"date", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 'T'}, {"organiser", required_argument, NULL, 'o'},
        {"wait", required_argument, NULL, 'w'},    {"help", no_argument, NULL, 'h'},
        {"ca-file", required_argument, NULL, 'C'}, {0}};
    const char *config_path = NULL, *api_url = NULL, *token = NULL, *date_arg = NULL;
    const char *ca_file = NULL;
    long timeout = DEFAULT_TIMEOUT_S, wait_s = DEFAULT_WAIT_S;
    char **only = xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n_only = 0;
    int ch, rc = EXIT_USAGE;
    struct psop_config cfg;
    struct batch b;
    struct pgc *pg = NULL;
    char err[1024];
    memset(&cfg, 0, sizeof(cfg));
    memset(&b, 0, sizeof(b));

    xmalloc_install();
    if (http_global_init(err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-batch: %s\n", err);
        free(only);
        return EXIT_FAIL;
    }
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'a':
            api_url = optarg;
            break;
        case 'C':
            ca_file = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case 'd':
            date_arg = optarg;
            break;
        case 'T': {
            char *end = NULL;
            errno = 0;
            timeout = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || timeout < 1 || timeout > 86400) {
                rc = bad_usage("--timeout must be 1..86400 seconds, not '%s'", optarg);
                goto out_args;
            }
            break;
        }
        case 'w': {
            char *end = NULL;
            errno = 0;
            wait_s = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || wait_s < 0 || wait_s > DEFAULT_WAIT_S) {
                rc = bad_usage("--wait must be 0..10 seconds, not '%s'", optarg);
                goto out_args;
            }
            break;
        }
        case 'o':
            if (!ids_uuid_valid(optarg)) {
                rc = bad_usage("--organiser needs an organiser id (UUID), not '%s'", optarg);
                goto out_args;
            }
            only[n_only++] = optarg;
            break;
        case 'h':
            usage(stdout);
            rc = EXIT_OK;
            goto out_args;
        default:
            if (optopt)
                rc = bad_usage("option %s needs a value", argv[optind - 1]);
            else
                rc = bad_usage("unknown option %s", argv[optind - 1]);
            goto out_args;
        }
    }
    if (optind < argc) {
        rc = bad_usage("unexpected argument %s", argv[optind]);
        goto out_args;
    }

    b.today = date_today_helsinki();
    if (date_arg) {
        day_t d;
        if (date_parse(date_arg, &d) < 0) {
            rc = bad_usage("--date must be YYYY-MM-DD, not '%s'", date_arg);
            goto out_args;
        }
        /* A later night is not a night yet: its period may not be over, and
         * the workers judge periods by their own today. */
        if (d > b.today) {
            rc = bad_usage("--date %s is after today (Europe/Helsinki)", date_arg);
            goto out_args;
        }
        b.today = d;
    }
    date_format(b.today, b.date);
    b.timeout_s = (int)timeout;
    b.wait_s = (int)wait_s;

    if (!api_url)
        api_url = getenv("PSOP_API_URL");
    if (!api_url || !*api_url)
        api_url = DEFAULT_API_URL;
    if (http_url_parse(api_url, &b.api, err, sizeof(err)) < 0) {
        rc = bad_usage("%s", err);
        goto out_args;
    }
    if (!ca_file)
        ca_file = getenv("PSOP_API_CA_FILE");
    if (ca_file && *ca_file) {
        if (access(ca_file, R_OK) != 0) {
            rc = bad_usage("cannot read the CA file '%s'", ca_file);
            goto out_args;
        }
        b.api.ca_file = ca_file;
    }

    if (config_load(&cfg, config_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-batch: %s\n", err);
        rc = EXIT_USAGE;
        goto out;
    }
    b.cfg = &cfg;
    b.prog.tty = isatty(STDERR_FILENO);
    log_init("psop-batch", log_level_parse(cfg.log_level));

    char *minted = NULL;
    if (!token) {
        /* Long enough for the whole night: every command may wait timeout. */
        if (jwt_token_mint(&cfg, "admin", "psop-batch", NULL, NULL, NULL, 3600 + 2L * timeout,
                           &minted, err, sizeof(err)) < 0) {
            fprintf(stderr, "psop-batch: cannot mint the admin token: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
        token = minted;
    }
    b.auth_header = xasprintf("Authorization: Bearer %s", token);
    free(minted);
    if (strpbrk(b.auth_header, "\r\n")) {
        rc = bad_usage("%s", "--token must be one line");
        goto out;
    }

    rc = EXIT_FAIL;
    pg = pgc_connect(cfg.pg_dsn, err, sizeof(err));
    if (!pg || load_organisers(&b, pg, only, n_only, err, sizeof(err)) < 0) {
        if (b.prog.tty)
            fprintf(stderr, "psop-batch: reading the organisers: %s\n", err);
        else
            LOG_ERROR("cannot read the organisers", "error", err, NULL);
        goto out;
    }
    if (n_only && b.n_orgs != n_only) {
        fprintf(stderr, "psop-batch: %zu of the %zu --organiser ids are not organisers\n",
                n_only - b.n_orgs, n_only);
        rc = EXIT_USAGE;
        goto out;
    }

    /* Fail fast, once, when the api is not there at all. */
    {
        struct http_response r;
        err[0] = '\0';
        if (http_request(&b.api, "GET", "/healthz", NULL, NULL, 5000, &r, err, sizeof(err)) < 0 ||
            r.status != 200) {
            char why[1100];
            if (err[0] && r.status == 0)
                snprintf(why, sizeof(why), "%s", err);
            else
                snprintf(why, sizeof(why), "GET /healthz answered %d", r.status);
            http_response_free(&r);
            if (b.prog.tty)
                fprintf(stderr, "psop-batch: the api at %s is not reachable: %s\n", api_url, why);
            else
                LOG_ERROR("api not reachable", "api", api_url, "error", why, NULL);
            goto out;
        }
        http_response_free(&r);
    }

    char norgs[24];
    snprintf(norgs, sizeof(norgs), "%zu", b.n_orgs);
    if (!b.prog.tty)
        LOG_INFO("batch started", "date", b.date, "api", api_url, "organisers", norgs, NULL);

    step_auto_approval(&b);
    step_settlement(&b, pg);
    progress_end(&b.prog);

    char applied[24], skipped[24], failures[24];
    snprintf(applied, sizeof(applied), "%d", b.applied);
    snprintf(skipped, sizeof(skipped), "%d", b.skipped);
    snprintf(failures, sizeof(failures), "%d", b.prog.failures);
    if (b.prog.tty)
        fprintf(stderr,
                "psop-batch %s: %zu organisers, %d commands applied, %d periods already "
                "settled, %d failed\n",
                b.date, b.n_orgs, b.applied, b.skipped, b.prog.failures);
    else
        LOG_INFO("batch finished", "date", b.date, "organisers", norgs, "applied", applied,
                 "already_settled", skipped, "failures", failures, NULL);
    rc = b.prog.failures ? EXIT_FAIL : EXIT_OK;
out:
    pgc_free(pg);
    free(b.orgs);
    free(b.auth_header);
    config_free(&cfg);
out_args:
    free(only);
    http_global_cleanup();
    return rc;
}
