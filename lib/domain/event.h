/*
 * domain/event.h - service event rules (domain.md, "Service events" and
 * "Purchased services"): amounts, prices, quota and volume cap, the state
 * machine, credits.
 *
 * Money in int64_t cents, quantities and coefficients in int64_t hundredths.
 * Every rounding is half away from zero and happens only where domain.md
 * puts it (see each function). Pure functions, thread-safe, no allocation.
 * Functions returning int give 0, or -1 with a stable reason in err (err may
 * be NULL) for command.rejected; outputs are written only on success.
 */
#ifndef PSOP_DOMAIN_EVENT_H
#define PSOP_DOMAIN_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Quantities: > 0 and <= 1000.00. */
#define EVENT_QTY_MAX 100000

/* 0 when 0 < qty_h <= EVENT_QTY_MAX, else -1 "invalid_quantity". */
int event_quantity_check(int64_t qty_h, char *err, size_t errlen);

/* The stored amounts of an event or credit. For a credit all are <= 0. */
struct event_amounts {
    int64_t value_unit_cents; /* voucher: value per unit; order: organiser's part per unit */
    int64_t unit_price_cents;
    int64_t gross_cents;
    int64_t organiser_part_cents;
    int64_t client_share_cents;
};

/* value_unit = round(voucher unit value on the date * coefficient / 100).
 * -1 "invalid_amount" for negative inputs, "amount_overflow". */
int event_value_unit(int64_t voucher_unit_value_cents, int64_t coeff_h, int64_t *out, char *err,
                     size_t errlen);

/*
 * A voucher event:
 *   gross          = round(unit_price * qty)
 *   organiser_part = round(min(value_unit, unit_price) * qty)
 *   client_share   = gross - organiser_part   (>= 0)
 * -1 "invalid_quantity" (qty <= 0), "invalid_amount" (negative cents),
 * "amount_overflow".
 */
int event_amounts_voucher(int64_t value_unit_cents, int64_t unit_price_cents, int64_t qty_h,
                          struct event_amounts *out, char *err, size_t errlen);

/*
 * An order (purchased service) event:
 *   gross          = round(unit_price * qty)
 *   client_share   = round(min(client_fee, unit_price) * qty)
 *   organiser_part = gross - client_share
 * value_unit_cents is set to unit_price - min(client_fee, unit_price), the
 * organiser's part of one unit (orders have no voucher value; this is what
 * the read model shows in its place). Errors as event_amounts_voucher.
 */
int event_amounts_order(int64_t unit_price_cents, int64_t client_fee_cents, int64_t qty_h,
                        struct event_amounts *out, char *err, size_t errlen);

/*
 * A credit of credit_qty_h of an event: the event's amounts for that
 * quantity computed exactly as above, then negated (value_unit_cents and
 * unit_price_cents stay positive: they are per-unit facts, not sums). Note
 * that crediting a quantity in parts can differ by a cent from crediting it
 * at once, as each credit rounds on its own: that is the spec's rule.
 */
int event_credit_voucher(int64_t value_unit_cents, int64_t unit_price_cents, int64_t credit_qty_h,
                         struct event_amounts *out, char *err, size_t errlen);
int event_credit_order(int64_t unit_price_cents, int64_t client_fee_cents, int64_t credit_qty_h,
                       struct event_amounts *out, char *err, size_t errlen);

/*
 * The unit price of a voucher event. list_cents is the provider's price in
 * force on the date for the band (has_list false when there is none). An
 * agreed price (given) may be lower, never higher. When the service type
 * allows no client share, the price must not exceed value_unit.
 * -1 "no_price_in_force", "invalid_price" (negative), "price_above_list",
 * "price_exceeds_voucher_value".
 */
int event_price_voucher(bool has_list, int64_t list_cents, bool given, int64_t given_cents,
                        bool client_share_allowed, int64_t value_unit_cents, int64_t *out,
                        char *err, size_t errlen);

/*
 * The unit price of an order event: always the contract price in force on
 * the date for the band; a given price must equal it.
 * -1 "no_price_in_force", "price_not_contract_price".
 */
int event_price_order(bool has_contract, int64_t contract_cents, bool given, int64_t given_cents,
                      int64_t *out, char *err, size_t errlen);

/*
 * Monthly quota (voucher or order) and contract volume cap, in hundredths:
 * the new quantity fits when used + add <= limit (reaching it exactly is
 * fine). has_limit false: no limit. used is what counts for the month
 * (event_state_counts_for_quota, less credited quantities; for an edit, the
 * caller leaves the edited event's old quantity out).
 * -1 "quota_exceeded" / "volume_cap_exceeded".
 */
int event_quota_check(bool has_limit, int64_t limit_h, int64_t used_h, int64_t add_h, char *err,
                      size_t errlen);
int event_volume_cap_check(bool has_limit, int64_t limit_h, int64_t used_h, int64_t add_h,
                           char *err, size_t errlen);

enum event_state { EVENT_RECORDED, EVENT_APPROVED, EVENT_SETTLED, EVENT_PAID, EVENT_DELETED };
enum event_action {
    EVENT_EDIT,
    EVENT_DELETE,
    EVENT_APPROVE,
    EVENT_SETTLE,
    EVENT_PAY,
    EVENT_CREDIT
};

/* "recorded" | "approved" | "settled" | "paid" | "deleted". 0 or -1. */
int event_state_parse(const char *s, enum event_state *out);
/* API name; "?" outside the enum. */
const char *event_state_name(enum event_state s);
/* "edit", "delete", "approve", "settle", "pay", "credit"; "?" outside. */
const char *event_action_name(enum event_action a);

/*
 * Whether action may be taken on an event in state from, and the state after:
 *   edit     recorded -> recorded
 *   delete   recorded, approved -> deleted
 *   approve  recorded -> approved
 *   settle   approved -> settled
 *   pay      settled -> paid
 *   credit   settled, paid -> unchanged (a credit is its own record)
 * Everything else: -1 with "event_not_editable", "event_not_deletable",
 * "event_not_approvable", "event_not_settleable", "event_not_payable" or
 * "event_not_creditable" ("invalid_action" for a value outside the enum).
 * Repeating an action (approving an approved event)
 * is refused too; replay safety is the command layer's job.
 */
int event_transition(enum event_state from, enum event_action action, enum event_state *next,
                     char *err, size_t errlen);

/* recorded, approved, settled, paid: the states whose quantity uses quota. */
bool event_state_counts_for_quota(enum event_state s);

/* A credit's quantity: 0 < credit_qty <= event_qty - already_credited.
 * -1 "invalid_quantity" or "credit_exceeds_remaining". */
int event_credit_qty_check(int64_t event_qty_h, int64_t already_credited_h, int64_t credit_qty_h,
                           char *err, size_t errlen);

#endif
