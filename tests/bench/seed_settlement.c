/*
 * seed_settlement - seeds the settlement benchmark of issue 5 straight into
 * PostgreSQL (docs/benchmarks.md):
 *
 *   psop-bench-seed-settlement [--organisers 25] [--providers 5000]
 *       [--vouchers 50000] [--events 1000000] [--period YYYY-MM]
 *       [--out settlement-run.txt]
 *
 * Creates, with ids and names unique to this run:
 *   - O organisers (valid business ids and IBANs, invoice prefix S<run><nn>,
 *     settlement_day 1, no auto-approval),
 *   - one hourly service type bset_<run> (VAT 0 %, client share allowed),
 *   - P providers; provider i serves organiser i % O: applied, approved from
 *     2020-01-01 and priced there (35.00 €/h weekday),
 *   - V flat vouchers (30.00 €/h from 2020-01-01, 100 h a month); voucher k
 *     belongs to organiser k % O and has one of that organiser's providers,
 *   - E approved, unsettled events of the period (default: last month in
 *     Helsinki): event e is on voucher e % V, on a weekday that is not a
 *     holiday, 0.50-3.00 h, band weekday, amounts derived exactly as the
 *     service-event worker does (the table's CHECKs re-derive them).
 * The bulk rows are generated server-side (generate_series) in chunks of
 * 100 000 events, all in one transaction, then ANALYZEd.
 *
 * The run file (--out) names what the benchmark driver needs:
 *   run <run>
 *   period <YYYY-MM>
 *   organiser <uuid>          (O lines)
 *
 * Connection settings: config/psop.conf / $PSOP_CONFIG / PSOP_PG_DSN.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_seed.h"
#include "core/config.h"
#include "core/date.h"
#include "core/ids.h"
#include "store/pgc.h"

#define TOOL "psop-bench-seed-settlement"
#define CHUNK 100000L

static void usage(void)
{
    fprintf(stderr, "usage: " TOOL " [--organisers N] [--providers N] [--vouchers N] "
                    "[--events N] [--period YYYY-MM] [--out FILE]\n");
    exit(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n valid, distinct business ids from consecutive numbers after a random start. */
static void business_ids(long n, struct arr *out)
{
    unsigned long k = 1000000UL + (unsigned long)(rnd64() % (8000000UL - (unsigned long)n * 2));
    for (long i = 0; i < n; k++) {
        char b[16];
        if (business_id_of(k, b) == 0) {
            arr_add(out, b);
            i++;
        }
    }
}

int main(int argc, char **argv)
{
    long no = 25, np = 5000, nv = 50000, ne = 1000000;
    const char *out_path = "settlement-run.txt", *period_arg = NULL;
    static const struct option opts[] = {{"organisers", 1, 0, 'o'},
                                         {"providers", 1, 0, 'p'},
                                         {"vouchers", 1, 0, 'v'},
                                         {"events", 1, 0, 'e'},
                                         {"period", 1, 0, 'm'},
                                         {"out", 1, 0, 'f'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'o':
            no = atol(optarg);
            break;
        case 'p':
            np = atol(optarg);
            break;
        case 'v':
            nv = atol(optarg);
            break;
        case 'e':
            ne = atol(optarg);
            break;
        case 'm':
            period_arg = optarg;
            break;
        case 'f':
            out_path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || no < 1 || no > 99 || np < no || np > 1000000 || nv < np ||
        nv > 10000000 || ne < 0 || ne > 100000000)
        usage();

    /* The period: a month before this one (settlement.run refuses others). */
    day_t today = date_today_helsinki(), first;
    struct ymd t = date_to_ymd(today);
    if (period_arg) {
        int y, m;
        char extra;
        if (sscanf(period_arg, "%4d-%2d%c", &y, &m, &extra) != 2 || m < 1 || m > 12 || y < 2000 ||
            y * 12 + m >= t.y * 12 + t.m) {
            fprintf(stderr, TOOL ": --period must be YYYY-MM, a month before this one\n");
            return 2;
        }
        first = date_from_ymd(y, m, 1);
    } else {
        first = t.m == 1 ? date_from_ymd(t.y - 1, 12, 1) : date_from_ymd(t.y, t.m - 1, 1);
    }
    struct ymd fy = date_to_ymd(first);
    day_t next = fy.m == 12 ? date_from_ymd(fy.y + 1, 1, 1) : date_from_ymd(fy.y, fy.m + 1, 1);
    char period[8], first_s[11], next_s[11];
    snprintf(period, sizeof(period), "%04d-%02d", fy.y, fy.m);
    date_format(first, first_s);
    date_format(next, next_s);

    struct psop_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, TOOL ": config: %s\n", err);
        return 2;
    }
    struct pgc *pg = pgc_connect(cfg.pg_dsn, err, sizeof(err));
    if (!pg) {
        fprintf(stderr, TOOL ": %s\n", err);
        return 1;
    }
    double t0 = now_s();
    char run[9], st[32];
    snprintf(run, sizeof(run), "%08llx", (unsigned long long)(rnd64() & 0xffffffffULL));
    snprintf(st, sizeof(st), "bset_%s", run);

    if (pgc_begin(pg, err, sizeof(err)) < 0) {
        fprintf(stderr, TOOL ": %s\n", err);
        return 1;
    }
    /* The period's weekdays that are not holidays: the event dates. */
    struct arr a_dates = {0};
    {
        const char *p[] = {first_s, next_s};
        PGresult *r = pgc_query(pg,
                                "SELECT d::date::text FROM generate_series($1::date, "
                                "$2::date - 1, '1 day') d WHERE extract(isodow FROM d) < 6 "
                                "AND NOT EXISTS (SELECT 1 FROM psop.holidays h WHERE h.date = "
                                "d::date) ORDER BY d",
                                2, p, err, sizeof(err));
        if (!r) {
            fprintf(stderr, TOOL ": %s\n", err);
            goto fail;
        }
        for (int i = 0; i < PQntuples(r); i++)
            arr_add(&a_dates, PQgetvalue(r, i, 0));
        PQclear(r);
        if (!a_dates.len) {
            fprintf(stderr, TOOL ": %s has no working day\n", period);
            goto fail;
        }
    }

    /* Organisers and the service type. */
    struct arr a_org = {0}, a_obid = {0}, a_oiban = {0}, a_oname = {0}, a_prefix = {0};
    char(*orgs)[UUID_STR_LEN] = calloc((size_t)no, UUID_STR_LEN);
    business_ids(no, &a_obid);
    for (long i = 0; i < no; i++) {
        char ib[24], nm[64], pf[16];
        ids_uuid7(orgs[i]);
        fi_iban(ib);
        snprintf(nm, sizeof(nm), "\"Settlement bench organiser %s-%ld\"", run, i);
        snprintf(pf, sizeof(pf), "S%.5s%02d", run, (int)(i % 100));
        for (char *c = pf; *c; c++)
            if (*c >= 'a' && *c <= 'f')
                *c = (char)(*c - 'a' + 'A');
        arr_add(&a_org, orgs[i]);
        arr_add(&a_oiban, ib);
        arr_add(&a_oname, nm);
        arr_add(&a_prefix, pf);
    }
    {
        const char *p[] = {arr_done(&a_org), arr_done(&a_oname), arr_done(&a_obid),
                           arr_done(&a_oiban), arr_done(&a_prefix)};
        const char *s[] = {st};
        if (seed_q(TOOL, pg,
                   "INSERT INTO psop.organisers (id, name, business_id, iban, invoice_prefix, "
                   "settlement_day, auto_approve_days) SELECT *, 1, 0 FROM unnest($1::uuid[], "
                   "$2::text[], $3::text[], $4::text[], $5::text[])",
                   5, p) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, "
                   "client_share_allowed, coef_evening, coef_saturday, coef_sunday) VALUES ($1, "
                   "'Settlement bench home care ' || $1, 'hour', 0, true, 115, 130, 200)",
                   1, s) < 0)
            goto fail;
    }

    /* Providers: provider i serves organiser i % O. */
    struct arr a_pid = {0}, a_pbid = {0}, a_piban = {0}, a_pname = {0};
    business_ids(np, &a_pbid);
    for (long i = 0; i < np; i++) {
        char id[UUID_STR_LEN], ib[24], nm[64];
        ids_uuid7(id);
        fi_iban(ib);
        snprintf(nm, sizeof(nm), "\"Settlement bench provider %s-%ld\"", run, i);
        arr_add(&a_pid, id);
        arr_add(&a_piban, ib);
        arr_add(&a_pname, nm);
    }
    char no_s[24], np_s[24], nv_s[24];
    snprintf(no_s, sizeof(no_s), "%ld", no);
    snprintf(np_s, sizeof(np_s), "%ld", np);
    snprintf(nv_s, sizeof(nv_s), "%ld", nv);
    {
        const char *p4[] = {arr_done(&a_pid), arr_done(&a_pbid), arr_done(&a_pname),
                            arr_done(&a_piban)};
        /* $1 providers, $2 organisers, $3 service type: provider i -> organiser i % O. */
        const char *p3[] = {a_pid.s, a_org.s, st};
        if (seed_q(TOOL, pg,
                   "INSERT INTO psop.providers (id, business_id, name, iban, registered_by) "
                   "SELECT *, 'bench-seed' FROM unnest($1::uuid[], $2::text[], $3::text[], "
                   "$4::text[])",
                   4, p4) < 0 ||
            seed_q(TOOL, pg,
                   "CREATE TEMP TABLE bench_po ON COMMIT DROP AS SELECT p.id AS provider_id, "
                   "($2::uuid[])[1 + (p.i - 1) % cardinality($2::uuid[])] AS organiser_id, "
                   "$3::text AS service_type FROM unnest($1::uuid[]) WITH ORDINALITY AS p(id, i)",
                   3, p3) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.provider_applications (provider_id, organiser_id, "
                   "service_type, rulebook_version, applied_by) SELECT provider_id, organiser_id, "
                   "service_type, 'bench-1', 'bench-seed' FROM bench_po",
                   0, NULL) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, "
                   "application_id, decision, valid_from, decided_by) SELECT a.provider_id, "
                   "a.organiser_id, a.service_type, a.id, 'approved', '2020-01-01', 'bench-seed' "
                   "FROM psop.provider_applications a JOIN bench_po b USING (provider_id, "
                   "organiser_id, service_type)",
                   0, NULL) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, "
                   "valid_from, price_cents, price_evening_cents, price_saturday_cents, "
                   "price_sunday_cents, set_by) SELECT provider_id, organiser_id, service_type, "
                   "'2020-01-01', 3500, 4000, 4500, 7000, 'bench-seed' FROM bench_po",
                   0, NULL) < 0)
            goto fail;
    }
    fprintf(stderr, "  %ld organisers, %ld providers (%.1f s)\n", no, np, now_s() - t0);

    /* Vouchers: voucher k -> organiser o = k % O and its provider
     * o + O * ((k / O) % (providers of o)). */
    {
        const char *p[] = {a_org.s, a_pid.s, nv_s, st, run};
        if (seed_q(TOOL, pg,
                   "CREATE TEMP TABLE bench_v ON COMMIT DROP AS SELECT k, gen_random_uuid() AS id, "
                   "($1::uuid[])[1 + k % cardinality($1::uuid[])] AS organiser_id, "
                   "($2::uuid[])[1 + k % cardinality($1::uuid[]) + cardinality($1::uuid[]) * "
                   "  ((k / cardinality($1::uuid[])) % ((cardinality($2::uuid[]) - "
                   "   k % cardinality($1::uuid[]) + cardinality($1::uuid[]) - 1) / "
                   "   cardinality($1::uuid[])))] AS provider_id "
                   "FROM generate_series(0, $3::int - 1) k",
                   3, p) < 0 ||
            seed_q(TOOL, pg, "ALTER TABLE bench_v ADD PRIMARY KEY (k)", 0, NULL) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, "
                   "decision_number, valid_from, monthly_quota, provider_id, provider_chosen_at, "
                   "provider_chosen_by, value_basis, granted_by) SELECT id, organiser_id, "
                   "'sb-' || $2 || '-' || k, $1, 'SB-' || $2 || '-' || k, '2020-01-01', 10000, "
                   "provider_id, now(), 'bench-seed', 'flat', 'bench-seed' FROM bench_v",
                   2, (const char *const[]){st, run}) < 0 ||
            seed_q(TOOL, pg,
                   "INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, "
                   "set_by) SELECT id, daterange('2020-01-01', NULL), 3000, 'bench-seed' "
                   "FROM bench_v",
                   0, NULL) < 0)
            goto fail;
    }
    fprintf(stderr, "  %ld vouchers (%.1f s)\n", nv, now_s() - t0);

    /* Events, in chunks: event e on voucher e % V, the (e / V)-th working
     * day (cycling), quantity 0.50 .. 3.00 h; 35.00 €/h against a value of
     * 30.00 €/h: organiser part 30.00 × h, the client the rest. */
    for (long lo = 0; lo < ne; lo += CHUNK) {
        long hi = lo + CHUNK < ne ? lo + CHUNK : ne;
        char lo_s[24], hi_s[24];
        snprintf(lo_s, sizeof(lo_s), "%ld", lo);
        snprintf(hi_s, sizeof(hi_s), "%ld", hi - 1);
        const char *p[] = {lo_s, hi_s, nv_s, arr_done(&a_dates), st};
        if (seed_q(TOOL, pg,
                   "INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, "
                   " service_type, date, quantity, band, unit_price_cents, voucher_value_cents, "
                   " band_coefficient, value_unit_cents, gross_cents, organiser_part_cents, "
                   " client_share_cents, state, recorded_by, recorded_at, updated_at, "
                   " approved_by, approved_at) "
                   "SELECT gen_random_uuid(), v.id, v.provider_id, v.organiser_id, $5, x.d, "
                   " x.q, 'weekday', 3500, 3000, 100, 3000, psop.round_div(3500, x.q, 100), "
                   " psop.round_div(3000, x.q, 100), "
                   " psop.round_div(3500, x.q, 100) - psop.round_div(3000, x.q, 100), "
                   " 'approved', 'bench-seed', x.d + time '18:00', x.d + time '18:00', "
                   " 'bench-seed', x.d + interval '1 day 9 hours' "
                   "FROM (SELECT e, 50 + 25 * ((e * 7) % 11) AS q, "
                   "       ($4::date[])[1 + (e / $3::int) % cardinality($4::date[])] AS d "
                   "      FROM generate_series($1::bigint, $2::bigint) e) x "
                   "JOIN bench_v v ON v.k = x.e % $3::int",
                   5, p) < 0)
            goto fail;
        fprintf(stderr, "  events %ld/%ld (%.1f s)\n", hi, ne, now_s() - t0);
    }
    if (pgc_commit(pg, err, sizeof(err)) < 0) {
        fprintf(stderr, TOOL ": commit: %s\n", err);
        goto fail;
    }
    if (pgc_exec(pg, "ANALYZE psop.service_events", err, sizeof(err)) < 0 ||
        pgc_exec(pg, "ANALYZE psop.vouchers", err, sizeof(err)) < 0 ||
        pgc_exec(pg, "ANALYZE psop.providers", err, sizeof(err)) < 0)
        fprintf(stderr, TOOL ": analyze: %s\n", err);

    FILE *f = fopen(out_path, "w");
    if (!f) {
        perror(out_path);
        return 1;
    }
    fprintf(f, "run %s\nperiod %s\n", run, period);
    for (long i = 0; i < no; i++)
        fprintf(f, "organiser %s\n", orgs[i]);
    if (fclose(f) != 0) {
        perror(out_path);
        return 1;
    }
    fprintf(stderr,
            "seeded run %s: %ld organisers, %ld providers, %ld vouchers, %ld approved events "
            "of %s, service type %s (%.1f s)\n",
            run, no, np, nv, ne, period, st, now_s() - t0);
    printf("%s\n", out_path);
    pgc_free(pg);
    return 0;
fail:
    pgc_rollback(pg);
    pgc_free(pg);
    return 1;
}
