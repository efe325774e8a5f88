/*
 * domain/settlement.h - settlement rules (domain.md, "Settlement"): numbers,
 * creditor references, totals with the VAT breakdown, due dates, periods and
 * the draft -> confirmed -> paid states.
 *
 * Pure functions, thread-safe, no allocation. Functions returning int give 0,
 * or -1 with a stable reason in err (err may be NULL); outputs are written
 * only on success.
 */
#ifndef PSOP_DOMAIN_SETTLEMENT_H
#define PSOP_DOMAIN_SETTLEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/date.h"

#define SETTLEMENT_SEQ_MAX 999999
/* "PREFIX-YYYY-NNNNNN": 10 + 1 + 4 + 1 + 6 + NUL */
#define SETTLEMENT_NUMBER_MAX 23
/* The reference scheme below gives 11 digits; 21 holds any viitenumero. */
#define SETTLEMENT_REFERENCE_MAX 21

/* "PREFIX-YYYY-NNNNNN" from the organiser's invoice_prefix (2..10 of A-Z0-9),
 * the year (1900..9999) and the gapless per-organiser, per-year sequence
 * number (1..999999). -1 "invalid_prefix", "invalid_year",
 * "sequence_exhausted" (seq > 999999) or "invalid_sequence", or
 * "buffer_too_small". */
int settlement_number_format(const char *prefix, int year, int64_t seq, char *out, size_t outlen,
                             char *err, size_t errlen);

/*
 * The creditor reference (viitenumero) of a settlement: the digits of its
 * number's year and sequence, YYYY followed by the sequence padded to six
 * digits, plus the 7-3-1 check digit. PREFIX-2025-000042 -> "20250000429".
 * Always 11 digits and never a leading zero (years >= 1900). Unique per
 * organiser because (year, sequence) is, and a payment can be traced back to
 * the settlement number by reading it. Same ranges and reasons as
 * settlement_number_format (no prefix).
 */
int settlement_reference(int year, int64_t seq, char *out, size_t outlen, char *err, size_t errlen);

/* Distinct VAT rates one settlement can carry (one per service type at most). */
#define SETTLEMENT_MAX_VAT_RATES 16

struct settlement_vat {
    int rate_bp;
    int64_t amount_cents; /* the payable amount at this rate, VAT included */
    int64_t vat_cents;    /* round(amount * rate / (10000 + rate)) */
};

/*
 * Running totals of one settlement. Use: settlement_totals_init, then
 * settlement_totals_add_event / _add_credit once per line (any order), then
 * settlement_totals_finish. The struct is plain data: the caller owns it,
 * may keep it on the stack, and may finish again after adding more lines.
 */
struct settlement_totals {
    int64_t gross_cents;        /* sum of event lines' gross */
    int64_t organiser_cents;    /* sum of event lines' organiser part */
    int64_t client_share_cents; /* sum of event lines' client share */
    int64_t credit_cents;       /* sum of credit lines' organiser part, <= 0 */
    int64_t payable_cents;      /* organiser + credit, set by finish */
    size_t event_lines, credit_lines;
    size_t nvat;
    /* Per rate: amount accumulated by the add calls, vat set by finish;
     * sorted by rate_bp ascending after finish. */
    struct settlement_vat vat[SETTLEMENT_MAX_VAT_RATES];
};

void settlement_totals_init(struct settlement_totals *t);

/* An event line: amounts as stored on the event (all >= 0, gross =
 * organiser + client_share), vat_rate_bp of its service type (0..10000).
 * -1 "invalid_line", "invalid_vat_rate", "too_many_vat_rates",
 * "amount_overflow"; t is unchanged on failure. */
int settlement_totals_add_event(struct settlement_totals *t, int64_t gross_cents,
                                int64_t organiser_cents, int64_t client_share_cents,
                                int vat_rate_bp, char *err, size_t errlen);

/* A credit line: its organiser part (<= 0). Only the organiser part enters
 * the totals (credit_cents and the VAT base); a credit's gross and client
 * share are shown on its line only. Errors as for events. */
int settlement_totals_add_credit(struct settlement_totals *t, int64_t organiser_cents,
                                 int vat_rate_bp, char *err, size_t errlen);

/* payable = organiser + credit; VAT per rate over each rate's summed amount.
 * A negative payable (credits larger than new events) is kept as is, with
 * negative VAT. Rates whose amount sums to 0 are kept (the lines exist).
 * -1 "amount_overflow". */
int settlement_totals_finish(struct settlement_totals *t, char *err, size_t errlen);

/* Due date: the day the settlement is made + days (0..365, default 14 is the
 * caller's configuration). -1 "invalid_due_days". */
int settlement_due_date(day_t made, int days, day_t *out, char *err, size_t errlen);

/* A settlement.run period: strict "YYYY-MM" and wholly in the past, i.e.
 * before the month of today (Helsinki date). Gives the first and last day.
 * -1 "invalid_period" or "period_not_past". */
int settlement_period_check(const char *period, day_t today, day_t *first, day_t *last, char *err,
                            size_t errlen);

/* The nightly batch: true, with the previous month in *year / *month, when
 * the organiser's settlement_day (1..28) has come this month (today's day of
 * month >= settlement_day). false otherwise or for a bad settlement_day. */
bool settlement_batch_period(day_t today, int settlement_day, int *year, int *month);

enum settlement_state { SETTLEMENT_DRAFT, SETTLEMENT_CONFIRMED, SETTLEMENT_PAID };
enum settlement_action { SETTLEMENT_CONFIRM, SETTLEMENT_MARK_PAID };

/* "draft" | "confirmed" | "paid"; "?" outside the enum. */
const char *settlement_state_name(enum settlement_state s);
int settlement_state_parse(const char *s, enum settlement_state *out);

/* confirm: draft -> confirmed; mark_paid: confirmed -> paid. Else -1
 * "settlement_not_draft" / "settlement_not_confirmed" ("invalid_action"
 * outside the enum). */
int settlement_transition(enum settlement_state from, enum settlement_action action,
                          enum settlement_state *next, char *err, size_t errlen);

#endif
