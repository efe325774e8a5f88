#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/date.h"

static day_t P(const char *s)
{
    day_t d = 0;
    cr_assert_eq(date_parse(s, &d), 0, "should parse: %s", s);
    return d;
}

static int64_t utc(int y, int m, int d, int hh, int mm, int ss)
{
    return (int64_t)date_from_ymd(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

Test(date, epoch_and_known_day_numbers)
{
    cr_assert_eq(date_from_ymd(1970, 1, 1), 0);
    cr_assert_eq(date_from_ymd(1970, 1, 2), 1);
    cr_assert_eq(date_from_ymd(1969, 12, 31), -1);
    cr_assert_eq(date_from_ymd(2000, 1, 1), 10957);
    cr_assert_eq(date_from_ymd(1900, 1, 1), -25567);
    cr_assert_eq(date_from_ymd(2025, 1, 1), 20089);
    cr_assert_eq(P("2025-01-01"), 20089);
}

Test(date, round_trip_every_day_1900_to_9999)
{
    day_t first = date_from_ymd(1900, 1, 1), last = date_from_ymd(9999, 12, 31);
    int y = 1900, m = 1, d = 1;
    for (day_t n = first; n <= last; n++) {
        struct ymd t = date_to_ymd(n);
        cr_assert(t.y == y && t.m == m && t.d == d, "day %d: %d-%d-%d != %d-%d-%d", n, t.y, t.m,
                  t.d, y, m, d);
        cr_assert_eq(date_from_ymd(y, m, d), n);
        if (++d > date_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
}

Test(date, leap_years)
{
    cr_assert_eq(date_days_in_month(2024, 2), 29);
    cr_assert_eq(date_days_in_month(2025, 2), 28);
    cr_assert_eq(date_days_in_month(1900, 2), 28); /* divisible by 100, not 400 */
    cr_assert_eq(date_days_in_month(2000, 2), 29); /* divisible by 400 */
    cr_assert_eq(date_days_in_month(2100, 2), 28);
    cr_assert_eq(date_days_in_month(2025, 4), 30);
    cr_assert_eq(date_days_in_month(2025, 12), 31);
    cr_assert_eq(date_days_in_month(2025, 0), 0);
    cr_assert_eq(date_days_in_month(2025, 13), 0);
    cr_assert_eq(P("2000-03-01") - P("2000-02-28"), 2);
    cr_assert_eq(P("1900-03-01") - P("1900-02-28"), 1);
    cr_assert_eq(P("2025-01-01") - P("2024-01-01"), 366);
}

Test(date, valid_ymd)
{
    cr_assert(date_valid_ymd(2024, 2, 29));
    cr_assert_not(date_valid_ymd(2023, 2, 29));
    cr_assert_not(date_valid_ymd(1900, 2, 29));
    cr_assert(date_valid_ymd(2000, 2, 29));
    cr_assert_not(date_valid_ymd(1899, 12, 31));
    cr_assert(date_valid_ymd(1900, 1, 1));
    cr_assert(date_valid_ymd(9999, 12, 31));
    cr_assert_not(date_valid_ymd(10000, 1, 1));
    cr_assert_not(date_valid_ymd(2025, 4, 31));
    cr_assert_not(date_valid_ymd(2025, 1, 0));
    cr_assert_not(date_valid_ymd(2025, 0, 1));
}

Test(date, parse_good)
{
    cr_assert_eq(P("2024-02-29"), date_from_ymd(2024, 2, 29));
    cr_assert_eq(P("1900-01-01"), date_from_ymd(1900, 1, 1));
    cr_assert_eq(P("9999-12-31"), date_from_ymd(9999, 12, 31));
}

Test(date, parse_rejects)
{
    const char *bad[] = {
        "2025-2-01",  "2025-02-1",   "25-02-01",     "2025-02-30",  "2023-02-29",
        "1900-02-29", "2025-13-01",  "2025-00-10",   "2025-01-00",  "2025-01-32",
        "1899-12-31", "2025-01-01 ", " 2025-01-01",  "2025-01-01x", "2025-01-01T00:00:00Z",
        "2025/01/01", "2025-01-0a",  "+025-01-01",   "-025-01-01",  "2025-01--1",
        "",           "2025-01",     "2025-01-01\n", "20250101",    "２025-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        day_t d = 12345;
        cr_assert_eq(date_parse(bad[i], &d), -1, "accepted: '%s'", bad[i]);
        cr_assert_eq(d, 12345, "output touched on failure: '%s'", bad[i]);
    }
    day_t d;
    cr_assert_eq(date_parse(NULL, &d), -1);
}

Test(date, parse_month)
{
    int y = 0, m = 0;
    cr_assert_eq(date_parse_month("2025-03", &y, &m), 0);
    cr_assert_eq(y, 2025);
    cr_assert_eq(m, 3);
    cr_assert_eq(date_parse_month("1900-12", &y, &m), 0);
    const char *bad[] = {"2025-3",   "2025-13", "2025-00", "1899-12", "2025-03-01",
                         "2025-03 ", "202503",  "",        "abcd-ef", "2025-3a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(date_parse_month(bad[i], &y, &m), -1, "accepted: '%s'", bad[i]);
    cr_assert_eq(date_parse_month(NULL, &y, &m), -1);
}

Test(date, format)
{
    char buf[11];
    date_format(0, buf);
    cr_assert_str_eq(buf, "1970-01-01");
    date_format(date_from_ymd(2024, 2, 29), buf);
    cr_assert_str_eq(buf, "2024-02-29");
    date_format(date_from_ymd(1900, 1, 1), buf);
    cr_assert_str_eq(buf, "1900-01-01");
    date_format(date_from_ymd(9999, 12, 31), buf);
    cr_assert_str_eq(buf, "9999-12-31");
    date_format(P("2025-10-05"), buf);
    cr_assert_str_eq(buf, "2025-10-05");
}

Test(date, iso_weekday_of_known_dates)
{
    cr_assert_eq(date_iso_weekday(P("1970-01-01")), 4); /* Thursday */
    cr_assert_eq(date_iso_weekday(P("1969-12-31")), 3); /* before the epoch */
    cr_assert_eq(date_iso_weekday(P("1900-01-01")), 1); /* Monday */
    cr_assert_eq(date_iso_weekday(P("2000-01-01")), 6); /* Saturday */
    cr_assert_eq(date_iso_weekday(P("2024-02-29")), 4); /* Thursday */
    cr_assert_eq(date_iso_weekday(P("2025-01-01")), 3); /* Wednesday */
    cr_assert_eq(date_iso_weekday(P("2025-06-21")), 6); /* Midsummer Day, Saturday */
    cr_assert_eq(date_iso_weekday(P("2025-12-06")), 6); /* Independence Day */
    cr_assert_eq(date_iso_weekday(P("2025-12-07")), 7); /* Sunday */
    cr_assert_eq(date_iso_weekday(P("9999-12-31")), 5); /* Friday */
}

Test(date, weekday_matches_libc)
{
    for (int y = 1970; y < 2038; y += 3)
        for (int m = 1; m <= 12; m++) {
            struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 13, .tm_hour = 12};
            time_t t = timegm(&tm);
            struct tm out;
            gmtime_r(&t, &out);
            int iso = out.tm_wday == 0 ? 7 : out.tm_wday;
            cr_assert_eq(date_iso_weekday(date_from_ymd(y, m, 13)), iso);
            cr_assert_eq((int64_t)date_from_ymd(y, m, 13) * 86400 + 12 * 3600, (int64_t)t);
        }
}

Test(date, helsinki_day_in_winter_is_utc_plus_2)
{
    cr_assert_eq(date_helsinki_day_at(utc(2025, 1, 15, 21, 59, 59)), P("2025-01-15"));
    cr_assert_eq(date_helsinki_day_at(utc(2025, 1, 15, 22, 0, 0)), P("2025-01-16"));
    /* New Year in Helsinki comes two hours before UTC's. */
    cr_assert_eq(date_helsinki_day_at(utc(2024, 12, 31, 21, 59, 59)), P("2024-12-31"));
    cr_assert_eq(date_helsinki_day_at(utc(2024, 12, 31, 22, 0, 0)), P("2025-01-01"));
}

Test(date, helsinki_day_in_summer_is_utc_plus_3)
{
    cr_assert_eq(date_helsinki_day_at(utc(2025, 6, 15, 20, 59, 59)), P("2025-06-15"));
    cr_assert_eq(date_helsinki_day_at(utc(2025, 6, 15, 21, 0, 0)), P("2025-06-16"));
}

Test(date, helsinki_dst_switches_on_last_sundays)
{
    /* A UTC instant and its day in Helsinki. */
    static const char *const at[][2] = {
        /* 2025: summer time 2025-03-30 01:00 UTC .. 2025-10-26 01:00 UTC.
         * 21:30 UTC is 23:30 in EET but 00:30 next day in EEST. */
        {"2025-03-29T21:30:00Z", "2025-03-29"},
        {"2025-03-30T21:30:00Z", "2025-03-31"},
        {"2025-10-25T21:30:00Z", "2025-10-26"},
        {"2025-10-26T21:30:00Z", "2025-10-26"},
        /* 2024: 2024-03-31 and 2024-10-27 (March 31 itself is the last Sunday). */
        {"2024-03-30T21:30:00Z", "2024-03-30"},
        {"2024-03-31T21:30:00Z", "2024-04-01"},
        {"2024-10-26T21:30:00Z", "2024-10-27"},
        {"2024-10-27T21:30:00Z", "2024-10-27"},
        /* The switch instants themselves: local 03:00 EET -> 04:00 EEST is still
         * the same day, so check the last second before and at each switch. */
        {"2025-03-30T00:59:59Z", "2025-03-30"},
        {"2025-03-30T01:00:00Z", "2025-03-30"},
        {"2025-10-26T00:59:59Z", "2025-10-26"},
        {"2025-10-26T01:00:00Z", "2025-10-26"},
    };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        int y, m, d, hh, mm, ss;
        cr_assert_eq(sscanf(at[i][0], "%d-%d-%dT%d:%d:%dZ", &y, &m, &d, &hh, &mm, &ss), 6);
        cr_assert_eq(date_helsinki_day_at(utc(y, m, d, hh, mm, ss)), P(at[i][1]), "%s", at[i][0]);
    }
}

Test(date, helsinki_matches_tzdata_when_installed)
{
    /* Cross-check against the system zone database if present; skipped silently
     * otherwise (the point of date.c is not to need it). */
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Helsinki", "r");
    if (!f)
        return;
    fclose(f);
    char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    setenv("TZ", "Europe/Helsinki", 1);
    tzset();
    for (int64_t t = utc(2020, 1, 1, 0, 0, 0); t < utc(2031, 1, 1, 0, 0, 0); t += 1800 + 7) {
        time_t tt = (time_t)t;
        struct tm lt;
        localtime_r(&tt, &lt);
        day_t want = date_from_ymd(lt.tm_year + 1900, lt.tm_mon + 1, lt.tm_mday);
        cr_assert_eq(date_helsinki_day_at(t), want, "at %lld", (long long)t);
    }
    if (old) {
        setenv("TZ", old, 1);
        free(old);
    } else {
        unsetenv("TZ");
    }
    tzset();
}

Test(date, today_is_plausible)
{
    day_t now_utc = (day_t)(time(NULL) / 86400);
    day_t today = date_today_helsinki();
    cr_assert(today == now_utc || today == now_utc + 1);
}

Test(date, helsinki_offset_follows_the_eu_rule_of_each_year)
{
    /* 2025: summer time from 2025-03-30 01:00 UTC to 2025-10-26 01:00 UTC. */
    cr_expect_eq(date_helsinki_offset_at(utc(2025, 3, 30, 0, 59, 59)), 7200);
    cr_expect_eq(date_helsinki_offset_at(utc(2025, 3, 30, 1, 0, 0)), 10800);
    cr_expect_eq(date_helsinki_offset_at(utc(2025, 10, 26, 0, 59, 59)), 10800);
    cr_expect_eq(date_helsinki_offset_at(utc(2025, 10, 26, 1, 0, 0)), 7200);
    /* Until 1995 summer time ended on the last Sunday of September. */
    cr_expect_eq(date_helsinki_offset_at(utc(1995, 9, 24, 0, 59, 59)), 10800);
    cr_expect_eq(date_helsinki_offset_at(utc(1995, 9, 24, 1, 0, 0)), 7200);
    cr_expect_eq(date_helsinki_offset_at(utc(1996, 9, 29, 1, 0, 0)), 10800);
    cr_expect_eq(date_helsinki_offset_at(utc(1996, 10, 27, 1, 0, 0)), 7200);
    /* 1981-1982 (Finland's own rule) switched at 00:00 UTC; before, none. */
    cr_expect_eq(date_helsinki_offset_at(utc(1982, 3, 28, 0, 0, 0)), 10800);
    cr_expect_eq(date_helsinki_offset_at(utc(1980, 7, 1, 12, 0, 0)), 7200);
}
