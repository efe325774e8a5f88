/*
 * seed_vouchers - seeds the end-to-end benchmark's world straight into
 * PostgreSQL, then primes the Redis read models of exactly what it created.
 *
 *   psop-bench-seed [--vouchers 10000] [--providers 20] [--events 3]
 *                   [--out bench-run.txt] [--no-cache]
 *
 * Creates, with ids unique to this run (so it can run again and again):
 *   - an organiser (random valid Y-tunnus, FI IBAN, invoice prefix B<run>),
 *   - a banded hourly service type bench_<run> (client share allowed),
 *   - P providers, each applied, approved from 2020-01-01, priced from
 *     2020-01-01 (35.00 €/h weekday, 40/45/70 € evening/saturday/sunday),
 *   - V flat vouchers (30.00 €/h, valid from 2025-01-01, monthly quota
 *     100 000 h) with provider i % P chosen,
 *   - E recorded (not approved) weekday events per voucher dated this month,
 *     so the generator's service_event.approve commands have targets.
 * and refreshes psop:voucher:{id}, psop:voucher-events:{id}, the providers'
 * documents and the organiser/service-type public list through the same
 * lib/view_* functions the workers use.
 *
 * The run file (--out) tells psop-bench-e2e what exists:
 *   run <run>
 *   organiser <uuid>
 *   service_type <code>
 *   dates <YYYY-MM-DD>...        (this month's weekdays up to today, no holidays)
 *   provider <uuid>              (P lines)
 *   voucher <uuid> <provider#>   (V lines)
 *   event <uuid> <voucher#>      (V*E lines)
 *
 * Connection settings come from config/psop.conf / $PSOP_CONFIG and the
 * PSOP_* environment (PSOP_PG_DSN, PSOP_REDIS_URL) like every psop program.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bench_seed.h"
#include "core/config.h"
#include "core/date.h"
#include "core/ids.h"
#include "store/pgc.h"
#include "store/rds.h"
#include "views/view_provider.h"
#include "views/view_voucher.h"

static int q(struct pgc *pg, const char *sql, int n, const char *const *p)
{
    return seed_q("psop-bench-seed", pg, sql, n, p);
}

static void usage(void)
{
    fprintf(stderr, "usage: psop-bench-seed [--vouchers N] [--providers N] [--events N] "
                    "[--out FILE] [--no-cache]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long nv = 10000, np = 20, ne = 3;
    const char *out_path = "bench-run.txt";
    int cache = 1;
    static const struct option opts[] = {{"vouchers", 1, 0, 'v'}, {"providers", 1, 0, 'p'},
                                         {"events", 1, 0, 'e'},   {"out", 1, 0, 'o'},
                                         {"no-cache", 0, 0, 'n'}, {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'v':
            nv = atol(optarg);
            break;
        case 'p':
            np = atol(optarg);
            break;
        case 'e':
            ne = atol(optarg);
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'n':
            cache = 0;
            break;
        default:
            usage();
        }
    }
    if (nv < 1 || np < 1 || np > nv || ne < 0 || ne > 1000)
        usage();

    struct psop_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-bench-seed: config: %s\n", err);
        return 1;
    }
    struct pgc *pg = pgc_connect(cfg.pg_dsn, err, sizeof(err));
    if (!pg) {
        fprintf(stderr, "psop-bench-seed: %s\n", err);
        return 1;
    }
    int tty = isatty(STDERR_FILENO);
    double t_start = (double)time(NULL);

    char run[9];
    snprintf(run, sizeof(run), "%08llx", (unsigned long long)(rnd64() & 0xffffffffULL));
    char org[UUID_STR_LEN], st[32], bid[16], iban[24], prefix[12], name[64];
    ids_uuid7(org);
    snprintf(st, sizeof(st), "bench_%s", run);
    business_id(bid);
    fi_iban(iban);
    snprintf(prefix, sizeof(prefix), "B%.8s", run);
    for (char *p = prefix; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(name, sizeof(name), "Benchmark organiser %s", run);

    /* This month's weekdays up to today (Helsinki), not holidays: event dates. */
    day_t today = date_today_helsinki();
    struct ymd t = date_to_ymd(today);
    day_t days[31];
    int ndays = 0;
    for (day_t d = date_from_ymd(t.y, t.m, 1); d <= today; d++)
        if (date_iso_weekday(d) <= 5)
            days[ndays++] = d;

    if (pgc_begin(pg, err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-bench-seed: %s\n", err);
        return 1;
    }
    {
        const char *p[] = {org, name, bid, iban, prefix};
        if (q(pg,
              "INSERT INTO psop.organisers (id, name, business_id, iban, invoice_prefix, "
              "settlement_day, auto_approve_days) VALUES ($1, $2, $3, $4, $5, 28, 0)",
              5, p) < 0)
            goto fail;
        const char *s[] = {st};
        if (q(pg,
              "INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, "
              "client_share_allowed, "
              "coef_evening, coef_saturday, coef_sunday) VALUES ($1, 'Benchmark home care ' || $1, "
              "'hour', 0, true, 115, 130, 200)",
              1, s) < 0)
            goto fail;
        if (ndays) {
            /* Drop the holidays among the candidate dates. */
            char from[11], to[11];
            date_format(days[0], from);
            date_format(today, to);
            const char *hp[] = {from, to};
            PGresult *r = pgc_query(pg,
                                    "SELECT date::text FROM psop.holidays WHERE date BETWEEN $1 "
                                    "AND $2",
                                    2, hp, err, sizeof(err));
            if (!r) {
                fprintf(stderr, "psop-bench-seed: %s\n", err);
                goto fail;
            }
            for (int i = 0; i < PQntuples(r); i++) {
                day_t h;
                if (date_parse(PQgetvalue(r, i, 0), &h) < 0)
                    continue;
                for (int k = 0; k < ndays; k++)
                    if (days[k] == h)
                        days[k--] = days[--ndays];
            }
            PQclear(r);
        }
    }

    /* Providers. */
    char(*pids)[UUID_STR_LEN] = calloc((size_t)np, UUID_STR_LEN);
    struct arr a_pid = {0}, a_bid = {0}, a_iban = {0}, a_name = {0};
    for (long i = 0; i < np; i++) {
        char b[16], ib[24], nm[64];
        ids_uuid7(pids[i]);
        business_id(b);
        fi_iban(ib);
        snprintf(nm, sizeof(nm), "\"Benchmark provider %s-%ld\"", run, i);
        arr_add(&a_pid, pids[i]);
        arr_add(&a_bid, b);
        arr_add(&a_iban, ib);
        arr_add(&a_name, nm);
    }
    {
        const char *p4[] = {arr_done(&a_pid), arr_done(&a_bid), arr_done(&a_name),
                            arr_done(&a_iban)};
        const char *p3[] = {a_pid.s, org, st};
        const char *p2[] = {org, st};
        if (q(pg,
              "INSERT INTO psop.providers (id, business_id, name, iban, registered_by) "
              "SELECT *, 'bench-seed' FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])",
              4, p4) < 0 ||
            q(pg,
              "INSERT INTO psop.provider_applications (provider_id, organiser_id, service_type, "
              "rulebook_version, applied_by) SELECT u, $2::uuid, $3, 'bench-1', 'bench-seed' "
              "FROM unnest($1::uuid[]) u",
              3, p3) < 0 ||
            q(pg,
              "INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, "
              "application_id, decision, valid_from, decided_by) "
              "SELECT a.provider_id, a.organiser_id, a.service_type, a.id, 'approved', "
              "'2020-01-01', 'bench-seed' FROM psop.provider_applications a "
              "WHERE a.organiser_id = $1::uuid AND a.service_type = $2",
              2, p2) < 0 ||
            q(pg,
              "INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, "
              "valid_from, price_cents, price_evening_cents, price_saturday_cents, "
              "price_sunday_cents, set_by) SELECT u, $2::uuid, $3, '2020-01-01', 3500, 4000, "
              "4500, 7000, 'bench-seed' FROM unnest($1::uuid[]) u",
              3, p3) < 0)
            goto fail;
        free(a_bid.s);
        free(a_name.s);
        free(a_iban.s);
    }

    /* Vouchers, in chunks of 5000 (one statement each). */
    char(*vids)[UUID_STR_LEN] = calloc((size_t)nv, UUID_STR_LEN);
    for (long i = 0; i < nv; i++)
        ids_uuid7(vids[i]);
    for (long base = 0; base < nv; base += 5000) {
        long end = base + 5000 < nv ? base + 5000 : nv;
        struct arr a_v = {0}, a_p = {0}, a_c = {0};
        for (long i = base; i < end; i++) {
            char c[48];
            snprintf(c, sizeof(c), "bench-%s-%ld", run, i);
            arr_add(&a_v, vids[i]);
            arr_add(&a_p, pids[i % np]);
            arr_add(&a_c, c);
        }
        const char *p[] = {arr_done(&a_v), arr_done(&a_p), arr_done(&a_c), org, st};
        const char *pv[] = {a_v.s};
        if (q(pg,
              "INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, "
              "decision_number, valid_from, monthly_quota, provider_id, provider_chosen_at, "
              "provider_chosen_by, value_basis, granted_by) "
              "SELECT v, $4::uuid, c, $5, 'BENCH-' || c, '2025-01-01', 10000000, p, now(), "
              "'bench-seed', 'flat', 'bench-seed' FROM unnest($1::uuid[], $2::uuid[], $3::text[]) "
              "AS x(v, p, c)",
              5, p) < 0 ||
            q(pg,
              "INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by) "
              "SELECT v, daterange('2025-01-01', NULL), 3000, 'bench-seed' "
              "FROM unnest($1::uuid[]) v",
              1, pv) < 0)
            goto fail;
        free(a_v.s);
        free(a_p.s);
        free(a_c.s);
        if (tty)
            fprintf(stderr, "\r  vouchers %ld/%ld", end, nv);
    }

    /* Recorded events: 1.00 h weekday at 35.00, value 30.00 -> organiser 30.00, client 5.00. */
    long nev = ndays ? nv * ne : 0;
    char(*eids)[UUID_STR_LEN] = calloc((size_t)(nev ? nev : 1), UUID_STR_LEN);
    long *evv = calloc((size_t)(nev ? nev : 1), sizeof(long));
    for (long base = 0; base < nev; base += 5000) {
        long end = base + 5000 < nev ? base + 5000 : nev;
        struct arr a_e = {0}, a_v = {0}, a_p = {0}, a_d = {0};
        for (long i = base; i < end; i++) {
            long v = i % nv;
            char d[11];
            ids_uuid7(eids[i]);
            evv[i] = v;
            date_format(days[rnd64() % (uint64_t)ndays], d);
            arr_add(&a_e, eids[i]);
            arr_add(&a_v, vids[v]);
            arr_add(&a_p, pids[v % np]);
            arr_add(&a_d, d);
        }
        const char *p[] = {arr_done(&a_e), arr_done(&a_v), arr_done(&a_p), arr_done(&a_d), org, st};
        if (q(pg,
              "INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, "
              "service_type, date, quantity, band, unit_price_cents, voucher_value_cents, "
              "band_coefficient, value_unit_cents, gross_cents, organiser_part_cents, "
              "client_share_cents, recorded_by) "
              "SELECT e, v, p, $5::uuid, $6, d, 100, 'weekday', 3500, 3000, 100, 3000, 3500, "
              "3000, 500, 'bench-seed' FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], "
              "$4::date[]) AS x(e, v, p, d)",
              6, p) < 0)
            goto fail;
        free(a_e.s);
        free(a_v.s);
        free(a_p.s);
        free(a_d.s);
        if (tty)
            fprintf(stderr, "\r  events %ld/%ld     ", end, nev);
    }
    if (pgc_commit(pg, err, sizeof(err)) < 0) {
        fprintf(stderr, "psop-bench-seed: commit: %s\n", err);
        return 1;
    }
    if (tty)
        fprintf(stderr, "\r\033[K");
    fprintf(stderr,
            "seeded run %s: organiser %s, service type %s, %ld providers, %ld vouchers, "
            "%ld events (%.0f s)\n",
            run, org, st, np, nv, nev, (double)time(NULL) - t_start);

    FILE *f = fopen(out_path, "w");
    if (!f) {
        perror(out_path);
        return 1;
    }
    fprintf(f, "run %s\norganiser %s\nservice_type %s\ndates", run, org, st);
    for (int i = 0; i < ndays; i++) {
        char d[11];
        date_format(days[i], d);
        fprintf(f, " %s", d);
    }
    fprintf(f, "\n");
    for (long i = 0; i < np; i++)
        fprintf(f, "provider %s\n", pids[i]);
    for (long i = 0; i < nv; i++)
        fprintf(f, "voucher %s %ld\n", vids[i], i % np);
    for (long i = 0; i < nev; i++)
        fprintf(f, "event %s %ld\n", eids[i], evv[i]);
    if (fclose(f) != 0) {
        perror(out_path);
        return 1;
    }

    if (cache) {
        struct rds *rds = rds_connect(cfg.redis_url, 5000, err, sizeof(err));
        if (!rds) {
            fprintf(stderr, "psop-bench-seed: redis: %s\n", err);
            return 1;
        }
        long written = 0, failed = 0;
        for (long i = 0; i < np; i++)
            if (view_provider_put(rds, pg, pids[i], err, sizeof(err)) < 0)
                failed++;
        if (view_public_put(rds, pg, org, st, NULL, err, sizeof(err)) < 0)
            failed++;
        for (long i = 0; i < nv; i++) {
            int r = view_voucher_put(rds, pg, vids[i], err, sizeof(err));
            if (r < 0 && failed++ < 3)
                fprintf(stderr, "psop-bench-seed: voucher %s: %s\n", vids[i], err);
            written += r > 0;
            if (tty && (i % 200 == 0 || i == nv - 1))
                fprintf(stderr, "\r  read models %ld/%ld", i + 1, nv);
        }
        if (tty)
            fprintf(stderr, "\r\033[K");
        fprintf(stderr, "read models: %ld vouchers written, %ld failures (%.0f s total)\n", written,
                failed, (double)time(NULL) - t_start);
        rds_free(rds);
        if (failed)
            return 1;
    }
    printf("%s\n", out_path);
    pgc_free(pg);
    return 0;
fail:
    pgc_rollback(pg);
    pgc_free(pg);
    return 1;
}
