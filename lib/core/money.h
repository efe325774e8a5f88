/*
 * core/money.h - integer euro cents arithmetic.
 *
 * Money is int64_t cents; quantities and coefficients are int64_t hundredths
 * (1.15 -> 115). Rounding is half away from zero (1.5 -> 2, -1.5 -> -2), and
 * happens only in the functions that say so. Products are formed in 128 bits,
 * so intermediate results never wrap; a result that does not fit int64_t is
 * refused with -1 and *out is left untouched. Pure functions, thread-safe.
 */
#ifndef PSOP_MONEY_H
#define PSOP_MONEY_H

#include <stddef.h>
#include <stdint.h>

#include "core/mustcheck.h"

/* round(num / den), half away from zero. -1 when den == 0 or the result
 * does not fit (INT64_MIN / -1). */
PSOP_MUSTCHECK int money_div_round(int64_t num, int64_t den, int64_t *out);

/* round(cents * hundredths / 100): the price of a quantity. */
PSOP_MUSTCHECK int money_mul_qty(int64_t cents, int64_t hundredths, int64_t *out);

/* round(cents * coeff_hundredths / 100): a value scaled by a coefficient
 * (1.15 -> 115). Same arithmetic as money_mul_qty, named for what it means. */
PSOP_MUSTCHECK int money_apply_coeff(int64_t cents, int64_t coeff_hundredths, int64_t *out);

/* The VAT included in a VAT-inclusive amount:
 * round(amount * rate_bp / (10000 + rate_bp)). Always fits (|vat| <= |amount|).
 * rate_bp <= 0 gives 0 (exempt; negative rates do not exist). */
int64_t money_vat_of_gross(int64_t amount, int rate_bp);

/* *out = a + b, or -1 on overflow. */
PSOP_MUSTCHECK int money_add(int64_t a, int64_t b, int64_t *out);
/* *out = a - b, or -1 on overflow. */
PSOP_MUSTCHECK int money_sub(int64_t a, int64_t b, int64_t *out);

/* Euros with exactly two decimals and sep as decimal separator, no thousands
 * grouping: -1234 -> "-12.34", 5 -> "0.05", with ',' -> "0,05" (Finvoice).
 * Returns 0, or -1 when out is too small (MONEY_FMT_MAX always suffices;
 * out is then an empty string if outlen > 0). */
#define MONEY_FMT_MAX 22 /* "-92233720368547758.08" + NUL */
PSOP_MUSTCHECK int money_format(int64_t cents, char sep, char *out, size_t outlen);

#endif
