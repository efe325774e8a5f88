#include <criterion/criterion.h>
#include <string.h>

#include "domain/band.h"

Test(band, parse_and_name)
{
    const char *n[] = {"weekday", "evening", "saturday", "sunday"};
    for (int i = 0; i < BAND_COUNT; i++) {
        enum band b = BAND_SUNDAY;
        cr_assert_eq(band_parse(n[i], &b), 0);
        cr_assert_eq((int)b, i);
        cr_assert_str_eq(band_name(b), n[i]);
    }
    const char *bad[] = {"", "Weekday", "SUNDAY", "night", "holiday", "sunday ", "sun"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum band b = BAND_EVENING;
        cr_assert_eq(band_parse(bad[i], &b), -1, "%s", bad[i]);
        cr_assert_eq(b, BAND_EVENING);
    }
    enum band b;
    cr_assert_eq(band_parse(NULL, &b), -1);
    cr_assert_str_eq(band_name((enum band)7), "?");
    cr_assert_str_eq(band_name((enum band) - 1), "?");
}

/* Runs band_check and returns the resolved band, or -1 with the reason in why. */
static int check(bool coeff, bool given, enum band b, int wd, bool hol, char *why)
{
    enum band r = (enum band)99;
    char err[64] = "";
    int rc = band_check(coeff, given, b, wd, hol, &r, err, sizeof err);
    if (why)
        strcpy(why, err);
    if (rc < 0) {
        cr_assert_eq(r, (enum band)99, "resolved touched on failure");
        return -1;
    }
    return (int)r;
}

static void allowed(enum band b, int wd, bool hol)
{
    cr_assert_eq(check(true, true, b, wd, hol, NULL), (int)b, "%s on %d (holiday %d)", band_name(b),
                 wd, hol);
}

static void refused(enum band b, int wd, bool hol)
{
    char why[64];
    cr_assert_eq(check(true, true, b, wd, hol, why), -1, "%s on %d (holiday %d)", band_name(b), wd,
                 hol);
    cr_assert_str_eq(why, "band_not_allowed_on_date");
}

Test(band_check, full_matrix_of_bands_and_days)
{
    for (int wd = 1; wd <= 7; wd++)
        for (int hol = 0; hol <= 1; hol++) {
            bool weekday_ok = wd <= 5 && !hol;
            bool saturday_ok = wd == 6 && !hol;
            bool sunday_ok = wd == 7 || hol;
            (weekday_ok ? allowed : refused)(BAND_WEEKDAY, wd, hol);
            (weekday_ok ? allowed : refused)(BAND_EVENING, wd, hol);
            (saturday_ok ? allowed : refused)(BAND_SATURDAY, wd, hol);
            (sunday_ok ? allowed : refused)(BAND_SUNDAY, wd, hol);
        }
}

Test(band_check, spot_checks)
{
    allowed(BAND_WEEKDAY, 1, false);
    allowed(BAND_EVENING, 5, false);
    refused(BAND_WEEKDAY, 6, false);
    refused(BAND_EVENING, 7, false);
    allowed(BAND_SATURDAY, 6, false);
    refused(BAND_SATURDAY, 5, false);
    refused(BAND_SATURDAY, 7, false);
    allowed(BAND_SUNDAY, 7, false);
    refused(BAND_SUNDAY, 6, false);
    /* Holiday on a Wednesday (e.g. Christmas Day 2024): counts as Sunday. */
    allowed(BAND_SUNDAY, 3, true);
    refused(BAND_WEEKDAY, 3, true);
    refused(BAND_EVENING, 3, true);
    /* Holiday on a Saturday (Midsummer Day): Sunday, not Saturday. */
    allowed(BAND_SUNDAY, 6, true);
    refused(BAND_SATURDAY, 6, true);
}

Test(band_check, default_is_weekday_and_is_checked)
{
    char why[64];
    cr_assert_eq(check(true, false, BAND_SUNDAY, 2, false, NULL), BAND_WEEKDAY);
    /* The ignored band argument does not leak in when band_given is false. */
    cr_assert_eq(check(true, false, BAND_EVENING, 4, false, NULL), BAND_WEEKDAY);
    cr_assert_eq(check(true, false, BAND_WEEKDAY, 6, false, why), -1);
    cr_assert_str_eq(why, "band_not_allowed_on_date");
    cr_assert_eq(check(true, false, BAND_WEEKDAY, 7, false, why), -1);
    cr_assert_eq(check(true, false, BAND_WEEKDAY, 2, true, why), -1);
}

Test(band_check, service_type_without_coefficients)
{
    char why[64];
    for (int wd = 1; wd <= 7; wd++) {
        cr_assert_eq(check(false, false, BAND_WEEKDAY, wd, false, NULL), BAND_WEEKDAY);
        cr_assert_eq(check(false, false, BAND_WEEKDAY, wd, true, NULL), BAND_WEEKDAY);
        for (int b = 0; b < BAND_COUNT; b++) {
            cr_assert_eq(check(false, true, (enum band)b, wd, false, why), -1);
            cr_assert_str_eq(why, "band_not_applicable");
        }
    }
}

Test(band_check, invalid_weekday_and_band_values)
{
    char why[64];
    cr_assert_eq(check(true, true, BAND_WEEKDAY, 0, false, why), -1);
    cr_assert_str_eq(why, "invalid_weekday");
    cr_assert_eq(check(false, false, BAND_WEEKDAY, 8, false, why), -1);
    cr_assert_str_eq(why, "invalid_weekday");
    cr_assert_eq(check(true, true, (enum band)9, 3, false, why), -1);
    cr_assert_str_eq(why, "band_not_allowed_on_date");
    /* err is optional */
    enum band r;
    cr_assert_eq(band_check(true, true, BAND_SATURDAY, 1, false, &r, NULL, 0), -1);
}

Test(band, coefficients)
{
    struct band_coefficients c = {.evening = 115, .saturday = 130, .sunday = 200};
    cr_assert_eq(band_coefficient(&c, BAND_WEEKDAY), 100);
    cr_assert_eq(band_coefficient(&c, BAND_EVENING), 115);
    cr_assert_eq(band_coefficient(&c, BAND_SATURDAY), 130);
    cr_assert_eq(band_coefficient(&c, BAND_SUNDAY), 200);
    cr_assert_eq(band_coefficient(NULL, BAND_SUNDAY), 100);
    cr_assert_eq(band_coefficient(&c, (enum band)9), 100);
}

Test(band, prices_fall_back_to_base)
{
    struct band_prices p = {.has = {false, true, false, true}, .cents = {0, 3990, 0, 5200}};
    cr_assert_eq(band_price(3490, &p, BAND_WEEKDAY), 3490);
    cr_assert_eq(band_price(3490, &p, BAND_EVENING), 3990);
    cr_assert_eq(band_price(3490, &p, BAND_SATURDAY), 3490); /* no own price */
    cr_assert_eq(band_price(3490, &p, BAND_SUNDAY), 5200);
    cr_assert_eq(band_price(3490, NULL, BAND_SUNDAY), 3490);
    p.has[BAND_WEEKDAY] = true;
    p.cents[BAND_WEEKDAY] = 1;
    cr_assert_eq(band_price(3490, &p, BAND_WEEKDAY), 3490); /* weekday is the base */
    cr_assert_eq(band_price(3490, &p, (enum band)9), 3490);
}
