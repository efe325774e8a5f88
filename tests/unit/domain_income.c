#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "domain/income.h"

/*
 * The model used throughout (invented, shaped like the old home-care rule):
 *   max 30.00, min 5.00 per unit, divisor 10
 *   size 1: limit 600.00, 30 %;  size 2: 1100.00, 20 %;  size 3: 1700.00, 15 %
 *   each extra person: +300.00 limit, -1 percentage point
 */
static const struct income_row ROWS[] = {
    {1, 60000, 3000},
    {2, 110000, 2000},
    {3, 170000, 1500},
};

static struct income_model model(void)
{
    struct income_model m = {
        .max_value_cents = 3000,
        .min_value_cents = 500,
        .divisor = 10,
        .rows = ROWS,
        .nrows = 3,
        .extra_person_limit_cents = 30000,
        .extra_person_pct_bp = 100,
    };
    return m;
}

static struct income_basis value(const struct income_model *m, int size, int64_t income)
{
    struct income_basis b;
    char err[128] = "";
    cr_assert_eq(income_value(m, size, income, &b, err, sizeof err), 0, "%s", err);
    return b;
}

/* How a value was reached. */
static void expect_basis(struct income_basis b, int64_t limit, int pct, int64_t excess,
                         int64_t reduction, int64_t value)
{
    cr_assert_eq(b.limit_cents, limit);
    cr_assert_eq(b.pct_bp, pct);
    cr_assert_eq(b.excess_cents, excess);
    cr_assert_eq(b.reduction_cents, reduction);
    cr_assert_eq(b.value_cents, value);
}

/* The limit and percentage a household size is given. */
static void expect_row(const struct income_model *m, int size, int64_t limit, int pct)
{
    struct income_basis b = value(m, size, 0);
    cr_assert_eq(b.limit_cents, limit, "size %d", size);
    cr_assert_eq(b.pct_bp, pct, "size %d", size);
}

static void fails(const struct income_model *m, int size, int64_t income, const char *reason)
{
    struct income_basis b;
    char err[128] = "";
    cr_assert_eq(income_value(m, size, income, &b, err, sizeof err), -1);
    cr_assert_eq(strncmp(err, reason, strlen(reason)), 0, "err '%s', want '%s'", err, reason);
}

Test(income, single_person_over_limit)
{
    /* 1000.00 income, limit 600.00: excess 400.00 = 40000 c;
     * 40000 * 3000 / 10000 / 10 = 1200 -> value 30.00 - 12.00 = 18.00 */
    struct income_model m = model();
    struct income_basis b = value(&m, 1, 100000);
    expect_basis(b, 60000, 3000, 40000, 1200, 1800);
    cr_assert_eq(b.household_size, 1);
    cr_assert_eq(b.income_cents, 100000);
}

Test(income, at_and_below_limit_gives_max)
{
    struct income_model m = model();
    /* Exactly the limit; no income (the excess is never negative); 1 cent
     * over: 1 * 2000 / 100000 = 0.02 -> 0. */
    static const int64_t income[] = {110000, 0, 110001}, excess[] = {0, 0, 1};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(value(&m, 2, income[i]).value_cents, 3000, "income %lld",
                     (long long)income[i]);
        cr_assert_eq(value(&m, 2, income[i]).excess_cents, excess[i]);
    }
}

Test(income, reduction_rounds_half_up_once)
{
    struct income_model m = model();
    /* size 1: reduction = excess * 3 / 100.
     * excess 50 -> 1.5 -> 2 (half away from zero); 49 -> 1.47 -> 1;
     * 16 -> 0.48 -> 0; 17 -> 0.51 -> 1. */
    cr_assert_eq(value(&m, 1, 60050).value_cents, 2998);
    /* Rounding once, not per step (the last two): excess 150 -> 4.5 -> 5,
     * excess 149 -> 4.47 -> 4. Rounding excess*pct/10000 first (44.7 -> 45)
     * and then dividing by 10 (4.5 -> 5) would give 5 for 149: wrong. */
    static const int64_t excess[] = {50, 49, 16, 17, 150, 149}, reduction[] = {2, 1, 0, 1, 5, 4};
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(value(&m, 1, 60000 + excess[i]).reduction_cents, reduction[i], "excess %lld",
                     (long long)excess[i]);
}

Test(income, floor_at_min_value)
{
    struct income_model m = model();
    /* excess 9400.00 -> 940000 * 0.03 = 28200 > 30.00: value floors at 5.00 */
    struct income_basis b = value(&m, 1, 1000000);
    cr_assert_eq(b.reduction_cents, 28200);
    cr_assert_eq(b.value_cents, 500);
    /* exactly down to the min: reduction 2500 <- excess 2500/0.03 = 83333.33,
     * excess 83334 -> 2500.02 -> 2500 -> 30.00 - 25.00 = 5.00 */
    cr_assert_eq(value(&m, 1, 60000 + 83334).value_cents, 500);
    cr_assert_eq(value(&m, 1, 60000 + 83300).value_cents, 501); /* 2499 */
}

Test(income, sizes_beyond_table_extrapolate)
{
    struct income_model m = model();
    /* size 5 = last row (3) + 2: limit 1700 + 2*300 = 2300.00, pct 15 - 2 = 13 %.
     * income 3300.00: excess 1000.00 -> 100000 * 1300 / 100000 = 1300 -> 17.00 */
    struct income_basis b = value(&m, 5, 330000);
    expect_basis(b, 230000, 1300, 100000, 1300, 1700);
    /* size 4: one extra person */
    expect_row(&m, 4, 200000, 1400);
}

Test(income, extrapolated_pct_not_below_zero)
{
    struct income_model m = model();
    /* size 18: 15 extra -> 1500 - 1500 = 0 exactly */
    cr_assert_eq(value(&m, 18, 10000000).pct_bp, 0);
    /* size 20: 17 extra -> would be -200 -> 0; value stays max */
    struct income_basis b = value(&m, 20, 10000000);
    expect_basis(b, 170000 + 17 * 30000, 0, 10000000 - (170000 + 17 * 30000), 0, 3000);
}

Test(income, sizes_below_first_row_and_gaps)
{
    static const struct income_row gappy[] = {{2, 100000, 2000}, {4, 200000, 1000}};
    struct income_model m = model();
    m.rows = gappy;
    m.nrows = 2;
    /* size 1 < first row: uses the first row */
    expect_row(&m, 1, 100000, 2000);
    /* size 3 in the gap: nearest row below (2), no extrapolation */
    expect_row(&m, 3, 100000, 2000);
    expect_row(&m, 4, 200000, 1000);
    expect_row(&m, 5, 230000, 900);
}

Test(income, bad_inputs)
{
    struct income_model m = model();
    fails(&m, 0, 100000, "invalid_household_size");
    fails(&m, -1, 100000, "invalid_household_size");
    fails(&m, 1, -1, "invalid_income");
    m.extra_person_limit_cents = INT64_MAX / 4;
    fails(&m, 10, 0, "amount_overflow");
}

Test(income, huge_income_and_divisor_do_not_overflow)
{
    struct income_model m = model();
    cr_assert_eq(value(&m, 1, INT64_MAX).value_cents, 500);
    m.divisor = INT64_MAX;
    cr_assert_eq(value(&m, 1, INT64_MAX).value_cents, 3000); /* reduction 0.3 -> 0 */
}

Test(income, model_check)
{
    char err[128];
    struct income_model m = model();
    cr_assert_eq(income_model_check(&m, err, sizeof err), 0);

    m = model();
    m.min_value_cents = 3001;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    cr_assert(strstr(err, "income_model_invalid") == err);
    m = model();
    m.min_value_cents = -1;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    m = model();
    m.divisor = 0;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    fails(&m, 1, 0, "income_model_invalid");
    m = model();
    m.nrows = 0;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    m = model();
    m.rows = NULL;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    m = model();
    m.extra_person_pct_bp = -1;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);
    m = model();
    m.extra_person_limit_cents = -1;
    cr_assert_eq(income_model_check(&m, err, sizeof err), -1);

    static const struct income_row dup[] = {{1, 1, 1}, {1, 2, 2}};
    static const struct income_row zero[] = {{0, 1, 1}};
    static const struct income_row pct[] = {{1, 1, 10001}};
    static const struct income_row neg[] = {{1, -1, 1}};
    static const struct income_row down[] = {{2, 1, 1}, {1, 1, 1}};
    const struct income_row *bad[] = {dup, zero, pct, neg, down};
    size_t n[] = {2, 1, 1, 1, 2};
    for (size_t i = 0; i < 5; i++) {
        m = model();
        m.rows = bad[i];
        m.nrows = n[i];
        cr_assert_eq(income_model_check(&m, err, sizeof err), -1, "table %zu", i);
    }
    cr_assert_eq(income_model_check(NULL, err, sizeof err), -1);
    cr_assert_eq(income_model_check(NULL, NULL, 0), -1); /* err is optional */
}
