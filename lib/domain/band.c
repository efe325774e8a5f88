#include "domain/band.h"

#include <stdio.h>
#include <string.h>

static const char *const names[BAND_COUNT] = {"weekday", "evening", "saturday", "sunday"};

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

int band_parse(const char *s, enum band *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < BAND_COUNT; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum band)i;
            return 0;
        }
    return -1;
}

const char *band_name(enum band b)
{
    if ((int)b < 0 || (int)b >= BAND_COUNT)
        return "?";
    return names[b];
}

int band_check(bool has_coefficients, bool band_given, enum band band, int iso_weekday,
               bool is_holiday, enum band *resolved, char *err, size_t errlen)
{
    if (iso_weekday < 1 || iso_weekday > 7)
        return fail(err, errlen, "invalid_weekday");
    if (!has_coefficients) {
        if (band_given)
            return fail(err, errlen, "band_not_applicable");
        *resolved = BAND_WEEKDAY;
        return 0;
    }
    enum band b = band_given ? band : BAND_WEEKDAY;
    bool ok;
    switch (b) {
    case BAND_WEEKDAY:
    case BAND_EVENING:
        ok = iso_weekday <= 5 && !is_holiday;
        break;
    case BAND_SATURDAY:
        ok = iso_weekday == 6 && !is_holiday;
        break;
    case BAND_SUNDAY:
        ok = iso_weekday == 7 || is_holiday;
        break;
    default:
        return fail(err, errlen, "band_not_allowed_on_date");
    }
    if (!ok)
        return fail(err, errlen, "band_not_allowed_on_date");
    *resolved = b;
    return 0;
}

int64_t band_coefficient(const struct band_coefficients *c, enum band b)
{
    if (!c)
        return 100;
    switch (b) {
    case BAND_EVENING:
        return c->evening;
    case BAND_SATURDAY:
        return c->saturday;
    case BAND_SUNDAY:
        return c->sunday;
    default:
        return 100;
    }
}

int64_t band_price(int64_t base_cents, const struct band_prices *bp, enum band b)
{
    if (!bp || b == BAND_WEEKDAY || (int)b < 0 || (int)b >= BAND_COUNT || !bp->has[b])
        return base_cents;
    return bp->cents[b];
}
