#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "domain/event.h"
#include "domain_check.h"

static struct event_amounts voucher(int64_t vu, int64_t price, int64_t qty)
{
    struct event_amounts a;
    err[0] = '\0';
    return split_adds_up(event_amounts_voucher(vu, price, qty, &a, err, sizeof err), &a);
}

static struct event_amounts order(int64_t price, int64_t fee, int64_t qty)
{
    struct event_amounts a;
    err[0] = '\0';
    return split_adds_up(event_amounts_order(price, fee, qty, &a, err, sizeof err), &a);
}

static int64_t vunit(int64_t value, int64_t coeff)
{
    int64_t out;
    cr_assert_eq(event_value_unit(value, coeff, &out, err, sizeof err), 0, "%s", err);
    return out;
}

Test(event_amounts, evening_example_from_the_brief)
{
    /* 2.5 h evening at 34.90 EUR/h, voucher 30.00 EUR/h, evening coefficient 1.15:
     *   value_unit     = round(30.00 * 1.15)          = 34.50
     *   gross          = round(34.90 * 2.5)           = 87.25
     *   organiser_part = round(min(34.50, 34.90) * 2.5) = 86.25
     *   client_share   = 87.25 - 86.25                = 1.00 */
    int64_t vu = vunit(3000, 115);
    cr_assert_eq(vu, 3450);
    struct event_amounts a = voucher(vu, 3490, 250);
    cr_assert_eq(a.value_unit_cents, 3450);
    cr_assert_eq(a.unit_price_cents, 3490);
    expect_split(a, 8725, 8625, 100);
}

Test(event_amounts, price_below_voucher_value_has_no_client_share)
{
    /* 3 visits at 25.00, voucher 30.00: the voucher covers the price only. */
    struct event_amounts a = voucher(3000, 2500, 300);
    expect_split(a, 7500, 7500, 0);
    /* Equal price and value. */
    a = voucher(3000, 3000, 100);
    cr_assert_eq(a.client_share_cents, 0);
    /* Free price. */
    a = voucher(3000, 0, 100);
    cr_assert_eq(a.gross_cents, 0);
    cr_assert_eq(a.organiser_part_cents, 0);
}

Test(event_amounts, half_cents_round_away_from_zero)
{
    /* value_unit: 30.10 * 1.15 = 34.615 -> 34.62; 29.99 * 1.15 = 34.4885 -> 34.49 */
    cr_assert_eq(vunit(3010, 115), 3462);
    cr_assert_eq(vunit(2999, 115), 3449);
    /* 0.5 h at 33.33 with value 30.01:
     *   gross = 16.665 -> 16.67, organiser = 15.005 -> 15.01, client = 1.66 */
    struct event_amounts a = voucher(3001, 3333, 50);
    expect_split(a, 1667, 1501, 166);
    /* 0.25 h at 0.02: 0.005 -> 0.01 */
    a = voucher(1, 2, 25);
    expect_split(a, 1, 0, 1); /* organiser 0.0025 -> 0 */
    /* 0.33 h at 33.33: 10.9989 -> 11.00 */
    cr_assert_eq(voucher(3333, 3333, 33).gross_cents, 1100);
}

Test(event_amounts, coefficients)
{
    cr_assert_eq(vunit(3000, 100), 3000); /* weekday */
    cr_assert_eq(vunit(3000, 200), 6000);
    cr_assert_eq(vunit(3333, 150), 5000); /* 49.995 -> 50.00 */
    cr_assert_eq(vunit(0, 115), 0);
}

Test(event_amounts, rejects)
{
    struct event_amounts a;
    int64_t o;
    REJECTS(event_amounts_voucher(3000, 3490, 0, &a, err, sizeof err), "invalid_quantity");
    REJECTS(event_amounts_voucher(3000, 3490, -100, &a, err, sizeof err), "invalid_quantity");
    REJECTS(event_amounts_voucher(-1, 3490, 100, &a, err, sizeof err), "invalid_amount");
    REJECTS(event_amounts_voucher(3000, -1, 100, &a, err, sizeof err), "invalid_amount");
    REJECTS(event_amounts_voucher(3000, INT64_MAX, 200, &a, err, sizeof err), "amount_overflow");
    REJECTS(event_amounts_order(3000, -1, 100, &a, err, sizeof err), "invalid_amount");
    REJECTS(event_amounts_order(INT64_MAX, 0, 101, &a, err, sizeof err), "amount_overflow");
    REJECTS(event_amounts_order(3000, 0, 0, &a, err, sizeof err), "invalid_quantity");
    REJECTS(event_value_unit(-1, 100, &o, err, sizeof err), "invalid_amount");
    REJECTS(event_value_unit(100, -1, &o, err, sizeof err), "invalid_amount");
    REJECTS(event_value_unit(INT64_MAX, 200, &o, err, sizeof err), "amount_overflow");
    /* err is optional */
    cr_assert_eq(event_amounts_voucher(3000, 3490, 0, &a, NULL, 0), -1);
}

Test(event_amounts, order_client_fee)
{
    /* 2.5 h at contract price 40.00, client fee 12.50/h:
     *   gross = 100.00, client = round(12.50 * 2.5) = 31.25, organiser = 68.75 */
    struct event_amounts a = order(4000, 1250, 250);
    expect_split(a, 10000, 6875, 3125);
    cr_assert_eq(a.value_unit_cents, 2750);
    cr_assert_eq(a.unit_price_cents, 4000);
    /* Fee above the price: the client pays at most the price. */
    a = order(4000, 5000, 100);
    cr_assert_eq(a.client_share_cents, 4000);
    cr_assert_eq(a.organiser_part_cents, 0);
    cr_assert_eq(a.value_unit_cents, 0);
    /* Free service. */
    a = order(4000, 0, 150);
    expect_split(a, 6000, 6000, 0);
    /* Half cents: 0.5 h at 33.33, fee 10.01: gross 16.665 -> 16.67,
     * client 5.005 -> 5.01, organiser 11.66 */
    a = order(3333, 1001, 50);
    expect_split(a, 1667, 1166, 501);
}

Test(event_credit, voucher_credit_is_negated_amounts_for_the_quantity)
{
    struct event_amounts c;
    /* Crediting 1 h of the evening example: gross round(34.90) = 34.90,
     * organiser 34.50, client 0.40, all negated. */
    cr_assert_eq(event_credit_voucher(3450, 3490, 100, &c, err, sizeof err), 0);
    expect_split(c, -3490, -3450, -40);
    cr_assert_eq(c.value_unit_cents, 3450);
    cr_assert_eq(c.unit_price_cents, 3490);
    /* The whole 2.5 h: exactly the event's amounts negated. */
    cr_assert_eq(event_credit_voucher(3450, 3490, 250, &c, err, sizeof err), 0);
    expect_split(c, -8725, -8625, -100);
}

Test(event_credit, half_cents_round_away_from_zero_when_negative)
{
    struct event_amounts c;
    /* 0.5 of 33.33 with value 30.01: -16.665 -> -16.67, -15.005 -> -15.01 */
    cr_assert_eq(event_credit_voucher(3001, 3333, 50, &c, err, sizeof err), 0);
    expect_split(c, -1667, -1501, -166);
    /* Two half credits of a 1.00 event at 33.33 sum to -33.34, a cent more
     * than the event: each credit rounds on its own, as the spec says. */
    cr_assert_eq(voucher(3333, 3333, 100).gross_cents, 3333);
    cr_assert_eq(c.gross_cents * 2, -3334);
}

Test(event_credit, order_credit)
{
    struct event_amounts c;
    cr_assert_eq(event_credit_order(4000, 1250, 100, &c, err, sizeof err), 0);
    expect_split(c, -4000, -2750, -1250);
    REJECTS(event_credit_order(4000, 1250, 0, &c, err, sizeof err), "invalid_quantity");
    REJECTS(event_credit_voucher(3450, 3490, 0, &c, err, sizeof err), "invalid_quantity");
}

Test(event_quantity, bounds)
{
    cr_assert_eq(event_quantity_check(1, err, sizeof err), 0);
    cr_assert_eq(event_quantity_check(100000, err, sizeof err), 0);
    REJECTS(event_quantity_check(0, err, sizeof err), "invalid_quantity");
    REJECTS(event_quantity_check(-1, err, sizeof err), "invalid_quantity");
    REJECTS(event_quantity_check(100001, err, sizeof err), "invalid_quantity");
}

Test(event_price, voucher_prices)
{
    int64_t p = 0;
    /* Default: the list price. */
    cr_assert_eq(event_price_voucher(true, 3490, false, 0, true, 3000, &p, err, sizeof err), 0);
    cr_assert_eq(p, 3490);
    /* Agreed lower price; equal is fine too. */
    cr_assert_eq(event_price_voucher(true, 3490, true, 3200, true, 3000, &p, err, sizeof err), 0);
    cr_assert_eq(p, 3200);
    cr_assert_eq(event_price_voucher(true, 3490, true, 3490, true, 3000, &p, err, sizeof err), 0);
    cr_assert_eq(event_price_voucher(true, 3490, true, 0, true, 3000, &p, err, sizeof err), 0);
    cr_assert_eq(p, 0);
    REJECTS(event_price_voucher(true, 3490, true, 3491, true, 3000, &p, err, sizeof err),
            "price_above_list");
    REJECTS(event_price_voucher(true, 3490, true, -1, true, 3000, &p, err, sizeof err),
            "invalid_price");
    REJECTS(event_price_voucher(false, 0, true, 3000, true, 3000, &p, err, sizeof err),
            "no_price_in_force");
    cr_assert_eq(p, 0, "output untouched on failure");
}

Test(event_price, no_client_share_allowed)
{
    int64_t p;
    /* Price may equal value_unit... */
    cr_assert_eq(event_price_voucher(true, 3450, false, 0, false, 3450, &p, err, sizeof err), 0);
    /* ...but not exceed it, be it the list price or an agreed one. */
    REJECTS(event_price_voucher(true, 3451, false, 0, false, 3450, &p, err, sizeof err),
            "price_exceeds_voucher_value");
    REJECTS(event_price_voucher(true, 4000, true, 3451, false, 3450, &p, err, sizeof err),
            "price_exceeds_voucher_value");
    /* An agreed price at or under the value makes a higher list price fine. */
    cr_assert_eq(event_price_voucher(true, 4000, true, 3450, false, 3450, &p, err, sizeof err), 0);
    cr_assert_eq(p, 3450);
}

Test(event_price, order_prices)
{
    int64_t p = 0;
    cr_assert_eq(event_price_order(true, 4000, false, 0, &p, err, sizeof err), 0);
    cr_assert_eq(p, 4000);
    cr_assert_eq(event_price_order(true, 4000, true, 4000, &p, err, sizeof err), 0);
    REJECTS(event_price_order(true, 4000, true, 3999, &p, err, sizeof err),
            "price_not_contract_price");
    REJECTS(event_price_order(true, 4000, true, 4001, &p, err, sizeof err),
            "price_not_contract_price");
    REJECTS(event_price_order(false, 0, false, 0, &p, err, sizeof err), "no_price_in_force");
}

Test(event_quota, exactly_reached_vs_exceeded)
{
    /* Quota 20.00 h, 17.50 used: 2.50 more reaches it exactly, 2.51 exceeds. */
    cr_assert_eq(event_quota_check(true, 2000, 1750, 250, err, sizeof err), 0);
    REJECTS(event_quota_check(true, 2000, 1750, 251, err, sizeof err), "quota_exceeded");
    cr_assert_eq(event_quota_check(true, 2000, 0, 2000, err, sizeof err), 0);
    REJECTS(event_quota_check(true, 2000, 2000, 1, err, sizeof err), "quota_exceeded");
    REJECTS(event_quota_check(true, 0, 0, 1, err, sizeof err), "quota_exceeded");
    /* No quota: anything goes, even sums that would overflow. */
    cr_assert_eq(event_quota_check(false, 0, INT64_MAX, INT64_MAX, err, sizeof err), 0);
    /* Overflowing sums exceed any quota instead of wrapping negative. */
    REJECTS(event_quota_check(true, INT64_MAX, INT64_MAX, 1, err, sizeof err), "quota_exceeded");
}

Test(event_quota, volume_cap)
{
    cr_assert_eq(event_volume_cap_check(true, 50000, 49900, 100, err, sizeof err), 0);
    REJECTS(event_volume_cap_check(true, 50000, 49900, 101, err, sizeof err),
            "volume_cap_exceeded");
    cr_assert_eq(event_volume_cap_check(false, 0, 123, 456, err, sizeof err), 0);
}

Test(event_state, names)
{
    EXPECT_STATE_NAMES(enum event_state, event_state_parse, event_state_name, "recorded",
                       "approved", "settled", "paid", "deleted");
    enum event_state s;
    cr_assert_eq(event_state_parse("Recorded", &s), -1);
    cr_assert_eq(event_state_parse("", &s), -1);
    cr_assert_eq(event_state_parse(NULL, &s), -1);
    cr_assert_str_eq(event_state_name((enum event_state)5), "?");
    cr_assert_str_eq(event_action_name(EVENT_CREDIT), "credit");
    cr_assert_str_eq(event_action_name(EVENT_EDIT), "edit");
    cr_assert_str_eq(event_action_name((enum event_action)6), "?");
}

Test(event_state, transition_table)
{
    /* Expected next state per (state, action); -1 = refused. */
    static const int want[5][6] = {
        /*             edit            delete         approve         settle         pay credit */
        /* recorded */ {EVENT_RECORDED, EVENT_DELETED, EVENT_APPROVED, -1, -1, -1},
        /* approved */ {-1, EVENT_DELETED, -1, EVENT_SETTLED, -1, -1},
        /* settled  */ {-1, -1, -1, -1, EVENT_PAID, EVENT_SETTLED},
        /* paid     */ {-1, -1, -1, -1, -1, EVENT_PAID},
        /* deleted  */ {-1, -1, -1, -1, -1, -1},
    };
    static const char *reason[6] = {"event_not_editable",   "event_not_deletable",
                                    "event_not_approvable", "event_not_settleable",
                                    "event_not_payable",    "event_not_creditable"};
    for (int s = 0; s < 5; s++)
        for (int a = 0; a < 6; a++) {
            enum event_state next = (enum event_state)77;
            err[0] = '\0';
            int rc =
                event_transition((enum event_state)s, (enum event_action)a, &next, err, sizeof err);
            if (want[s][a] < 0) {
                cr_assert_eq(rc, -1, "%s %s", event_state_name(s), event_action_name(a));
                cr_assert_str_eq(err, reason[a]);
                cr_assert_eq(next, (enum event_state)77);
            } else {
                cr_assert_eq(rc, 0, "%s %s", event_state_name(s), event_action_name(a));
                cr_assert_eq((int)next, want[s][a]);
            }
        }
    enum event_state next;
    REJECTS(event_transition(EVENT_RECORDED, (enum event_action)42, &next, err, sizeof err),
            "invalid_action");
}

Test(event_state, quota_counting_states)
{
    cr_assert(event_state_counts_for_quota(EVENT_RECORDED));
    cr_assert(event_state_counts_for_quota(EVENT_APPROVED));
    cr_assert(event_state_counts_for_quota(EVENT_SETTLED));
    cr_assert(event_state_counts_for_quota(EVENT_PAID));
    cr_assert_not(event_state_counts_for_quota(EVENT_DELETED));
}

Test(event_credit, quantity_bounds)
{
    /* Event of 2.50, 1.00 already credited: 1.50 left. */
    cr_assert_eq(event_credit_qty_check(250, 100, 150, err, sizeof err), 0);
    cr_assert_eq(event_credit_qty_check(250, 100, 1, err, sizeof err), 0);
    REJECTS(event_credit_qty_check(250, 100, 151, err, sizeof err), "credit_exceeds_remaining");
    REJECTS(event_credit_qty_check(250, 250, 1, err, sizeof err), "credit_exceeds_remaining");
    REJECTS(event_credit_qty_check(250, 0, 0, err, sizeof err), "invalid_quantity");
    REJECTS(event_credit_qty_check(250, 0, -5, err, sizeof err), "invalid_quantity");
    cr_assert_eq(event_credit_qty_check(250, 0, 250, err, sizeof err), 0);
    REJECTS(event_credit_qty_check(INT64_MIN, 1, 1, err, sizeof err), "credit_exceeds_remaining");
}
