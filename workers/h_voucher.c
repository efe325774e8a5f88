/*
 * h_voucher.c - service vouchers (psop.commands.voucher, keyed by
 * voucher_id): grant, amend, choose_provider, revoke, refuse; and the table
 * handlers_voucher[], which also lists the service-event handlers
 * (h_service_event.c), since events travel in their voucher's partition.
 *
 * Every applied command bumps psop.vouchers.version (the read model's CAS
 * version) and publishes voucher.<what> on psop.events.voucher keyed by the
 * voucher id. A voucher's commands lock its row first (SELECT ... FOR
 * UPDATE), so the rules see a stable voucher.
 *
 * Rejection reasons: "forbidden: ..." (ownership), "not_found: ..." or a
 * rule code: already_exists, no_income_model, invalid_income,
 * invalid_valid_to, invalid_effective_from, voucher_not_active,
 * invalid_value_basis, invalid_budget, budget_needs_valid_to,
 * budget_with_quota, budget_below_charged, value_basis_mismatch,
 * events_after_date, voucher_has_events, provider_not_approved,
 * provider_suspended (see docs/vouchers.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/decimal.h"
#include "domain/budget.h"
#include "domain/income.h"
#include "h_service_event.h"
#include "handlers.h"
#include "outbox.h"
#include "store/topics.h"
#include "core/xmalloc.h"

/* The voucher's client: role client, client claim = client_id and org
 * claim = the voucher's organiser (client ids are the organiser's). */
static bool is_client_of(const struct apply_ctx *ctx, const struct se_parent *v)
{
    const struct actor *a = &ctx->cmd->actor;
    return apply_role_in(ctx, ROLE_CLIENT) && a->client[0] &&
           strcmp(a->client, v->client_id) == 0 && apply_same_id(a->org, v->organiser_id);
}

/* The voucher's client itself, or a proxy acting for it under a mandate
 * in force (the command's on_behalf_of); else forbidden "only the client of
 * voucher <id> <may>". */
static enum apply_result require_client(struct apply_ctx *ctx, const struct se_parent *v,
                                        const char *may)
{
    if (ctx->cmd->on_behalf_of) {
        char what[64];
        snprintf(what, sizeof(what), "voucher %s", v->id);
        return mandate_require(ctx, v->organiser_id, v->client_id, what);
    }
    if (is_client_of(ctx, v))
        return APPLY_OK;
    return apply_reject(ctx, "forbidden: only the client of voucher %s %s", v->id, may);
}

/* Rejects unless the voucher is active (not revoked or refused). */
static enum apply_result require_active(struct apply_ctx *ctx, const struct se_parent *v)
{
    if (strcmp(v->status, "active") != 0)
        return apply_reject(ctx, "voucher_not_active: voucher %s is %s", v->id, v->status);
    return APPLY_OK;
}

/* The income model of a service type, rows allocated (free m->rows). */
static enum apply_result load_income_model(struct apply_ctx *ctx, const char *st,
                                           struct income_model *m, bool *has)
{
    memset(m, 0, sizeof(*m));
    const char *q[] = {st};
    PGresult *r = apply_query(
        ctx,
        "SELECT s.income_max_value_cents, s.income_min_value_cents, s.income_divisor, "
        "s.income_extra_person_limit_cents, s.income_extra_person_pct_bp, r.household_size, "
        "r.limit_cents, r.pct_bp FROM psop.service_types s "
        "LEFT JOIN psop.service_type_income_rows r ON r.service_type = s.code "
        "WHERE s.code = $1 AND s.income_max_value_cents IS NOT NULL ORDER BY r.household_size",
        1, q);
    if (!r)
        return APPLY_FAILED;
    int n = PQntuples(r);
    *has = n > 0 && !PQgetisnull(r, 0, 5);
    if (*has) {
        struct income_row *rows = xcalloc((size_t)n, sizeof(*rows));
        m->max_value_cents = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        m->min_value_cents = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        m->divisor = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        m->extra_person_limit_cents = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        m->extra_person_pct_bp = atoi(PQgetvalue(r, 0, 4));
        for (int i = 0; i < n; i++) {
            rows[i].household_size = atoi(PQgetvalue(r, i, 5));
            rows[i].limit_cents = strtoll(PQgetvalue(r, i, 6), NULL, 10);
            rows[i].pct_bp = atoi(PQgetvalue(r, i, 7));
        }
        m->rows = rows;
        m->nrows = (size_t)n;
    }
    PQclear(r);
    return APPLY_OK;
}

static enum apply_result voucher_grant(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *org = envelope_str(c, "organiser_id");
    const char *st = envelope_str(c, "service_type");
    const char *id = envelope_str(c, "id");
    if (!id)
        id = c->id; /* no id from the front: the command's, so a replay finds the same one */
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", id);
    enum apply_result ar = se_require_organiser(ctx, org, "grant its vouchers");
    if (ar != APPLY_OK)
        return ar;

    const char *q[] = {id, org, st};
    PGresult *r = apply_query(ctx,
                              "SELECT EXISTS (SELECT 1 FROM psop.vouchers WHERE id = $1::uuid), "
                              "EXISTS (SELECT 1 FROM psop.organisers WHERE id = $2::uuid), "
                              "EXISTS (SELECT 1 FROM psop.service_types WHERE code = $3)",
                              3, q);
    if (!r)
        return APPLY_FAILED;
    bool dup = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    bool has_org = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    bool has_st = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    PQclear(r);
    if (dup)
        return apply_reject(ctx, "already_exists: voucher %s exists", id);
    if (!has_org)
        return apply_reject(ctx, "not_found: organiser %s does not exist", org);
    if (!has_st)
        return apply_reject(ctx, "not_found: service type %s does not exist", st);

    const char *vf = envelope_str(c, "valid_from"), *vt = envelope_str(c, "valid_to");
    day_t dfrom, dto;
    if (date_parse(vf, &dfrom) < 0 || (vt && date_parse(vt, &dto) < 0))
        return apply_reject(ctx, "invalid_date: valid_from %s, valid_to %s", vf, vt ? vt : "-");
    if (vt && dto < dfrom)
        return apply_reject(ctx, "invalid_valid_to: valid_to %s is before valid_from %s", vt, vf);
    int64_t quota_h = 0;
    json_t *qj = json_object_get(c->data, "monthly_quota");
    if (qj && decimal_from_json(qj, &quota_h) < 0)
        return apply_reject(ctx, "invalid_quantity: monthly_quota");

    /* The value: flat, from the service type's income model, or a pot. */
    long long flat = 0, budget = 0;
    bool is_flat = envelope_int(c, "unit_value_cents", &flat) == 0;
    bool is_budget = envelope_int(c, "budget_cents", &budget) == 0;
    struct income_basis basis = {0};
    struct income_model model = {0};
    json_t *income = json_object_get(c->data, "income");
    char e0[64];
    if (budget_grant_check(is_flat, income != NULL, is_budget, budget, vt != NULL, qj != NULL, e0,
                           sizeof(e0)) < 0)
        return apply_reject(ctx,
                            "%s: a voucher is granted with exactly one of unit_value_cents, "
                            "income and budget_cents; a budget (1 - 10000000 cents) needs "
                            "valid_to and takes no monthly_quota",
                            e0);
    if (!is_flat && !is_budget) {
        bool has = false;
        if ((ar = load_income_model(ctx, st, &model, &has)) != APPLY_OK)
            return ar;
        if (!has)
            return apply_reject(ctx, "no_income_model: service type %s has no income model", st);
        char e[160];
        int size = (int)json_integer_value(json_object_get(income, "household_size"));
        int64_t cents = json_integer_value(json_object_get(income, "monthly_income_cents"));
        int rc = income_value(&model, size, cents, &basis, e, sizeof(e));
        free((void *)model.rows);
        if (rc < 0)
            return apply_reject(ctx, "%s", e);
    }
    int64_t value = is_flat ? flat : basis.value_cents;
    bool is_income = !is_flat && !is_budget;
    const char *basis_name = is_flat ? "flat" : is_budget ? "budget" : "income";

    const char *pid = envelope_str(c, "provider_id");
    if (pid && (ar = se_provider_in_force(ctx, pid, org, st, date_today_helsinki())) != APPLY_OK)
        return ar;

    char b[13][24];
    const char *ins[] = {id,
                         org,
                         envelope_str(c, "client_id"),
                         st,
                         envelope_str(c, "decision_number"),
                         vf,
                         vt,
                         qj ? apply_num(b[0], sizeof(b[0]), quota_h) : NULL,
                         pid,
                         basis_name,
                         !is_income ? NULL : apply_num(b[1], sizeof(b[1]), basis.household_size),
                         !is_income ? NULL : apply_num(b[2], sizeof(b[2]), basis.income_cents),
                         !is_income ? NULL : apply_num(b[3], sizeof(b[3]), basis.limit_cents),
                         !is_income ? NULL : apply_num(b[4], sizeof(b[4]), basis.pct_bp),
                         !is_income ? NULL : apply_num(b[5], sizeof(b[5]), basis.excess_cents),
                         !is_income ? NULL : apply_num(b[6], sizeof(b[6]), model.max_value_cents),
                         !is_income ? NULL : apply_num(b[7], sizeof(b[7]), model.min_value_cents),
                         !is_income ? NULL : apply_num(b[8], sizeof(b[8]), model.divisor),
                         !is_income ? NULL : apply_num(b[9], sizeof(b[9]), basis.value_cents),
                         c->actor.sub,
                         is_budget ? NULL : apply_num(b[10], sizeof(b[10]), value),
                         c->id,
                         is_budget ? apply_num(b[11], sizeof(b[11]), budget) : NULL};
    r = apply_query(
        ctx,
        "WITH v AS (INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, "
        " decision_number, valid_from, valid_to, monthly_quota, provider_id, provider_chosen_at, "
        " provider_chosen_by, value_basis, household_size, monthly_income_cents, "
        " income_limit_cents, income_pct_bp, income_excess_cents, income_max_value_cents, "
        " income_min_value_cents, income_divisor, income_value_cents, granted_by, budget_cents, "
        " budget_used_cents) VALUES "
        " ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9::uuid IS NOT NULL THEN now() END, "
        "  CASE WHEN $9::uuid IS NOT NULL THEN $20 END, $10, $11, $12, $13, $14, $15, $16, $17, "
        "  $18, $19, $20, $23::bigint, CASE WHEN $23::bigint IS NOT NULL THEN 0 END) "
        " RETURNING id, valid_from, version), "
        /* a budget voucher has no value per unit: no value history */
        " vv AS (INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, "
        "  set_by, command_id) SELECT id, daterange(valid_from, NULL, '[)'), $21, $20, $22 "
        "  FROM v WHERE $21::bigint IS NOT NULL) "
        "SELECT version FROM v",
        23, ins);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_voucher");
    long long version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);

    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:s, s:I}", "id", id, "organiser_id", org,
        "client_id", envelope_str(c, "client_id"), "service_type", st, "decision_number",
        envelope_str(c, "decision_number"), "valid_from", vf, "valid_to", vt, "provider_id", pid,
        "value_basis", basis_name, "granted_by", c->actor.sub, "version", (json_int_t)version);
    if (is_budget)
        json_object_set_new(ev, "budget_cents", json_integer(budget));
    else
        json_object_set_new(ev, "unit_value_cents", json_integer(value));
    json_object_set_new(ev, "voucher_id", json_string(id)); /* as the other voucher events */
    if (qj)
        json_object_set_new(ev, "monthly_quota", se_qty_json(quota_h));
    if (is_income)
        json_object_set_new(
            ev, "income",
            json_pack("{s:i, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "household_size",
                      basis.household_size, "monthly_income_cents", (json_int_t)basis.income_cents,
                      "limit_cents", (json_int_t)basis.limit_cents, "pct_bp", basis.pct_bp,
                      "excess_cents", (json_int_t)basis.excess_cents, "reduction_cents",
                      (json_int_t)basis.reduction_cents, "max_value_cents",
                      (json_int_t)model.max_value_cents, "min_value_cents",
                      (json_int_t)model.min_value_cents, "divisor", (json_int_t)model.divisor,
                      "value_cents", (json_int_t)basis.value_cents));
    outbox_add(ctx, TOPIC_EVT_VOUCHER, id, "voucher.granted", ev);
    se_touch_voucher(ctx, id);
    return APPLY_OK;
}

static enum apply_result voucher_amend(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *vid = envelope_str(c, "voucher_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", vid);
    struct se_parent v;
    enum apply_result ar = se_voucher_lock(ctx, vid, &v);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = se_require_organiser(ctx, v.organiser_id, "amend its vouchers")) != APPLY_OK ||
        (ar = require_active(ctx, &v)) != APPLY_OK)
        return ar;
    const char *ef = envelope_str(c, "effective_from"), *vt = envelope_str(c, "valid_to");
    day_t def, dto;
    char vfs[11];
    date_format(v.valid_from, vfs);
    if (date_parse(ef, &def) < 0 || (vt && date_parse(vt, &dto) < 0))
        return apply_reject(ctx, "invalid_date: effective_from %s, valid_to %s", ef, vt ? vt : "-");
    if (def < v.valid_from)
        return apply_reject(ctx, "invalid_effective_from: %s is before the voucher's valid_from %s",
                            ef, vfs);
    if (vt && dto < v.valid_from)
        return apply_reject(ctx, "invalid_valid_to: valid_to %s is before valid_from %s", vt, vfs);
    if (vt && (ar = se_require_no_events_after(ctx, &v, vt, "events_after_date")) != APPLY_OK)
        return ar;
    int64_t quota_h = 0;
    json_t *qj = json_object_get(c->data, "monthly_quota");
    if (qj && decimal_from_json(qj, &quota_h) < 0)
        return apply_reject(ctx, "invalid_quantity: monthly_quota");
    long long value = 0, budget = 0;
    bool has_value = envelope_int(c, "unit_value_cents", &value) == 0;
    bool has_budget = envelope_int(c, "budget_cents", &budget) == 0;
    /* A voucher keeps its kind: a pot is amended by budget_cents and
     * valid_to, a value per unit never by budget_cents. */
    if (v.budget && (has_value || qj))
        return apply_reject(ctx,
                            "value_basis_mismatch: voucher %s is a budget voucher; amend its "
                            "budget_cents or valid_to",
                            v.id);
    if (!v.budget && has_budget)
        return apply_reject(ctx,
                            "value_basis_mismatch: voucher %s has a value per unit, not a "
                            "budget",
                            v.id);
    char e0[64];
    if (has_budget && budget_amend_check(budget, v.budget_used_cents, e0, sizeof(e0)) < 0)
        return apply_reject(ctx, "%s: budget %lld cents asked, %lld cents already charged", e0,
                            budget, (long long)v.budget_used_cents);

    char b[5][24];
    PGresult *r;
    if (has_value) {
        /* From effective_from on, until further notice: later periods go,
         * the period containing it ends there, the new one starts there. */
        const char *q[] = {v.id, ef, apply_num(b[0], sizeof(b[0]), value), c->actor.sub, c->id};
        r = apply_query(ctx,
                        "WITH del AS (DELETE FROM psop.voucher_values WHERE voucher_id = $1::uuid "
                        "   AND lower(effective) >= $2::date), "
                        " cut AS (UPDATE psop.voucher_values SET effective = "
                        "   daterange(lower(effective), $2::date, '[)') "
                        "  WHERE voucher_id = $1::uuid AND effective @> $2::date "
                        "    AND lower(effective) < $2::date) "
                        "INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, "
                        " set_by, command_id) VALUES ($1, daterange($2::date, NULL, '[)'), $3, $4, "
                        " $5)",
                        5, q);
        if (!r)
            return apply_sql_outcome(ctx, "invalid_amendment");
        PQclear(r);
    }
    const char *u[] = {v.id,
                       vt,
                       qj ? apply_num(b[1], sizeof(b[1]), quota_h) : NULL,
                       ef,
                       has_value ? b[0] : NULL,
                       c->actor.sub,
                       c->id,
                       has_budget ? apply_num(b[2], sizeof(b[2]), budget) : NULL};
    r = apply_query(ctx,
                    "WITH a AS (INSERT INTO psop.voucher_amendments (voucher_id, effective_from, "
                    " unit_value_cents, valid_to, monthly_quota, amended_by, command_id, "
                    " budget_cents) VALUES ($1, $4, $5, $2, $3, $6, $7, $8)) "
                    "UPDATE psop.vouchers SET valid_to = coalesce($2::date, valid_to), "
                    " monthly_quota = coalesce($3::int, monthly_quota), "
                    " budget_cents = coalesce($8::bigint, budget_cents), version = version + 1, "
                    " updated_at = now() WHERE id = $1::uuid "
                    "RETURNING version, budget_cents - budget_used_cents",
                    8, u);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_amendment");
    long long version = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    bool has_rem = !PQgetisnull(r, 0, 1);
    long long remaining = has_rem ? strtoll(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    PQclear(r);
    json_t *ev =
        json_pack("{s:s, s:s, s:s?, s:s, s:I}", "voucher_id", v.id, "effective_from", ef,
                  "valid_to", vt, "amended_by", c->actor.sub, "version", (json_int_t)version);
    if (has_value)
        json_object_set_new(ev, "unit_value_cents", json_integer(value));
    if (qj)
        json_object_set_new(ev, "monthly_quota", se_qty_json(quota_h));
    if (has_budget)
        json_object_set_new(ev, "budget_cents", json_integer(budget));
    if (has_rem)
        json_object_set_new(ev, "budget_remaining_cents", json_integer(remaining));
    outbox_add(ctx, TOPIC_EVT_VOUCHER, v.id, "voucher.amended", ev);
    se_touch_voucher(ctx, v.id);
    return APPLY_OK;
}

static enum apply_result voucher_choose_provider(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *vid = envelope_str(c, "voucher_id"), *pid = envelope_str(c, "provider_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", vid);
    struct se_parent v;
    enum apply_result ar = se_voucher_lock(ctx, vid, &v);
    if (ar != APPLY_OK)
        return ar;
    bool organiser =
        apply_role_in(ctx, ROLE_ORGANISER) && apply_same_id(c->actor.org, v.organiser_id);
    if (!organiser &&
        (ar = require_client(ctx, &v, "or its organiser may choose its provider")) != APPLY_OK)
        return ar;
    if ((ar = require_active(ctx, &v)) != APPLY_OK)
        return ar;
    day_t today = date_today_helsinki();
    char ts[11], to[11];
    date_format(today, ts);
    if (v.has_valid_to && v.valid_to < today)
        return apply_reject(ctx, "voucher_not_active: voucher %s expired on %s", v.id,
                            (date_format(v.valid_to, to), to));
    if ((ar = se_provider_in_force(ctx, pid, v.organiser_id, v.service_type, today)) != APPLY_OK)
        return ar;
    const char *q[] = {v.id, pid, c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(
        ctx,
        "UPDATE psop.vouchers SET provider_id = $2, provider_chosen_at = now(), "
        "provider_chosen_by = $3, version = version + 1, updated_at = now() "
        "WHERE id = $1::uuid RETURNING version, " PG_TS_SQL("provider_chosen_at"),
        3, q);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_choice");
    json_t *ev = json_pack(
        "{s:s, s:s, s:s?, s:s, s:s, s:s, s:I}", "voucher_id", v.id, "provider_id", pid,
        "previous_provider_id", v.provider_id[0] ? v.provider_id : NULL, "chosen_by", c->actor.sub,
        "chosen_by_role", role_name(c->actor.role), "chosen_at", PQgetvalue(r, 0, 1), "version",
        (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    if (c->on_behalf_of)
        json_object_set_new(ev, "on_behalf_of", json_string(c->on_behalf_of));
    outbox_add(ctx, TOPIC_EVT_VOUCHER, v.id, "voucher.provider_chosen", ev);
    se_touch_voucher(ctx, v.id);
    return APPLY_OK;
}

static enum apply_result voucher_revoke(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *vid = envelope_str(c, "voucher_id"), *d = envelope_str(c, "effective_date");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", vid);
    struct se_parent v;
    enum apply_result ar = se_voucher_lock(ctx, vid, &v);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = se_require_organiser(ctx, v.organiser_id, "revoke its vouchers")) != APPLY_OK ||
        (ar = require_active(ctx, &v)) != APPLY_OK ||
        (ar = se_require_no_events_after(ctx, &v, d, "events_after_date")) != APPLY_OK)
        return ar;
    const char *q[] = {v.id, d, envelope_str(c, "reason"), c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.vouchers SET status = 'revoked', revoke_date = $2, "
                              "revoke_reason = $3, revoked_by = $4, revoked_at = now(), "
                              "version = version + 1, updated_at = now() WHERE id = $1::uuid "
                              "RETURNING version, " PG_TS_SQL("revoked_at"),
                              4, q);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_revocation");
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "voucher_id", v.id, "effective_date", d,
                  "reason", q[2], "revoked_by", c->actor.sub, "revoked_at", PQgetvalue(r, 0, 1),
                  "version", (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    outbox_add(ctx, TOPIC_EVT_VOUCHER, v.id, "voucher.revoked", ev);
    se_touch_voucher(ctx, v.id);
    return APPLY_OK;
}

static enum apply_result voucher_refuse(struct apply_ctx *ctx)
{
    const struct envelope *c = ctx->cmd;
    const char *vid = envelope_str(c, "voucher_id");
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", vid);
    struct se_parent v;
    enum apply_result ar = se_voucher_lock(ctx, vid, &v);
    if (ar != APPLY_OK)
        return ar;
    if ((ar = require_client(ctx, &v, "may refuse it")) != APPLY_OK)
        return ar;
    if ((ar = require_active(ctx, &v)) != APPLY_OK ||
        (ar = se_require_no_events_after(ctx, &v, NULL, "voucher_has_events")) != APPLY_OK)
        return ar;
    const char *q[] = {v.id, envelope_str(c, "reason"), c->actor.sub};
    /* clang-format off */
    PGresult *r = apply_query(ctx,
                              "UPDATE psop.vouchers SET status = 'refused', refuse_reason = $2, "
                              "refused_by = $3, refused_at = now(), version = version + 1, "
                              "updated_at = now() WHERE id = $1::uuid "
                              "RETURNING version, " PG_TS_SQL("refused_at"),
                              3, q);
    /* clang-format on */
    if (!r)
        return apply_sql_outcome(ctx, "invalid_refusal");
    json_t *ev = json_pack("{s:s, s:s?, s:s, s:s, s:I}", "voucher_id", v.id, "reason", q[1],
                           "refused_by", c->actor.sub, "refused_at", PQgetvalue(r, 0, 1), "version",
                           (json_int_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
    if (c->on_behalf_of)
        json_object_set_new(ev, "on_behalf_of", json_string(c->on_behalf_of));
    outbox_add(ctx, TOPIC_EVT_VOUCHER, v.id, "voucher.refused", ev);
    se_touch_voucher(ctx, v.id);
    return APPLY_OK;
}

const struct handler handlers_voucher[] = {
    {"voucher.grant", voucher_grant},
    {"voucher.amend", voucher_amend},
    {"voucher.choose_provider", voucher_choose_provider},
    {"voucher.revoke", voucher_revoke},
    {"voucher.refuse", voucher_refuse},
    {"service_event.record", se_record},
    {"service_event.update", se_update},
    {"service_event.delete", se_delete},
    {"service_event.approve", se_approve},
    {"service_event.credit", se_credit},
    {"service_event.auto_approve", se_auto_approve},
    {NULL, NULL},
};
