#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ids.h"

static unsigned hexval(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

Test(uuid7, canonical_lowercase_format)
{
    char id[UUID_STR_LEN];
    ids_uuid7(id);
    cr_assert_eq(strlen(id), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(id[i], '-');
        else
            cr_assert((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'), "%s", id);
    }
    cr_assert(ids_uuid_valid(id));
}

Test(uuid7, version_and_variant_bits)
{
    for (int n = 0; n < 1000; n++) {
        char id[UUID_STR_LEN];
        ids_uuid7(id);
        cr_assert_eq(id[14], '7', "version nibble: %s", id);
        /* Variant 10xx: the first hex digit of the 4th group is 8, 9, a or b. */
        cr_assert(strchr("89ab", id[19]) != NULL, "variant: %s", id);
    }
}

Test(uuid7, timestamp_is_unix_ms_now)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t before = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    char id[UUID_STR_LEN];
    ids_uuid7(id);
    uint64_t ms = 0;
    for (int i = 0; i < 13; i++)
        if (id[i] != '-')
            ms = ms << 4 | hexval(id[i]);
    /* Borrowed milliseconds after earlier tests may put it slightly ahead. */
    cr_assert(ms + 5 >= before && ms <= before + 1000, "ms %llu, now %llu", (unsigned long long)ms,
              (unsigned long long)before);
}

Test(uuid7, ten_thousand_strictly_increasing)
{
    enum { N = 10000 };
    char(*ids)[UUID_STR_LEN] = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++)
        ids_uuid7(ids[i]);
    for (int i = 1; i < N; i++)
        cr_assert_lt(strcmp(ids[i - 1], ids[i]), 0, "%s !< %s", ids[i - 1], ids[i]);
    free(ids);
}

Test(uuid7, counter_overflow_within_one_ms_stays_increasing)
{
    /* 100 000 ids in a tight loop take a few ms: many ids per millisecond,
     * so the counter path (and likely its overflow into the next ms) runs. */
    char prev[UUID_STR_LEN], cur[UUID_STR_LEN];
    ids_uuid7(prev);
    for (int i = 0; i < 100000; i++) {
        ids_uuid7(cur);
        cr_assert_lt(strcmp(prev, cur), 0, "%s !< %s", prev, cur);
        memcpy(prev, cur, sizeof cur);
    }
}

enum { THREADS = 4, PER_THREAD = 5000 };
static char thread_ids[THREADS][PER_THREAD][UUID_STR_LEN];

static void *gen(void *arg)
{
    char(*mine)[UUID_STR_LEN] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        ids_uuid7(mine[i]);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(uuid7, unique_and_per_thread_increasing_across_threads)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, gen, thread_ids[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < THREADS; i++)
        for (int j = 1; j < PER_THREAD; j++)
            cr_assert_lt(strcmp(thread_ids[i][j - 1], thread_ids[i][j]), 0);
    qsort(thread_ids, THREADS * PER_THREAD, UUID_STR_LEN, cmp);
    char(*all)[UUID_STR_LEN] = (void *)thread_ids;
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        cr_assert_neq(strcmp(all[i - 1], all[i]), 0, "duplicate %s", all[i]);
}

Test(uuid_valid, good)
{
    cr_assert(ids_uuid_valid("0190a6e2-7c3b-7d4e-8f12-3456789abcde"));
    cr_assert(ids_uuid_valid("0190A6E2-7C3B-7D4E-8F12-3456789ABCDE"));
    cr_assert(ids_uuid_valid("0190a6E2-7c3B-7d4e-8F12-3456789abcde")); /* mixed case */
    cr_assert(ids_uuid_valid("123e4567-e89b-42d3-a456-426614174000")); /* v4 */
    cr_assert(ids_uuid_valid("00000000-0000-0000-0000-000000000000"));
    cr_assert(ids_uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

Test(ids_lower, as_postgresql_writes_a_uuid)
{
    char out[UUID_STR_LEN];
    ids_lower(out, "0190A6E2-7C3B-7D4E-8F12-3456789ABCDE");
    cr_assert_str_eq(out, "0190a6e2-7c3b-7d4e-8f12-3456789abcde");
    ids_lower(out, "0190a6e2-7c3b-7d4e-8f12-3456789abcde");
    cr_assert_str_eq(out, "0190a6e2-7c3b-7d4e-8f12-3456789abcde");
    ids_lower(out, "0190a6e2-7c3b-7d4e-8f12-3456789abcde-and-more");
    cr_assert_str_eq(out, "0190a6e2-7c3b-7d4e-8f12-3456789abcde", "cut at 36 characters");
}

Test(uuid_valid, bad)
{
    const char *bad[] = {
        "",
        "0190a6e2-7c3b-7d4e-8f12-3456789abcd",   /* 35 */
        "0190a6e2-7c3b-7d4e-8f12-3456789abcdef", /* 37 */
        "0190a6e27c3b7d4e8f123456789abcde",      /* no hyphens */
        "0190a6e2-7c3b-7d4e-8f123-456789abcde",  /* hyphen moved */
        "0190a6e2-7c3b-7d4e-8f12-3456789abcdg",  /* g */
        "{0190a6e2-7c3b-7d4e-8f12-3456789abcde}",
        " 0190a6e2-7c3b-7d4e-8f12-3456789abcde",
        "0190a6e2-7c3b-7d4e-8f12-3456789abcde ",
        "0190a6e2-7c3b-7d4e-8f12-3456789abcde\n",
        "urn:uuid:0190a6e2-7c3b-7d4e-8f12-3456789abcde",
        "0190a6e2_7c3b_7d4e_8f12_3456789abcde",
        "0190a6e2-7c3b-7d4e-8f12",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ids_uuid_valid(bad[i]), "accepted: '%s'", bad[i]);
    cr_assert_not(ids_uuid_valid(NULL));
}

Test(ids_list, builds_a_postgresql_array_literal_and_refuses_what_is_not_a_uuid)
{
    struct ids_list l;
    ids_list_init(&l);
    cr_expect_str_eq(l.text, "{}");
    cr_expect_eq(ids_list_add(&l, "0190a0b0-0000-7000-8000-00000000000a"), 0);
    cr_expect_str_eq(l.text, "{0190a0b0-0000-7000-8000-00000000000a}");
    cr_expect_eq(ids_list_add(&l, "0190a0b0-0000-7000-8000-00000000000a}"), -1);
    cr_expect_eq(ids_list_add(&l, "x\"},{"), -1);
    cr_expect_eq(ids_list_add(&l, NULL), -1);
    cr_expect_eq(ids_list_add(&l, "0190A0B0-0000-7000-8000-00000000000B"), 0);
    cr_expect_str_eq(l.text, "{0190a0b0-0000-7000-8000-00000000000a,"
                             "0190A0B0-0000-7000-8000-00000000000B}");
    cr_expect_eq(l.n, 2);
    ids_list_clear(&l);
    cr_expect_str_eq(l.text, "{}");
    cr_expect_eq(l.n, 0);
    /* grows past its first allocation many times over */
    char id[UUID_STR_LEN];
    for (int i = 0; i < 5000; i++) {
        ids_uuid7(id);
        cr_assert_eq(ids_list_add(&l, id), 0);
    }
    cr_expect_eq(l.n, 5000);
    cr_expect_eq(l.len, strlen(l.text));
    cr_expect_eq(l.len, 2 + 5000 * 36 + 4999);
    cr_expect_eq(l.text[0], '{');
    cr_expect_eq(l.text[l.len - 1], '}');
    ids_list_free(&l);
    cr_expect_null(l.text);
}
