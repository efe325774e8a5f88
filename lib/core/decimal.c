#include "core/decimal.h"

#include <math.h>
#include <string.h>

/* Largest |value * 100| we trust. A double holds 15 significant decimal
 * digits for certain, and the tolerance below grows with |x|: at 1e13 it is
 * still under 0.01 of a hundredth, so a third decimal can never hide in it. */
#define EXACT_LIMIT 1e13

int decimal_from_json(const json_t *num, int64_t *hundredths)
{
    if (!num)
        return -1;
    if (json_is_integer(num)) {
        json_int_t v = json_integer_value(num);
        int64_t r;
        if (__builtin_mul_overflow((int64_t)v, (int64_t)100, &r))
            return -1;
        *hundredths = r;
        return 0;
    }
    if (!json_is_real(num))
        return -1;
    double x = json_real_value(num) * 100.0;
    if (!isfinite(x) || fabs(x) >= EXACT_LIMIT)
        return -1;
    double r = round(x); /* nearest whole number of hundredths */
    /* The text was a two-decimal number d iff x is d*100 up to the two
     * roundings (text -> double, * 100), each at most half an ulp, i.e. a
     * relative error below 2^-52. Allow 4x that. Relative, not absolute: an
     * absolute slack would let 1e-15 pass as 0. */
    if (fabs(x - r) > fabs(x) * (4 * 2.220446049250313e-16))
        return -1;
    *hundredths = (int64_t)r;
    return 0;
}

int decimal_format(int64_t hundredths, char sep, char *out, size_t outlen)
{
    uint64_t mag = hundredths < 0 ? (uint64_t)0 - (uint64_t)hundredths : (uint64_t)hundredths;
    unsigned frac = (unsigned)(mag % 100);
    char tmp[DECIMAL_FMT_MAX];
    char *p = tmp + sizeof tmp;
    *--p = '\0';
    if (frac) {
        if (frac % 10)
            *--p = (char)('0' + frac % 10);
        *--p = (char)('0' + frac / 10);
        *--p = sep;
    }
    uint64_t whole = mag / 100;
    do {
        *--p = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    if (hundredths < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof tmp - p);
    if (n > outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, p, n);
    return 0;
}
