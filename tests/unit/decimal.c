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

Test(decimal_from_json, integers)
{
    cr_assert_eq(ok("0"), 0);
    cr_assert_eq(ok("1"), 100);
    cr_assert_eq(ok("1000"), 100000);
    cr_assert_eq(ok("-3"), -300);
    cr_assert_eq(ok("92233720368547758"), 9223372036854775800);
    bad("92233720368547759"); /* * 100 overflows int64 */
    bad("-92233720368547759");
}

Test(decimal_from_json, two_decimals_despite_binary_floating_point)
{
    cr_assert_eq(ok("1.15"), 115); /* stored as 1.149999999999999911... */
    cr_assert_eq(ok("0.29"), 29);  /* 0.29 * 100 = 28.999999999999996 */
    cr_assert_eq(ok("0.07"), 7);   /* 0.07 * 100 = 7.000000000000001 */
    cr_assert_eq(ok("4.35"), 435);
    cr_assert_eq(ok("2.5"), 250);
    cr_assert_eq(ok("0.5"), 50);
    cr_assert_eq(ok("0.01"), 1);
    cr_assert_eq(ok("999.99"), 99999);
    cr_assert_eq(ok("1000.00"), 100000);
    cr_assert_eq(ok("1.0"), 100);
    cr_assert_eq(ok("-1.15"), -115);
    cr_assert_eq(ok("0.0"), 0);
    cr_assert_eq(ok("-0.0"), 0);
    cr_assert_eq(ok("1e2"), 10000);
    cr_assert_eq(ok("1E-2"), 1);
    cr_assert_eq(ok("12.5e-1"), 125);
    cr_assert_eq(ok("123456789.12"), 12345678912);
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
    bad("1.155");
    bad("1.005"); /* 1.00499999999999989... */
    bad("1.001");
    bad("0.001");
    bad("1e-3");
    bad("1e-15");
    bad("-0.005");
    bad("1.1500001");
    bad("1.15000000000001");
    bad("999.999");
    bad("0.125");
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
    bad("100000000000.5");
    bad("1e11");
    bad("1e300");
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
    cr_assert_str_eq(fmt(115, '.'), "1.15");
    cr_assert_str_eq(fmt(200, '.'), "2");
    cr_assert_str_eq(fmt(50, '.'), "0.5");
    cr_assert_str_eq(fmt(5, '.'), "0.05");
    cr_assert_str_eq(fmt(0, '.'), "0");
    cr_assert_str_eq(fmt(250, '.'), "2.5");
    cr_assert_str_eq(fmt(-250, '.'), "-2.5");
    cr_assert_str_eq(fmt(-5, '.'), "-0.05");
    cr_assert_str_eq(fmt(100000, '.'), "1000");
    cr_assert_str_eq(fmt(110, '.'), "1.1");
    cr_assert_str_eq(fmt(101, '.'), "1.01");
    cr_assert_str_eq(fmt(115, ','), "1,15");
    cr_assert_str_eq(fmt(INT64_MAX, '.'), "92233720368547758.07");
    cr_assert_str_eq(fmt(INT64_MIN, '.'), "-92233720368547758.08");
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
