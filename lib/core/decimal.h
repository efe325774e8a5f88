/*
 * core/decimal.h - quantities and coefficients as integer hundredths.
 *
 * The API carries quantities (2.5 hours) and coefficients (1.15) as JSON
 * numbers with at most two decimals; psop stores them as int64_t hundredths
 * (250, 115) so no float ever reaches a sum of money. Pure functions,
 * thread-safe.
 */
#ifndef PSOP_DECIMAL_H
#define PSOP_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * A JSON number (integer or real) as hundredths. Returns 0 and *hundredths,
 * or -1 (and *hundredths untouched) when num is not a number, is not finite,
 * has more than two decimals (1.155, 1e-3), or does not fit.
 *
 * A real is the nearest double to the text that was sent (1.15 arrives as
 * 1.149999...), so it is accepted when x = value * 100 lies within a few
 * units in the last place of a whole number. Reals of magnitude >= 1e11 are
 * refused: that near the limit of a double's 15 safe digits, a third decimal
 * could no longer be told from rounding error. Integers are accepted up to
 * INT64_MAX / 100. Text that rounds to the same double as a two-decimal
 * number (1.1500000000000001) is indistinguishable from it and accepted.
 * Range rules (quantity > 0, <= 1000) are the caller's.
 */
int decimal_from_json(const json_t *num, int64_t *hundredths);

/*
 * Canonical text of hundredths, sep as decimal separator: the shortest form,
 * trailing zeros dropped and no separator for whole numbers:
 * 115 -> "1.15", 200 -> "2", 50 -> "0.5", 5 -> "0.05", -250 -> "-2.5".
 * Returns 0, or -1 when out is too small (DECIMAL_FMT_MAX always suffices;
 * out is then empty if outlen > 0).
 */
#define DECIMAL_FMT_MAX 22 /* "-92233720368547758.08" + NUL */
int decimal_format(int64_t hundredths, char sep, char *out, size_t outlen);

#endif
