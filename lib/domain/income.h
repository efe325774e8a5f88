/*
 * domain/income.h - the income-related voucher value (domain.md, "Vouchers").
 *
 * The model of the former national home-care rule, kept per service type:
 *   limit, pct  from the table row for the household size
 *   excess    = max(0, income - limit)
 *   reduction = round(excess * pct_bp / 10000 / divisor)   (one rounding)
 *   value     = max(min_value, max_value - reduction)
 *
 * Household sizes beyond the last row extrapolate from it: limit +
 * extra_person_limit_cents and pct - extra_person_pct_bp per extra person,
 * pct not below 0. Sizes below the first row use the first row (a household
 * is never smaller than the smallest the table knows). A size between two
 * rows of a table with gaps uses the nearest row below it.
 *
 * The divisor is a positive integer (the old rule divides the monthly
 * reduction by it to get a per-unit amount). Pure functions, thread-safe;
 * nothing is allocated, the model's table is borrowed.
 */
#ifndef PSOP_DOMAIN_INCOME_H
#define PSOP_DOMAIN_INCOME_H

#include <stddef.h>
#include <stdint.h>

struct income_row {
    int household_size;  /* >= 1, rows strictly increasing */
    int64_t limit_cents; /* monthly income limit, >= 0 */
    int pct_bp;          /* 0..10000 */
};

struct income_model {
    int64_t max_value_cents;
    int64_t min_value_cents; /* 0 <= min <= max */
    int64_t divisor;         /* >= 1 */
    const struct income_row *rows;
    size_t nrows;                     /* >= 1 */
    int64_t extra_person_limit_cents; /* >= 0 */
    int extra_person_pct_bp;          /* >= 0 */
};

/* What the decision shows: the value and how it was reached. */
struct income_basis {
    int household_size;
    int64_t income_cents;
    int64_t limit_cents;
    int pct_bp;
    int64_t excess_cents;
    int64_t reduction_cents;
    int64_t value_cents;
};

/* 0 when the model is usable (the rules in the struct comments), else -1 and
 * a reason in err: "income_model_invalid: <what>". For service_type.upsert. */
int income_model_check(const struct income_model *m, char *err, size_t errlen);

/* Computes the value for a household. -1 with err "income_model_invalid: ..."
 * for a bad model, "invalid_household_size" (< 1), "invalid_income" (< 0), or
 * "amount_overflow" when extrapolating a huge household overflows. */
int income_value(const struct income_model *m, int household_size, int64_t income_cents,
                 struct income_basis *out, char *err, size_t errlen);

#endif
