/*
 * schemas.h - the repository's schemas/ loaded for a test (the registry
 * the api and the workers load at start), failing the test when they do
 * not load; and a suite fixture holding them in `reg`.
 */
#ifndef PSOP_TEST_SCHEMAS_H
#define PSOP_TEST_SCHEMAS_H

#include <criterion/criterion.h>

#include "wire/jschema.h"

/* schemas/ of this checkout; the caller frees it (jschema_registry_free). */
static inline struct jschema_registry *t_schemas(void)
{
    char err[512];
    struct jschema_registry *r =
        jschema_registry_load(PSOP_SOURCE_DIR "/schemas", err, sizeof(err));
    cr_assert_not_null(r, "schemas: %s", err);
    return r;
}

/* For TestSuite(name, .init = t_schemas_setup, .fini = t_schemas_teardown). */
static struct jschema_registry *reg;

static inline void t_schemas_setup(void)
{
    reg = t_schemas();
}

static inline void t_schemas_teardown(void)
{
    jschema_registry_free(reg);
}

#endif
