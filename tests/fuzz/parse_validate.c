/*
 * parse_validate.c - libFuzzer target: untrusted bytes through the API's
 * front door, json_strict_parse then jschema_validate, against the envelope
 * and several command schemas. Built by tests/fuzz/build.sh.
 *
 * The registry is loaded once from PSOP_SCHEMA_DIR (build.sh bakes in the
 * source tree's schemas/; the environment variable overrides it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/jschema.h"
#include "wire/json_strict.h"
#include "targets.h"

#ifndef PSOP_SCHEMA_DIR
#define PSOP_SCHEMA_DIR "schemas"
#endif

static struct jschema_registry *reg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    const char *dir = getenv("PSOP_SCHEMA_DIR");
    (void)argc;
    (void)argv;
    reg = jschema_registry_load(dir ? dir : PSOP_SCHEMA_DIR, err, sizeof err);
    if (!reg) {
        fprintf(stderr, "parse_validate: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *doc =
        json_strict_parse((const char *)data, size, JSON_STRICT_MAX_DEPTH, err, sizeof err);
    size_t i;
    json_t *e;

    /* The pre-scan and jansson must agree that valid UTF-8 is a precondition. */
    if (doc && !json_strict_utf8_valid((const char *)data, size))
        abort();
    if (!doc)
        return 0;
    for (size_t t = 0; t < N_FUZZ_TARGETS; t++) {
        json_t *errors = NULL;
        int rc = jschema_validate(reg, fuzz_targets[t], doc, "/commands/0/data", &errors);
        if (rc == -1)
            abort(); /* every target exists */
        if ((rc == 0) != (errors == NULL) || json_array_size(errors) > 50)
            abort();
        json_array_foreach(errors, i, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            const char *m = json_string_value(json_object_get(e, "message"));
            if (!p || !m || strncmp(p, "/commands/0/data", 16) != 0 || !*m)
                abort();
        }
        /* The verdict does not depend on whether errors are collected. */
        if (jschema_validate(reg, fuzz_targets[t], doc, "", NULL) != rc)
            abort();
        json_decref(errors);
    }
    json_decref(doc);
    return 0;
}
