/*
 * domain/band.h - time bands of hourly services (domain.md, "Service events").
 *
 * A service type may carry band coefficients {evening, saturday, sunday}
 * (hundredths; weekday is always 1.00 = 100). The date decides which bands a
 * service event may use:
 *
 *   Monday..Friday, not a holiday   weekday, evening
 *   Saturday, not a holiday         saturday
 *   Sunday, or any holiday          sunday
 *
 * A holiday counts as Sunday in full (domain.md: "dates that count as Sunday
 * for time bands"): on a holiday only `sunday` is accepted, also when it falls
 * on a weekday (weekday/evening rejected) or on a Saturday (saturday rejected,
 * e.g. Midsummer Day). This is what Finnish pay practice does for arkipyhät,
 * and it leaves one rate per holiday hour, so two providers cannot bill the
 * same holiday differently.
 *
 * When no band is given on a banded service type the band is `weekday` (as
 * the spec says), and that default is then checked like a given band: an
 * event on a Saturday, Sunday or holiday without a band is rejected rather
 * than silently priced at the weekday rate.
 *
 * Pure functions, thread-safe. Reasons written to err are stable strings
 * meant for command.rejected: "band_not_applicable", "band_not_allowed_on_date",
 * "invalid_weekday".
 */
#ifndef PSOP_DOMAIN_BAND_H
#define PSOP_DOMAIN_BAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum band { BAND_WEEKDAY, BAND_EVENING, BAND_SATURDAY, BAND_SUNDAY };
#define BAND_COUNT 4

/* "weekday" | "evening" | "saturday" | "sunday" -> 0 and *out; else -1. */
int band_parse(const char *s, enum band *out);
/* The API name of a band; "?" for a value outside the enum. */
const char *band_name(enum band b);

/*
 * Decides the band of a service event. has_coefficients: the service type
 * has band_coefficients. band_given/band: the `band` field of the command.
 * iso_weekday (1 = Monday .. 7 = Sunday) and is_holiday describe the date.
 * Returns 0 and *resolved (BAND_WEEKDAY for a service type without
 * coefficients: the coefficient 1.00 and the plain price apply), or -1 and
 * the reason in err.
 */
int band_check(bool has_coefficients, bool band_given, enum band band, int iso_weekday,
               bool is_holiday, enum band *resolved, char *err, size_t errlen);

/* A service type's coefficients, hundredths (1.15 -> 115). */
struct band_coefficients {
    int64_t evening, saturday, sunday;
};

/* The coefficient of a band: 100 for weekday, for NULL coefficients (the
 * service type has none) and for a value outside the enum. */
int64_t band_coefficient(const struct band_coefficients *c, enum band b);

/* Per-band prices of a price list or contract; a band without a price of
 * its own uses the base price (has[b] false). has[BAND_WEEKDAY] is ignored. */
struct band_prices {
    bool has[BAND_COUNT];
    int64_t cents[BAND_COUNT];
};

/* The unit price for a band: bp->cents[b] when set, else base_cents.
 * bp may be NULL (no band prices). */
int64_t band_price(int64_t base_cents, const struct band_prices *bp, enum band b);

#endif
