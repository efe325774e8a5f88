/*
 * core/date.h - civil dates (proleptic Gregorian), no time zones inside.
 *
 * A date is a day number: days since 1970-01-01. Parsing is strict: exactly
 * "YYYY-MM-DD" (or "YYYY-MM" for months) naming a real calendar day, years
 * 1900..9999. Pure functions, thread-safe.
 */
#ifndef PSOP_DATE_H
#define PSOP_DATE_H

#include <stdbool.h>
#include <stdint.h>

typedef int32_t day_t;

struct ymd {
    int y, m, d;
};

/* Returns 0 and *out, or -1 when s is not a strict YYYY-MM-DD real date. */
int date_parse(const char *s, day_t *out);
/* "YYYY-MM" -> year and month. 0 or -1. */
int date_parse_month(const char *s, int *year, int *month);
/* Writes "YYYY-MM-DD" (11 bytes with NUL). */
void date_format(day_t d, char out[11]);
day_t date_from_ymd(int y, int m, int d);
struct ymd date_to_ymd(day_t d);
/* ISO weekday: 1 = Monday ... 7 = Sunday. */
int date_iso_weekday(day_t d);
int date_days_in_month(int y, int m);
bool date_valid_ymd(int y, int m, int d);
/* Europe/Helsinki's UTC offset in seconds (7200 or 10800) at a unix time,
 * from the EU summer-time rule (no tzdata; see core/date.c for the years). */
int date_helsinki_offset_at(int64_t unix_s);
/* The Europe/Helsinki civil date at a unix time. */
day_t date_helsinki_day_at(int64_t unix_s);
/* Today's civil date in Europe/Helsinki (the organisers' calendar). */
day_t date_today_helsinki(void);

#endif
