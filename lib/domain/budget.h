/*
 * domain/budget.h - budget vouchers (domain.md, "Budget vouchers"): a voucher
 * worth a sum of money for a period (a pot) instead of a value per unit.
 *
 * The pot is charged in the order events are applied:
 *   gross          = round(unit_price * quantity)
 *   organiser_part = min(gross, remaining)
 *   client_share   = gross - organiser_part
 * where remaining = budget - used, and used is the sum of the organiser
 * parts of the voucher's non-deleted events and of its credits (a credit's
 * part is negative: a credit refills the pot).
 *
 * Money in int64_t cents, quantities in int64_t hundredths. Pure functions,
 * thread-safe, no allocation. Functions returning int give 0, or -1 with a
 * stable reason in err (err may be NULL); outputs are written only on
 * success.
 */
#ifndef PSOP_DOMAIN_BUDGET_H
#define PSOP_DOMAIN_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/event.h"

/* budget_cents of voucher.grant and voucher.amend: 1 .. 10 000 000 (100 000 €). */
#define BUDGET_MIN_CENTS 1
#define BUDGET_MAX_CENTS 10000000

/* What is left of the pot: budget - used (never below 0 for a consistent
 * voucher; a negative answer means the caller's sums are wrong). */
int64_t budget_remaining(int64_t budget_cents, int64_t used_cents);

/*
 * A grant's value fields: exactly one of unit value, income and budget; a
 * budget voucher needs valid_to and takes no monthly quota; the budget is
 * within BUDGET_MIN_CENTS..BUDGET_MAX_CENTS.
 * -1 "invalid_value_basis" (none or several), "budget_needs_valid_to",
 * "budget_with_quota", "invalid_budget".
 */
int budget_grant_check(bool has_unit_value, bool has_income, bool has_budget, int64_t budget_cents,
                       bool has_valid_to, bool has_quota, char *err, size_t errlen);

/*
 * An event charged to the pot. remaining is what is left before this event
 * (for an edit: with the event's own old draw returned first).
 *   -1 "budget_exhausted"    remaining is 0 (nothing left to charge);
 *      "budget_insufficient" the service type allows no client share and
 *                            gross > remaining;
 *      "invalid_quantity", "invalid_amount", "amount_overflow".
 * out->value_unit_cents is 0 (a budget voucher has no value per unit).
 */
int budget_event_amounts(int64_t unit_price_cents, int64_t qty_h, int64_t remaining_cents,
                         bool client_share_allowed, struct event_amounts *out, char *err,
                         size_t errlen);

/*
 * A credit of credit_qty_h of a budget event of event_qty_h whose organiser
 * part was event_part_cents, of which already_refilled_cents (>= 0, the
 * magnitude of earlier credits' organiser parts) has come back already:
 *   gross          = -round(unit_price * q)
 *   organiser_part = -round(event_part * q / Q)
 *   client_share   = gross - organiser_part
 * The organiser part never refills more than the credit's gross, nor more
 * than what of the event's draw is still out (rounding of partial credits
 * could otherwise refill a cent twice): |organiser_part| is capped at
 * min(|gross|, event_part - already_refilled). All three are <= 0.
 * -1 "invalid_quantity", "invalid_amount", "amount_overflow".
 */
int budget_credit_amounts(int64_t unit_price_cents, int64_t event_part_cents, int64_t event_qty_h,
                          int64_t already_refilled_cents, int64_t credit_qty_h,
                          struct event_amounts *out, char *err, size_t errlen);

/* A new budget of voucher.amend: within the limits and not below what is
 * charged. -1 "invalid_budget", "budget_below_charged". */
int budget_amend_check(int64_t new_budget_cents, int64_t used_cents, char *err, size_t errlen);

/* How many units the remaining pot covers at a unit price, truncated to
 * hundredths (remaining / price). price 0 → -1 (unbounded: the caller shows
 * null); remaining <= 0 → 0. */
int64_t budget_covers_qty_h(int64_t remaining_cents, int64_t unit_price_cents);

#endif
