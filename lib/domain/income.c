#include "domain/income.h"

#include <stdio.h>

#include "core/money.h"

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

int income_model_check(const struct income_model *m, char *err, size_t errlen)
{
    if (!m)
        return fail(err, errlen, "income_model_invalid: missing");
    if (m->min_value_cents < 0 || m->min_value_cents > m->max_value_cents)
        return fail(err, errlen, "income_model_invalid: need 0 <= min_value <= max_value");
    if (m->divisor < 1)
        return fail(err, errlen, "income_model_invalid: divisor must be >= 1");
    if (!m->rows || m->nrows == 0)
        return fail(err, errlen, "income_model_invalid: empty table");
    if (m->extra_person_limit_cents < 0 || m->extra_person_pct_bp < 0)
        return fail(err, errlen, "income_model_invalid: negative extra person terms");
    for (size_t i = 0; i < m->nrows; i++) {
        const struct income_row *r = &m->rows[i];
        if (r->household_size < 1 || (i > 0 && r->household_size <= m->rows[i - 1].household_size))
            return fail(err, errlen,
                        "income_model_invalid: household sizes must be >= 1 and increasing");
        if (r->limit_cents < 0 || r->pct_bp < 0 || r->pct_bp > 10000)
            return fail(err, errlen, "income_model_invalid: bad limit or pct in table");
    }
    return 0;
}

int income_value(const struct income_model *m, int household_size, int64_t income_cents,
                 struct income_basis *out, char *err, size_t errlen)
{
    if (income_model_check(m, err, errlen) < 0)
        return -1;
    if (household_size < 1)
        return fail(err, errlen, "invalid_household_size");
    if (income_cents < 0)
        return fail(err, errlen, "invalid_income");

    const struct income_row *row = &m->rows[0];
    for (size_t i = 0; i < m->nrows && m->rows[i].household_size <= household_size; i++)
        row = &m->rows[i];
    int64_t limit = row->limit_cents;
    int64_t pct = row->pct_bp;
    int64_t extra = (int64_t)household_size - row->household_size;
    if (extra > 0 && row == &m->rows[m->nrows - 1]) {
        int64_t add;
        if (__builtin_mul_overflow(extra, m->extra_person_limit_cents, &add) ||
            money_add(limit, add, &limit) < 0)
            return fail(err, errlen, "amount_overflow");
        pct -= extra * m->extra_person_pct_bp; /* both < 2^31: no overflow */
        if (pct < 0)
            pct = 0;
    }

    int64_t excess = income_cents > limit ? income_cents - limit : 0;
    int64_t reduction;
    /* One division for excess * pct / 10000 / divisor: a single rounding keeps
     * the decision reproducible by hand. The denominator can exceed int64
     * (divisor up to INT64_MAX), hence 128 bits here rather than core/money.c. */
    __int128 num = (__int128)excess * pct, den = (__int128)10000 * m->divisor;
    __int128 q = num / den, r = num % den;
    if (2 * r >= den)
        q++; /* num, den >= 0: half away from zero is half up */
    reduction = q > INT64_MAX ? INT64_MAX : (int64_t)q;

    int64_t value = m->max_value_cents - reduction; /* max >= 0, reduction >= 0: no overflow */
    if (value < m->min_value_cents)
        value = m->min_value_cents;

    out->household_size = household_size;
    out->income_cents = income_cents;
    out->limit_cents = limit;
    out->pct_bp = (int)pct;
    out->excess_cents = excess;
    out->reduction_cents = reduction;
    out->value_cents = value;
    return 0;
}
