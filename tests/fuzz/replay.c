/*
 * replay.c - psop-schema-replay: our validator's verdicts on a corpus, for
 * the cross-check with python-jsonschema (tests/schema_crosscheck.py).
 *
 *   psop-schema-replay SCHEMA_DIR < inputs.hex
 *
 * Reads inputs from stdin, one per line, each as hex digits (so any bytes,
 * newlines and NULs included, fit on a line; an empty line is the empty
 * input). For each, the path the api's front door takes: json_strict_parse,
 * then jschema_validate against every schema of targets.h. Writes one JSON
 * line per input, in order:
 *   {"parsed": false, "error": "..."}
 *   {"parsed": true, "valid": {"envelope": false, ...}}
 * Exits 2 when the schemas do not load or a line is not hex.
 */
#include <jansson.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/jschema.h"
#include "wire/json_strict.h"
#include "targets.h"
#include "core/xmalloc.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes n hex digits of s in place; the length in bytes, or -1. */
static ssize_t unhex(char *s, size_t n)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        s[i / 2] = (char)(hi * 16 + lo);
    }
    return (ssize_t)(n / 2);
}

static json_t *verdict(const struct jschema_registry *reg, const char *body, size_t len)
{
    char err[256] = "";
    json_t *doc = json_strict_parse(body, len, JSON_STRICT_MAX_DEPTH, err, sizeof err);
    if (!doc) {
        json_t *why = json_string(err);
        return json_pack("{s:b, s:o}", "parsed", 0, "error", why ? why : json_string("?"));
    }
    json_t *valid = json_object();
    for (size_t t = 0; t < N_FUZZ_TARGETS; t++) {
        int rc = jschema_validate(reg, fuzz_targets[t], doc, "", NULL);
        if (rc < 0) {
            fprintf(stderr, "psop-schema-replay: no schema %s\n", fuzz_targets[t]);
            exit(2);
        }
        json_object_set_new(valid, fuzz_targets[t], json_boolean(rc == 0));
    }
    json_decref(doc);
    return json_pack("{s:b, s:o}", "parsed", 1, "valid", valid);
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 2) {
        fprintf(stderr, "usage: psop-schema-replay SCHEMA_DIR < inputs.hex\n");
        return 2;
    }
    xmalloc_install();
    struct jschema_registry *reg = jschema_registry_load(argv[1], err, sizeof err);
    if (!reg) {
        fprintf(stderr, "psop-schema-replay: %s\n", err);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        ssize_t len = unhex(line, (size_t)n);
        if (len < 0) {
            fprintf(stderr, "psop-schema-replay: not a hex line: %.40s\n", line);
            rc = 2;
            break;
        }
        json_t *v = verdict(reg, line, (size_t)len);
        char *out = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(out);
        free(out);
        json_decref(v);
    }
    free(line);
    jschema_registry_free(reg);
    return rc;
}
