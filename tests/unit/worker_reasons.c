/* Unit tests of workers/reasons.c: a constraint violation read as a domain
 * sentence, never the database's words. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../workers/reasons.h"

static const char *fields(const void *arg, const char *field)
{
    (void)arg;
    static const char *const values[][2] = {
        {"business_id", "1234560-4"},
        {"invoice_prefix", "ESPOO"},
        {"id", "0b7c1c52-5f7e-4c4e-9d4e-3f2c1f0e9a11"},
    };
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        if (strcmp(field, values[i][0]) == 0)
            return values[i][1];
    return NULL;
}

static void expect_clean(const char *r)
{
    const char *bad[] = {"postgres", "ERROR", "constraint", "DETAIL", "duplicate key",
                         "Key (",    "_key",  "_check",     "_fkey",  "violates"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_null(strstr(r, bad[i]), "'%s' in \"%s\"", bad[i], r);
}

/* The sentence reason_for_violation writes for one violation. */
static void expect_reason(struct violation v, const char *code, reason_field_fn field,
                          const char *want)
{
    char r[512];
    reason_for_violation(&v, code, field, NULL, r, sizeof(r));
    cr_expect_str_eq(r, want);
}

Test(reasons, duplicate_organiser_business_id_names_the_value_not_the_owner)
{
    expect_reason((struct violation){"23505", "organisers", "organisers_business_id_key"},
                  "conflict", fields,
                  "duplicate_business_id: business id 1234560-4 already belongs to another "
                  "organiser");
}

Test(reasons, duplicate_invoice_prefix)
{
    expect_reason((struct violation){"23505", "organisers", "organisers_invoice_prefix_key"},
                  "conflict", fields,
                  "duplicate_invoice_prefix: invoice prefix ESPOO is already used by "
                  "another organiser");
}

Test(reasons, unknown_constraints_get_a_sentence_by_kind)
{
    static const struct {
        const char *sqlstate, *constraint, *code, *want;
    } cases[] = {
        {"23505", "widgets_business_id_key", "conflict",
         "conflict: business_id 1234560-4 is already in use"},
        {"23514", "widgets_colour_check", "invalid_widget",
         "invalid_widget: colour is outside the values allowed"},
        {"23503", "widgets_owner_fkey", "invalid_widget",
         "invalid_widget: owner names something that does not exist"},
        {"23P01", "widgets_no_overlap", "invalid_widget",
         "invalid_widget: the command overlaps a period already recorded"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_reason((struct violation){cases[i].sqlstate, "widgets", cases[i].constraint},
                      cases[i].code, fields, cases[i].want);
    expect_reason((struct violation){"23514", "", ""}, "invalid_widget", NULL,
                  "invalid_widget: the command would break a rule of the register");
}

Test(reasons, every_known_sentence_is_free_of_database_words)
{
    char r[512];
    for (size_t i = 0; i < reason_known_count(); i++) {
        struct violation v = {"23505", "t", reason_known_name(i)};
        reason_for_violation(&v, "code", fields, NULL, r, sizeof(r));
        expect_clean(r);
        cr_expect(strchr(r, '{') == NULL, "unfilled placeholder in \"%s\"", r);
    }
}

Test(reasons, a_small_buffer_is_cut_not_overrun)
{
    struct violation v = {"23505", "organisers", "organisers_business_id_key"};
    char r[16];
    reason_for_violation(&v, "conflict", fields, NULL, r, sizeof(r));
    cr_expect_eq(strlen(r), 15);
}
