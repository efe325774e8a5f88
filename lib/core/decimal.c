#include "core/decimal.h"

#include <math.h>
#include <string.h>

#include "core/money.h"

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
    /* Money's two decimals, then the fraction's trailing zeros (and a
     * separator left alone) dropped: "12.50" -> "12.5", "12.00" -> "12". */
    char tmp[MONEY_FMT_MAX];
    if (money_format(hundredths, sep, tmp, sizeof tmp) < 0) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    size_t n = strlen(tmp);
    if (tmp[n - 1] == '0') {
        tmp[--n] = '\0';
        if (tmp[n - 1] == '0') {
            tmp[--n] = '\0';
            tmp[--n] = '\0'; /* the separator */
        }
    }
    if (n + 1 > outlen) {
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    memcpy(out, tmp, n + 1);
    return 0;
}
