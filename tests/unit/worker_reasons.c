/* Unit tests of workers/reasons.c: a constraint violation read as a domain
 * sentence, never the database's words. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../workers/reasons.h"

static const char *fields(const void *arg, const char *field)
{
    (void)arg;
    if (strcmp(field, "business_id") == 0)
        return "1234560-4";
    if (strcmp(field, "invoice_prefix") == 0)
        return "ESPOO";
    if (strcmp(field, "id") == 0)
        return "0b7c1c52-5f7e-4c4e-9d4e-3f2c1f0e9a11";
    return NULL;
}

static void expect_clean(const char *r)
{
    const char *bad[] = {"postgres", "ERROR", "constraint", "DETAIL", "duplicate key",
                         "Key (",    "_key",  "_check",     "_fkey",  "violates"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_null(strstr(r, bad[i]), "'%s' in \"%s\"", bad[i], r);
}

Test(reasons, duplicate_organiser_business_id_names_the_value_not_the_owner)
{
    struct violation v = {"23505", "organisers", "organisers_business_id_key"};
    char r[512];
    reason_for_violation(&v, "conflict", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "duplicate_business_id: business id 1234560-4 already belongs to another "
                        "organiser");
}

Test(reasons, duplicate_invoice_prefix)
{
    struct violation v = {"23505", "organisers", "organisers_invoice_prefix_key"};
    char r[512];
    reason_for_violation(&v, "conflict", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "duplicate_invoice_prefix: invoice prefix ESPOO is already used by "
                        "another organiser");
}

Test(reasons, unknown_constraints_get_a_sentence_by_kind)
{
    char r[512];
    struct violation u = {"23505", "widgets", "widgets_business_id_key"};
    reason_for_violation(&u, "conflict", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "conflict: business_id 1234560-4 is already in use");
    struct violation c = {"23514", "widgets", "widgets_colour_check"};
    reason_for_violation(&c, "invalid_widget", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "invalid_widget: colour is outside the values allowed");
    struct violation f = {"23503", "widgets", "widgets_owner_fkey"};
    reason_for_violation(&f, "invalid_widget", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "invalid_widget: owner names something that does not exist");
    struct violation x = {"23P01", "widgets", "widgets_no_overlap"};
    reason_for_violation(&x, "invalid_widget", fields, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "invalid_widget: the command overlaps a period already recorded");
    struct violation n = {"23514", "", ""};
    reason_for_violation(&n, "invalid_widget", NULL, NULL, r, sizeof(r));
    cr_expect_str_eq(r, "invalid_widget: the command would break a rule of the register");
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
