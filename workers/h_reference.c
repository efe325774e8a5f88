/*
 * h_reference.c - reference data: organisers, service types, holidays (admin).
 * Upserts: the last command wins; each change bumps the row's version and
 * publishes <kind>.upserted on psop.events.reference.
 */
#include <stdio.h>
#include <string.h>

#include "core/decimal.h"
#include "handlers.h"
#include "outbox.h"
#include "store/topics.h"

static enum apply_result require_admin(struct apply_ctx *ctx)
{
    if (!apply_role_in(ctx, ROLE_ADMIN))
        return apply_reject(ctx, "forbidden: reference data is maintained by admins");
    return APPLY_OK;
}

static enum apply_result organiser_upsert(struct apply_ctx *ctx)
{
    if (require_admin(ctx) != APPLY_OK)
        return APPLY_REJECTED;
    const struct envelope *c = ctx->cmd;
    long long sday = 0, adays = 0;
    envelope_int(c, "settlement_day", &sday);
    envelope_int(c, "auto_approve_days", &adays);
    char b1[24], b2[24];
    const char *p[] = {envelope_str(c, "id"),
                       envelope_str(c, "name"),
                       envelope_str(c, "business_id"),
                       envelope_str(c, "iban"),
                       envelope_str(c, "invoice_prefix"),
                       apply_num(b1, sizeof(b1), sday),
                       apply_num(b2, sizeof(b2), adays)};
    PGresult *r = apply_query(
        ctx,
        "INSERT INTO psop.organisers (id, name, business_id, iban, invoice_prefix, "
        "settlement_day, auto_approve_days) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, business_id = EXCLUDED.business_id, "
        "iban = EXCLUDED.iban, invoice_prefix = EXCLUDED.invoice_prefix, "
        "settlement_day = EXCLUDED.settlement_day, auto_approve_days = EXCLUDED.auto_approve_days, "
        "version = psop.organisers.version + 1, updated_at = now() RETURNING version",
        7, p);
    if (!r)
        return apply_sql_outcome(ctx, "conflict");
    PQclear(r);
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", p[0]);
    outbox_add(ctx, TOPIC_EVT_REFERENCE, p[0], "organiser.upserted", json_deep_copy(c->data));
    apply_touch(ctx, "organiser", p[0]);
    return APPLY_OK;
}

/* A coefficient as hundredths text, or NULL when absent. */
static const char *coef(const json_t *bands, const char *name, char *buf, size_t n)
{
    int64_t h;
    json_t *v = json_object_get(bands, name);
    if (!v || decimal_from_json(v, &h) < 0)
        return NULL;
    snprintf(buf, n, "%lld", (long long)h);
    return buf;
}

static enum apply_result service_type_upsert(struct apply_ctx *ctx)
{
    if (require_admin(ctx) != APPLY_OK)
        return APPLY_REJECTED;
    const struct envelope *c = ctx->cmd;
    json_t *bands = json_object_get(c->data, "band_coefficients");
    json_t *income = json_object_get(c->data, "income_model");
    char ev[24], sa[24], su[24], vat[24];
    long long vat_bp = 0;
    envelope_int(c, "vat_rate_bp", &vat_bp);
    char *income_doc = income ? json_dumps(income, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    const char *p[] = {envelope_str(c, "code"),
                       envelope_str(c, "name"),
                       envelope_str(c, "unit"),
                       apply_num(vat, sizeof(vat), vat_bp),
                       json_is_true(json_object_get(c->data, "client_share_allowed")) ? "t" : "f",
                       coef(bands, "evening", ev, sizeof(ev)),
                       coef(bands, "saturday", sa, sizeof(sa)),
                       coef(bands, "sunday", su, sizeof(su)),
                       income_doc};
    /* One statement: the row, then its income table replaced. */
    PGresult *r = apply_query(
        ctx,
        "WITH st AS (INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, "
        "client_share_allowed, coef_evening, coef_saturday, coef_sunday, income_max_value_cents, "
        "income_min_value_cents, income_divisor, income_extra_person_limit_cents, "
        "income_extra_person_pct_bp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
        "($9::jsonb->>'max_value_cents')::bigint, ($9::jsonb->>'min_value_cents')::bigint, "
        "($9::jsonb->>'divisor')::int, ($9::jsonb->>'extra_person_limit_cents')::bigint, "
        "($9::jsonb->>'extra_person_pct_bp')::int) "
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit, "
        "vat_rate_bp = EXCLUDED.vat_rate_bp, client_share_allowed = EXCLUDED.client_share_allowed, "
        "coef_evening = EXCLUDED.coef_evening, coef_saturday = EXCLUDED.coef_saturday, "
        "coef_sunday = EXCLUDED.coef_sunday, income_max_value_cents = "
        "EXCLUDED.income_max_value_cents, income_min_value_cents = "
        "EXCLUDED.income_min_value_cents, income_divisor = EXCLUDED.income_divisor, "
        "income_extra_person_limit_cents = EXCLUDED.income_extra_person_limit_cents, "
        "income_extra_person_pct_bp = EXCLUDED.income_extra_person_pct_bp, "
        "version = psop.service_types.version + 1, updated_at = now() RETURNING code), "
        "del AS (DELETE FROM psop.service_type_income_rows WHERE service_type = $1) "
        "SELECT 1",
        9, p);
    if (!r) {
        free(income_doc);
        return apply_sql_outcome(ctx, "invalid_service_type");
    }
    PQclear(r);
    if (income_doc) {
        const char *q[] = {p[0], income_doc};
        r = apply_query(ctx,
                        "INSERT INTO psop.service_type_income_rows (service_type, household_size, "
                        "limit_cents, pct_bp) SELECT $1, (t->>'household_size')::int, "
                        "(t->>'limit_cents')::bigint, (t->>'pct_bp')::int "
                        "FROM jsonb_array_elements($2::jsonb->'table') AS t",
                        2, q);
        free(income_doc);
        if (!r)
            return apply_sql_outcome(ctx, "invalid_income_model");
        PQclear(r);
    }
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", p[0]);
    outbox_add(ctx, TOPIC_EVT_REFERENCE, p[0], "service_type.upserted", json_deep_copy(c->data));
    apply_touch(ctx, "service_type", p[0]);
    return APPLY_OK;
}

static enum apply_result holiday_upsert(struct apply_ctx *ctx)
{
    if (require_admin(ctx) != APPLY_OK)
        return APPLY_REJECTED;
    const char *p[] = {envelope_str(ctx->cmd, "date"), envelope_str(ctx->cmd, "name")};
    PGresult *r = apply_query(ctx,
                              "INSERT INTO psop.holidays (date, name) VALUES ($1, $2) "
                              "ON CONFLICT (date) DO UPDATE SET name = EXCLUDED.name, "
                              "updated_at = now()",
                              2, p);
    if (!r)
        return apply_sql_outcome(ctx, "invalid_holiday");
    PQclear(r);
    snprintf(ctx->resource_id, sizeof(ctx->resource_id), "%s", p[0]);
    outbox_add(ctx, TOPIC_EVT_REFERENCE, p[0], "holiday.upserted", json_deep_copy(ctx->cmd->data));
    return APPLY_OK;
}

const struct handler handlers_reference[] = {
    {"organiser.upsert", organiser_upsert},
    {"service_type.upsert", service_type_upsert},
    {"holiday.upsert", holiday_upsert},
    {NULL, NULL},
};
