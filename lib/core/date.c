#include "core/date.h"

#include <time.h>

/*
 * Day numbers are computed with 400-year eras (146097 days each) so the
 * arithmetic is exact for any year without tables. Within an era, years are
 * counted from March so that the leap day falls at the end of the year.
 */
day_t date_from_ymd(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2 ? 1 : 0);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;                        /* 0..399 */
    int64_t mp = (m + 9) % 12;                           /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;   /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; /* 0..146096 */
    return (day_t)(era * 146097 + doe - 719468);         /* 719468: 0000-03-01 .. 1970-01-01 */
}

struct ymd date_to_ymd(day_t day)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    struct ymd r;
    r.d = (int)(doy - (153 * mp + 2) / 5 + 1);
    r.m = (int)(mp < 10 ? mp + 3 : mp - 9);
    r.y = (int)(yoe + era * 400 + (r.m <= 2 ? 1 : 0));
    return r;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int date_days_in_month(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

bool date_valid_ymd(int y, int m, int d)
{
    return y >= 1900 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= date_days_in_month(y, m);
}

int date_iso_weekday(day_t d)
{
    /* 1970-01-01 was a Thursday (4). */
    int64_t w = ((int64_t)d + 3) % 7;
    if (w < 0)
        w += 7;
    return (int)w + 1;
}

/* Reads exactly n ASCII digits; no signs, no spaces (strtol would allow both). */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int date_parse(const char *s, day_t *out)
{
    int y, m, d;
    if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || s[10] != '\0')
        return -1;
    if (!date_valid_ymd(y, m, d))
        return -1;
    *out = date_from_ymd(y, m, d);
    return 0;
}

int date_parse_month(const char *s, int *year, int *month)
{
    int y, m;
    if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '\0')
        return -1;
    if (y < 1900 || y > 9999 || m < 1 || m > 12)
        return -1;
    *year = y;
    *month = m;
    return 0;
}

void date_format(day_t d, char out[11])
{
    struct ymd t = date_to_ymd(d);
    /* Outside 0000..9999 the fixed-width format cannot hold the year; day
     * numbers there never come from date_parse, so clamp rather than overflow. */
    int y = t.y < 0 ? 0 : t.y > 9999 ? 9999 : t.y;
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + t.m / 10);
    out[6] = (char)('0' + t.m % 10);
    out[7] = '-';
    out[8] = (char)('0' + t.d / 10);
    out[9] = (char)('0' + t.d % 10);
    out[10] = '\0';
}

/* Unix seconds of hh:00 UTC on the last Sunday of month m of year y. */
static int64_t last_sunday_utc(int y, int m, int hh)
{
    day_t last = date_from_ymd(y, m, date_days_in_month(y, m));
    day_t sunday = last - (date_iso_weekday(last) % 7);
    return (int64_t)sunday * 86400 + hh * 3600;
}

/*
 * Helsinki is EET (UTC+2), and EEST (UTC+3) in summer. Computing it here
 * instead of via localtime_r keeps us independent of the process TZ and of
 * tzdata being installed in the container. The rules, as tzdata has them
 * (zone Europe/Helsinki, rules "Finland" and "EU"):
 *   from 1983 (EU): the last Sunday of March 01:00 UTC to the last Sunday of
 *     September 01:00 UTC until 1995, of October from 1996;
 *   1981-1982 (Finland): the same Sundays of March and September at 00:00 UTC;
 *   before 1981 no summer time (the one summer of 1942 is left out).
 * tests/tz_helsinki.py compares this with tzdata for every day of 1990-2100;
 * if the EU ever ends the clock change, that test says so.
 */
int date_helsinki_offset_at(int64_t unix_s)
{
    int64_t day = unix_s >= 0 ? unix_s / 86400 : -((-unix_s + 86399) / 86400);
    int y = date_to_ymd((day_t)day).y;
    if (y < 1981)
        return 2 * 3600;
    int hh = y < 1983 ? 0 : 1;
    int64_t start = last_sunday_utc(y, 3, hh), end = last_sunday_utc(y, y < 1996 ? 9 : 10, hh);
    return unix_s >= start && unix_s < end ? 3 * 3600 : 2 * 3600;
}

day_t date_helsinki_day_at(int64_t unix_s)
{
    int64_t local = unix_s + date_helsinki_offset_at(unix_s);
    return (day_t)(local >= 0 ? local / 86400 : -((-local + 86399) / 86400));
}

day_t date_today_helsinki(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return date_helsinki_day_at((int64_t)ts.tv_sec);
}
