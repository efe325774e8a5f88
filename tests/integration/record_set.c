/*
 * A run of service_event.record commands applied as a set
 * (workers/record_set.h) gives what applying them one by one gives
 * (workers/h_service_event.c, se_record): the same verdicts and reasons, the
 * same rows to the cent, the same voucher versions, pots and month usage,
 * the same events and read models touched.
 *
 * Both ways run here on the stack's PostgreSQL, in a transaction each that
 * is rolled back, on the same vouchers (granted through the running
 * workers): a mix of quota filled within the run, pots drawn down, bands,
 * holidays, prices, unknown vouchers, other providers' actors, providers
 * not yet approved, suspended or not approved at all, vouchers without a
 * provider, dates in the future or before the voucher, ids repeated within
 * the run and ids that exist already, in a random order from a fixed seed.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "commands.h"
#include "harness.h"
#include "record_set.h"
#include "schemas.h"
#include "store/pgc.h"
#include "voucher_world.h"

#define N_CMDS 160

struct world {
    struct vworld w;
    char p1[UUID_STR_LEN], p_late[UUID_STR_LEN], p_none[UUID_STR_LEN], p_susp[UUID_STR_LEN];
    char v[7][UUID_STR_LEN]; /* the vouchers of the run; v[6] does not exist */
    char existing[UUID_STR_LEN];
};

static void setup(struct world *x)
{
    struct vworld *w = &x->w;
    vw_init(w);
    vw_provider(w, x->p1, "2025-12-01");
    vw_provider_bare(w, x->p_late);
    vw_approve(w, x->p_late, w->org_a, w->banded, "2025-12-01");
    vw_price(w, x->p_late, w->org_a, w->banded, "2026-01-01", 3200, 3300, -1, -1);
    vw_provider(w, x->p_none, "2025-12-01");
    vw_provider(w, x->p_susp, "2025-12-01");
    vw_grant(w, x->v[0], w->banded, 3000, 1200, x->p1, "2026-01-01", "SET-1"); /* quota 12 h */
    vw_grant(w, x->v[1], w->plain, 2500, 0, x->p1, "2026-03-01", "SET-2");
    vw_grant(w, x->v[2], w->banded, 3000, 0, x->p_late, "2026-01-01", "SET-3");
    vw_grant(w, x->v[3], w->plain, 2500, 0, x->p_none, "2026-01-01", "SET-4");
    vw_grant(w, x->v[4], w->banded, 2800, 800, x->p_susp, "2026-01-01", "SET-5");
    /* a pot of 300.00 for June to October */
    tc_uuid(x->v[5]);
    vw_applied(w, x->v[5], "voucher.grant", &w->orgs_a,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "id", x->v[5],
                         "organiser_id", w->org_a, "client_id", "SET-6", "service_type", w->banded,
                         "decision_number", "PS-SET-6", "valid_from", "2026-06-01", "valid_to",
                         "2026-10-31", "budget_cents", 30000, "provider_id", x->p1));
    /* after the grants: p_late's newer decision approves it from June 2026
     * only, p_none's latest decision is a refusal, p_susp is suspended */
    vw_sql(w,
           "INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, "
           "decision, valid_from, reason, decided_by, decided_at) VALUES ('%s', '%s', '%s', "
           "'approved', '2026-06-01', NULL, 'test', now()), ('%s', '%s', '%s', 'rejected', NULL, "
           "'valvonta', 'test', now())",
           x->p_late, w->org_a, w->banded, x->p_none, w->org_a, w->plain);
    vw_sql(w,
           "INSERT INTO psop.provider_suspensions (provider_id, organiser_id, service_type, "
           "from_date, reason, suspended_by) VALUES ('%s', '%s', '%s', '2026-09-20', "
           "'valvonta', 'test')",
           x->p_susp, w->org_a, w->banded);
    tc_uuid(x->v[6]);
    struct tc_actor pa = vw_prov_actor(x->p1);
    vw_applied(w, x->v[0], "service_event.record", &pa,
               vw_event(x->existing, "2026-09-01", 2, NULL, -1));
}

/* One random record (fixed seed): the envelope JSON. */
static char *random_record(struct world *x, unsigned *seed, char ids[][UUID_STR_LEN], int k)
{
    /* weighted towards what applies, so quotas and pots fill up */
    static const char *const dates[] = {"2026-09-08", "2026-09-09", "2026-09-10", "2026-09-11",
                                        "2026-09-05", "2026-09-06", "2026-09-21", "2026-06-15",
                                        "2026-10-12", "2026-12-06", "2026-05-20", "2025-12-20",
                                        "2027-03-01", "2026-11-30"};
    static const char *const bands[] = {NULL,      NULL,      NULL,       NULL,
                                        "weekday", "evening", "saturday", "sunday"};
    static const double qty[] = {0.5, 1, 1.25, 2, 3, 4, 6.5};
    static const long prices[] = {-1, -1, -1, -1, -1, 2000, 3490, 9999};
    static const int vouchers[] = {0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 4, 5, 5, 5, 5, 6};
    int vi = vouchers[rand_r(seed) % (sizeof(vouchers) / sizeof(*vouchers))];
    const char *vid = x->v[vi];
    /* the id: new, one of the run's earlier ones, or one that exists */
    int pick = rand_r(seed) % 20;
    if (pick == 0)
        snprintf(ids[k], UUID_STR_LEN, "%s", x->existing);
    else if (pick == 1 && k > 0)
        memcpy(ids[k], ids[rand_r(seed) % k], UUID_STR_LEN); /* j < k: no overlap */
    else
        tc_uuid(ids[k]);
    json_t *d = json_pack("{s:s, s:s, s:s, s:f}", "voucher_id", vid, "id", ids[k], "date",
                          dates[rand_r(seed) % (sizeof(dates) / sizeof(*dates))], "quantity",
                          qty[rand_r(seed) % (sizeof(qty) / sizeof(*qty))]);
    const char *band = bands[rand_r(seed) % (sizeof(bands) / sizeof(*bands))];
    if (band)
        json_object_set_new(d, "band", json_string(band));
    long price = prices[rand_r(seed) % (sizeof(prices) / sizeof(*prices))];
    if (price >= 0)
        json_object_set_new(d, "unit_price_cents", json_integer(price));
    if (rand_r(seed) % 5 == 0)
        json_object_set_new(d, "note", json_string("käynti"));
    /* the actor: mostly the voucher's provider, sometimes another one, an
     * admin or an organiser */
    const char *const provs[] = {x->p1, x->p1, x->p_late, x->p_none, x->p_susp, x->p1, x->p1};
    int a = rand_r(seed) % 30;
    struct tc_actor actor = vw_prov_actor(a == 0 ? x->p_late : provs[vi]);
    if (a == 1)
        actor = x->w.admin;
    if (a == 2)
        actor = x->w.orgs_a;
    char cid[UUID_STR_LEN];
    tc_uuid(cid);
    char *env = tc_envelope(cid, "service_event.record", &actor, d);
    json_decref(d);
    return env;
}

/* What a way left behind, as text to compare: per command its verdict,
 * reason, resource, events' data and read models touched; then the rows. */
static char *outcome(struct pgc *pg, struct world *x, struct rs_item *items, size_t n)
{
    json_t *o = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *datas = json_array();
        json_t *e;
        size_t k;
        json_array_foreach(items[i].ctx.events, k, e)
        {
            json_t *pl = json_object_get(e, "payload");
            json_array_append_new(
                datas, json_pack("{s:O, s:O, s:O, s:O}", "topic", json_object_get(e, "topic"),
                                 "key", json_object_get(e, "key"), "type",
                                 json_object_get(pl, "type"), "data", json_object_get(pl, "data")));
        }
        json_array_append_new(
            o, json_pack("{s:s, s:s, s:s, s:o, s:O}", "verdict",
                         items[i].res == APPLY_OK ? "applied" : "rejected", "reason",
                         items[i].res == APPLY_OK ? "" : items[i].ctx.reason, "resource",
                         items[i].ctx.resource_id, "events", datas, "touched",
                         items[i].ctx.touched ? items[i].ctx.touched : json_null()));
    }
    char err[512], list[8 * 40];
    snprintf(list, sizeof(list), "{%s,%s,%s,%s,%s,%s}", x->v[0], x->v[1], x->v[2], x->v[3], x->v[4],
             x->v[5]);
    const char *p[] = {list};
    PGresult *r = pgc_query(
        pg,
        "SELECT json_build_object('events', (SELECT json_agg(to_jsonb(e) - 'recorded_at' - "
        "'updated_at' ORDER BY e.voucher_id, e.date, e.id) FROM psop.service_events e "
        "WHERE e.voucher_id = ANY ($1::uuid[])), 'vouchers', (SELECT json_agg(json_build_array("
        "v.id, v.version, v.budget_used_cents) ORDER BY v.id) FROM psop.vouchers v "
        "WHERE v.id = ANY ($1::uuid[])), 'usage', (SELECT json_agg(to_jsonb(u) ORDER BY "
        "u.voucher_id, u.month) FROM psop.voucher_usage u WHERE u.voucher_id = ANY ($1::uuid[])))",
        1, p, err, sizeof(err));
    cr_assert_not_null(r, "state: %s", err);
    json_array_append_new(o, json_loads(PQgetvalue(r, 0, 0), 0, NULL));
    PQclear(r);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(o);
    return s;
}

/* The commands one by one, as the worker's apply_one does: a savepoint
 * each, rolled back on a rejection. */
static void one_by_one(struct pgc *pg, struct rs_item *items, size_t n)
{
    char err[512];
    apply_fn fn = apply_lookup("service_event.record");
    cr_assert_not_null(fn);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(pgc_exec(pg, "SAVEPOINT cmd", err, sizeof(err)), 0, "%s", err);
        items[i].ctx =
            (struct apply_ctx){.pg = pg, .cfg = h_config(), .cmd = items[i].cmd, .source = "test"};
        items[i].res = fn(&items[i].ctx);
        cr_assert_neq(items[i].res, APPLY_FAILED, "command %zu failed: %s", i, items[i].ctx.err);
        if (items[i].res == APPLY_REJECTED) {
            cr_assert_eq(pgc_exec(pg, "ROLLBACK TO SAVEPOINT cmd", err, sizeof(err)), 0, "%s", err);
            record_set_clear(&items[i], 1);
        }
        cr_assert_eq(pgc_exec(pg, "RELEASE SAVEPOINT cmd", err, sizeof(err)), 0, "%s", err);
    }
}

static size_t count(const struct rs_item *items, size_t n, enum apply_result res, const char *code)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].res == res && (!code || strncmp(items[i].ctx.reason, code, strlen(code)) == 0))
            c++;
    return c;
}

Test(record_set, equals_one_by_one, .timeout = 180)
{
    struct world x;
    setup(&x);
    struct jschema_registry *reg = t_schemas();
    char err[512];
    static char ids[N_CMDS][UUID_STR_LEN];
    struct envelope cmds[N_CMDS];
    unsigned seed = 20261207;
    for (int i = 0; i < N_CMDS; i++) {
        char *env = random_record(&x, &seed, ids, i);
        cr_assert_eq(envelope_parse(reg, ENVELOPE_VERSION_CURRENT, env, strlen(env), &cmds[i], err,
                                    sizeof(err)),
                     0, "command %d: %s", i, err);
        free(env);
        cr_assert(record_set_eligible(&cmds[i]), "command %d is a voucher's record", i);
    }
    struct pgc *pg = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert_not_null(pg, "%s", err);

    struct rs_item set[N_CMDS], one[N_CMDS];
    memset(set, 0, sizeof(set));
    memset(one, 0, sizeof(one));
    for (int i = 0; i < N_CMDS; i++)
        set[i].cmd = one[i].cmd = &cmds[i];

    cr_assert_eq(pgc_begin(pg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(record_set_apply(pg, h_config(), "test", set, N_CMDS, err, sizeof(err)), 0,
                 "the set failed: %s", err);
    char *as_set = outcome(pg, &x, set, N_CMDS);
    pgc_rollback(pg);

    cr_assert_eq(pgc_begin(pg, err, sizeof(err)), 0, "%s", err);
    one_by_one(pg, one, N_CMDS);
    char *as_one = outcome(pg, &x, one, N_CMDS);
    pgc_rollback(pg);

    /* The mix is a mix: applied ones and every kind of rejection. */
    size_t applied = count(set, N_CMDS, APPLY_OK, NULL);
    cr_expect_gt(applied, 30, "applied %zu of %d", applied, N_CMDS);
    const char *codes[] = {"quota_exceeded",
                           "already_exists",
                           "not_found",
                           "forbidden",
                           "date_in_future",
                           "voucher_not_active",
                           "provider_not_approved",
                           "provider_suspended",
                           "budget_",
                           "price_above_list"};
    for (size_t c = 0; c < sizeof(codes) / sizeof(*codes); c++)
        cr_expect_gt(count(set, N_CMDS, APPLY_REJECTED, codes[c]), 0, "no %s in the mix", codes[c]);

    /* Equal, and where not, the first command that differs. */
    if (strcmp(as_set, as_one) != 0) {
        size_t k = 0;
        while (as_set[k] && as_set[k] == as_one[k])
            k++;
        size_t from = k > 300 ? k - 300 : 0;
        cr_expect_fail("the set and one by one differ at byte %zu:\n set: %.600s\n one: %.600s", k,
                       as_set + from, as_one + from);
    }
    free(as_set);
    free(as_one);
    record_set_clear(set, N_CMDS);
    record_set_clear(one, N_CMDS);
    for (int i = 0; i < N_CMDS; i++)
        envelope_free(&cmds[i]);
    pgc_free(pg);
    jschema_registry_free(reg);
    vw_fini(&x.w);
}

Test(record_set, which_commands_join)
{
    struct jschema_registry *reg = t_schemas();
    char err[512], v[UUID_STR_LEN], e[UUID_STR_LEN], c[UUID_STR_LEN];
    tc_uuid(v);
    tc_uuid(c);
    struct tc_actor a = {.sub = "erp", .role = "provider", .provider = v};
    struct {
        const char *type;
        json_t *data;
        bool joins;
    } cases[] = {
        {"service_event.record",
         json_pack("{s:s, s:s, s:s, s:i}", "voucher_id", v, "id", (tc_uuid(e), e), "date",
                   "2026-10-01", "quantity", 1),
         true},
        {"service_event.record",
         json_pack("{s:s, s:s, s:i}", "voucher_id", v, "date", "2026-10-01", "quantity", 1), true},
        {"service_event.record",
         json_pack("{s:s, s:s, s:i}", "order_id", v, "date", "2026-10-01", "quantity", 1), false},
        {"service_event.approve", json_pack("{s:s, s:s}", "voucher_id", v, "event_id", e), false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char *env = tc_envelope(c, cases[i].type, &a, cases[i].data);
        struct envelope cmd;
        cr_assert_eq(
            envelope_parse(reg, ENVELOPE_VERSION_CURRENT, env, strlen(env), &cmd, err, sizeof(err)),
            0, "case %zu: %s", i, err);
        cr_expect_eq(record_set_eligible(&cmd), cases[i].joins, "case %zu (%s)", i, cases[i].type);
        envelope_free(&cmd);
        json_decref(cases[i].data);
        free(env);
    }
    cr_expect_not(record_set_eligible(NULL));
    jschema_registry_free(reg);
}

static struct envelope parse_record(struct jschema_registry *reg, const struct tc_actor *a,
                                    json_t *data)
{
    char err[512], cid[UUID_STR_LEN];
    tc_uuid(cid);
    char *env = tc_envelope(cid, "service_event.record", a, data);
    json_decref(data);
    struct envelope c;
    cr_assert_eq(
        envelope_parse(reg, ENVELOPE_VERSION_CURRENT, env, strlen(env), &c, err, sizeof(err)), 0,
        "%s", err);
    free(env);
    return c;
}

static void *commit_later(void *arg)
{
    char err[512];
    h_sleep_ms(1500);
    if (pgc_commit(arg, err, sizeof(err)) < 0)
        return (void *)1;
    return NULL;
}

Test(record_set, an_id_taken_meanwhile_sends_the_run_one_by_one, .timeout = 120)
{
    struct world x;
    setup(&x);
    struct jschema_registry *reg = t_schemas();
    struct tc_actor pa = vw_prov_actor(x.p1);
    char taken[UUID_STR_LEN], fresh[UUID_STR_LEN];
    json_t *d = vw_event(taken, "2026-09-08", 1, NULL, -1);
    json_object_set_new(d, "voucher_id", json_string(x.v[1]));
    struct envelope other = parse_record(reg, &pa, d);
    d = json_pack("{s:s, s:s, s:s, s:i}", "voucher_id", x.v[0], "id", taken, "date", "2026-09-08",
                  "quantity", 1);
    struct envelope cmds[2] = {parse_record(reg, &pa, d), {0}};
    d = vw_event(fresh, "2026-09-08", 1, NULL, -1);
    json_object_set_new(d, "voucher_id", json_string(x.v[0]));
    cmds[1] = parse_record(reg, &pa, d);

    /* Another worker (another partition) records the id and commits while
     * the set waits on it. */
    char err[512];
    struct pgc *b = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    struct pgc *a = pgc_connect(h_config()->pg_dsn, err, sizeof(err));
    cr_assert(a && b, "%s", err);
    cr_assert_eq(pgc_begin(b, err, sizeof(err)), 0, "%s", err);
    struct apply_ctx bc = {.pg = b, .cfg = h_config(), .cmd = &other, .source = "test"};
    cr_assert_eq(apply_lookup("service_event.record")(&bc), APPLY_OK, "%s%s", bc.reason, bc.err);
    record_set_clear(&(struct rs_item){.ctx = bc}, 1);

    struct rs_item items[2] = {{.cmd = &cmds[0]}, {.cmd = &cmds[1]}};
    cr_assert_eq(pgc_begin(a, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(pgc_exec(a, "SAVEPOINT rs", err, sizeof(err)), 0, "%s", err);
    pthread_t th;
    pthread_create(&th, NULL, commit_later, b);
    int rc = record_set_apply(a, h_config(), "test", items, 2, err, sizeof(err));
    void *commit_failed;
    pthread_join(th, &commit_failed);
    cr_assert_null(commit_failed, "the other transaction did not commit");
    cr_expect_eq(rc, -1, "the set must fail on the taken id");
    cr_expect_not(pgc_last_transient(a), "a unique violation is not transient: %s", err);
    record_set_clear(items, 2);

    cr_assert_eq(pgc_exec(a, "ROLLBACK TO SAVEPOINT rs", err, sizeof(err)), 0, "%s", err);
    one_by_one(a, items, 2);
    cr_expect_eq(items[0].res, APPLY_REJECTED);
    char *want = xasprintf("already_exists: service event %s exists", taken);
    cr_expect_str_eq(items[0].ctx.reason, want);
    free(want);
    cr_expect_eq(items[1].res, APPLY_OK, "%s", items[1].ctx.reason);
    pgc_rollback(a);
    record_set_clear(items, 2);
    envelope_free(&cmds[0]);
    envelope_free(&cmds[1]);
    envelope_free(&other);
    pgc_free(a);
    pgc_free(b);
    jschema_registry_free(reg);
    vw_fini(&x.w);
}
