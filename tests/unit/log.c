#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"

/* Formats one line as log_line would and returns it parsed; fails the test
 * unless it is one JSON object on one line within LOG_LINE_MAX. */
static json_t *line_of(char *raw, size_t *rawlen, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    size_t n = log_format(raw, LOG_LVL_INFO, msg, ap);
    va_end(ap);
    if (rawlen)
        *rawlen = n;
    cr_assert(n > 2 && n <= LOG_LINE_MAX, "line length %zu", n);
    cr_assert_eq(raw[n - 1], '\n');
    cr_assert_null(memchr(raw, '\n', n - 1), "a raw newline inside the line");
    json_error_t e;
    json_t *j = json_loadb(raw, n - 1, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "not JSON (%s at %d): %.*s", e.text, e.position, (int)n, raw);
    cr_assert(json_is_object(j));
    return j;
}

static const char *str(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

static bool truncated(json_t *j)
{
    return json_is_true(json_object_get(j, "log_truncated"));
}

static bool ends_with_ellipsis(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && memcmp(s + n - 3, "\xe2\x80\xa6", 3) == 0;
}

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(log, fields_round_trip)
{
    char raw[LOG_LINE_MAX];
    log_init("psop-test", LOG_LVL_DEBUG);
    json_t *j = line_of(raw, NULL, "applied", "command_id", "c-1", "reason", NULL, NULL);
    cr_expect_str_eq(str(j, "level"), "info");
    cr_expect_str_eq(str(j, "svc"), "psop-test");
    cr_expect_str_eq(str(j, "msg"), "applied");
    cr_expect_str_eq(str(j, "command_id"), "c-1");
    cr_expect(json_is_null(json_object_get(j, "reason")));
    cr_expect_not(truncated(j));
    cr_expect_eq(strlen(str(j, "ts")), 24, "ts %s", str(j, "ts"));
    json_decref(j);
}

Test(log, every_ascii_character_round_trips)
{
    char in[128], raw[LOG_LINE_MAX];
    for (int c = 1; c < 128; c++)
        in[c - 1] = (char)c;
    in[127] = '\0';
    json_t *j = line_of(raw, NULL, in, "k\"\\\n", in, NULL);
    cr_expect_str_eq(str(j, "msg"), in);
    cr_expect_str_eq(str(j, "k\"\\\n"), in);
    cr_expect_not(truncated(j));
    json_decref(j);
}

Test(log, control_characters_are_escaped_not_copied)
{
    char raw[LOG_LINE_MAX];
    size_t n;
    json_t *j = line_of(raw, &n, "m", "v",
                        "a\x01\x1b\x7f"
                        "b\xc2\x85"
                        "c",
                        NULL);
    for (size_t i = 0; i < n - 1; i++)
        cr_expect((unsigned char)raw[i] >= 0x20 && raw[i] != 0x7f, "raw control byte at %zu", i);
    cr_expect_not_null(strstr(raw, "a\\u0001\\u001b\\u007fb\\u0085c"), "%.*s", (int)n, raw);
    cr_expect_str_eq(str(j, "v"), "a\x01\x1b\x7f"
                                  "b\xc2\x85"
                                  "c");
    json_decref(j);
}

Test(log, valid_utf8_is_kept_invalid_becomes_replacement_characters)
{
    char raw[LOG_LINE_MAX];
    const char *good = "ä ö € \xf0\x9f\x98\x80 \xe2\x80\xa8";
    /* a lone continuation byte, an overlong '/', a surrogate, above U+10FFFF,
     * a sequence cut by the end of the string, 0xff */
    const char *bad = "a\x80"
                      "b\xc0\xaf"
                      "c\xed\xa0\x80"
                      "d\xf4\x90\x80\x80"
                      "e\xff"
                      "f\xe2\x82";
    json_t *j = line_of(raw, NULL, "m", "good", good, "bad", bad, "\xff", "key", NULL);
    cr_expect_str_eq(str(j, "good"), good);
    const char *b = str(j, "bad");
    cr_assert_not_null(b);
    cr_expect(strncmp(b,
                      "a\xef\xbf\xbd"
                      "b\xef\xbf\xbd\xef\xbf\xbd"
                      "c",
                      11) == 0,
              "%s", b);
    cr_expect_null(strchr(b, '\xff'));
    cr_expect_str_eq(str(j, "\xef\xbf\xbd"), "key");
    json_decref(j);
}

Test(log, a_long_value_is_cut_cleanly_and_later_fields_kept)
{
    char raw[LOG_LINE_MAX];
    char *big = repeat('x', 10000);
    json_t *j = line_of(raw, NULL, "m", "body", big, "command_id", "c-2", NULL);
    const char *b = str(j, "body");
    cr_assert_not_null(b);
    cr_expect(ends_with_ellipsis(b));
    cr_expect(strlen(b) <= LOG_VALUE_MAX + 3, "%zu", strlen(b));
    cr_expect_str_eq(str(j, "command_id"), "c-2");
    cr_expect(truncated(j));
    json_decref(j);
    free(big);
}

Test(log, a_line_over_4k_stays_json)
{
    char raw[LOG_LINE_MAX];
    size_t n;
    char *quotes = repeat('"', 3000), *ctl = repeat('\x01', 3000), *xs = repeat('x', 3000);
    char *msg = repeat('m', 5000);
    json_t *j =
        line_of(raw, &n, msg, "a", quotes, "b", ctl, "c", xs, "d", xs, "e", xs, "f", "end", NULL);
    cr_expect(truncated(j));
    cr_expect(ends_with_ellipsis(str(j, "msg")));
    cr_expect(ends_with_ellipsis(str(j, "a")));
    /* the 6-byte escapes are never cut in the middle: the value only holds \x01 */
    const char *b = str(j, "b");
    cr_assert_not_null(b);
    for (size_t i = 0; i + 3 < strlen(b); i++)
        cr_expect_eq(b[i], '\x01');
    cr_expect_null(json_object_get(j, "f"), "a field that does not fit is left out");
    cr_expect(n > LOG_LINE_MAX - 200, "the line uses its room: %zu", n);
    json_decref(j);
    free(quotes);
    free(ctl);
    free(xs);
    free(msg);
}

Test(log, a_key_that_cannot_fit_is_left_out)
{
    char raw[LOG_LINE_MAX];
    char *key = repeat('k', 5000);
    json_t *j = line_of(raw, NULL, "m", key, "v", "after", "ok", NULL);
    cr_expect_eq(json_object_size(j), 6, "ts level svc msg after log_truncated");
    cr_expect_str_eq(str(j, "after"), "ok");
    cr_expect(truncated(j));
    json_decref(j);
    free(key);
}

/* xorshift64: a fixed sequence, so a failure is reproducible. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static char *random_bytes(uint64_t *s, size_t max)
{
    size_t n = rnd(s) % (max + 1);
    char *p = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(1 + rnd(s) % 255);
    p[n] = '\0';
    return p;
}

Test(log, random_binary_fields_always_give_one_json_line)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 3000; round++) {
        char *v[12];
        size_t max = round % 3 == 0 ? 6000 : round % 3 == 1 ? 300 : 20;
        for (int i = 0; i < 12; i++)
            v[i] = random_bytes(&seed, i % 2 == 0 ? 40 : max);
        /* keys made distinct by a prefix; JSON_REJECT_DUPLICATES checks it */
        char k[6][64];
        for (int i = 0; i < 6; i++)
            snprintf(k[i], sizeof k[i], "%d%.40s", i, v[2 * i]);
        char raw[LOG_LINE_MAX];
        json_t *j = line_of(raw, NULL, v[1], k[0], v[1], k[1], v[3], k[2], v[5], k[3], v[7], k[4],
                            v[9], k[5], round % 5 == 0 ? NULL : v[11], NULL);
        json_decref(j);
        for (int i = 0; i < 12; i++)
            free(v[i]);
    }
}

/* log_line itself: what reaches stderr, and the level filter. */
Test(log, log_line_writes_json_lines_to_stderr)
{
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    int saved = dup(STDERR_FILENO);
    cr_assert(saved >= 0);
    cr_assert(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    log_init("psop-test", LOG_LVL_INFO);
    char *big = repeat('\xff', 9000);
    LOG_DEBUG("dropped", NULL);
    LOG_INFO("one", "v", "x\ny", NULL);
    LOG_WARN("two", "v", big, NULL);
    LOG_ERROR("three\xc3", NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    free(big);

    rewind(tmp);
    char line[2 * LOG_LINE_MAX];
    const char *want[] = {"one", "two", "three\xef\xbf\xbd"};
    int n = 0;
    while (fgets(line, sizeof line, tmp)) {
        cr_assert_lt(n, 3, "one line too many: %s", line);
        cr_expect(strlen(line) <= LOG_LINE_MAX);
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert_not_null(j, "%s: %s", e.text, line);
        cr_expect_str_eq(str(j, "msg"), want[n]);
        json_decref(j);
        n++;
    }
    cr_expect_eq(n, 3);
    fclose(tmp);
}
