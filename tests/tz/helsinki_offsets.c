/*
 * helsinki_offsets.c - psop-tz-helsinki: lib/core/date.c's Europe/Helsinki clock,
 * printed for tests/tz/check_helsinki.py to compare with tzdata.
 *
 *   psop-tz-helsinki FIRST_YEAR LAST_YEAR
 *
 * One line per UTC day D of the years:
 *   YYYY-MM-DD OFFSETS DAY1 DAY2 DAY3 DAY4
 * OFFSETS: 48 digits, the offset in hours (2 or 3) at hh:00:00 and hh:59:59
 * UTC for hh = 0..23 (so both sides of every switch at a full UTC hour);
 * DAYn: the Helsinki civil date (date_helsinki_day_at) at 20:59:59, 21:00:00,
 * 21:59:59 and 22:00:00 UTC, the instants around local midnight.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/date.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: psop-tz-helsinki FIRST_YEAR LAST_YEAR\n");
        return 2;
    }
    int first = atoi(argv[1]), last = atoi(argv[2]);
    if (first < 1900 || last > 9999 || first > last) {
        fprintf(stderr, "psop-tz-helsinki: years 1900..9999, first <= last\n");
        return 2;
    }
    static const int near_midnight[4] = {20 * 3600 + 3599, 21 * 3600, 21 * 3600 + 3599, 22 * 3600};
    for (day_t d = date_from_ymd(first, 1, 1); d <= date_from_ymd(last, 12, 31); d++) {
        char line[128], *p = line;
        int64_t t0 = (int64_t)d * 86400;
        date_format(d, p);
        p += 10;
        *p++ = ' ';
        for (int hh = 0; hh < 24; hh++) {
            *p++ = (char)('0' + date_helsinki_offset_at(t0 + hh * 3600) / 3600);
            *p++ = (char)('0' + date_helsinki_offset_at(t0 + hh * 3600 + 3599) / 3600);
        }
        for (int i = 0; i < 4; i++) {
            *p++ = ' ';
            date_format(date_helsinki_day_at(t0 + near_midnight[i]), p);
            p += 10;
        }
        *p++ = '\n';
        fwrite(line, 1, (size_t)(p - line), stdout);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
