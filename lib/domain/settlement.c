#include "domain/settlement.h"

#include <stdio.h>
#include <string.h>

#include "domain/fi.h"
#include "core/invariant.h"
#include "core/money.h"

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

static int check_year_seq(int year, int64_t seq, char *err, size_t errlen)
{
    if (year < 1900 || year > 9999)
        return fail(err, errlen, "invalid_year");
    if (seq < 1)
        return fail(err, errlen, "invalid_sequence");
    if (seq > SETTLEMENT_SEQ_MAX)
        return fail(err, errlen, "sequence_exhausted");
    return 0;
}

int settlement_number_format(const char *prefix, int year, int64_t seq, char *out, size_t outlen,
                             char *err, size_t errlen)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n < 2 || n > 10)
        return fail(err, errlen, "invalid_prefix");
    for (size_t i = 0; i < n; i++)
        if (!((prefix[i] >= 'A' && prefix[i] <= 'Z') || (prefix[i] >= '0' && prefix[i] <= '9')))
            return fail(err, errlen, "invalid_prefix");
    if (check_year_seq(year, seq, err, errlen) < 0)
        return -1;
    char buf[SETTLEMENT_NUMBER_MAX];
    int len = snprintf(buf, sizeof buf, "%s-%04d-%06lld", prefix, year, (long long)seq);
    if (len < 0 || (size_t)len >= outlen)
        return fail(err, errlen, "buffer_too_small");
    memcpy(out, buf, (size_t)len + 1);
    return 0;
}

int settlement_reference(int year, int64_t seq, char *out, size_t outlen, char *err, size_t errlen)
{
    if (check_year_seq(year, seq, err, errlen) < 0)
        return -1;
    char base[16], ref[SETTLEMENT_REFERENCE_MAX];
    snprintf(base, sizeof base, "%04d%06lld", year, (long long)seq);
    if (fi_viite_make(base, ref, sizeof ref) < 0 || strlen(ref) >= outlen)
        return fail(err, errlen, "buffer_too_small");
    memcpy(out, ref, strlen(ref) + 1);
    return 0;
}

void settlement_totals_init(struct settlement_totals *t)
{
    memset(t, 0, sizeof *t);
}

/* Index of the rate's slot, creating it if there is room; -1 when full. */
static int vat_slot(struct settlement_totals *t, int rate_bp)
{
    for (size_t i = 0; i < t->nvat; i++)
        if (t->vat[i].rate_bp == rate_bp)
            return (int)i;
    if (t->nvat == SETTLEMENT_MAX_VAT_RATES)
        return -1;
    return (int)t->nvat; /* the caller commits nvat only on success */
}

/* Adds the organiser part to the rate's amount; commits nothing on failure. */
static int add_vat_base(struct settlement_totals *t, int rate_bp, int64_t amount, int64_t *sum,
                        int *slot, char *err, size_t errlen)
{
    if (rate_bp < 0 || rate_bp > 10000)
        return fail(err, errlen, "invalid_vat_rate");
    *slot = vat_slot(t, rate_bp);
    if (*slot < 0)
        return fail(err, errlen, "too_many_vat_rates");
    int64_t base = (size_t)*slot < t->nvat ? t->vat[*slot].amount_cents : 0;
    if (money_add(base, amount, sum) < 0)
        return fail(err, errlen, "amount_overflow");
    return 0;
}

static void commit_vat(struct settlement_totals *t, int slot, int rate_bp, int64_t sum)
{
    if ((size_t)slot == t->nvat) {
        t->vat[slot].rate_bp = rate_bp;
        t->vat[slot].vat_cents = 0;
        t->nvat++;
    }
    t->vat[slot].amount_cents = sum;
}

int settlement_totals_add_event(struct settlement_totals *t, int64_t gross_cents,
                                int64_t organiser_cents, int64_t client_share_cents,
                                int vat_rate_bp, char *err, size_t errlen)
{
    int64_t check;
    if (gross_cents < 0 || organiser_cents < 0 || client_share_cents < 0 ||
        money_add(organiser_cents, client_share_cents, &check) < 0 || check != gross_cents)
        return fail(err, errlen, "invalid_line");
    int64_t g, o, c, vsum;
    int slot;
    if (add_vat_base(t, vat_rate_bp, organiser_cents, &vsum, &slot, err, errlen) < 0)
        return -1;
    if (money_add(t->gross_cents, gross_cents, &g) < 0 ||
        money_add(t->organiser_cents, organiser_cents, &o) < 0 ||
        money_add(t->client_share_cents, client_share_cents, &c) < 0)
        return fail(err, errlen, "amount_overflow");
    t->gross_cents = g;
    t->organiser_cents = o;
    t->client_share_cents = c;
    t->event_lines++;
    commit_vat(t, slot, vat_rate_bp, vsum);
    return 0;
}

int settlement_totals_add_credit(struct settlement_totals *t, int64_t organiser_cents,
                                 int vat_rate_bp, char *err, size_t errlen)
{
    if (organiser_cents > 0)
        return fail(err, errlen, "invalid_line");
    int64_t cr, vsum;
    int slot;
    if (add_vat_base(t, vat_rate_bp, organiser_cents, &vsum, &slot, err, errlen) < 0)
        return -1;
    if (money_add(t->credit_cents, organiser_cents, &cr) < 0)
        return fail(err, errlen, "amount_overflow");
    t->credit_cents = cr;
    t->credit_lines++;
    commit_vat(t, slot, vat_rate_bp, vsum);
    return 0;
}

int settlement_totals_finish(struct settlement_totals *t, char *err, size_t errlen)
{
    int64_t payable;
    if (money_add(t->organiser_cents, t->credit_cents, &payable) < 0)
        return fail(err, errlen, "amount_overflow");
    t->payable_cents = payable;
    /* Insertion sort: at most SETTLEMENT_MAX_VAT_RATES entries (vat_slot). */
    PSOP_ASSERT(t->nvat <= SETTLEMENT_MAX_VAT_RATES);
    for (size_t i = 1; i < t->nvat; i++) {
        struct settlement_vat v = t->vat[i];
        size_t j = i;
        for (; j > 0 && t->vat[j - 1].rate_bp > v.rate_bp; j--)
            t->vat[j] = t->vat[j - 1];
        t->vat[j] = v;
    }
    for (size_t i = 0; i < t->nvat; i++)
        t->vat[i].vat_cents = money_vat_of_gross(t->vat[i].amount_cents, t->vat[i].rate_bp);
    return 0;
}

int settlement_due_date(day_t made, int days, day_t *out, char *err, size_t errlen)
{
    if (days < 0 || days > 365)
        return fail(err, errlen, "invalid_due_days");
    *out = made + days;
    return 0;
}

int settlement_period_check(const char *period, day_t today, day_t *first, day_t *last, char *err,
                            size_t errlen)
{
    int y, m;
    if (date_parse_month(period, &y, &m) < 0)
        return fail(err, errlen, "invalid_period");
    struct ymd t = date_to_ymd(today);
    if (y > t.y || (y == t.y && m >= t.m))
        return fail(err, errlen, "period_not_past");
    *first = date_from_ymd(y, m, 1);
    *last = date_from_ymd(y, m, date_days_in_month(y, m));
    return 0;
}

bool settlement_batch_period(day_t today, int settlement_day, int *year, int *month)
{
    if (settlement_day < 1 || settlement_day > 28)
        return false;
    struct ymd t = date_to_ymd(today);
    if (t.d < settlement_day)
        return false;
    *year = t.m == 1 ? t.y - 1 : t.y;
    *month = t.m == 1 ? 12 : t.m - 1;
    return true;
}

static const char *const sstate_names[] = {"draft", "confirmed", "paid"};

const char *settlement_state_name(enum settlement_state s)
{
    return (int)s >= 0 && (int)s < 3 ? sstate_names[s] : "?";
}

int settlement_state_parse(const char *s, enum settlement_state *out)
{
    if (!s)
        return -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(s, sstate_names[i]) == 0) {
            *out = (enum settlement_state)i;
            return 0;
        }
    return -1;
}

int settlement_transition(enum settlement_state from, enum settlement_action action,
                          enum settlement_state *next, char *err, size_t errlen)
{
    switch (action) {
    case SETTLEMENT_CONFIRM:
        if (from != SETTLEMENT_DRAFT)
            return fail(err, errlen, "settlement_not_draft");
        *next = SETTLEMENT_CONFIRMED;
        return 0;
    case SETTLEMENT_MARK_PAID:
        if (from != SETTLEMENT_CONFIRMED)
            return fail(err, errlen, "settlement_not_confirmed");
        *next = SETTLEMENT_PAID;
        return 0;
    }
    return fail(err, errlen, "invalid_action");
}
