/* lib/domain/budget.c: the pot of a budget voucher, cent by cent. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "domain/budget.h"
#include "domain_check.h"

static struct event_amounts charge(int64_t price, int64_t qty_h, int64_t remaining, bool share)
{
    struct event_amounts a;
    err[0] = '\0';
    split_adds_up(budget_event_amounts(price, qty_h, remaining, share, &a, err, sizeof err), &a);
    cr_assert_geq(a.organiser_part_cents, 0);
    cr_assert_geq(a.client_share_cents, 0);
    cr_assert_leq(a.organiser_part_cents, remaining);
    return a;
}

/* One grant's value fields and what budget_grant_check says of them (NULL:
 * accepted). */
struct grant_case {
    bool unit_value, income, budget;
    int64_t budget_cents;
    bool valid_to, quota;
    const char *reason;
};

static void expect_grants(const struct grant_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        err[0] = '\0';
        int rc = budget_grant_check(c[i].unit_value, c[i].income, c[i].budget, c[i].budget_cents,
                                    c[i].valid_to, c[i].quota, err, sizeof err);
        expect_answer(rc, c[i].reason, i);
    }
}

Test(budget, grant_needs_exactly_one_value_basis)
{
    static const struct grant_case c[] = {
        {false, false, true, 99000, true, false, NULL},
        {true, false, false, 0, false, true, NULL},
        {false, true, false, 0, false, false, NULL},
        {true, false, true, 99000, true, false, "invalid_value_basis"},
        {false, true, true, 99000, true, false, "invalid_value_basis"},
        {false, false, false, 0, true, false, "invalid_value_basis"},
    };
    expect_grants(c, sizeof c / sizeof c[0]);
}

Test(budget, grant_needs_valid_to_no_quota_and_a_sane_sum)
{
    static const struct grant_case c[] = {
        {false, false, true, 99000, false, false, "budget_needs_valid_to"},
        {false, false, true, 99000, true, true, "budget_with_quota"},
        {false, false, true, 0, true, false, "invalid_budget"},
        {false, false, true, 10000001, true, false, "invalid_budget"},
        {false, false, true, 1, true, false, NULL},
        {false, false, true, 10000000, true, false, NULL},
    };
    expect_grants(c, sizeof c / sizeof c[0]);
}

Test(budget, event_within_the_pot_is_all_organiser)
{
    /* 3.5 h at 34.90 = 122.15 from a pot of 990.00 */
    struct event_amounts a = charge(3490, 350, 99000, true);
    expect_split(a, 12215, 12215, 0);
    cr_assert_eq(a.unit_price_cents, 3490);
    cr_assert_eq(a.value_unit_cents, 0);
}

Test(budget, event_gross_rounds_half_away_from_zero)
{
    /* 0.25 h at 0.10 = 0.025 -> 0.03 */
    struct event_amounts a = charge(10, 25, 1000, true);
    cr_assert_eq(a.gross_cents, 3);
}

Test(budget, event_over_the_pot_leaves_the_rest_to_the_client)
{
    /* 4 h at 34.90 = 139.60 with 50.00 left: 50.00 organiser, 89.60 client */
    struct event_amounts a = charge(3490, 400, 5000, true);
    expect_split(a, 13960, 5000, 8960);
}

Test(budget, event_exactly_the_rest)
{
    struct event_amounts a = charge(2500, 200, 5000, false);
    cr_assert_eq(a.organiser_part_cents, 5000);
    cr_assert_eq(a.client_share_cents, 0);
}

Test(budget, exhausted_pot_rejects)
{
    struct event_amounts a;
    REJECTS(budget_event_amounts(3490, 100, 0, true, &a, err, sizeof err), "budget_exhausted");
    REJECTS(budget_event_amounts(3490, 100, 0, false, &a, err, sizeof err), "budget_exhausted");
    /* a free event on an empty pot is still "nothing left" */
    REJECTS(budget_event_amounts(0, 100, 0, true, &a, err, sizeof err), "budget_exhausted");
}

Test(budget, no_client_share_means_gross_must_fit)
{
    struct event_amounts a;
    REJECTS(budget_event_amounts(2500, 300, 7499, false, &a, err, sizeof err),
            "budget_insufficient");
    a = charge(2500, 300, 7500, false);
    cr_assert_eq(a.organiser_part_cents, 7500);
}

Test(budget, event_bad_input)
{
    struct event_amounts a;
    REJECTS(budget_event_amounts(3490, 0, 1000, true, &a, err, sizeof err), "invalid_quantity");
    REJECTS(budget_event_amounts(-1, 100, 1000, true, &a, err, sizeof err), "invalid_amount");
    REJECTS(budget_event_amounts(INT64_MAX, 200, 1000, true, &a, err, sizeof err),
            "amount_overflow");
}

Test(budget, credit_refills_by_the_credited_share_of_the_draw)
{
    /* event: 4 h at 34.90, gross 139.60, organiser part 50.00 (the rest of
     * the pot). Credit 1 h: gross -34.90, organiser -round(50.00/4) = -12.50 */
    struct event_amounts a;
    cr_assert_eq(budget_credit_amounts(3490, 5000, 400, 0, 100, &a, err, sizeof err), 0, "%s", err);
    expect_split(a, -3490, -1250, -2240);
    cr_assert_eq(a.unit_price_cents, 3490);
}

Test(budget, credit_of_a_fully_covered_event_is_all_organiser)
{
    struct event_amounts a;
    cr_assert_eq(budget_credit_amounts(3490, 12215, 350, 0, 350, &a, err, sizeof err), 0);
    expect_split(a, -12215, -12215, 0);
}

Test(budget, credit_never_refills_more_than_its_gross)
{
    /* price 3, Q 0.50: gross 1.5 -> 2 cents drawn; credit 0.16: gross
     * round(0.48) = 0, part round(2*0.16/0.5 = 0.64) = 1 -> capped at 0 */
    struct event_amounts a;
    cr_assert_eq(budget_credit_amounts(3, 2, 50, 0, 16, &a, err, sizeof err), 0);
    expect_split(a, 0, 0, 0);
}

Test(budget, partial_credits_never_refill_more_than_was_drawn)
{
    /* drawn 1 cent over 3 units; three credits of 1 unit: round(1/3) = 0
     * each; and drawn 2 over 3: round(2/3) = 1 each, the third capped at 0 */
    struct event_amounts a;
    int64_t refilled = 0;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(budget_credit_amounts(100, 2, 300, refilled, 100, &a, err, sizeof err), 0);
        cr_assert_leq(a.organiser_part_cents, 0);
        cr_assert_leq(a.client_share_cents, 0);
        refilled -= a.organiser_part_cents;
    }
    cr_assert_eq(refilled, 2);
}

Test(budget, credit_bad_input)
{
    struct event_amounts a;
    REJECTS(budget_credit_amounts(100, 100, 100, 0, 0, &a, err, sizeof err), "invalid_quantity");
    REJECTS(budget_credit_amounts(100, 100, 100, 0, 101, &a, err, sizeof err), "invalid_quantity");
    REJECTS(budget_credit_amounts(100, 100, 100, 101, 50, &a, err, sizeof err), "invalid_amount");
    REJECTS(budget_credit_amounts(-1, 100, 100, 0, 50, &a, err, sizeof err), "invalid_amount");
}

Test(budget, amend_never_below_what_is_charged)
{
    cr_assert_eq(budget_amend_check(50000, 50000, err, sizeof err), 0);
    cr_assert_eq(budget_amend_check(120000, 50000, err, sizeof err), 0);
    REJECTS(budget_amend_check(49999, 50000, err, sizeof err), "budget_below_charged");
    REJECTS(budget_amend_check(0, 0, err, sizeof err), "invalid_budget");
    REJECTS(budget_amend_check(10000001, 0, err, sizeof err), "invalid_budget");
}

Test(budget, remaining)
{
    cr_assert_eq(budget_remaining(99000, 12215), 86785);
    cr_assert_eq(budget_remaining(99000, 99000), 0);
}

Test(budget, covers_quantity_truncates_to_hundredths)
{
    cr_assert_eq(budget_covers_qty_h(99000, 3490), 2836); /* 28.366... -> 28.36 */
    cr_assert_eq(budget_covers_qty_h(5000, 2500), 200);
    cr_assert_eq(budget_covers_qty_h(2499, 2500), 99); /* 0.9996 -> 0.99 */
    cr_assert_eq(budget_covers_qty_h(0, 2500), 0);
    cr_assert_eq(budget_covers_qty_h(1000, 0), -1);
}
