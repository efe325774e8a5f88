#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/decimal.h"

/* Parses JSON text the way the API does, so reals arrive as strtod made them. */
static int from_text(const char *text, int64_t *out)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    cr_assert_not_null(j, "bad JSON in test: %s (%s)", text, e.text);
    int rc = decimal_from_json(j, out);
    json_decref(j);
    return rc;
}

static int64_t ok(const char *text)
{
    int64_t v = -777;
    cr_assert_eq(from_text(text, &v), 0, "rejected: %s", text);
    return v;
}

static void bad(const char *text)
{
    int64_t v = -777;
    cr_assert_eq(from_text(text, &v), -1, "accepted: %s", text);
    cr_assert_eq(v, -777, "output touched: %s", text);
}

struct ok_case {
    const char *text;
    int64_t want;
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void expect_ok(const struct ok_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ok(c[i].text), c[i].want, "%s", c[i].text);
}

static void expect_bad(const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bad(texts[i]);
}

Test(decimal_from_json, integers)
{
    static const struct ok_case c[] = {
        {"0", 0},
        {"1", 100},
        {"1000", 100000},
        {"-3", -300},
        {"92233720368547758", 9223372036854775800},
    };
    expect_ok(c, N_OF(c));
    /* * 100 overflows int64 */
    static const char *const b[] = {"92233720368547759", "-92233720368547759"};
    expect_bad(b, N_OF(b));
}

Test(decimal_from_json, two_decimals_despite_binary_floating_point)
{
    /* 1.15 is stored as 1.149999999999999911..., 0.29 * 100 = 28.999999999999996,
     * 0.07 * 100 = 7.000000000000001. */
    static const struct ok_case c[] = {
        {"1.15", 115},
        {"0.29", 29},
        {"0.07", 7},
        {"4.35", 435},
        {"2.5", 250},
        {"0.5", 50},
        {"0.01", 1},
        {"999.99", 99999},
        {"1000.00", 100000},
        {"1.0", 100},
        {"-1.15", -115},
        {"0.0", 0},
        {"-0.0", 0},
        {"1e2", 10000},
        {"1E-2", 1},
        {"12.5e-1", 125},
        {"123456789.12", 12345678912},
    };
    expect_ok(c, N_OF(c));
}

Test(decimal_from_json, every_hundredth_up_to_1000)
{
    char buf[32];
    for (int n = 0; n <= 100000; n++) {
        snprintf(buf, sizeof buf, "%d.%02d", n / 100, n % 100);
        cr_assert_eq(ok(buf), n, "%s", buf);
    }
}

Test(decimal_from_json, more_than_two_decimals)
{
    /* 1.005 is stored as 1.00499999999999989... */
    static const char *const b[] = {
        "1.155",   "1.005",     "1.001",
        "0.001",   "1e-3",      "1e-15",
        "-0.005",  "1.1500001", "1.15000000000001",
        "999.999", "0.125",
    };
    expect_bad(b, N_OF(b));
}

Test(decimal_from_json, every_third_decimal_up_to_10_rejected)
{
    char buf[32];
    for (int n = 0; n <= 10000; n++) {
        if (n % 10 == 0)
            continue;
        snprintf(buf, sizeof buf, "%d.%03d", n / 1000, n % 1000);
        bad(buf);
    }
}

Test(decimal_from_json, magnitude_limits)
{
    cr_assert_eq(ok("99999999999.99"), 9999999999999); /* just under 1e11 */
    static const char *const b[] = {"100000000000.5", "1e11", "1e300"};
    expect_bad(b, N_OF(b));
    cr_assert_eq(ok("100000000000"), 10000000000000); /* integers are exact */
}

Test(decimal_from_json, not_a_number)
{
    int64_t v = -777;
    json_t *s = json_string("1.15");
    cr_assert_eq(decimal_from_json(s, &v), -1);
    json_decref(s);
    cr_assert_eq(decimal_from_json(json_null(), &v), -1);
    cr_assert_eq(decimal_from_json(json_true(), &v), -1);
    cr_assert_eq(decimal_from_json(NULL, &v), -1);
    cr_assert_eq(v, -777);
}

Test(decimal_from_json, reals_built_in_code)
{
    int64_t v;
    json_t *j = json_real(0.1 + 0.2); /* 0.30000000000000004 */
    cr_assert_eq(decimal_from_json(j, &v), 0);
    cr_assert_eq(v, 30);
    json_decref(j);
}

static const char *fmt(int64_t h, char sep)
{
    static char b[DECIMAL_FMT_MAX];
    cr_assert_eq(decimal_format(h, sep, b, sizeof b), 0);
    return b;
}

Test(decimal_format, canonical_shortest)
{
    static const struct {
        int64_t h;
        char sep;
        const char *want;
    } c[] = {
        {115, '.', "1.15"},
        {200, '.', "2"},
        {50, '.', "0.5"},
        {5, '.', "0.05"},
        {0, '.', "0"},
        {250, '.', "2.5"},
        {-250, '.', "-2.5"},
        {-5, '.', "-0.05"},
        {100000, '.', "1000"},
        {110, '.', "1.1"},
        {101, '.', "1.01"},
        {115, ',', "1,15"},
        {INT64_MAX, '.', "92233720368547758.07"},
        {INT64_MIN, '.', "-92233720368547758.08"},
    };
    for (size_t i = 0; i < N_OF(c); i++)
        cr_assert_str_eq(fmt(c[i].h, c[i].sep), c[i].want);
}

Test(decimal_format, round_trips_through_json)
{
    char b[DECIMAL_FMT_MAX];
    for (int64_t h = -1000; h <= 100000; h += 7) {
        cr_assert_eq(decimal_format(h, '.', b, sizeof b), 0);
        cr_assert_eq(ok(b), h, "%s", b);
    }
}

Test(decimal_format, buffer_too_small)
{
    char b[8];
    cr_assert_eq(decimal_format(115, '.', b, 5), 0);
    cr_assert_str_eq(b, "1.15");
    cr_assert_eq(decimal_format(115, '.', b, 4), -1);
    cr_assert_str_eq(b, "");
    cr_assert_eq(decimal_format(115, '.', b, 0), -1);
}
