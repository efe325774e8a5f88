/* lib/store/rds_items.c, its pure half: the text an itemised document is
 * read as (items in sort key order between head and tail), and which form
 * of a hash (whole, stale marker, itemised, half-written) a read answers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "store/rds_items.h"

static char *text_of(const char *const *values, size_t n)
{
    size_t lens[8] = {0};
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(values[i]);
    return rds_items_text("{\"e\":[", 6, "]}", 2, values, lens, n);
}

Test(rds_items, items_are_joined_in_sort_key_order_between_head_and_tail)
{
    const char *v[] = {"2026-11-05 b\x1f{\"id\":3}", "2026-11-02 z\x1f{\"id\":2}",
                       "2026-11-02 a\x1f{\"id\":1}"};
    char *s = text_of(v, 3);
    cr_assert_str_eq(s, "{\"e\":[{\"id\":1},{\"id\":2},{\"id\":3}]}");
    free(s);
}

Test(rds_items, a_shorter_sort_key_that_is_a_prefix_comes_first)
{
    const char *v[] = {"ab\x1f"
                       "2",
                       "a\x1f"
                       "1"};
    char *s = text_of(v, 2);
    cr_assert_str_eq(s, "{\"e\":[1,2]}");
    free(s);
}

Test(rds_items, no_items_is_an_empty_array_and_a_value_without_separator_is_refused)
{
    char *s = text_of(NULL, 0);
    cr_assert_str_eq(s, "{\"e\":[]}");
    free(s);
    const char *bad[] = {"a\x1f"
                         "1",
                         "no separator"};
    cr_assert_null(text_of(bad, 2));
}

/* A fake HGETALL reply of the field, value pairs given. */
struct fake {
    redisReply top, el[16];
    redisReply *ptr[16];
};

static const redisReply *hash(struct fake *f, const char *const *kv, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = n;
    f->top.element = f->ptr;
    for (size_t i = 0; i < n; i++) {
        f->el[i].type = REDIS_REPLY_STRING;
        f->el[i].str = (char *)kv[i];
        f->el[i].len = strlen(kv[i]);
        f->ptr[i] = &f->el[i];
    }
    return &f->top;
}

Test(rds_items, a_hash_is_read_as_its_whole_document_when_it_has_one)
{
    struct fake f;
    char *doc = NULL, err[128] = "";
    long long v = 0;
    /* whole form beside items left by an earlier itemised write: "d" wins */
    const char *whole[] = {"v",
                           "7",
                           "d",
                           "{\"x\":1}",
                           "h",
                           "[",
                           "t",
                           "]",
                           "i:a",
                           "k\x1f"
                           "1"};
    cr_assert_eq(rds_doc_of_hash(hash(&f, whole, 10), &doc, &v, err, sizeof(err)), RDS_FOUND);
    cr_expect_str_eq(doc, "{\"x\":1}");
    cr_expect_eq(v, 7);
    free(doc);
    const char *stale[] = {"v", "8", "d", "", "h", "[", "t", "]"};
    cr_expect_eq(rds_doc_of_hash(hash(&f, stale, 8), &doc, &v, err, sizeof(err)), RDS_STALE);
    cr_expect_eq(v, 8);
    cr_expect_null(doc);
}

Test(rds_items, an_itemised_hash_is_read_as_its_text_and_a_half_written_one_as_absent)
{
    struct fake f;
    char *doc = NULL, err[128] = "";
    long long v = 0;
    const char *items[] = {"v",
                           "9",
                           "h",
                           "[",
                           "i:b",
                           "2\x1f"
                           "\"b\"",
                           "t",
                           "]",
                           "p",
                           "3",
                           "i:a",
                           "1\x1f"
                           "\"a\""};
    cr_assert_eq(rds_doc_of_hash(hash(&f, items, 12), &doc, &v, err, sizeof(err)), RDS_FOUND);
    cr_expect_str_eq(doc, "[\"a\",\"b\"]");
    cr_expect_eq(v, 9);
    free(doc);
    const char *no_tail[] = {"v", "9", "h", "["};
    cr_expect_eq(rds_doc_of_hash(hash(&f, no_tail, 4), &doc, &v, err, sizeof(err)), RDS_ABSENT);
    cr_expect_eq(rds_doc_of_hash(hash(&f, NULL, 0), &doc, &v, err, sizeof(err)), RDS_ABSENT);
    const char *bad_v[] = {"v", "nine", "d", "{}"};
    cr_expect_eq(rds_doc_of_hash(hash(&f, bad_v, 4), &doc, &v, err, sizeof(err)), RDS_ERROR);
    cr_expect(strstr(err, "not an integer") != NULL, "%s", err);
}
