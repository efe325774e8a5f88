#include "core/money.h"

#include <string.h>

/* q = n / d rounded half away from zero, in 128 bits so no operand can wrap. */
static __int128 div_round128(__int128 n, __int128 d)
{
    __int128 q = n / d, r = n % d; /* C truncates toward zero */
    __int128 ar = r < 0 ? -r : r, ad = d < 0 ? -d : d;
    if (2 * ar >= ad)
        q += ((n < 0) != (d < 0)) ? -1 : 1;
    return q;
}

static int fit(__int128 v, int64_t *out)
{
    if (v > INT64_MAX || v < INT64_MIN)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int money_div_round(int64_t num, int64_t den, int64_t *out)
{
    if (den == 0)
        return -1;
    return fit(div_round128(num, den), out);
}

int money_mul_qty(int64_t cents, int64_t hundredths, int64_t *out)
{
    return fit(div_round128((__int128)cents * hundredths, 100), out);
}

int money_apply_coeff(int64_t cents, int64_t coeff_hundredths, int64_t *out)
{
    return money_mul_qty(cents, coeff_hundredths, out);
}

int64_t money_vat_of_gross(int64_t amount, int rate_bp)
{
    if (rate_bp <= 0)
        return 0;
    return (int64_t)div_round128((__int128)amount * rate_bp, (__int128)10000 + rate_bp);
}

int money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int money_sub(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return -1;
    *out = r;
    return 0;
}

int money_format(int64_t cents, char sep, char *out, size_t outlen)
{
    /* Work on the magnitude as unsigned so INT64_MIN has one. */
    uint64_t mag = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    char tmp[MONEY_FMT_MAX];
    char *p = tmp + sizeof tmp;
    *--p = '\0';
    *--p = (char)('0' + mag % 10);
    *--p = (char)('0' + mag / 10 % 10);
    *--p = sep;
    uint64_t euros = mag / 100;
    do {
        *--p = (char)('0' + euros % 10);
        euros /= 10;
    } while (euros);
    if (cents < 0)
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
