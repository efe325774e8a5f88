/* Integration tests of lib/store/rds_items.c on the stack's Redis: an
 * itemised document written whole and patched reads as the one text it
 * stands for, and each form an earlier release or a stale marker leaves at
 * the key is handled as store/rds_items.h says. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rds_test.h"
#include "store/rds.h"
#include "store/rds_items.h"

/* The document at key must read as want at version ver. */
static void expect_doc(struct rds *r, const char *key, const char *want, long long ver)
{
    char *doc = NULL, err[256] = "";
    long long v = -1;
    cr_assert_eq(rds_get_versioned(r, key, &doc, &v, err, sizeof(err)), RDS_FOUND, "%s: %s", key,
                 err);
    cr_expect_str_eq(doc, want);
    cr_expect_eq(v, ver);
    free(doc);
}

static int put(struct rds *r, const char *key, long long ver, const struct rds_item *it, size_t n)
{
    struct rds_itemised d = {key, 0, ver, "{\"e\":[", "]}", n, it};
    bool ok = false;
    char err[256] = "";
    cr_assert_eq(rds_items_put_many(r, &d, 1, &ok, err, sizeof(err)), 0, "%s", err);
    return ok;
}

static int patch(struct rds *r, const char *key, long long from, long long ver,
                 const struct rds_item *it, size_t n)
{
    struct rds_itemised d = {key, from, ver, "{\"e\":[", "]}", n, it};
    bool ok = false;
    char err[256] = "";
    cr_assert_eq(rds_items_patch_many(r, &d, 1, &ok, err, sizeof(err)), 0, "%s", err);
    return ok;
}

static long long field_p(struct rds *r, const char *key)
{
    redisReply *rep = rds_command(r, "HGET %s p", key);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    long long p = atoll(rep->str);
    freeReplyObject(rep);
    return p;
}

Test(redis_items, written_whole_then_patched_reads_as_one_ordered_text)
{
    struct rds *r = st_redis_connect();
    char *key = st_unique("psop:test:items");
    struct rds_item two[] = {{"b", "2026-11-05", "\"b\""}, {"a", "2026-11-02", "\"a\""}};
    cr_assert_eq(put(r, key, 3, two, 2), 1);
    expect_doc(r, key, "{\"e\":[\"a\",\"b\"]}", 3);
    cr_expect_eq(put(r, key, 3, two, 1), 0, "the same version is not written again");
    cr_expect_eq(put(r, key, 2, two, 1), 0, "an older version is refused");

    /* a new item between, and b replaced with a later date */
    struct rds_item ch[] = {{"c", "2026-11-03", "\"c\""}, {"b", "2026-11-09", "\"b2\""}};
    cr_assert_eq(patch(r, key, 3, 4, ch, 2), 1);
    expect_doc(r, key, "{\"e\":[\"a\",\"c\",\"b2\"]}", 4);
    cr_expect_eq(field_p(r, key), 1);
    /* a patch from a version the key no longer has (a replay, or a batch
     * that started elsewhere) is refused and changes nothing */
    struct rds_item late[] = {{"a", "2026-11-01", "\"a-late\""}};
    cr_expect_eq(patch(r, key, 3, 5, late, 1), 0);
    cr_expect_eq(patch(r, key, 5, 6, late, 1), 0);
    expect_doc(r, key, "{\"e\":[\"a\",\"c\",\"b2\"]}", 4);

    /* written whole again: the items it no longer has are gone */
    struct rds_item one[] = {{"z", "2026-12-01", "\"z\""}};
    cr_assert_eq(put(r, key, 5, one, 1), 1);
    expect_doc(r, key, "{\"e\":[\"z\"]}", 5);
    cr_expect_eq(field_p(r, key), 0);
    cr_assert_eq(put(r, key, 6, NULL, 0), 1);
    expect_doc(r, key, "{\"e\":[]}", 6);
    st_redis_del(r, key);
    free(key);
    rds_free(r);
}

Test(redis_items, an_earlier_releases_whole_form_and_stale_markers_are_kept_apart)
{
    struct rds *r = st_redis_connect();
    char *key = st_unique("psop:test:items");
    char err[256] = "", *doc = NULL;
    long long v = 0;
    struct rds_item a[] = {{"a", "1", "\"a\""}};
    cr_assert_eq(put(r, key, 3, a, 1), 1);

    /* the earlier release writes its whole form at a newer version: read as
     * that, and a patch refuses it (written whole again by the caller) */
    cr_assert_eq(rds_put_versioned(r, key, 4, "{\"e\":[\"old\"]}", 0, err, sizeof(err)), 1, "%s",
                 err);
    expect_doc(r, key, "{\"e\":[\"old\"]}", 4);
    cr_expect_eq(patch(r, key, 4, 5, a, 1), 0);
    cr_expect_eq(put(r, key, 4, a, 1), 0, "the same version in either form stays");
    cr_assert_eq(put(r, key, 5, a, 1), 1);
    expect_doc(r, key, "{\"e\":[\"a\"]}", 5);
    /* ... and its whole write of the same version leaves the itemised one */
    cr_expect_eq(rds_put_versioned(r, key, 5, "{\"e\":[]}", 0, err, sizeof(err)), 0);
    expect_doc(r, key, "{\"e\":[\"a\"]}", 5);

    /* a stale marker over the itemised form reads stale, refuses patches,
     * and the whole write of its version replaces it */
    cr_assert_eq(rds_put_versioned(r, key, 6, "", 0, err, sizeof(err)), 1, "%s", err);
    cr_expect_eq(rds_get_versioned(r, key, &doc, &v, err, sizeof(err)), RDS_STALE);
    cr_expect_eq(v, 6);
    cr_expect_eq(patch(r, key, 6, 7, a, 1), 0);
    cr_assert_eq(put(r, key, 6, a, 1), 1);
    expect_doc(r, key, "{\"e\":[\"a\"]}", 6);
    st_redis_del(r, key);
    free(key);
    rds_free(r);
}

Test(redis_items, a_server_that_lost_its_scripts_and_many_documents_at_once)
{
    struct rds *r = st_redis_connect();
    enum { N = 300 }; /* more than one pipeline chunk */
    char *keys[N];
    struct rds_itemised d[N];
    struct rds_item it[] = {{"x", "1", "{\"n\":1}"}};
    bool ok[N];
    char err[256] = "";
    for (int i = 0; i < N; i++) {
        keys[i] = st_unique("psop:test:items");
        d[i] = (struct rds_itemised){keys[i], 0, 1, "[", "]", 1, it};
    }
    cr_assert_eq(rds_items_put_many(r, d, N, ok, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < N; i++)
        cr_assert(ok[i], "key %d not written", i);
    redisReply *flush = rds_command(r, "SCRIPT FLUSH");
    cr_assert_not_null(flush);
    freeReplyObject(flush);
    for (int i = 0; i < N; i++)
        d[i] = (struct rds_itemised){keys[i], 1, 2, "[", "]", 1, it};
    cr_assert_eq(rds_items_patch_many(r, d, N, ok, err, sizeof(err)), 0, "%s", err);
    for (int i = 0; i < N; i++)
        cr_assert(ok[i], "key %d not patched after SCRIPT FLUSH", i);
    expect_doc(r, keys[N - 1], "[{\"n\":1}]", 2);
    for (int i = 0; i < N; i++) {
        st_redis_del(r, keys[i]);
        free(keys[i]);
    }
    rds_free(r);
}
