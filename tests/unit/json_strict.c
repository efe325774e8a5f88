#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/json_strict.h"
#include "core/xmalloc.h"

static json_t *parse(const char *s, size_t len, char *err, size_t errlen)
{
    return json_strict_parse(s, len, JSON_STRICT_MAX_DEPTH, err, errlen);
}

/* Parses a literal (length from the array, so NUL bytes count). */
#define PARSE_LIT(lit, err) parse((lit), sizeof(lit) - 1, (err), sizeof(err))

static void expect_rejected(const char *s, size_t len, const char *why_part)
{
    char err[256] = "";
    json_t *j = parse(s, len, err, sizeof err);
    cr_expect_null(j, "should be rejected: %.*s", (int)(len > 60 ? 60 : len), s);
    json_decref(j);
    cr_expect(strstr(err, why_part) != NULL, "reason \"%s\" should mention \"%s\"", err, why_part);
}

/* A literal that parses (what says why it should). */
#define EXPECT_ACCEPTED(lit, what)                                                                 \
    do {                                                                                           \
        char err_[256];                                                                            \
        json_t *j_ = PARSE_LIT(lit, err_);                                                         \
        cr_expect_not_null(j_, "%s: %s", what, err_);                                              \
        json_decref(j_);                                                                           \
    } while (0)

/* "[[[...]]]" nested depth deep. */
static char *nested_arrays(size_t depth)
{
    char *s = xmalloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = '\0';
    return s;
}

Test(json_strict, parses_an_object)
{
    char err[256];
    json_t *j = PARSE_LIT("{\"a\": [1, \"x\", null, true], \"b\": {}}", err);
    cr_assert_not_null(j, "%s", err);
    cr_expect(json_is_object(j));
    cr_expect_eq(json_array_size(json_object_get(j, "a")), 4);
    json_decref(j);
}

Test(json_strict, empty_body_is_rejected)
{
    expect_rejected("", 0, "empty");
    expect_rejected(" \r\n\t", 4, "empty");
    expect_rejected(NULL, 0, "empty");
}

Test(json_strict, trailing_data_is_rejected)
{
    expect_rejected("{} x", 4, "invalid JSON");
    expect_rejected("{}{}", 4, "invalid JSON");
    expect_rejected("[1],", 4, "invalid JSON");
    EXPECT_ACCEPTED("{}  \r\n", "trailing whitespace is fine");
}

Test(json_strict, not_json_is_rejected)
{
    expect_rejected("{a: 1}", 6, "invalid JSON");
    expect_rejected("{\"a\": 01}", 9, "invalid JSON");
    expect_rejected("{\"a\": NaN}", 10, "invalid JSON");
    expect_rejected("{'a': 1}", 8, "invalid JSON");
    expect_rejected("{\"a\": 1,}", 9, "invalid JSON");
}

Test(json_strict, duplicate_keys_are_rejected)
{
    expect_rejected("{\"a\": 1, \"a\": 2}", 16, "duplicate");
    expect_rejected("{\"x\": {\"b\": 1, \"b\": 1}}", 23, "duplicate");
    EXPECT_ACCEPTED("[{\"a\": 1}, {\"a\": 2}]", "the same key in different objects is fine");
}

Test(json_strict, utf8_accepts_valid_sequences)
{
    /* 1, 2, 3 and 4-byte sequences at the edges of their ranges. */
    static const char *ok[] = {
        "a",
        "\xC2\x80",
        "\xDF\xBF",
        "\xE0\xA0\x80",
        "\xED\x9F\xBF",
        "\xEE\x80\x80",
        "\xEF\xBF\xBF",
        "\xF0\x90\x80\x80",
        "\xF4\x8F\xBF\xBF",
        "Itä-Uusimaa äö 😀",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_expect(json_strict_utf8_valid(ok[i], strlen(ok[i])), "valid #%zu", i);
    cr_expect(json_strict_utf8_valid("", 0));
}

Test(json_strict, utf8_rejects_overlongs_surrogates_and_truncation)
{
    static const char *bad[] = {
        "\xC0\xAF",         /* overlong '/' */
        "\xC1\xBF",         /* overlong */
        "\xE0\x80\xAF",     /* overlong 3-byte */
        "\xE0\x9F\xBF",     /* overlong 3-byte, top */
        "\xF0\x80\x80\xAF", /* overlong 4-byte */
        "\xF0\x8F\xBF\xBF", /* overlong 4-byte, top */
        "\xED\xA0\x80",     /* U+D800, a surrogate */
        "\xED\xBF\xBF",     /* U+DFFF */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF5\x80\x80\x80", /* no such lead byte */
        "\xFF",
        "\x80",         /* lone continuation */
        "\xE2\x82",     /* truncated euro sign */
        "\xF0\x9F\x98", /* truncated emoji */
        "\xC3",         /* truncated at the end */
        "\xC3\x28",     /* bad continuation */
        "\xE2\x28\xA1",
        "\xF0\x9F\x28\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect(!json_strict_utf8_valid(bad[i], strlen(bad[i])), "invalid #%zu", i);
        char *body = xasprintf("{\"a\": \"%s\"}", bad[i]);
        expect_rejected(body, strlen(body), "UTF-8");
        free(body);
    }
}

Test(json_strict, utf8_bom_is_rejected)
{
    expect_rejected("\xEF\xBB\xBF{}", 5, "invalid JSON");
}

Test(json_strict, nul_is_rejected_raw_or_escaped)
{
    expect_rejected("{\"a\": \"x\\u0000y\"}", 17, "invalid JSON");
    expect_rejected("{\"a\": \"x\0y\"}", 11, "invalid JSON");
    expect_rejected("{\"a\": 1}\0", 9, "invalid JSON");
    /* between tokens, right after a number (found by the fuzzer, CI 2026-12-06):
     * jansson read it as the number's end */
    expect_rejected("{\"q\": 1.5\0, \"b\": 2}", 19, "invalid JSON");
    expect_rejected("{\"q\": 15\0}", 10, "invalid JSON");
    expect_rejected("[true\0]", 7, "invalid JSON");
}

Test(json_strict, lone_surrogate_escape_is_rejected)
{
    expect_rejected("[\"\\ud800\"]", 10, "invalid JSON");
    char err[256];
    json_t *j = PARSE_LIT("[\"\\ud83d\\ude00\"]", err);
    cr_assert_not_null(j, "a surrogate pair is fine: %s", err);
    cr_expect_str_eq(json_string_value(json_array_get(j, 0)), "\xF0\x9F\x98\x80");
    json_decref(j);
}

Test(json_strict, depth_32_is_accepted_33_rejected)
{
    char err[256];
    char *s = nested_arrays(32);
    json_t *j = parse(s, strlen(s), err, sizeof err);
    cr_expect_not_null(j, "32 deep: %s", err);
    json_decref(j);
    free(s);

    s = nested_arrays(33);
    expect_rejected(s, strlen(s), "deeper than 32");
    free(s);
}

Test(json_strict, depth_counts_objects_and_arrays_alike)
{
    /* 16 objects each holding an array: 32 levels. */
    char buf[1024] = "", tail[256] = "";
    for (int i = 0; i < 16; i++)
        strcat(buf, "{\"k\":[");
    strcat(buf, "1");
    for (int i = 0; i < 16; i++)
        strcat(tail, "]}");
    strcat(buf, tail);
    char err[256];
    json_t *j = parse(buf, strlen(buf), err, sizeof err);
    cr_expect_not_null(j, "%s", err);
    json_decref(j);

    char *deeper = xasprintf("[%s]", buf);
    expect_rejected(deeper, strlen(deeper), "deeper");
    free(deeper);
}

Test(json_strict, brackets_inside_strings_do_not_count)
{
    char err[256];
    /* 40 '[' inside a string, and an escaped quote that must not end it. */
    const char *s = "{\"a\": \"\\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{\", \"b\": [[1]]}";
    json_t *j = parse(s, strlen(s), err, sizeof err);
    cr_expect_not_null(j, "%s", err);
    json_decref(j);

    /* A backslash at the end of a string before the quote: "\\" then a real array. */
    const char *t = "[\"\\\\\", [[]]]";
    j = parse(t, strlen(t), err, sizeof err);
    cr_expect_not_null(j, "%s", err);
    json_decref(j);
}

Test(json_strict, hundred_thousand_deep_is_rejected_without_recursion)
{
    char *s = nested_arrays(100000);
    expect_rejected(s, strlen(s), "deeper than 32");
    free(s);

    /* Unbalanced too: only opening brackets. */
    s = xmalloc(100001);
    memset(s, '{', 100000);
    s[100000] = '\0';
    expect_rejected(s, 100000, "deeper");
    free(s);
}

Test(json_strict, explicit_depth_limit)
{
    char err[256];
    char *s = nested_arrays(5);
    json_t *j = json_strict_parse(s, strlen(s), 4, err, sizeof err);
    cr_expect_null(j);
    cr_expect(strstr(err, "deeper than 4") != NULL, "%s", err);
    j = json_strict_parse(s, strlen(s), 5, err, sizeof err);
    cr_expect_not_null(j, "%s", err);
    json_decref(j);
    /* 0 means the default. */
    j = json_strict_parse(s, strlen(s), 0, err, sizeof err);
    cr_expect_not_null(j, "%s", err);
    json_decref(j);
    free(s);
}

Test(json_strict, top_level_scalars_are_the_callers_business)
{
    char err[256];
    json_t *j = PARSE_LIT("\"x\"", err);
    cr_expect(json_is_string(j), "%s", err);
    json_decref(j);
    j = PARSE_LIT(" 7 ", err);
    cr_expect(json_is_integer(j), "%s", err);
    json_decref(j);
}

Test(json_strict, integral_reals_become_integers)
{
    char err[256];
    json_t *j = PARSE_LIT("{\"a\": 1.0, \"b\": [2.0, 2.5, -0.0, 1e2], \"c\": {\"d\": 350.00},"
                          " \"e\": 1e300, \"f\": 1.15}",
                          err);
    cr_assert_not_null(j, "%s", err);
    json_t *b = json_object_get(j, "b");
    cr_expect(json_is_integer(json_object_get(j, "a")));
    cr_expect_eq(json_integer_value(json_object_get(j, "a")), 1);
    cr_expect_eq(json_integer_value(json_array_get(b, 0)), 2);
    cr_expect(json_is_real(json_array_get(b, 1)));
    cr_expect(json_is_integer(json_array_get(b, 2)));
    cr_expect_eq(json_integer_value(json_array_get(b, 3)), 100);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "c"), "d")), 350);
    /* Out of json_int_t range: stays a real. */
    cr_expect(json_is_real(json_object_get(j, "e")));
    cr_expect(json_is_real(json_object_get(j, "f")));
    json_decref(j);

    j = PARSE_LIT("3.0", err);
    cr_expect(json_is_integer(j) && json_integer_value(j) == 3);
    json_decref(j);
}

Test(json_strict, huge_numbers_are_rejected)
{
    expect_rejected("[99999999999999999999]", 22, "out of range");
    expect_rejected("[1e400]", 7, "out of range");
}

/* Valid JSON with a number beyond int64 is out of range (the api's 422),
 * not malformed (400); 2^63 - 1 is still an integer. */
Test(json_strict, out_of_range_is_told_from_malformed)
{
    char err[256];
    enum json_strict_fail why = JSON_STRICT_MALFORMED;
    json_t *j = json_strict_parse_ex("{\"q\":9223372036854775808}", 25, 32, &why, err, sizeof err);
    cr_expect_null(j);
    cr_expect_eq(why, JSON_STRICT_OUT_OF_RANGE, "%s", err);
    why = JSON_STRICT_OUT_OF_RANGE;
    cr_expect_null(json_strict_parse_ex("{\"q\":}", 6, 32, &why, err, sizeof err));
    cr_expect_eq(why, JSON_STRICT_MALFORMED);
    j = json_strict_parse_ex("{\"q\":9223372036854775807}", 25, 32, &why, err, sizeof err);
    cr_expect(json_is_integer(json_object_get(j, "q")));
    json_decref(j);
}

Test(json_strict, error_buffer_is_bounded)
{
    char err[8];
    json_t *j = json_strict_parse("{\"a\": nope}", 11, 32, err, sizeof err);
    cr_expect_null(j);
    cr_expect_lt(strlen(err), sizeof err);
}
