/*
 * Unit tests of api/openapi.c: the document is built from the route table
 * and the schemas, every reference resolves, and docs/openapi.yaml is the
 * current output (scripts/gen-openapi --check): the test fails when they
 * drift.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire/jschema.h"
#include "openapi.h"
#include "router.h"

static struct jschema_registry *reg;
static json_t *doc;

static void setup(void)
{
    char err[256];
    reg = jschema_registry_load(PSOP_SOURCE_DIR "/schemas", err, sizeof(err));
    cr_assert_not_null(reg, "schemas: %s", err);
    doc = openapi_build(reg, err, sizeof(err));
    cr_assert_not_null(doc, "openapi: %s", err);
}

static void teardown(void)
{
    json_decref(doc);
    jschema_registry_free(reg);
}

/* Resolves a "#/a/b" pointer inside doc (RFC 6901 escapes). */
static const json_t *resolve(const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    const json_t *cur = doc;
    char tok[256];
    const char *p = ref + 2;
    while (cur && *p) {
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof(tok)) {
            if (p[0] == '~' && p[1] == '1') {
                tok[n++] = '/';
                p += 2;
            } else if (p[0] == '~' && p[1] == '0') {
                tok[n++] = '~';
                p += 2;
            } else {
                tok[n++] = *p++;
            }
        }
        tok[n] = '\0';
        if (*p == '/')
            p++;
        cur = json_object_get(cur, tok);
    }
    return cur;
}

static int check_refs(const json_t *j, int *count)
{
    int bad = 0;
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) bad += check_refs(v, count);
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (strcmp(k, "$ref") == 0 && json_is_string(v)) {
                (*count)++;
                if (!resolve(json_string_value(v))) {
                    cr_log_error("unresolved $ref %s", json_string_value(v));
                    bad++;
                }
            } else {
                bad += check_refs(v, count);
            }
        }
    }
    return bad;
}

TestSuite(api_openapi, .init = setup, .fini = teardown);

Test(api_openapi, every_route_is_documented_once)
{
    cr_expect_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    json_t *opids = json_object();
    size_t n;
    const struct route *rt = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char m[16];
        snprintf(m, sizeof(m), "%s", rt[i].method);
        for (char *c = m; *c; c++)
            *c = (char)(*c + ('a' - 'A'));
        json_t *op = json_object_get(json_object_get(paths, rt[i].pattern), m);
        cr_expect_not_null(op, "%s %s undocumented", rt[i].method, rt[i].pattern);
        const char *id = json_string_value(json_object_get(op, "operationId"));
        cr_expect_not_null(id);
        if (id) {
            cr_expect_null(json_object_get(opids, id), "duplicate operationId %s", id);
            json_object_set_new(opids, id, json_true());
        }
        if (rt[i].kind == ROUTE_COMMAND) {
            cr_expect_not_null(json_object_get(json_object_get(op, "responses"), "202"));
            cr_expect_not_null(json_object_get(json_object_get(op, "responses"), "422"));
            char comp[128];
            snprintf(comp, sizeof(comp), "commands.%s", rt[i].type);
            cr_expect_not_null(
                json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"),
                                comp),
                "no component %s", comp);
        }
    }
    json_decref(opids);
}

Test(api_openapi, every_reference_resolves)
{
    int count = 0;
    cr_expect_eq(check_refs(doc, &count), 0);
    cr_expect_gt(count, 100);
}

Test(api_openapi, path_parameters_are_not_required_in_the_body)
{
    json_t *op = json_object_get(
        json_object_get(json_object_get(doc, "paths"), "/v1/vouchers/{voucher_id}/revocation"),
        "post");
    json_t *schema = json_object_get(
        json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
                        "application/json"),
        "schema");
    json_t *req = json_object_get(schema, "required");
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) cr_expect_str_neq(json_string_value(v), "voucher_id");
    cr_expect_gt(json_array_size(req), 0);
}

Test(api_openapi, docs_openapi_yaml_is_current)
{
    char tmp[] = "/tmp/api_openapi_XXXXXX";
    int fd = mkstemp(tmp);
    cr_assert_geq(fd, 0);
    char *s = json_dumps(doc, JSON_INDENT(2));
    FILE *f = fdopen(fd, "w");
    fputs(s, f);
    fclose(f);
    free(s);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "python3 %s/scripts/gen-openapi --check --from-json %s",
             PSOP_SOURCE_DIR, tmp);
    int rc = system(cmd);
    unlink(tmp);
    cr_expect_eq(rc, 0,
                 "docs/openapi.yaml differs from the route table and schemas: run "
                 "scripts/gen-openapi");
}
