#include "record_set.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/ids.h"
#include "core/xmalloc.h"
#include "h_service_event.h"
#include "idem_record.h"
#include "outbox.h"
#include "store/topics.h"

/* A voucher of the run, locked, as the commands so far left it. */
struct rs_voucher {
    struct se_parent p; /* version and budget_used_cents move with each accepted record */
    long long locked_version;
    long long accepted;
    long long pot_moved; /* cents drawn from a budget voucher's pot by the run */
};

/* One (voucher, date) of the run and its facts as the run found them. */
struct rs_pair {
    int v;
    day_t d;
    bool have;
    struct se_provider_facts pf;
    struct se_voucher_facts vf;
};

/* Quantity the run's accepted records added to a voucher's month. */
struct rs_month {
    int v;
    int ym;
    int64_t added;
};

/* What the run decided for one command, kept until the writes. */
struct rs_state {
    int v;
    const char *eid;
    bool reused_key;
    bool accepted;
    struct se_input in;
    struct se_result res;
    struct se_parent after; /* the voucher after this record (version, pot) */
};

struct rs_run {
    struct pgc *pg;
    struct rs_item *items;
    struct rs_state *st;
    size_t n;
    struct rs_voucher *v;
    int nv;
    struct rs_pair *pairs;
    int np;
    struct rs_month *months;
    int nm;
    json_t *taken; /* event ids (lower case) existing or recorded by the run */
    char *err;
    size_t errlen;
};

bool record_set_eligible(const struct envelope *c)
{
    if (!c || !c->type || strcmp(c->type, "service_event.record") != 0)
        return false;
    const char *eid = envelope_str(c, "id");
    return ids_uuid_valid(envelope_str(c, "voucher_id")) && !envelope_str(c, "order_id") &&
           (!eid || ids_uuid_valid(eid));
}

static void take_id(json_t *taken, const char *id)
{
    char k[UUID_STR_LEN];
    ids_lower(k, id);
    json_object_set_new(taken, k, json_true());
}

static bool is_taken(json_t *taken, const char *id)
{
    char k[UUID_STR_LEN];
    ids_lower(k, id);
    return json_object_get(taken, k) != NULL;
}

static PGresult *run_query(struct rs_run *r, const char *sql, const char *param)
{
    const char *p[] = {param};
    return pgc_query(r->pg, sql, 1, p, r->err, r->errlen);
}

/* sql with rows (taken) as its one jsonb parameter. */
static PGresult *run_rows(struct rs_run *r, const char *sql, json_t *rows)
{
    char *doc = json_dumps(rows, JSON_COMPACT);
    json_decref(rows);
    PGresult *res = run_query(r, sql, doc);
    free(doc);
    return res;
}

/* Every voucher of the run, locked in id order (one statement). */
static int lock_vouchers(struct rs_run *r)
{
    struct ids_list ids;
    ids_list_init(&ids);
    for (size_t i = 0; i < r->n; i++)
        ids_list_add(&ids, envelope_str(r->items[i].cmd, "voucher_id"));
    PGresult *res = run_query(
        r, SE_VOUCHER_SELECT "WHERE v.id = ANY ($1::uuid[]) ORDER BY v.id FOR UPDATE OF v",
        ids.text);
    ids_list_free(&ids);
    if (!res)
        return -1;
    r->nv = PQntuples(res);
    r->v = xcalloc((size_t)r->nv + 1, sizeof(*r->v));
    for (int k = 0; k < r->nv; k++) {
        se_voucher_from_row(res, k, &r->v[k].p);
        r->v[k].locked_version = r->v[k].p.version;
    }
    PQclear(res);
    for (size_t i = 0; i < r->n; i++) {
        r->st[i].v = -1;
        const char *vid = envelope_str(r->items[i].cmd, "voucher_id");
        for (int k = 0; k < r->nv; k++)
            if (strcasecmp(vid, r->v[k].p.id) == 0)
                r->st[i].v = k;
    }
    return 0;
}

/* The run's event ids that exist already (one statement). */
static int existing_ids(struct rs_run *r)
{
    struct ids_list ids;
    ids_list_init(&ids);
    for (size_t i = 0; i < r->n; i++)
        ids_list_add(&ids, r->st[i].eid);
    PGresult *res = run_query(
        r, "SELECT id::text FROM psop.service_events WHERE id = ANY ($1::uuid[])", ids.text);
    ids_list_free(&ids);
    if (!res)
        return -1;
    for (int k = 0; k < PQntuples(res); k++)
        take_id(r->taken, PQgetvalue(res, k, 0));
    PQclear(res);
    return 0;
}

static int pair_index(const struct rs_run *r, int v, day_t d)
{
    for (int k = 0; k < r->np; k++)
        if (r->pairs[k].v == v && r->pairs[k].d == d)
            return k;
    return -1;
}

/* The provider's approval and the facts of each (voucher, date) of the run
 * (one statement): the same questions se_provider_in_force and se_evaluate
 * ask one event at a time. The month's use is the one before the run. */
static const char FACTS_SQL[] =
    "SELECT x.i, EXISTS (SELECT 1 FROM psop.providers WHERE id = x.pid), d.decision, "
    " d.valid_from, (SELECT min(s.from_date) FROM psop.provider_suspensions s "
    "  WHERE s.provider_id = x.pid AND s.organiser_id = x.org AND s.service_type = x.st "
    "    AND s.suspended_at > d.decided_at AND s.from_date <= x.d), "
    " (SELECT unit_value_cents FROM psop.voucher_values "
    "   WHERE voucher_id = x.vid AND effective @> x.d), "
    " EXISTS (SELECT 1 FROM psop.holidays WHERE date = x.d), "
    " coalesce((SELECT used FROM psop.voucher_usage "
    "   WHERE voucher_id = x.vid AND month = to_char(x.d, 'YYYY-MM')), 0), "
    " pp.price_cents, pp.price_evening_cents, pp.price_saturday_cents, pp.price_sunday_cents "
    "FROM jsonb_to_recordset($1::jsonb) AS x(i int, vid uuid, d date, pid uuid, org uuid, st text) "
    "LEFT JOIN LATERAL (SELECT decision, valid_from, decided_at FROM psop.provider_decisions "
    "  WHERE provider_id = x.pid AND organiser_id = x.org AND service_type = x.st "
    "  ORDER BY decided_at DESC, id DESC LIMIT 1) d ON true "
    "LEFT JOIN LATERAL (SELECT * FROM psop.provider_prices "
    "  WHERE provider_id = x.pid AND organiser_id = x.org AND service_type = x.st "
    "    AND valid_from <= x.d ORDER BY valid_from DESC LIMIT 1) pp ON true";

static int read_facts(struct rs_run *r)
{
    r->pairs = xcalloc(r->n + 1, sizeof(*r->pairs));
    json_t *rows = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const char *ds = envelope_str(r->items[i].cmd, "date");
        day_t d;
        int v = r->st[i].v;
        if (v < 0 || !r->v[v].p.provider_id[0] || !ds || date_parse(ds, &d) < 0 ||
            pair_index(r, v, d) >= 0)
            continue;
        const struct se_parent *p = &r->v[v].p;
        char dt[11];
        date_format(d, dt);
        json_array_append_new(rows, json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "i", r->np, "vid",
                                              p->id, "d", dt, "pid", p->provider_id, "org",
                                              p->organiser_id, "st", p->service_type));
        r->pairs[r->np++] = (struct rs_pair){.v = v, .d = d};
    }
    if (r->np == 0) {
        json_decref(rows);
        return 0;
    }
    PGresult *res = run_rows(r, FACTS_SQL, rows);
    if (!res)
        return -1;
    for (int k = 0; k < PQntuples(res); k++) {
        int i = atoi(PQgetvalue(res, k, 0));
        if (i < 0 || i >= r->np)
            continue;
        struct rs_pair *pr = &r->pairs[i];
        se_provider_facts_from(res, k, 1, &pr->pf);
        se_voucher_facts_from(res, k, 5, &pr->vf);
        pr->have = true;
    }
    PQclear(res);
    return 0;
}

static int month_of(day_t d)
{
    char s[11];
    date_format(d, s);
    return atoi(s) * 12 + atoi(s + 5);
}

static struct rs_month *month_slot(struct rs_run *r, int v, day_t d)
{
    int ym = month_of(d);
    for (int k = 0; k < r->nm; k++)
        if (r->months[k].v == v && r->months[k].ym == ym)
            return &r->months[k];
    r->months[r->nm] = (struct rs_month){.v = v, .ym = ym};
    return &r->months[r->nm++];
}

/* The verdict of item i, as se_record gives it, with the run's earlier
 * records already counted. -1 when its facts are missing (cannot happen:
 * the caller falls back to one by one). */
static int decide(struct rs_run *r, size_t i, enum apply_result *out)
{
    struct apply_ctx *ctx = &r->items[i].ctx;
    struct rs_state *s = &r->st[i];
    if (s->reused_key) {
        *out = apply_reject(ctx, "%s", IDEM_REUSED_REASON);
        return 0;
    }
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", s->eid);
    if (!apply_role_in(ctx, ROLE_PROVIDER | ROLE_ADMIN)) {
        *out = apply_reject(ctx, "forbidden: service events are recorded by providers");
        return 0;
    }
    if (s->v < 0) {
        *out = apply_reject(ctx, "not_found: voucher %s does not exist",
                            envelope_str(ctx->cmd, "voucher_id"));
        return 0;
    }
    struct rs_voucher *rv = &r->v[s->v];
    enum apply_result ar;
    if ((ar = se_record_may(ctx, &rv->p)) != APPLY_OK) {
        *out = ar;
        return 0;
    }
    if (is_taken(r->taken, s->eid)) {
        *out = apply_reject(ctx, "already_exists: service event %s exists", s->eid);
        return 0;
    }
    memset(&s->in, 0, sizeof(s->in));
    memset(&s->res, 0, sizeof(s->res));
    if ((ar = se_read_input(ctx, &s->in)) != APPLY_OK ||
        (ar = se_precheck(ctx, &rv->p, &s->in)) != APPLY_OK) {
        *out = ar;
        return 0;
    }
    int k = pair_index(r, s->v, s->in.date);
    if (k < 0 || !r->pairs[k].have) {
        snprintf(r->err, r->errlen, "record set: no facts for voucher %s on a date", rv->p.id);
        return -1;
    }
    const struct rs_pair *pr = &r->pairs[k];
    const struct se_parent *p = &rv->p;
    if ((ar = se_provider_verdict(ctx, p->provider_id, p->organiser_id, p->service_type, s->in.date,
                                  &pr->pf)) != APPLY_OK) {
        *out = ar;
        return 0;
    }
    struct rs_month *m = month_slot(r, s->v, s->in.date);
    struct se_voucher_facts f = pr->vf;
    f.used += m->added;
    if ((ar = se_evaluate_voucher(ctx, p, &s->in, &f, &s->res)) != APPLY_OK) {
        *out = ar;
        return 0;
    }
    /* se_budget_move's rule: the pot stays within 0..budget. */
    int64_t delta = s->res.budget ? s->res.a.organiser_part_cents : 0;
    if (p->budget && delta != 0) {
        int64_t used = rv->p.budget_used_cents + delta;
        if (used < 0 || used > rv->p.budget_cents) {
            *out = apply_reject(ctx,
                                "budget_exhausted: voucher %s cannot move its pot by %lld "
                                "cents",
                                p->id, (long long)delta);
            return 0;
        }
        rv->p.budget_used_cents = used;
        rv->pot_moved += delta;
    }
    m->added += s->in.qty_h;
    rv->accepted++;
    rv->p.version = rv->locked_version + rv->accepted;
    take_id(r->taken, s->eid);
    s->accepted = true;
    s->after = rv->p;
    *out = APPLY_OK;
    return 0;
}

static json_t *num_or_null(bool set, long long v)
{
    return set ? json_integer(v) : json_null();
}

/* The insert's row of an accepted record: se_record's columns. */
static json_t *event_row(const struct rs_state *s, const struct envelope *c)
{
    const struct se_parent *p = &s->after;
    const struct se_result *res = &s->res;
    bool unit = !res->budget;
    char ds[11];
    date_format(s->in.date, ds);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s?, s:s?}", "id",
                  s->eid, "voucher_id", p->id, "provider_id", p->provider_id, "organiser_id",
                  p->organiser_id, "service_type", p->service_type, "date", ds, "quantity",
                  (json_int_t)s->in.qty_h, "unit_price_cents", (json_int_t)res->a.unit_price_cents,
                  "gross_cents", (json_int_t)res->a.gross_cents, "organiser_part_cents",
                  (json_int_t)res->a.organiser_part_cents, "client_share_cents",
                  (json_int_t)res->a.client_share_cents, "note", envelope_str(c, "note"),
                  "recorded_by", c->actor.sub);
    json_object_set_new(o, "band", res->has_band ? json_string(band_name(res->band)) : json_null());
    json_object_set_new(o, "voucher_value_cents", num_or_null(unit, res->voucher_value_cents));
    json_object_set_new(o, "band_coefficient", num_or_null(res->has_band, res->coef_h));
    json_object_set_new(o, "value_unit_cents", num_or_null(unit, res->a.value_unit_cents));
    json_object_set_new(o, "budget_remaining_before_cents",
                        num_or_null(res->budget, res->remaining_before_cents));
    return o;
}

static const char INSERT_SQL[] =
    "INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, service_type, "
    " date, quantity, band, unit_price_cents, voucher_value_cents, band_coefficient, "
    " value_unit_cents, gross_cents, organiser_part_cents, client_share_cents, note, "
    " recorded_by, budget_remaining_before_cents, recorded_at, updated_at) "
    "SELECT x.id, x.voucher_id, x.provider_id, x.organiser_id, x.service_type, x.date, "
    " x.quantity, x.band, x.unit_price_cents, x.voucher_value_cents, x.band_coefficient, "
    " x.value_unit_cents, x.gross_cents, x.organiser_part_cents, x.client_share_cents, x.note, "
    " x.recorded_by, x.budget_remaining_before_cents, clock_timestamp(), clock_timestamp() "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, voucher_id uuid, provider_id uuid, "
    " organiser_id uuid, service_type text, date date, quantity integer, band text, "
    " unit_price_cents bigint, voucher_value_cents bigint, band_coefficient integer, "
    " value_unit_cents bigint, gross_cents bigint, organiser_part_cents bigint, "
    " client_share_cents bigint, note text, recorded_by text, "
    " budget_remaining_before_cents bigint) "
    "RETURNING id::text, version";

/* One version bump per voucher for all its accepted records, and the pot's
 * move: se_parent_bump and se_budget_move, summed. */
static const char BUMP_SQL[] =
    "UPDATE psop.vouchers v SET version = v.version + x.k, updated_at = now(), "
    " budget_used_cents = CASE WHEN x.d = 0 THEN v.budget_used_cents "
    "   ELSE v.budget_used_cents + x.d END "
    "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, k bigint, d bigint) "
    "WHERE v.id = x.id AND (x.d = 0 OR v.budget_used_cents + x.d BETWEEN 0 AND v.budget_cents) "
    "RETURNING v.id::text, v.version";

/* The accepted records written: their rows (one statement), the vouchers'
 * versions and pots (one statement); the event versions go to versions
 * (lower-case id -> version). */
static int write_accepted(struct rs_run *r, json_t *versions)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < r->n; i++)
        if (r->st[i].accepted)
            json_array_append_new(rows, event_row(&r->st[i], r->items[i].cmd));
    size_t want = json_array_size(rows);
    if (want == 0) {
        json_decref(rows);
        return 0;
    }
    PGresult *res = run_rows(r, INSERT_SQL, rows);
    if (!res)
        return -1;
    for (int k = 0; k < PQntuples(res); k++)
        json_object_set_new(versions, PQgetvalue(res, k, 0),
                            json_integer(strtoll(PQgetvalue(res, k, 1), NULL, 10)));
    bool all = (size_t)PQntuples(res) == want;
    PQclear(res);
    if (!all) {
        snprintf(r->err, r->errlen, "record set: %zu events asked, fewer inserted", want);
        return -1;
    }
    json_t *bumps = json_array();
    int nb = 0;
    for (int k = 0; k < r->nv; k++)
        if (r->v[k].accepted > 0) {
            json_array_append_new(bumps, json_pack("{s:s, s:I, s:I}", "id", r->v[k].p.id, "k",
                                                   (json_int_t)r->v[k].accepted, "d",
                                                   (json_int_t)r->v[k].pot_moved));
            nb++;
        }
    res = run_rows(r, BUMP_SQL, bumps);
    if (!res)
        return -1;
    int bad = PQntuples(res) != nb;
    for (int k = 0; !bad && k < PQntuples(res); k++)
        for (int j = 0; j < r->nv; j++)
            if (strcmp(r->v[j].p.id, PQgetvalue(res, k, 0)) == 0 &&
                strtoll(PQgetvalue(res, k, 1), NULL, 10) != r->v[j].p.version)
                bad = 1;
    PQclear(res);
    if (bad) {
        snprintf(r->err, r->errlen, "record set: a voucher's version or pot moved under its lock");
        return -1;
    }
    return 0;
}

/* After the writes: each accepted record's event and read models, as
 * se_record stages them. */
static void stage_events(struct rs_run *r, json_t *versions)
{
    for (size_t i = 0; i < r->n; i++) {
        struct rs_state *s = &r->st[i];
        if (!s->accepted)
            continue;
        struct apply_ctx *ctx = &r->items[i].ctx;
        char k[UUID_STR_LEN];
        ids_lower(k, s->eid);
        long long version = json_integer_value(json_object_get(versions, k));
        outbox_add(ctx, TOPIC_EVT_VOUCHER, s->after.id, "service_event.recorded",
                   se_event_json(s->eid, &s->after, s->after.provider_id, &s->in, &s->res,
                                 envelope_str(ctx->cmd, "note"), "recorded", version));
        se_touch_event(ctx, &s->after, s->eid);
    }
}

int record_set_apply(struct pgc *pg, const struct psop_config *cfg, const char *source,
                     struct rs_item *items, size_t n, char *err, size_t errlen)
{
    struct rs_run r = {.pg = pg, .items = items, .n = n, .err = err, .errlen = errlen};
    r.st = xcalloc(n + 1, sizeof(*r.st));
    r.months = xcalloc(n + 1, sizeof(*r.months));
    r.taken = json_object();
    json_t *versions = json_object();
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        items[i].ctx =
            (struct apply_ctx){.pg = pg, .cfg = cfg, .cmd = items[i].cmd, .source = source};
        const char *eid = envelope_str(items[i].cmd, "id");
        r.st[i].eid = eid ? eid : items[i].cmd->id; /* se_record's default */
        /* The Idempotency-Key first, as apply_one does (idem_record.h). */
        enum idem_rec key = idem_record(pg, items[i].cmd, err, errlen);
        if (key == IDEM_REC_ERROR)
            goto out;
        r.st[i].reused_key = key == IDEM_REC_REUSED;
    }
    if (lock_vouchers(&r) < 0 || existing_ids(&r) < 0 || read_facts(&r) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (decide(&r, i, &items[i].res) < 0)
            goto out;
    if (write_accepted(&r, versions) < 0)
        goto out;
    stage_events(&r, versions);
    rc = 0;
out:
    json_decref(versions);
    json_decref(r.taken);
    free(r.st);
    free(r.months);
    free(r.v);
    free(r.pairs);
    return rc;
}

void record_set_clear(struct rs_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(items[i].ctx.events);
        json_decref(items[i].ctx.touched);
        items[i].ctx.events = items[i].ctx.touched = NULL;
    }
}
