#include "domain/budget.h"

#include <stdio.h>

#include "core/money.h"

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

int64_t budget_remaining(int64_t budget_cents, int64_t used_cents)
{
    return budget_cents - used_cents;
}

int budget_grant_check(bool has_unit_value, bool has_income, bool has_budget, int64_t budget_cents,
                       bool has_valid_to, bool has_quota, char *err, size_t errlen)
{
    if ((int)has_unit_value + (int)has_income + (int)has_budget != 1)
        return fail(err, errlen, "invalid_value_basis");
    if (!has_budget)
        return 0;
    if (budget_cents < BUDGET_MIN_CENTS || budget_cents > BUDGET_MAX_CENTS)
        return fail(err, errlen, "invalid_budget");
    if (!has_valid_to)
        return fail(err, errlen, "budget_needs_valid_to");
    if (has_quota)
        return fail(err, errlen, "budget_with_quota");
    return 0;
}

int budget_event_amounts(int64_t unit_price_cents, int64_t qty_h, int64_t remaining_cents,
                         bool client_share_allowed, struct event_amounts *out, char *err,
                         size_t errlen)
{
    if (qty_h <= 0)
        return fail(err, errlen, "invalid_quantity");
    if (unit_price_cents < 0)
        return fail(err, errlen, "invalid_amount");
    struct event_amounts a = {.value_unit_cents = 0, .unit_price_cents = unit_price_cents};
    if (money_mul_qty(unit_price_cents, qty_h, &a.gross_cents) < 0)
        return fail(err, errlen, "amount_overflow");
    if (remaining_cents <= 0)
        return fail(err, errlen, "budget_exhausted");
    if (!client_share_allowed && a.gross_cents > remaining_cents)
        return fail(err, errlen, "budget_insufficient");
    a.organiser_part_cents = a.gross_cents < remaining_cents ? a.gross_cents : remaining_cents;
    a.client_share_cents = a.gross_cents - a.organiser_part_cents;
    *out = a;
    return 0;
}

int budget_credit_amounts(int64_t unit_price_cents, int64_t event_part_cents, int64_t event_qty_h,
                          int64_t already_refilled_cents, int64_t credit_qty_h,
                          struct event_amounts *out, char *err, size_t errlen)
{
    if (credit_qty_h <= 0 || event_qty_h <= 0 || credit_qty_h > event_qty_h)
        return fail(err, errlen, "invalid_quantity");
    if (unit_price_cents < 0 || event_part_cents < 0 || already_refilled_cents < 0 ||
        already_refilled_cents > event_part_cents)
        return fail(err, errlen, "invalid_amount");
    int64_t gross, part, num;
    if (money_mul_qty(unit_price_cents, credit_qty_h, &gross) < 0 ||
        __builtin_mul_overflow(event_part_cents, credit_qty_h, &num) ||
        money_div_round(num, event_qty_h, &part) < 0)
        return fail(err, errlen, "amount_overflow");
    int64_t left = event_part_cents - already_refilled_cents;
    if (part > gross)
        part = gross;
    if (part > left)
        part = left;
    struct event_amounts a = {.value_unit_cents = 0,
                              .unit_price_cents = unit_price_cents,
                              .gross_cents = -gross,
                              .organiser_part_cents = -part,
                              .client_share_cents = -(gross - part)};
    *out = a;
    return 0;
}

int budget_amend_check(int64_t new_budget_cents, int64_t used_cents, char *err, size_t errlen)
{
    if (new_budget_cents < BUDGET_MIN_CENTS || new_budget_cents > BUDGET_MAX_CENTS)
        return fail(err, errlen, "invalid_budget");
    if (new_budget_cents < used_cents)
        return fail(err, errlen, "budget_below_charged");
    return 0;
}

int64_t budget_covers_qty_h(int64_t remaining_cents, int64_t unit_price_cents)
{
    if (unit_price_cents <= 0)
        return -1;
    if (remaining_cents <= 0)
        return 0;
    /* remaining / price in hundredths, truncated: remaining * 100 / price.
     * remaining <= BUDGET_MAX_CENTS in practice; guard the multiplication. */
    int64_t num;
    if (__builtin_mul_overflow(remaining_cents, (int64_t)100, &num))
        return (remaining_cents / unit_price_cents) * 100;
    return num / unit_price_cents;
}
