/*
 * h_settlement.c - settlements (tilitys): settlement.run, settlement.confirm,
 * settlement.mark_paid (psop.commands.settlement; runs keyed by organiser,
 * confirm/pay by settlement id).
 *
 * A run is set-based: one statement settles the organiser's approved events
 * of the period and all its unsettled credits and writes their lines,
 * answering one aggregate row per (settlement, line kind, VAT rate); the
 * totals, numbers, references and due date come from lib/domain/settlement.h
 * per settlement (never per event); two more statements insert the
 * settlements and their VAT rows from a JSON array. Nothing is done per
 * event in C, so a run of 1 000 000 events costs the same round trips as a
 * run of ten. See docs/settlement.md for the decisions.
 *
 * Gapless numbers: the per-(organiser, year) counter row is updated only
 * after the lines exist (an empty run takes no number) and stays locked
 * until the batch commits, so concurrent runs of one organiser queue on it;
 * a rollback gives the numbers back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/date.h"
#include "domain/settlement.h"
#include "handlers.h"
#include "core/ids.h"
#include "outbox.h"
#include "store/topics.h"
#include "views/view_settlement.h"
#include "views/view_voucher.h"
#include "core/xmalloc.h"

/* ---------------------------------------------------------------------- */
/* settlement.run                                                          */
/* ---------------------------------------------------------------------- */

/*
 * Settles and writes the lines; one row per (settlement, kind, rate):
 *   0 settlement_id, 1 provider_id, 2 business_id, 3 kind, 4 vat_rate_bp,
 *   5 gross, 6 organiser part, 7 client share, 8 lines
 * ordered by the provider's business id (the order numbers are given in).
 * $1 organiser, $2 first day of the period, $3 first day of the next month.
 * cand is MATERIALIZED: its random ids are drawn once per provider.
 */
static const char RUN_SQL[] =
    "WITH cand AS MATERIALIZED ("
    "  SELECT p.provider_id, gen_random_uuid() AS sid FROM ("
    "    SELECT provider_id FROM psop.service_events"
    "     WHERE organiser_id = $1::uuid AND state = 'approved'"
    "       AND date >= $2::date AND date < $3::date"
    "    UNION"
    "    SELECT provider_id FROM psop.credits"
    "     WHERE organiser_id = $1::uuid AND settlement_id IS NULL) p),"
    " ev AS (UPDATE psop.service_events e"
    "     SET state = 'settled', settlement_id = c.sid, settled_at = now(),"
    "         version = e.version + 1, updated_at = now()"
    "    FROM cand c"
    "   WHERE e.provider_id = c.provider_id AND e.organiser_id = $1::uuid"
    "     AND e.state = 'approved' AND e.date >= $2::date AND e.date < $3::date"
    "  RETURNING e.settlement_id, e.voucher_id, e.order_id, e.contract_id, e.id, e.date,"
    "            e.service_type, e.band, e.quantity, e.unit_price_cents, e.gross_cents,"
    "            e.organiser_part_cents, e.client_share_cents),"
    " cr AS (UPDATE psop.credits k SET settlement_id = c.sid, settled_at = now()"
    "    FROM cand c"
    "   WHERE k.provider_id = c.provider_id AND k.organiser_id = $1::uuid"
    "     AND k.settlement_id IS NULL"
    "  RETURNING k.settlement_id, k.id, k.event_id, k.quantity, k.unit_price_cents,"
    "            k.gross_cents, k.organiser_part_cents, k.client_share_cents),"
    " lines AS ("
    "  SELECT ev.settlement_id, 'event'::text AS kind, ev.voucher_id, ev.order_id,"
    "         ev.contract_id, ev.id AS event_id, NULL::uuid AS credit_id, ev.date,"
    "         ev.service_type, ev.band, ev.quantity, ev.unit_price_cents, ev.gross_cents,"
    "         ev.organiser_part_cents, ev.client_share_cents FROM ev"
    "  UNION ALL"
    "  SELECT cr.settlement_id, 'credit', e.voucher_id, e.order_id, e.contract_id, e.id, cr.id,"
    "         e.date, e.service_type, e.band, cr.quantity, cr.unit_price_cents, cr.gross_cents,"
    "         cr.organiser_part_cents, cr.client_share_cents"
    "    FROM cr JOIN psop.service_events e ON e.id = cr.event_id),"
    " ins AS (INSERT INTO psop.settlement_lines (settlement_id, line_no, kind, source,"
    "         voucher_id, order_id, contract_id, event_id, credit_id, date, service_type, band,"
    "         quantity, unit_price_cents, gross_cents, organiser_part_cents, client_share_cents,"
    "         vat_rate_bp)"
    "  SELECT l.settlement_id, row_number() OVER (PARTITION BY l.settlement_id"
    "           ORDER BY l.kind DESC, l.date, l.event_id, l.credit_id),"
    "         l.kind, CASE WHEN l.voucher_id IS NOT NULL THEN 'voucher' ELSE 'order' END,"
    "         l.voucher_id, l.order_id, l.contract_id, l.event_id, l.credit_id, l.date,"
    "         l.service_type, l.band, l.quantity, l.unit_price_cents, l.gross_cents,"
    "         l.organiser_part_cents, l.client_share_cents, st.vat_rate_bp"
    "    FROM lines l JOIN psop.service_types st ON st.code = l.service_type"
    "  RETURNING settlement_id, kind, vat_rate_bp, gross_cents, organiser_part_cents,"
    "            client_share_cents)"
    "SELECT i.settlement_id, c.provider_id, p.business_id, i.kind, i.vat_rate_bp,"
    "       sum(i.gross_cents), sum(i.organiser_part_cents), sum(i.client_share_cents), count(*)"
    "  FROM ins i JOIN cand c ON c.sid = i.settlement_id"
    "  JOIN psop.providers p ON p.id = c.provider_id"
    " GROUP BY i.settlement_id, c.provider_id, p.business_id, i.kind, i.vat_rate_bp"
    " ORDER BY p.business_id, i.settlement_id, i.kind, i.vat_rate_bp";

/* One new settlement of a run, before it has a number. */
struct run_item {
    char id[40], provider_id[40];
    struct settlement_totals t;
    /* From the rows' counts: t's own event_lines / credit_lines count the
     * add calls, i.e. (kind, rate) groups here, not lines. */
    long long lines, event_lines, credit_lines;
};

/* Groups RUN_SQL's rows into settlements and computes their totals.
 * Returns the count (items allocated, caller frees) or -1 with a rejection
 * reason in ctx (totals that do not add up are a bug: the CHECKs agree). */
static int run_group(struct apply_ctx *ctx, const PGresult *r, struct run_item **items,
                     long long *events, long long *credits)
{
    int rows = PQntuples(r), n = 0;
    struct run_item *it = xcalloc(rows ? (size_t)rows : 1, sizeof(*it));
    char e[64];
    *events = *credits = 0;
    for (int i = 0; i < rows; i++) {
        if (n == 0 || strcmp(it[n - 1].id, PQgetvalue(r, i, 0)) != 0) {
            struct run_item *s = &it[n++];
            snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(r, i, 0));
            snprintf(s->provider_id, sizeof(s->provider_id), "%s", PQgetvalue(r, i, 1));
            settlement_totals_init(&s->t);
        }
        struct run_item *s = &it[n - 1];
        int rate = (int)apply_col_ll(r, i, 4);
        long long cnt = apply_col_ll(r, i, 8);
        int rc;
        if (strcmp(PQgetvalue(r, i, 3), "event") == 0) {
            rc = settlement_totals_add_event(&s->t, apply_col_ll(r, i, 5), apply_col_ll(r, i, 6),
                                             apply_col_ll(r, i, 7), rate, e, sizeof(e));
            s->event_lines += cnt;
            *events += cnt;
        } else {
            rc = settlement_totals_add_credit(&s->t, apply_col_ll(r, i, 6), rate, e, sizeof(e));
            s->credit_lines += cnt;
            *credits += cnt;
        }
        s->lines += cnt;
        if (rc < 0) {
            free(it);
            apply_reject(ctx, "%s: settlement of provider %s", e, PQgetvalue(r, i, 1));
            return -1;
        }
    }
    for (int i = 0; i < n; i++)
        if (settlement_totals_finish(&it[i].t, e, sizeof(e)) < 0) {
            apply_reject(ctx, "%s: settlement of provider %s", e, it[i].provider_id);
            free(it);
            return -1;
        }
    *items = it;
    return n;
}

/* Takes n gapless numbers of (organiser, year): the last one in *last. */
static enum apply_result take_numbers(struct apply_ctx *ctx, const char *org, int year, int n,
                                      long long *last)
{
    char ys[16], ns[16];
    snprintf(ys, sizeof(ys), "%d", year);
    snprintf(ns, sizeof(ns), "%d", n);
    const char *p[] = {org, ys, ns};
    PGresult *r = apply_query(ctx,
                              "INSERT INTO psop.settlement_counters (organiser_id, year) "
                              "VALUES ($1::uuid, $2::int) ON CONFLICT DO NOTHING",
                              2, p);
    if (!r)
        return APPLY_FAILED;
    PQclear(r);
    r = apply_query(ctx,
                    "UPDATE psop.settlement_counters SET last_seq = last_seq + $3::int "
                    "WHERE organiser_id = $1::uuid AND year = $2::int RETURNING last_seq",
                    3, p);
    if (!r)
        return apply_sql_outcome(ctx, "sequence_exhausted");
    *last = PQntuples(r) == 1 ? apply_col_ll(r, 0, 0) : -1;
    PQclear(r);
    return *last < n ? apply_fail(ctx, "settlement counter", "no counter row") : APPLY_OK;
}

static json_t *vat_json(const struct settlement_totals *t)
{
    json_t *a = json_array();
    for (size_t i = 0; i < t->nvat; i++)
        json_array_append_new(a, json_pack("{s:i, s:I, s:I}", "rate_bp", t->vat[i].rate_bp,
                                           "amount_cents", (json_int_t)t->vat[i].amount_cents,
                                           "vat_cents", (json_int_t)t->vat[i].vat_cents));
    return a;
}

static json_t *totals_json(const struct settlement_totals *t)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "gross_cents", (json_int_t)t->gross_cents,
                     "organiser_cents", (json_int_t)t->organiser_cents, "client_share_cents",
                     (json_int_t)t->client_share_cents, "credit_cents", (json_int_t)t->credit_cents,
                     "payable_cents", (json_int_t)t->payable_cents, "vat", vat_json(t));
}

/* Bumps the versions of the vouchers and orders with lines on the given
 * settlements (their read models show event states) and touches them. */
static enum apply_result touch_parents(struct apply_ctx *ctx, const char *ids_array)
{
    const char *p[] = {ids_array};
    PGresult *r = apply_query(
        ctx,
        "WITH l AS (SELECT DISTINCT voucher_id, order_id FROM psop.settlement_lines "
        "  WHERE settlement_id = ANY ($1::uuid[])), "
        " vb AS (UPDATE psop.vouchers SET version = version + 1, updated_at = now() "
        "  WHERE id IN (SELECT voucher_id FROM l WHERE voucher_id IS NOT NULL) RETURNING id), "
        " ob AS (UPDATE psop.orders SET version = version + 1, updated_at = now() "
        "  WHERE id IN (SELECT order_id FROM l WHERE order_id IS NOT NULL) RETURNING id) "
        "SELECT 'v', id FROM vb UNION ALL SELECT 'o', id FROM ob ORDER BY 1, 2",
        1, p);
    if (!r)
        return APPLY_FAILED;
    for (int i = 0; i < PQntuples(r); i++)
        apply_touch(ctx, PQgetvalue(r, i, 0)[0] == 'v' ? VIEW_VOUCHER_KIND : "order",
                    PQgetvalue(r, i, 1));
    PQclear(r);
    return APPLY_OK;
}

static enum apply_result settlement_run(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *org = envelope_str(c, "organiser_id");
    const char *period = envelope_str(c, "period");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", org ? org : "");
    if (!apply_role_in(ctx, ROLE_ADMIN | ROLE_ORGANISER))
        return apply_reject(ctx, "forbidden: settlements are run by the organiser or an admin");
    if (apply_role_in(ctx, ROLE_ORGANISER) && !apply_same_id(c->actor.org, org))
        return apply_reject(ctx, "forbidden: an organiser runs its own settlements only");

    day_t today = date_today_helsinki(), first, last, due;
    char e[64];
    if (settlement_period_check(period, today, &first, &last, e, sizeof(e)) < 0)
        return apply_reject(ctx, "%s: %s is not a month before this one", e, period);
    if (settlement_due_date(today, ctx->cfg->settlement_due_days, &due, e, sizeof(e)) < 0)
        return apply_fail(ctx, "settlement_due_days", e);
    struct ymd ty = date_to_ymd(today);
    char first_s[11], next_s[11], due_s[11];
    date_format(first, first_s);
    date_format(last + 1, next_s);
    date_format(due, due_s);

    const char *qo[] = {org};
    PGresult *r =
        apply_query(ctx, "SELECT invoice_prefix FROM psop.organisers WHERE id = $1::uuid", 1, qo);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return apply_reject(ctx, "not_found: organiser %s does not exist", org);
    }
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    const char *qr[] = {c->id, org, first_s, c->actor.sub};
    r = apply_query(ctx,
                    "INSERT INTO psop.settlement_runs (id, organiser_id, period, run_by) "
                    "VALUES ($1::uuid, $2::uuid, $3::date, $4)",
                    4, qr);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_run");
    PQclear(r);

    const char *qs[] = {org, first_s, next_s};
    r = apply_query(ctx, RUN_SQL, 3, qs);
    if (!r)
        return apply_sql_outcome(ctx, "settlement_conflict");
    struct run_item *items = NULL;
    long long nev = 0, ncr = 0;
    int n = run_group(ctx, r, &items, &nev, &ncr);
    PQclear(r);
    if (n < 0)
        return APPLY_REJECTED;

    enum apply_result ar = APPLY_OK;
    json_t *rows = json_array(), *vat = json_array();
    char *rows_s = NULL, *vat_s = NULL;
    struct ids_list ids; /* the new settlements, for their parents' versions */
    ids_list_init(&ids);
    long long last_seq = 0;
    if (n > 0 && (ar = take_numbers(ctx, org, ty.y, n, &last_seq)) != APPLY_OK)
        goto out;
    for (int k = 0; k < n; k++) {
        struct run_item *s = &items[k];
        long long seq = last_seq - n + 1 + k;
        char number[SETTLEMENT_NUMBER_MAX], ref[SETTLEMENT_REFERENCE_MAX];
        if (settlement_number_format(prefix, ty.y, seq, number, sizeof(number), e, sizeof(e)) < 0 ||
            settlement_reference(ty.y, seq, ref, sizeof(ref), e, sizeof(e)) < 0) {
            ar = apply_reject(ctx, "%s: settlement %lld of %d for organiser %s", e, seq, ty.y, org);
            goto out;
        }
        json_array_append_new(
            rows, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id",
                            s->id, "provider_id", s->provider_id, "number", number, "year", ty.y,
                            "seq", (json_int_t)seq, "reference", ref, "line_count",
                            (json_int_t)s->lines, "gross_cents", (json_int_t)s->t.gross_cents,
                            "organiser_cents", (json_int_t)s->t.organiser_cents,
                            "client_share_cents", (json_int_t)s->t.client_share_cents,
                            "credit_cents", (json_int_t)s->t.credit_cents, "payable_cents",
                            (json_int_t)s->t.payable_cents));
        for (size_t v = 0; v < s->t.nvat; v++)
            json_array_append_new(vat, json_pack("{s:s, s:i, s:I, s:I}", "settlement_id", s->id,
                                                 "rate_bp", s->t.vat[v].rate_bp, "amount_cents",
                                                 (json_int_t)s->t.vat[v].amount_cents, "vat_cents",
                                                 (json_int_t)s->t.vat[v].vat_cents));
        json_t *data =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "id", s->id,
                      "organiser_id", org, "provider_id", s->provider_id, "period", period,
                      "number", number, "reference", ref, "due_date", due_s, "state", "draft",
                      "line_count", (json_int_t)s->lines, "event_lines", (json_int_t)s->event_lines,
                      "credit_lines", (json_int_t)s->credit_lines, "totals", totals_json(&s->t));
        json_object_set_new(data, "run_id", json_string(c->id));
        /* A new settlement is version 1 (the column's default), like the
         * read model; confirm and pay publish 2 and 3. */
        json_object_set_new(data, "created_by", json_string(c->actor.sub));
        json_object_set_new(data, "version", json_integer(1));
        outbox_add(ctx, TOPIC_EVT_SETTLEMENT, s->id, "settlement.created", data);
        apply_touch(ctx, VIEW_SETTLEMENT_KIND, s->id);
    }
    rows_s = json_dumps(rows, JSON_COMPACT);
    vat_s = json_dumps(vat, JSON_COMPACT);
    if (n > 0) {
        const char *qi[] = {rows_s, c->id, org, first_s, due_s, c->actor.sub};
        r = apply_query(
            ctx,
            "INSERT INTO psop.settlements (id, run_id, organiser_id, provider_id, period, number, "
            " year, seq, reference, due_date, line_count, gross_cents, organiser_cents, "
            " client_share_cents, credit_cents, payable_cents, created_by) "
            "SELECT x.id, $2::uuid, $3::uuid, x.provider_id, $4::date, x.number, x.year, x.seq, "
            " x.reference, $5::date, x.line_count, x.gross_cents, x.organiser_cents, "
            " x.client_share_cents, x.credit_cents, x.payable_cents, $6 "
            "FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, provider_id uuid, number text, "
            " year int, seq int, reference text, line_count int, gross_cents bigint, "
            " organiser_cents bigint, client_share_cents bigint, credit_cents bigint, "
            " payable_cents bigint)",
            6, qi);
        if (!r) {
            ar = apply_sql_outcome(ctx, "settlement_conflict");
            goto out;
        }
        PQclear(r);
        const char *qv[] = {vat_s};
        r = apply_query(ctx,
                        "INSERT INTO psop.settlement_vat (settlement_id, rate_bp, amount_cents, "
                        " vat_cents) SELECT x.settlement_id, x.rate_bp, x.amount_cents, "
                        " x.vat_cents FROM jsonb_to_recordset($1::jsonb) AS x(settlement_id uuid, "
                        " rate_bp int, amount_cents bigint, vat_cents bigint)",
                        1, qv);
        if (!r) {
            ar = apply_sql_outcome(ctx, "settlement_conflict");
            goto out;
        }
        PQclear(r);
        for (int k = 0; k < n; k++)
            ids_list_add(&ids, items[k].id); /* ids_uuid7 made them */
        if ((ar = touch_parents(ctx, ids.text)) != APPLY_OK)
            goto out;
    }
    char ns[16], es[24], cs[24];
    snprintf(ns, sizeof(ns), "%d", n);
    snprintf(es, sizeof(es), "%lld", nev);
    snprintf(cs, sizeof(cs), "%lld", ncr);
    const char *qu[] = {c->id, ns, es, cs};
    r = apply_query(ctx,
                    "UPDATE psop.settlement_runs SET settlement_count = $2::int, "
                    "event_count = $3::int, credit_count = $4::int WHERE id = $1::uuid",
                    4, qu);
    if (!r) {
        ar = APPLY_FAILED;
        goto out;
    }
    PQclear(r);
out:
    free(items);
    free(rows_s);
    free(vat_s);
    ids_list_free(&ids);
    json_decref(rows);
    json_decref(vat);
    return ar;
}

/* ---------------------------------------------------------------------- */
/* settlement.confirm, settlement.mark_paid                                */
/* ---------------------------------------------------------------------- */

struct srow {
    char id[40], organiser_id[40], provider_id[40], number[SETTLEMENT_NUMBER_MAX + 8];
    char created[16]; /* the day it was made, Europe/Helsinki, YYYY-MM-DD */
    enum settlement_state state;
};

/* Locks the command's settlement; checks the organiser and the transition. */
static enum apply_result settlement_lock(struct apply_ctx *ctx, enum settlement_action action,
                                         struct srow *s)
{
    const struct envelope *c = ctx->cmd;
    const char *id = envelope_str(c, "settlement_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id ? id : "");
    if (!apply_role_in(ctx, ROLE_ORGANISER))
        return apply_reject(ctx, "forbidden: settlements are %s by their organiser",
                            action == SETTLEMENT_CONFIRM ? "confirmed" : "marked paid");
    const char *q[] = {id};
    PGresult *r = apply_query(ctx,
                              "SELECT id, organiser_id, provider_id, number, state, "
                              "(created_at AT TIME ZONE 'Europe/Helsinki')::date::text "
                              "FROM psop.settlements WHERE id = $1::uuid FOR UPDATE",
                              1, q);
    if (!r)
        return APPLY_FAILED;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return apply_reject(ctx, "not_found: settlement %s does not exist", id);
    }
    snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(r, 0, 0));
    snprintf(s->organiser_id, sizeof(s->organiser_id), "%s", PQgetvalue(r, 0, 1));
    snprintf(s->provider_id, sizeof(s->provider_id), "%s", PQgetvalue(r, 0, 2));
    snprintf(s->number, sizeof(s->number), "%s", PQgetvalue(r, 0, 3));
    snprintf(s->created, sizeof(s->created), "%s", PQgetvalue(r, 0, 5));
    char state[16];
    snprintf(state, sizeof(state), "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    if (!apply_same_id(c->actor.org, s->organiser_id))
        return apply_reject(ctx, "forbidden: settlement %s belongs to another organiser", id);
    if (settlement_state_parse(state, &s->state) < 0)
        return apply_fail(ctx, "settlement state", state);
    enum settlement_state next;
    char e[64];
    if (settlement_transition(s->state, action, &next, e, sizeof(e)) < 0)
        return apply_reject(ctx, "invalid_transition: %s: settlement %s is %s", e, s->number,
                            state);
    return APPLY_OK;
}

static enum apply_result settlement_confirm(struct apply_ctx *ctx)
{
    struct srow s;
    enum apply_result ar = settlement_lock(ctx, SETTLEMENT_CONFIRM, &s);
    if (ar != APPLY_OK)
        return ar;
    const char *sub = ctx->cmd->actor.sub;
    const char *q[] = {s.id, sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.settlements SET state = 'confirmed', confirmed_by = $2, "
                              "confirmed_at = clock_timestamp(), version = version + 1 "
                              "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("confirmed_at"),
                              2, q);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_transition");
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", s.id, "organiser_id",
                             s.organiser_id, "provider_id", s.provider_id, "number", s.number,
                             "state", "confirmed", "confirmed_by", sub, "confirmed_at",
                             PQgetvalue(r, 0, 1), "version", (json_int_t)apply_col_ll(r, 0, 0));
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_SETTLEMENT, s.id, "settlement.confirmed", data);
    apply_touch(ctx, VIEW_SETTLEMENT_KIND, s.id);
    return APPLY_OK;
}

static enum apply_result settlement_mark_paid(struct apply_ctx *ctx)
{
    const char *paid = envelope_str(ctx->cmd, "paid_date");
    day_t pd;
    if (!paid || date_parse(paid, &pd) < 0)
        return apply_reject(ctx, "invalid_paid_date: %s is not a date", paid ? paid : "(none)");
    struct srow s;
    enum apply_result ar = settlement_lock(ctx, SETTLEMENT_MARK_PAID, &s);
    if (ar != APPLY_OK)
        return ar;
    if (pd > date_today_helsinki())
        return apply_reject(ctx, "invalid_paid_date: %s is in the future", paid);
    day_t created;
    if (date_parse(s.created, &created) == 0 && pd < created)
        return apply_reject(ctx, "invalid_paid_date: %s is before settlement %s was made (%s)",
                            paid, s.number, s.created);
    const char *sub = ctx->cmd->actor.sub;
    const char *q[] = {s.id, sub, paid};
    /* clang-format off */
    PGresult *r = apply_query(
        ctx,
        "UPDATE psop.settlements SET state = 'paid', paid_date = $3::date, paid_by = $2, "
        "paid_at = clock_timestamp(), version = version + 1 "
        "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("paid_at"),
        3, q);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_transition");
    long long version = apply_col_ll(r, 0, 0);
    char paid_at[40];
    snprintf(paid_at, sizeof(paid_at), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    /* Its events become paid, through the lines' primary key. */
    const char *qe[] = {s.id};
    r = apply_query(ctx,
                    "UPDATE psop.service_events e SET state = 'paid', paid_at = clock_timestamp(), "
                    " version = e.version + 1, updated_at = clock_timestamp() "
                    "FROM psop.settlement_lines l WHERE l.settlement_id = $1::uuid "
                    " AND l.kind = 'event' AND e.id = l.event_id AND e.state = 'settled'",
                    1, qe);
    if (!r)
        return APPLY_FAILED;
    long long nev = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    char arr[48];
    snprintf(arr, sizeof(arr), "{%s}", s.id);
    if ((ar = touch_parents(ctx, arr)) != APPLY_OK)
        return ar;
    json_t *data =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", s.id, "organiser_id",
                  s.organiser_id, "provider_id", s.provider_id, "number", s.number, "state", "paid",
                  "paid_date", paid, "paid_by", sub, "paid_at", paid_at, "events_paid",
                  (json_int_t)nev, "version", (json_int_t)version);
    outbox_add(ctx, TOPIC_EVT_SETTLEMENT, s.id, "settlement.paid", data);
    apply_touch(ctx, VIEW_SETTLEMENT_KIND, s.id);
    return APPLY_OK;
}

const struct handler handlers_settlement[] = {
    {"settlement.run", settlement_run},
    {"settlement.confirm", settlement_confirm},
    {"settlement.mark_paid", settlement_mark_paid},
    {NULL, NULL},
};
