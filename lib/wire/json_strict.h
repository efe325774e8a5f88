/*
 * wire/json_strict.h - parsing untrusted JSON bodies.
 *
 * Rejects what the API spec answers 400 for: not JSON, not UTF-8, nesting
 * deeper than max_depth, duplicate object keys, trailing garbage; and an empty
 * body. The depth check runs before jansson allocates anything, so a deeply
 * nested body costs no memory. Thread-safe.
 *
 * Any JSON value is accepted at the top level (JSON_DECODE_ANY); requiring an
 * object is the caller's rule. NUL in strings ("\u0000" or a raw byte) is
 * rejected. Integral reals that fit json_int_t (1.0, 1e2) come back as
 * integers: JSON Schema counts them as integers, so the validated document
 * and what json_integer_value() reads downstream agree. max_depth < 1 means
 * JSON_STRICT_MAX_DEPTH.
 */
#ifndef PSOP_JSON_STRICT_H
#define PSOP_JSON_STRICT_H

#include <stddef.h>
#include <jansson.h>

#define JSON_STRICT_MAX_DEPTH 32

/* Returns a new reference, or NULL with a human-readable reason in err. */
json_t *json_strict_parse(const char *buf, size_t len, int max_depth, char *err, size_t errlen);

/* Why json_strict_parse_ex refused a body. */
enum json_strict_fail {
    JSON_STRICT_MALFORMED,    /* not JSON, bad UTF-8, too deep, duplicate keys: 400 */
    JSON_STRICT_OUT_OF_RANGE, /* valid JSON, but an integer beyond [-2^63, 2^63): 422 */
};

/* json_strict_parse telling a number out of range (valid JSON a schema
 * would refuse as too large) from a malformed body; *why may be NULL. */
json_t *json_strict_parse_ex(const char *buf, size_t len, int max_depth, enum json_strict_fail *why,
                             char *err, size_t errlen);

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int json_strict_utf8_valid(const char *buf, size_t len);

#endif
