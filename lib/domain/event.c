#include "domain/event.h"

#include <stdio.h>
#include <string.h>

#include "core/money.h"

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

int event_quantity_check(int64_t qty_h, char *err, size_t errlen)
{
    if (qty_h <= 0 || qty_h > EVENT_QTY_MAX)
        return fail(err, errlen, "invalid_quantity");
    return 0;
}

int event_value_unit(int64_t voucher_unit_value_cents, int64_t coeff_h, int64_t *out, char *err,
                     size_t errlen)
{
    if (voucher_unit_value_cents < 0 || coeff_h < 0)
        return fail(err, errlen, "invalid_amount");
    if (money_apply_coeff(voucher_unit_value_cents, coeff_h, out) < 0)
        return fail(err, errlen, "amount_overflow");
    return 0;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int event_amounts_voucher(int64_t value_unit_cents, int64_t unit_price_cents, int64_t qty_h,
                          struct event_amounts *out, char *err, size_t errlen)
{
    if (qty_h <= 0)
        return fail(err, errlen, "invalid_quantity");
    if (value_unit_cents < 0 || unit_price_cents < 0)
        return fail(err, errlen, "invalid_amount");
    struct event_amounts a = {.value_unit_cents = value_unit_cents,
                              .unit_price_cents = unit_price_cents};
    if (money_mul_qty(unit_price_cents, qty_h, &a.gross_cents) < 0 ||
        money_mul_qty(min64(value_unit_cents, unit_price_cents), qty_h, &a.organiser_part_cents) <
            0)
        return fail(err, errlen, "amount_overflow");
    /* organiser_part <= gross since rounding is monotonic: no overflow. */
    a.client_share_cents = a.gross_cents - a.organiser_part_cents;
    *out = a;
    return 0;
}

int event_amounts_order(int64_t unit_price_cents, int64_t client_fee_cents, int64_t qty_h,
                        struct event_amounts *out, char *err, size_t errlen)
{
    if (qty_h <= 0)
        return fail(err, errlen, "invalid_quantity");
    if (unit_price_cents < 0 || client_fee_cents < 0)
        return fail(err, errlen, "invalid_amount");
    int64_t fee = min64(client_fee_cents, unit_price_cents);
    struct event_amounts a = {.value_unit_cents = unit_price_cents - fee,
                              .unit_price_cents = unit_price_cents};
    if (money_mul_qty(unit_price_cents, qty_h, &a.gross_cents) < 0 ||
        money_mul_qty(fee, qty_h, &a.client_share_cents) < 0)
        return fail(err, errlen, "amount_overflow");
    a.organiser_part_cents = a.gross_cents - a.client_share_cents;
    *out = a;
    return 0;
}

static void negate(struct event_amounts *a)
{
    /* All three are >= 0 here, so negation cannot overflow. */
    a->gross_cents = -a->gross_cents;
    a->organiser_part_cents = -a->organiser_part_cents;
    a->client_share_cents = -a->client_share_cents;
}

int event_credit_voucher(int64_t value_unit_cents, int64_t unit_price_cents, int64_t credit_qty_h,
                         struct event_amounts *out, char *err, size_t errlen)
{
    struct event_amounts a;
    if (event_amounts_voucher(value_unit_cents, unit_price_cents, credit_qty_h, &a, err, errlen) <
        0)
        return -1;
    negate(&a);
    *out = a;
    return 0;
}

int event_credit_order(int64_t unit_price_cents, int64_t client_fee_cents, int64_t credit_qty_h,
                       struct event_amounts *out, char *err, size_t errlen)
{
    struct event_amounts a;
    if (event_amounts_order(unit_price_cents, client_fee_cents, credit_qty_h, &a, err, errlen) < 0)
        return -1;
    negate(&a);
    *out = a;
    return 0;
}

int event_price_voucher(bool has_list, int64_t list_cents, bool given, int64_t given_cents,
                        bool client_share_allowed, int64_t value_unit_cents, int64_t *out,
                        char *err, size_t errlen)
{
    if (!has_list)
        return fail(err, errlen, "no_price_in_force");
    if (given && given_cents < 0)
        return fail(err, errlen, "invalid_price");
    if (given && given_cents > list_cents)
        return fail(err, errlen, "price_above_list");
    int64_t price = given ? given_cents : list_cents;
    if (!client_share_allowed && price > value_unit_cents)
        return fail(err, errlen, "price_exceeds_voucher_value");
    *out = price;
    return 0;
}

int event_price_order(bool has_contract, int64_t contract_cents, bool given, int64_t given_cents,
                      int64_t *out, char *err, size_t errlen)
{
    if (!has_contract)
        return fail(err, errlen, "no_price_in_force");
    if (given && given_cents != contract_cents)
        return fail(err, errlen, "price_not_contract_price");
    *out = contract_cents;
    return 0;
}

static bool within(bool has_limit, int64_t limit_h, int64_t used_h, int64_t add_h)
{
    int64_t total;
    if (!has_limit)
        return true;
    if (__builtin_add_overflow(used_h, add_h, &total))
        return false; /* cannot be within any int64 limit */
    return total <= limit_h;
}

int event_quota_check(bool has_limit, int64_t limit_h, int64_t used_h, int64_t add_h, char *err,
                      size_t errlen)
{
    return within(has_limit, limit_h, used_h, add_h) ? 0 : fail(err, errlen, "quota_exceeded");
}

int event_volume_cap_check(bool has_limit, int64_t limit_h, int64_t used_h, int64_t add_h,
                           char *err, size_t errlen)
{
    return within(has_limit, limit_h, used_h, add_h) ? 0 : fail(err, errlen, "volume_cap_exceeded");
}

static const char *const state_names[] = {"recorded", "approved", "settled", "paid", "deleted"};
static const char *const action_names[] = {"edit", "delete", "approve", "settle", "pay", "credit"};
#define NSTATES (int)(sizeof state_names / sizeof state_names[0])
#define NACTIONS (int)(sizeof action_names / sizeof action_names[0])

int event_state_parse(const char *s, enum event_state *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum event_state)i;
            return 0;
        }
    return -1;
}

const char *event_state_name(enum event_state s)
{
    return (int)s >= 0 && (int)s < NSTATES ? state_names[s] : "?";
}

const char *event_action_name(enum event_action a)
{
    return (int)a >= 0 && (int)a < NACTIONS ? action_names[a] : "?";
}

int event_transition(enum event_state from, enum event_action action, enum event_state *next,
                     char *err, size_t errlen)
{
    switch (action) {
    case EVENT_EDIT:
        if (from != EVENT_RECORDED)
            return fail(err, errlen, "event_not_editable");
        *next = EVENT_RECORDED;
        return 0;
    case EVENT_DELETE:
        if (from != EVENT_RECORDED && from != EVENT_APPROVED)
            return fail(err, errlen, "event_not_deletable");
        *next = EVENT_DELETED;
        return 0;
    case EVENT_APPROVE:
        if (from != EVENT_RECORDED)
            return fail(err, errlen, "event_not_approvable");
        *next = EVENT_APPROVED;
        return 0;
    case EVENT_SETTLE:
        if (from != EVENT_APPROVED)
            return fail(err, errlen, "event_not_settleable");
        *next = EVENT_SETTLED;
        return 0;
    case EVENT_PAY:
        if (from != EVENT_SETTLED)
            return fail(err, errlen, "event_not_payable");
        *next = EVENT_PAID;
        return 0;
    case EVENT_CREDIT:
        if (from != EVENT_SETTLED && from != EVENT_PAID)
            return fail(err, errlen, "event_not_creditable");
        *next = from;
        return 0;
    }
    return fail(err, errlen, "invalid_action");
}

bool event_state_counts_for_quota(enum event_state s)
{
    return s == EVENT_RECORDED || s == EVENT_APPROVED || s == EVENT_SETTLED || s == EVENT_PAID;
}

int event_credit_qty_check(int64_t event_qty_h, int64_t already_credited_h, int64_t credit_qty_h,
                           char *err, size_t errlen)
{
    if (credit_qty_h <= 0)
        return fail(err, errlen, "invalid_quantity");
    int64_t remaining;
    if (__builtin_sub_overflow(event_qty_h, already_credited_h, &remaining) ||
        credit_qty_h > remaining)
        return fail(err, errlen, "credit_exceeds_remaining");
    return 0;
}
