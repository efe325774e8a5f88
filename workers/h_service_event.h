/*
 * h_service_event.h - service events (palvelutapahtuma) and the voucher
 * helpers the voucher handlers share with them.
 *
 * The handlers (record, update, delete, approve, credit, auto_approve) are
 * rows of handlers_voucher[] (h_voucher.c): one voucher's commands share its
 * Kafka partition, so they apply in order. Every service_event.* command
 * first locks its parent row (SELECT ... FOR UPDATE), so the month's quota
 * is checked against a stable sum even if two workers ever hold the same
 * voucher (a rebalance), and bumps the parent's version (read-model CAS).
 *
 * The rules of an event are evaluated once, in se_evaluate(), over a
 * struct se_parent. A voucher and an order (purchased service) differ only
 * in where the parent comes from, who may record, the price source
 * (provider price list vs contract price), the contract's volume cap and
 * the split (organiser part first vs client fee first): the SE_ORDER
 * branches (docs/orders.md). Orders' rows are in handlers_order[] too.
 *
 * Rejection reasons are "forbidden: ..." (ownership), "not_found: ..." or
 * "<code>: <detail>" with codes listed in docs/vouchers.md. Functions
 * returning enum apply_result fill ctx->reason / ctx->err as apply.h says.
 */
#ifndef PSOP_WORKER_H_SERVICE_EVENT_H
#define PSOP_WORKER_H_SERVICE_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "apply.h"
#include "core/date.h"
#include "domain/band.h"
#include "domain/event.h"

enum se_parent_kind { SE_VOUCHER, SE_ORDER };

/* A voucher (or order) row, locked FOR UPDATE, with its service type. */
struct se_parent {
    enum se_parent_kind kind;
    char id[40];
    char organiser_id[40];
    char client_id[72];
    char service_type[72];
    char provider_id[40]; /* voucher: chosen provider ("" none); order: contract's */
    char status[16];      /* voucher: active|revoked|refused; order: active|ended */
    day_t valid_from;
    bool has_valid_to;
    day_t valid_to;
    bool has_end; /* revoked (voucher) or ended (order): no events after end */
    day_t end;
    bool has_quota;
    int64_t quota_h;
    long long version;
    /* service type */
    bool client_share_allowed;
    bool banded;
    struct band_coefficients coef;
    /* order only (SE_ORDER): the order's fee and its contract */
    char contract_id[40];
    int64_t client_fee_cents;
    day_t contract_from;
    bool has_contract_to;
    day_t contract_to;
    bool has_cap;
    int64_t cap_h; /* the contract's monthly volume cap over all its orders */
    /* budget voucher (value_basis budget, SE_VOUCHER only): the pot */
    bool budget;
    int64_t budget_cents;
    int64_t budget_used_cents;
};

/* The columns se_voucher_from_row reads (0-16), FROM vouchers v and their
 * service type st: append WHERE ... FOR UPDATE OF v. */
#define SE_VOUCHER_SELECT                                                                          \
    "SELECT v.id, v.organiser_id, v.client_id, v.service_type, v.provider_id, v.status, "          \
    "v.valid_from, v.valid_to, v.revoke_date, v.monthly_quota, v.version, "                        \
    "st.client_share_allowed, st.coef_evening, st.coef_saturday, st.coef_sunday, "                 \
    "v.budget_cents, v.budget_used_cents "                                                         \
    "FROM psop.vouchers v JOIN psop.service_types st ON st.code = v.service_type "

/* A voucher of row row of a SE_VOUCHER_SELECT result. */
void se_voucher_from_row(const PGresult *r, int row, struct se_parent *p);

/* Loads and row-locks voucher id with its service type. Rejects
 * "not_found: ..." when there is no such voucher. */
enum apply_result se_voucher_lock(struct apply_ctx *ctx, const char *id, struct se_parent *p);

/* Loads and row-locks order id with its contract (the contract row too,
 * FOR NO KEY UPDATE: the volume cap is summed over all its orders, which
 * live in other partitions) and service type. "not_found: ..." when none. */
enum apply_result se_order_lock(struct apply_ctx *ctx, const char *id, struct se_parent *p);

/* The read model kind of a parent ("voucher" | "order"). */
const char *se_parent_kind_name(const struct se_parent *p);

/* Bumps the parent's version (and updated_at); p->version gets the new one. */
enum apply_result se_parent_bump(struct apply_ctx *ctx, struct se_parent *p);

/* 0 when the parent takes events on d, else -1 with a detail in why. */
int se_active_on(const struct se_parent *p, day_t d, char *why, size_t n);

/* Rejects unless provider_id's approval for (organiser, service type) is in
 * force on d and not suspended: "not_found:" (no such provider),
 * "provider_not_approved:", "provider_suspended:". */
enum apply_result se_provider_in_force(struct apply_ctx *ctx, const char *provider_id,
                                       const char *organiser_id, const char *service_type, day_t d);

/* What decides a provider's approval on a date: the provider exists, the
 * latest decision ("approved", "rejected" or "" none) and its valid_from,
 * the first suspension made after it that has begun by the date ("" none). */
struct se_provider_facts {
    bool exists;
    char decision[16];
    char from[16];
    char susp[16];
};

/* The facts from columns first.. first+3 of row (exists, decision,
 * valid_from, suspension), as se_provider_in_force selects them. */
void se_provider_facts_from(const PGresult *r, int row, int first, struct se_provider_facts *f);

/* se_provider_in_force's verdict on facts already read (pure). */
enum apply_result se_provider_verdict(struct apply_ctx *ctx, const char *provider_id,
                                      const char *organiser_id, const char *service_type, day_t d,
                                      const struct se_provider_facts *f);

/* The facts of a voucher event's date: the voucher's value in force, a
 * holiday or not, the month's used quantity (hundredths, without the edited
 * event) and the provider's list price row in force. */
struct se_voucher_facts {
    bool has_value;
    int64_t value;
    bool holiday;
    int64_t used;
    bool has_list;
    int64_t base;
    struct band_prices bp;
};

/* The facts from columns first..first+6 of row (value, holiday, used, price,
 * evening, saturday, sunday price). */
void se_voucher_facts_from(const PGresult *r, int row, int first, struct se_voucher_facts *f);

/* What an event would be: the input of a record or an edit. */
struct se_input {
    day_t date;
    int64_t qty_h;
    bool band_given;
    enum band band;
    bool price_given;
    int64_t price_cents;
    const char *exclude_event_id; /* an edit: the event's own quantity is not "used" */
    int64_t returned_draw_cents;  /* an edit on a budget voucher: its old draw, back first */
};

/* The event's derived facts, stored on the row. */
struct se_result {
    bool has_band; /* false on a service type without band coefficients */
    enum band band;
    int64_t coef_h;
    int64_t voucher_value_cents;    /* voucher: value in force on the date */
    int64_t used_h;                 /* the parent's month usage without this event */
    int64_t contract_used_h;        /* order: the contract's month usage without it */
    bool budget;                    /* charged to a budget voucher's pot */
    int64_t remaining_before_cents; /* budget: what was left before this charge */
    struct event_amounts a;
};

/* Every rule of domain.md "Service events" except ownership and state:
 * future date, parent active on the date, provider approval (voucher) in
 * force, band and holiday, value in force, price, quota. */
enum apply_result se_evaluate(struct apply_ctx *ctx, const struct se_parent *p,
                              const struct se_input *in, struct se_result *out);

/* se_evaluate's first rules, which need no facts: quantity, a date not in
 * the future, the parent active on it (pure). */
enum apply_result se_precheck(struct apply_ctx *ctx, const struct se_parent *p,
                              const struct se_input *in);

/* se_evaluate's rules of a voucher event after se_precheck and the
 * provider's approval, on the facts of the date (pure): band, value, price,
 * quota, amounts or the budget's charge. out is zeroed by the caller. */
enum apply_result se_evaluate_voucher(struct apply_ctx *ctx, const struct se_parent *p,
                                      const struct se_input *in, const struct se_voucher_facts *f,
                                      struct se_result *out);

/* Reads quantity, date, band and price of a record or an edit. */
enum apply_result se_read_input(struct apply_ctx *ctx, struct se_input *in);

/* A record's ownership rules once the parent is known: the parent has a
 * provider and a provider actor is that provider. */
enum apply_result se_record_may(struct apply_ctx *ctx, const struct se_parent *p);

/* The event as integrations see it (service_event.recorded|updated). */
json_t *se_event_json(const char *id, const struct se_parent *p, const char *provider_id,
                      const struct se_input *in, const struct se_result *res, const char *note,
                      const char *state, long long version);

/* Moves a budget voucher's pot by delta_cents (> 0 a charge, < 0 a return)
 * in one UPDATE that cannot overdraw it nor take it below zero; p's
 * budget_used_cents gets the new use. A move that does not fit (impossible
 * under the row lock) rejects "budget_exhausted". */
enum apply_result se_budget_move(struct apply_ctx *ctx, struct se_parent *p, int64_t delta_cents);

/* Helpers shared with h_voucher.c and h_order.c. */
/* The organiser acting for itself (token org claim = organiser_id), else a
 * "forbidden: only organiser X may <what>" rejection. */
enum apply_result se_require_organiser(struct apply_ctx *ctx, const char *organiser_id,
                                       const char *what);
/* Rejects with code when the parent has non-deleted events dated after d
 * (d NULL: any event at all). */
enum apply_result se_require_no_events_after(struct apply_ctx *ctx, const struct se_parent *p,
                                             const char *d, const char *code);
/* Hundredths as a decimal with two places: 250 -> 2.50 (a JSON real). */
json_t *se_qty_json(int64_t h);
/* The voucher read model kind (touch after every change). */
void se_touch_voucher(struct apply_ctx *ctx, const char *voucher_id);
/* Touches the parent's read model (voucher or order). */
void se_touch_parent(struct apply_ctx *ctx, const struct se_parent *p);
/* se_touch_parent, and for a voucher the one event the command changed, so
 * its events document can be patched instead of rebuilt (read_models.c);
 * after se_parent_bump (p->version is the voucher's new version). */
void se_touch_event(struct apply_ctx *ctx, const struct se_parent *p, const char *event_id);

enum apply_result se_record(struct apply_ctx *ctx);
enum apply_result se_update(struct apply_ctx *ctx);
enum apply_result se_delete(struct apply_ctx *ctx);
enum apply_result se_approve(struct apply_ctx *ctx);
enum apply_result se_credit(struct apply_ctx *ctx);
enum apply_result se_auto_approve(struct apply_ctx *ctx);

#endif
