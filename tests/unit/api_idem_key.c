/*
 * Unit: api/idem_key.c and api/principal.c - the ids a keyed request gets
 * and who a principal is.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "idem_key.h"
#include "principal.h"

#define FP "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ORG_A "0190a0b0-0000-7000-8000-00000000000a"
#define ORG_B "0190a0b0-0000-7000-8000-00000000000b"

static struct actor organiser(const char *sub, const char *org)
{
    struct actor a;
    memset(&a, 0, sizeof(a));
    a.role = ROLE_ORGANISER;
    snprintf(a.sub, sizeof(a.sub), "%s", sub);
    snprintf(a.org, sizeof(a.org), "%s", org);
    return a;
}

static void derive(const struct actor *a, const char *key, const char *fp, size_t i,
                   enum idem_id_kind k, char out[UUID_STR_LEN])
{
    char p[PRINCIPAL_MAX];
    principal_text(a, p);
    idem_derive_uuid(p, key, fp, i, k, out);
}

Test(idem_key, a_retry_gets_the_same_ids)
{
    struct actor a = organiser("alice", ORG_A);
    char x[UUID_STR_LEN], y[UUID_STR_LEN];
    derive(&a, "k1", FP, 0, IDEM_ID_COMMAND, x);
    derive(&a, "k1", FP, 0, IDEM_ID_COMMAND, y);
    cr_expect_str_eq(x, y);
    cr_expect(ids_uuid_valid(x), "%s", x);
    cr_expect_eq(x[14], '8', "version 8: %s", x);
    cr_expect(strchr("89ab", x[19]) != NULL, "variant: %s", x);
}

Test(idem_key, every_input_changes_the_id)
{
    struct actor a = organiser("alice", ORG_A), b = organiser("alice", ORG_B);
    struct actor c = a;
    c.role = ROLE_ADMIN;
    char base[UUID_STR_LEN], o[UUID_STR_LEN];
    derive(&a, "k1", FP, 0, IDEM_ID_COMMAND, base);
    derive(&b, "k1", FP, 0, IDEM_ID_COMMAND, o);
    cr_expect_str_neq(base, o, "same sub at another organiser");
    derive(&c, "k1", FP, 0, IDEM_ID_COMMAND, o);
    cr_expect_str_neq(base, o, "another role");
    derive(&a, "k2", FP, 0, IDEM_ID_COMMAND, o);
    cr_expect_str_neq(base, o, "another key");
    derive(&a, "k1", "f123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0,
           IDEM_ID_COMMAND, o);
    cr_expect_str_neq(base, o, "another body");
    derive(&a, "k1", FP, 1, IDEM_ID_COMMAND, o);
    cr_expect_str_neq(base, o, "another command of the batch");
    derive(&a, "k1", FP, 0, IDEM_ID_RESOURCE, o);
    cr_expect_str_neq(base, o, "the resource id");
}

Test(idem_key, derived_ids_list)
{
    json_t *ids = idem_derived_ids("p", "k", FP, 3);
    cr_assert_eq(json_array_size(ids), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(ids, i);
        cr_expect(ids_uuid_valid(json_string_value(json_array_get(row, 0))));
        cr_expect(ids_uuid_valid(json_string_value(json_array_get(row, 1))));
    }
    json_decref(ids);
}

Test(principal, text_is_unambiguous)
{
    struct actor a = organiser("a|1:b", ORG_A), b = organiser("a", ORG_A);
    char pa[PRINCIPAL_MAX], pb[PRINCIPAL_MAX];
    principal_text(&a, pa);
    principal_text(&b, pb);
    cr_expect_str_neq(pa, pb);
    struct actor c;
    memset(&c, 0, sizeof(c));
    c.role = ROLE_CLIENT;
    snprintf(c.sub, sizeof(c.sub), "s");
    snprintf(c.client, sizeof(c.client), "x");
    struct actor d = c;
    d.client[0] = '\0';
    snprintf(d.org, sizeof(d.org), "x");
    principal_text(&c, pa);
    principal_text(&d, pb);
    cr_expect_str_neq(pa, pb, "client x vs org x");
}

Test(principal, matches_the_whole_principal)
{
    struct actor a = organiser("alice", ORG_A), b = organiser("alice", ORG_B);
    json_t *doc = actor_to_json(&a);
    cr_expect(principal_matches(doc, &a));
    cr_expect_not(principal_matches(doc, &b), "same sub, other organiser");
    struct actor c = a;
    c.role = ROLE_ADMIN;
    c.org[0] = '\0';
    cr_expect_not(principal_matches(doc, &c));
    json_t *legacy = json_pack("{s:s, s:s}", "sub", "alice", "role", "organiser");
    cr_expect_not(principal_matches(legacy, &a), "a row without org is not org A's");
    cr_expect_not(principal_matches(NULL, &a));
    json_decref(legacy);
    json_decref(doc);
}
