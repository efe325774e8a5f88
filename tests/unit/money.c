#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/money.h"

static int64_t DR(int64_t n, int64_t d)
{
    int64_t out = 999;
    cr_assert_eq(money_div_round(n, d, &out), 0, "%lld / %lld", (long long)n, (long long)d);
    return out;
}

static int64_t MQ(int64_t c, int64_t h)
{
    int64_t out = 999;
    cr_assert_eq(money_mul_qty(c, h, &out), 0, "%lld * %lld", (long long)c, (long long)h);
    return out;
}

Test(money_div_round, exact_and_truncating)
{
    cr_assert_eq(DR(10, 2), 5);
    cr_assert_eq(DR(0, 7), 0);
    cr_assert_eq(DR(7, 3), 2);   /* 2.33 */
    cr_assert_eq(DR(8, 3), 3);   /* 2.67 */
    cr_assert_eq(DR(-7, 3), -2); /* -2.33 */
    cr_assert_eq(DR(-8, 3), -3); /* -2.67 */
}

Test(money_div_round, half_away_from_zero_all_sign_combinations)
{
    cr_assert_eq(DR(5, 2), 3);   /* 2.5 -> 3 */
    cr_assert_eq(DR(-5, 2), -3); /* -2.5 -> -3 */
    cr_assert_eq(DR(5, -2), -3); /* -2.5 -> -3 */
    cr_assert_eq(DR(-5, -2), 3); /* 2.5 -> 3 */
    cr_assert_eq(DR(1, 2), 1);   /* 0.5 -> 1 */
    cr_assert_eq(DR(-1, 2), -1); /* -0.5 -> -1 */
    cr_assert_eq(DR(149, 100), 1);
    cr_assert_eq(DR(150, 100), 2);
    cr_assert_eq(DR(-149, 100), -1);
    cr_assert_eq(DR(-150, 100), -2);
    cr_assert_eq(DR(250, 100), 3); /* not banker's rounding: 2.5 -> 3, not 2 */
    cr_assert_eq(DR(-250, 100), -3);
}

Test(money_div_round, limits)
{
    int64_t out = 42;
    cr_assert_eq(money_div_round(1, 0, &out), -1);
    cr_assert_eq(out, 42);
    cr_assert_eq(money_div_round(INT64_MIN, -1, &out), -1);
    cr_assert_eq(out, 42);
    cr_assert_eq(DR(INT64_MAX, 1), INT64_MAX);
    cr_assert_eq(DR(INT64_MIN, 1), INT64_MIN);
    cr_assert_eq(DR(INT64_MAX, -1), -INT64_MAX);
    cr_assert_eq(DR(INT64_MAX, 2), INT64_MAX / 2 + 1); /* ...x.5 rounds up */
    cr_assert_eq(DR(INT64_MIN, 2), INT64_MIN / 2);
    cr_assert_eq(DR(INT64_MAX, INT64_MAX), 1);
    cr_assert_eq(DR(1, INT64_MAX), 0);
}

Test(money_mul_qty, examples)
{
    /* 34.90 EUR x 2.5 h = 87.25 EUR exactly. */
    cr_assert_eq(MQ(3490, 250), 8725);
    /* 12.34 x 1.5 = 18.51 exactly. */
    cr_assert_eq(MQ(1234, 150), 1851);
    /* 0.01 x 0.5 = 0.005 -> 0.01 (half away from zero) */
    cr_assert_eq(MQ(1, 50), 1);
    cr_assert_eq(MQ(-1, 50), -1);
    /* 0.01 x 0.49 = 0.0049 -> 0 */
    cr_assert_eq(MQ(1, 49), 0);
    cr_assert_eq(MQ(-1, 49), 0);
    /* 33.33 x 0.33 = 10.9989 -> 11.00 */
    cr_assert_eq(MQ(3333, 33), 1100);
    /* 10.01 x 0.5 = 5.005 -> 5.01; negated -> -5.01 */
    cr_assert_eq(MQ(1001, 50), 501);
    cr_assert_eq(MQ(-1001, 50), -501);
    cr_assert_eq(MQ(1001, -50), -501);
    cr_assert_eq(MQ(0, 100000), 0);
    cr_assert_eq(MQ(3490, 100), 3490);
}

Test(money_mul_qty, large_values_do_not_wrap)
{
    int64_t out = 7;
    /* INT64_MAX * 100 would wrap in 64 bits; in 128 bits /100 is exact. */
    cr_assert_eq(MQ(INT64_MAX, 100), INT64_MAX);
    cr_assert_eq(MQ(INT64_MIN, 100), INT64_MIN);
    cr_assert_eq(money_mul_qty(INT64_MAX, 101, &out), -1);
    cr_assert_eq(money_mul_qty(INT64_MIN, 101, &out), -1);
    cr_assert_eq(money_mul_qty(INT64_MAX, INT64_MAX, &out), -1);
    cr_assert_eq(out, 7);
    cr_assert_eq(MQ(INT64_MAX, 1), INT64_MAX / 100);    /* ...58.07 -> ...58 */
    cr_assert_eq(MQ(INT64_MAX, 50), INT64_MAX / 2 + 1); /* ...03.5 -> ...04 */
}

Test(money_apply_coeff, examples)
{
    int64_t out;
    /* 30.00 EUR voucher x 1.15 evening = 34.50 */
    cr_assert_eq(money_apply_coeff(3000, 115, &out), 0);
    cr_assert_eq(out, 3450);
    /* 29.99 x 1.15 = 34.4885 -> 34.49 */
    cr_assert_eq(money_apply_coeff(2999, 115, &out), 0);
    cr_assert_eq(out, 3449);
    /* 30.10 x 1.15 = 34.615 -> 34.62 (half up) */
    cr_assert_eq(money_apply_coeff(3010, 115, &out), 0);
    cr_assert_eq(out, 3462);
    cr_assert_eq(money_apply_coeff(-3010, 115, &out), 0);
    cr_assert_eq(out, -3462);
    cr_assert_eq(money_apply_coeff(3000, 100, &out), 0);
    cr_assert_eq(out, 3000);
}

Test(money_vat_of_gross, rates)
{
    /* 25.5 %: 125.50 gross holds 25.50 VAT */
    cr_assert_eq(money_vat_of_gross(12550, 2550), 2550);
    /* 100.00 at 25.5 %: 10000*2550/12550 = 2031.87 -> 20.32 */
    cr_assert_eq(money_vat_of_gross(10000, 2550), 2032);
    cr_assert_eq(money_vat_of_gross(-10000, 2550), -2032);
    /* 14 %: 114.00 -> 14.00 */
    cr_assert_eq(money_vat_of_gross(11400, 1400), 1400);
    /* 10 %: 0.11 -> 0.01 exactly (11*1000/11000 = 1) */
    cr_assert_eq(money_vat_of_gross(11, 1000), 1);
    /* 10 %: 0.55 -> 0.05 and 1.65 -> 0.15, exactly */
    cr_assert_eq(money_vat_of_gross(55, 1000), 5);
    cr_assert_eq(money_vat_of_gross(165, 1000), 15);
    /* Exact halves cannot occur at real rates (2*a*r = (10000+r)*odd has no
     * integer solution for 2550, 1400, 1000, 2400); at 100 % the VAT is half
     * the amount: 0.03 -> 0.015 -> 0.02, and -0.03 -> -0.02. */
    cr_assert_eq(money_vat_of_gross(3, 10000), 2);
    cr_assert_eq(money_vat_of_gross(-3, 10000), -2);
    cr_assert_eq(money_vat_of_gross(12345, 0), 0);
    cr_assert_eq(money_vat_of_gross(12345, -5), 0);
    cr_assert_eq(money_vat_of_gross(0, 2550), 0);
}

Test(money_vat_of_gross, huge_amounts)
{
    int64_t v = money_vat_of_gross(INT64_MAX, 2550);
    /* INT64_MAX * 2550 / 12550 computed in 128 bits */
    __int128 want = ((__int128)INT64_MAX * 2550 * 2 + 12550) / (2 * 12550);
    cr_assert_eq(v, (int64_t)want);
    cr_assert_lt(money_vat_of_gross(INT64_MIN, 2550), 0);
}

Test(money_add_sub, overflow)
{
    int64_t out = 5;
    cr_assert_eq(money_add(1, 2, &out), 0);
    cr_assert_eq(out, 3);
    cr_assert_eq(money_add(INT64_MAX, 1, &out), -1);
    cr_assert_eq(money_add(INT64_MIN, -1, &out), -1);
    cr_assert_eq(out, 3);
    cr_assert_eq(money_sub(5, 8, &out), 0);
    cr_assert_eq(out, -3);
    cr_assert_eq(money_sub(INT64_MIN, 1, &out), -1);
    cr_assert_eq(money_sub(0, INT64_MIN, &out), -1);
    cr_assert_eq(money_sub(-1, INT64_MIN, &out), 0);
    cr_assert_eq(out, INT64_MAX);
}

Test(money_format, dot_and_comma)
{
    char b[MONEY_FMT_MAX];
    struct {
        int64_t c;
        const char *dot;
    } t[] = {
        {0, "0.00"},
        {1, "0.01"},
        {-1, "-0.01"},
        {5, "0.05"},
        {10, "0.10"},
        {99, "0.99"},
        {100, "1.00"},
        {1234, "12.34"},
        {-1234, "-12.34"},
        {-100, "-1.00"},
        {100000000, "1000000.00"},
        {INT64_MAX, "92233720368547758.07"},
        {INT64_MIN, "-92233720368547758.08"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cr_assert_eq(money_format(t[i].c, '.', b, sizeof b), 0);
        cr_assert_str_eq(b, t[i].dot);
        cr_assert_eq(money_format(t[i].c, ',', b, sizeof b), 0);
        char want[MONEY_FMT_MAX];
        strcpy(want, t[i].dot);
        *strchr(want, '.') = ',';
        cr_assert_str_eq(b, want);
    }
}

Test(money_format, buffer_too_small)
{
    char b[8];
    cr_assert_eq(money_format(-1234, '.', b, 7), 0); /* "-12.34" + NUL = 7 */
    cr_assert_str_eq(b, "-12.34");
    cr_assert_eq(money_format(-1234, '.', b, 6), -1);
    cr_assert_str_eq(b, "");
    cr_assert_eq(money_format(1, '.', b, 0), -1);
}

Test(money_div_round, matches_reference_formula_on_small_range)
{
    /* Reference: |q| = floor((2|n| + |d|) / 2|d|), sign of n*d. Written
     * differently from money.c on purpose. */
    for (int64_t n = -1000; n <= 1000; n++)
        for (int64_t d = -60; d <= 60; d++) {
            if (d == 0)
                continue;
            int64_t an = n < 0 ? -n : n, ad = d < 0 ? -d : d;
            int64_t q = (2 * an + ad) / (2 * ad);
            if ((n < 0) != (d < 0))
                q = -q;
            cr_assert_eq(DR(n, d), q, "%lld / %lld", (long long)n, (long long)d);
        }
}
