/*
 * wire/json_strict.c - parsing untrusted JSON bodies (see wire/json_strict.h).
 *
 * Four passes over the text: our own UTF-8 check (so the reason given is
 * ours and does not depend on jansson's), a search for NUL bytes, a depth
 * pre-scan that allocates nothing, then jansson with duplicate keys rejected
 * and the end-of-input check on. A raw NUL byte anywhere is refused before
 * jansson sees the text (jansson 2.14 takes one after a number or literal as
 * the token's end); jansson refuses "\u0000" in strings unless
 * JSON_ALLOW_NUL is given, and we never give it.
 */
#include "wire/json_strict.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int json_strict_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
        }
        if (len - i - 1 < need)
            return 0; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += need + 1;
    }
    return 1;
}

/* Deepest container nesting of buf, stopping as soon as limit is passed.
 * Brackets inside strings do not count; escapes are skipped so "\"" does not
 * end a string. The text need not be valid JSON: jansson judges that. */
static int max_nesting(const char *buf, size_t len, int limit)
{
    int depth = 0, deepest = 0, in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '[':
        case '{':
            if (++depth > deepest) {
                deepest = depth;
                if (deepest > limit)
                    return deepest;
            }
            break;
        case ']':
        case '}':
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return deepest;
}

/* True, with the value, for a real with no fractional part that fits. */
static int integral_real(const json_t *v, json_int_t *out)
{
    double d;

    if (!json_is_real(v))
        return 0;
    d = json_real_value(v);
    /* 2^63 is exact in a double; json_int_t holds [-2^63, 2^63). */
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return 0;
    *out = (json_int_t)d;
    return 1;
}

/* JSON Schema counts 1.0 as an integer but jansson makes it a real, and a
 * worker reading cents with json_integer_value() would get 0. Turning every
 * integral real that fits json_int_t into an integer makes the validated
 * document and the published one mean the same. Recursion depth is bounded
 * by the pre-scan. */
static void normalize_integers(json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child)
        {
            json_int_t n;
            /* Replacing the value of an existing key keeps the iteration valid. */
            if (integral_real(child, &n))
                json_object_set_new(v, key, json_integer(n));
            else
                normalize_integers(child);
        }
    } else if (json_is_array(v)) {
        size_t size = json_array_size(v);
        for (size_t i = 0; i < size; i++) {
            json_t *child = json_array_get(v, i);
            json_int_t n;
            if (integral_real(child, &n))
                json_array_set_new(v, i, json_integer(n));
            else
                normalize_integers(child);
        }
    }
}

json_t *json_strict_parse(const char *buf, size_t len, int max_depth, char *err, size_t errlen)
{
    return json_strict_parse_ex(buf, len, max_depth, NULL, err, errlen);
}

json_t *json_strict_parse_ex(const char *buf, size_t len, int max_depth, enum json_strict_fail *why,
                             char *err, size_t errlen)
{
    json_error_t jerr;
    enum json_strict_fail dummy;
    if (!why)
        why = &dummy;
    *why = JSON_STRICT_MALFORMED;
    json_t *doc;
    json_int_t top;
    size_t i = 0;

    if (max_depth < 1)
        max_depth = JSON_STRICT_MAX_DEPTH;
    for (; buf != NULL && i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
            break;
    if (buf == NULL || i == len) {
        snprintf(err, errlen, "empty body");
        return NULL;
    }
    if (!json_strict_utf8_valid(buf, len)) {
        snprintf(err, errlen, "body is not valid UTF-8");
        return NULL;
    }
    /* A NUL byte is never JSON (RFC 8259: not whitespace, not allowed raw in
     * a string), but jansson 2.14 reads one right after a number or a
     * literal as the token's end and goes on. */
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        snprintf(err, errlen, "invalid JSON at byte %zu: a NUL byte", (size_t)(nul - buf));
        return NULL;
    }
    if (max_nesting(buf, len, max_depth) > max_depth) {
        snprintf(err, errlen, "JSON nests deeper than %d", max_depth);
        return NULL;
    }
    /* JSON_DECODE_ANY: whether the top level must be an object is the
     * caller's rule. No JSON_DISABLE_EOF_CHECK: trailing data is an error. */
    doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        if (json_error_code(&jerr) == json_error_numeric_overflow) {
            /* Valid JSON (RFC 8259 sets no limit): a value out of range. */
            *why = JSON_STRICT_OUT_OF_RANGE;
            snprintf(err, errlen,
                     "the number at line %d column %d is out of range (integers are at most "
                     "%lld in magnitude)",
                     jerr.line, jerr.column, (long long)INT64_MAX);
            return NULL;
        }
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return NULL;
    }
    if (integral_real(doc, &top)) {
        json_decref(doc);
        doc = json_integer(top);
    } else {
        normalize_integers(doc);
    }
    return doc;
}
