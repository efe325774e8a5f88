#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "domain/settlement.h"
#include "domain/fi.h"
#include "domain_check.h"

static day_t D(const char *s)
{
    day_t d;
    cr_assert_eq(date_parse(s, &d), 0, "%s", s);
    return d;
}

Test(settlement_number, format)
{
    char n[SETTLEMENT_NUMBER_MAX];
    cr_assert_eq(settlement_number_format("HKI", 2025, 42, n, sizeof n, err, sizeof err), 0);
    cr_assert_str_eq(n, "HKI-2025-000042");
    cr_assert_eq(settlement_number_format("AB", 2025, 1, n, sizeof n, err, sizeof err), 0);
    cr_assert_str_eq(n, "AB-2025-000001");
    cr_assert_eq(settlement_number_format("ABCDEFGH12", 9999, 999999, n, sizeof n, err, sizeof err),
                 0);
    cr_assert_str_eq(n, "ABCDEFGH12-9999-999999");
    cr_assert_eq(strlen(n) + 1, SETTLEMENT_NUMBER_MAX);
}

Test(settlement_number, rejects)
{
    char n[SETTLEMENT_NUMBER_MAX] = "untouched";
    static const struct {
        const char *prefix;
        int year;
        int64_t seq;
        const char *reason;
    } c[] = {
        {"A", 2025, 1, "invalid_prefix"},
        {"ABCDEFGHIJK", 2025, 1, "invalid_prefix"},
        {"hki", 2025, 1, "invalid_prefix"},
        {"H-K", 2025, 1, "invalid_prefix"},
        {NULL, 2025, 1, "invalid_prefix"},
        {"HKI", 1899, 1, "invalid_year"},
        {"HKI", 10000, 1, "invalid_year"},
        {"HKI", 2025, 0, "invalid_sequence"},
        {"HKI", 2025, 1000000, "sequence_exhausted"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        err[0] = '\0';
        expect_answer(settlement_number_format(c[i].prefix, c[i].year, c[i].seq, n, sizeof n, err,
                                               sizeof err),
                      c[i].reason, i);
    }
    REJECTS(settlement_number_format("HKI", 2025, 1, n, 15, err, sizeof err), "buffer_too_small");
    cr_assert_str_eq(n, "untouched");
    cr_assert_eq(settlement_number_format("HKI", 2025, 1, n, 16, err, sizeof err), 0);
}

Test(settlement_reference, scheme)
{
    char r[SETTLEMENT_REFERENCE_MAX];
    /* Base 2025000042, digits from the right 2,4,0,0,0,0,5,2,0,2 weighted
     * 7,3,1,7,3,1,7,3,1,7: 14+12+35+6+14 = 81 -> check (10 - 1) % 10 = 9. */
    cr_assert_eq(settlement_reference(2025, 42, r, sizeof r, err, sizeof err), 0);
    cr_assert_str_eq(r, "20250000429");
    cr_assert(fi_viite_valid(r));
    cr_assert_eq(settlement_reference(2025, 1, r, sizeof r, err, sizeof err), 0);
    cr_assert_str_eq(r, "20250000018");
    cr_assert_eq(settlement_reference(9999, 999999, r, sizeof r, err, sizeof err), 0);
    cr_assert_eq(strlen(r), 11);
    cr_assert(fi_viite_valid(r));
    REJECTS(settlement_reference(2025, 0, r, sizeof r, err, sizeof err), "invalid_sequence");
    REJECTS(settlement_reference(2025, 1000000, r, sizeof r, err, sizeof err),
            "sequence_exhausted");
    REJECTS(settlement_reference(1899, 1, r, sizeof r, err, sizeof err), "invalid_year");
    REJECTS(settlement_reference(2025, 1, r, 11, err, sizeof err), "buffer_too_small");
    cr_assert_eq(settlement_reference(2025, 1, r, 12, err, sizeof err), 0);
}

Test(settlement_reference, unique_and_valid_over_a_year)
{
    /* Distinct sequence numbers give distinct references (the base digits
     * differ, and the check digit is a function of the base). */
    char prev[SETTLEMENT_REFERENCE_MAX] = "", r[SETTLEMENT_REFERENCE_MAX];
    for (int64_t s = 1; s <= 20000; s++) {
        cr_assert_eq(settlement_reference(2026, s, r, sizeof r, err, sizeof err), 0);
        cr_assert(fi_viite_valid(r), "%s", r);
        cr_assert_neq(strcmp(prev, r), 0);
        cr_assert_eq(strncmp(r, "2026", 4), 0);
        strcpy(prev, r);
    }
}

static struct settlement_totals totals(void)
{
    struct settlement_totals t;
    settlement_totals_init(&t);
    return t;
}

Test(settlement_totals, mixed_rates_and_credits)
{
    /*
     * Lines (gross / organiser / client, rate):
     *   A  87.25 / 86.25 / 1.00    0 %   (evening example of domain_event)
     *   B  16.67 / 15.01 / 1.66   25.5 %
     *   C 100.00 / 68.75 / 31.25  25.5 % (order with client fee)
     *   credit of A's hour:   organiser -34.50,  0 %
     *   credit of B in full:  organiser -15.01, 25.5 %
     * gross 203.92, organiser 170.01, client 33.91, credit -49.51,
     * payable 120.50 = 0 %: 86.25 - 34.50 = 51.75  +  25.5 %: 68.75
     * VAT 25.5 % of 68.75 incl. = 6875 * 2550 / 12550 = 1396.91 -> 13.97
     */
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_add_event(&t, 8725, 8625, 100, 0, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 1667, 1501, 166, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_credit(&t, -3450, 0, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 10000, 6875, 3125, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_credit(&t, -1501, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);

    cr_assert_eq(t.gross_cents, 20392);
    cr_assert_eq(t.organiser_cents, 17001);
    cr_assert_eq(t.client_share_cents, 3391);
    cr_assert_eq(t.credit_cents, -4951);
    cr_assert_eq(t.payable_cents, 12050);
    cr_assert_eq(t.event_lines, 3);
    cr_assert_eq(t.credit_lines, 2);
    cr_assert_eq(t.nvat, 2);
    cr_assert_eq(t.vat[0].rate_bp, 0);
    cr_assert_eq(t.vat[0].amount_cents, 5175);
    cr_assert_eq(t.vat[0].vat_cents, 0);
    cr_assert_eq(t.vat[1].rate_bp, 2550);
    cr_assert_eq(t.vat[1].amount_cents, 6875);
    cr_assert_eq(t.vat[1].vat_cents, 1397);
    cr_assert_eq(t.vat[0].amount_cents + t.vat[1].amount_cents, t.payable_cents);
}

Test(settlement_totals, vat_is_rounded_per_rate_not_per_line)
{
    /* Three 0.01 lines at 25.5 %: per line round(0.203) = 0, but the rate's
     * sum 0.03 -> round(0.609) = 0.01. */
    struct settlement_totals t = totals();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(settlement_totals_add_event(&t, 1, 1, 0, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);
    cr_assert_eq(t.nvat, 1);
    cr_assert_eq(t.vat[0].amount_cents, 3);
    cr_assert_eq(t.vat[0].vat_cents, 1);
}

Test(settlement_totals, rates_sorted_and_zero_sums_kept)
{
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_add_event(&t, 11400, 11400, 0, 1400, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 12550, 12550, 0, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 1000, 1000, 0, 0, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 1100, 1100, 0, 1000, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_add_credit(&t, -1100, 1000, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);
    int rates[] = {0, 1000, 1400, 2550};
    int64_t amounts[] = {1000, 0, 11400, 12550};
    int64_t vats[] = {0, 0, 1400, 2550};
    cr_assert_eq(t.nvat, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(t.vat[i].rate_bp, rates[i]);
        cr_assert_eq(t.vat[i].amount_cents, amounts[i]);
        cr_assert_eq(t.vat[i].vat_cents, vats[i]);
    }
    /* Finishing twice is harmless. */
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);
    cr_assert_eq(t.vat[3].vat_cents, 2550);
    cr_assert_eq(t.payable_cents, 24950);
}

Test(settlement_totals, credits_only_give_negative_payable_and_vat)
{
    /* -10.00 at 25.5 %: VAT -1000 * 2550 / 12550 = -203.19 -> -2.03 */
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_add_credit(&t, -1000, 2550, err, sizeof err), 0);
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);
    cr_assert_eq(t.gross_cents, 0);
    cr_assert_eq(t.organiser_cents, 0);
    cr_assert_eq(t.credit_cents, -1000);
    cr_assert_eq(t.payable_cents, -1000);
    cr_assert_eq(t.vat[0].vat_cents, -203);
    cr_assert_eq(t.event_lines, 0);
    cr_assert_eq(t.credit_lines, 1);
}

Test(settlement_totals, empty)
{
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_finish(&t, err, sizeof err), 0);
    cr_assert_eq(t.payable_cents, 0);
    cr_assert_eq(t.nvat, 0);
}

Test(settlement_totals, bad_lines_leave_totals_unchanged)
{
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_add_event(&t, 100, 60, 40, 2550, err, sizeof err), 0);
    struct settlement_totals before = t;
    REJECTS(settlement_totals_add_event(&t, 100, 60, 41, 2550, err, sizeof err), "invalid_line");
    REJECTS(settlement_totals_add_event(&t, -100, -60, -40, 2550, err, sizeof err), "invalid_line");
    REJECTS(settlement_totals_add_event(&t, 100, 100, 0, -1, err, sizeof err), "invalid_vat_rate");
    REJECTS(settlement_totals_add_event(&t, 100, 100, 0, 10001, err, sizeof err),
            "invalid_vat_rate");
    REJECTS(settlement_totals_add_credit(&t, 1, 2550, err, sizeof err), "invalid_line");
    REJECTS(settlement_totals_add_credit(&t, -1, 20000, err, sizeof err), "invalid_vat_rate");
    REJECTS(settlement_totals_add_event(&t, INT64_MAX, INT64_MAX, 0, 2550, err, sizeof err),
            "amount_overflow");
    REJECTS(settlement_totals_add_event(&t, INT64_MAX, INT64_MAX, 0, 1400, err, sizeof err),
            "amount_overflow");
    cr_assert_eq(memcmp(&t, &before, sizeof t), 0);
    cr_assert_eq(settlement_totals_add_event(&t, 0, 0, 0, 0, err, sizeof err), 0); /* 0 is valid */
}

Test(settlement_totals, credit_overflow)
{
    struct settlement_totals t = totals();
    cr_assert_eq(settlement_totals_add_credit(&t, INT64_MIN, 0, err, sizeof err), 0);
    REJECTS(settlement_totals_add_credit(&t, -1, 1000, err, sizeof err), "amount_overflow");
    cr_assert_eq(t.credit_lines, 1);
    cr_assert_eq(t.nvat, 1);
}

Test(settlement_totals, too_many_rates)
{
    struct settlement_totals t = totals();
    for (int i = 0; i < SETTLEMENT_MAX_VAT_RATES; i++)
        cr_assert_eq(settlement_totals_add_event(&t, 1, 1, 0, 100 * i, err, sizeof err), 0);
    REJECTS(settlement_totals_add_event(&t, 1, 1, 0, 9999, err, sizeof err), "too_many_vat_rates");
    REJECTS(settlement_totals_add_credit(&t, -1, 9999, err, sizeof err), "too_many_vat_rates");
    /* An existing rate still works. */
    cr_assert_eq(settlement_totals_add_event(&t, 1, 1, 0, 100, err, sizeof err), 0);
    cr_assert_eq(t.nvat, SETTLEMENT_MAX_VAT_RATES);
}

Test(settlement_due, dates)
{
    day_t d;
    cr_assert_eq(settlement_due_date(D("2025-02-20"), 14, &d, err, sizeof err), 0);
    cr_assert_eq(d, D("2025-03-06")); /* over the end of February */
    cr_assert_eq(settlement_due_date(D("2024-02-20"), 14, &d, err, sizeof err), 0);
    cr_assert_eq(d, D("2024-03-05")); /* leap year */
    cr_assert_eq(settlement_due_date(D("2025-12-25"), 14, &d, err, sizeof err), 0);
    cr_assert_eq(d, D("2026-01-08"));
    cr_assert_eq(settlement_due_date(D("2025-12-25"), 0, &d, err, sizeof err), 0);
    cr_assert_eq(d, D("2025-12-25"));
    REJECTS(settlement_due_date(D("2025-12-25"), -1, &d, err, sizeof err), "invalid_due_days");
    REJECTS(settlement_due_date(D("2025-12-25"), 366, &d, err, sizeof err), "invalid_due_days");
}

Test(settlement_period, must_be_past)
{
    day_t f = 0, l = 0;
    cr_assert_eq(settlement_period_check("2025-02", D("2025-03-01"), &f, &l, err, sizeof err), 0);
    cr_assert_eq(f, D("2025-02-01"));
    cr_assert_eq(l, D("2025-02-28"));
    cr_assert_eq(settlement_period_check("2024-02", D("2025-03-01"), &f, &l, err, sizeof err), 0);
    cr_assert_eq(l, D("2024-02-29"));
    cr_assert_eq(settlement_period_check("2024-12", D("2025-01-01"), &f, &l, err, sizeof err), 0);
    cr_assert_eq(l, D("2024-12-31"));
    REJECTS(settlement_period_check("2025-03", D("2025-03-31"), &f, &l, err, sizeof err),
            "period_not_past");
    REJECTS(settlement_period_check("2025-04", D("2025-03-31"), &f, &l, err, sizeof err),
            "period_not_past");
    REJECTS(settlement_period_check("2026-01", D("2025-03-31"), &f, &l, err, sizeof err),
            "period_not_past");
    REJECTS(settlement_period_check("2025-3", D("2025-05-01"), &f, &l, err, sizeof err),
            "invalid_period");
    REJECTS(settlement_period_check("2025-13", D("2026-05-01"), &f, &l, err, sizeof err),
            "invalid_period");
    REJECTS(settlement_period_check(NULL, D("2026-05-01"), &f, &l, err, sizeof err),
            "invalid_period");
}

Test(settlement_period, nightly_batch)
{
    int y = 0, m = 0;
    cr_assert(settlement_batch_period(D("2025-03-05"), 5, &y, &m));
    cr_assert_eq(y, 2025);
    cr_assert_eq(m, 2);
    cr_assert(settlement_batch_period(D("2025-03-31"), 5, &y, &m)); /* still due later */
    cr_assert_not(settlement_batch_period(D("2025-03-04"), 5, &y, &m));
    cr_assert(settlement_batch_period(D("2025-01-28"), 28, &y, &m));
    cr_assert_eq(y, 2024);
    cr_assert_eq(m, 12);
    cr_assert(settlement_batch_period(D("2025-01-01"), 1, &y, &m));
    cr_assert_not(settlement_batch_period(D("2025-01-31"), 0, &y, &m));
    cr_assert_not(settlement_batch_period(D("2025-01-31"), 29, &y, &m));
}

Test(settlement_state, transitions)
{
    enum settlement_state n = (enum settlement_state)9;
    cr_assert_eq(settlement_transition(SETTLEMENT_DRAFT, SETTLEMENT_CONFIRM, &n, err, sizeof err),
                 0);
    cr_assert_eq(n, SETTLEMENT_CONFIRMED);
    cr_assert_eq(
        settlement_transition(SETTLEMENT_CONFIRMED, SETTLEMENT_MARK_PAID, &n, err, sizeof err), 0);
    cr_assert_eq(n, SETTLEMENT_PAID);
    REJECTS(settlement_transition(SETTLEMENT_CONFIRMED, SETTLEMENT_CONFIRM, &n, err, sizeof err),
            "settlement_not_draft");
    REJECTS(settlement_transition(SETTLEMENT_PAID, SETTLEMENT_CONFIRM, &n, err, sizeof err),
            "settlement_not_draft");
    REJECTS(settlement_transition(SETTLEMENT_DRAFT, SETTLEMENT_MARK_PAID, &n, err, sizeof err),
            "settlement_not_confirmed");
    REJECTS(settlement_transition(SETTLEMENT_PAID, SETTLEMENT_MARK_PAID, &n, err, sizeof err),
            "settlement_not_confirmed");
    REJECTS(settlement_transition(SETTLEMENT_DRAFT, (enum settlement_action)5, &n, err, sizeof err),
            "invalid_action");
    cr_assert_eq(n, SETTLEMENT_PAID);
}

Test(settlement_state, names)
{
    EXPECT_STATE_NAMES(enum settlement_state, settlement_state_parse, settlement_state_name,
                       "draft", "confirmed", "paid");
    enum settlement_state s;
    cr_assert_eq(settlement_state_parse("Draft", &s), -1);
    cr_assert_eq(settlement_state_parse(NULL, &s), -1);
    cr_assert_str_eq(settlement_state_name((enum settlement_state)3), "?");
}
