#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wire/jschema.h"
#include "wire/json_strict.h"
#include "core/xmalloc.h"

#define SCHEMA_DIR PSOP_SOURCE_DIR "/schemas"
#define FIXTURE_DIR PSOP_SOURCE_DIR "/tests/fixtures/schema"

static const char *const command_types[] = {
    "organiser.upsert",
    "service_type.upsert",
    "holiday.upsert",
    "provider.register",
    "provider.apply",
    "provider.decide",
    "provider.suspend",
    "provider.set_price",
    "voucher.grant",
    "voucher.amend",
    "voucher.choose_provider",
    "voucher.revoke",
    "voucher.refuse",
    "service_event.record",
    "service_event.update",
    "service_event.delete",
    "service_event.approve",
    "service_event.credit",
    "service_event.auto_approve",
    "contract.upsert",
    "order.create",
    "order.end",
    "settlement.run",
    "settlement.confirm",
    "settlement.mark_paid",
    "api_key.create",
    "api_key.revoke",
    "mandate.grant",
    "mandate.revoke",
};
#define N_TYPES (sizeof command_types / sizeof command_types[0])

static struct jschema_registry *load(void)
{
    char err[512] = "";
    struct jschema_registry *reg = jschema_registry_load(SCHEMA_DIR, err, sizeof err);
    cr_assert_not_null(reg, "load %s: %s", SCHEMA_DIR, err);
    return reg;
}

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    cr_assert_not_null(j, "test JSON: %s: %s", text, e.text);
    return j;
}

/* Validates text against name; returns the error array (or NULL when valid). */
static json_t *errors_of(struct jschema_registry *reg, const char *name, const char *text,
                         const char *prefix)
{
    json_t *doc = J(text), *errs = NULL;
    int rc = jschema_validate(reg, name, doc, prefix, &errs);
    json_decref(doc);
    cr_assert_neq(rc, -1, "unknown schema %s", name);
    if (rc == 0)
        cr_assert_null(errs);
    else
        cr_assert(json_array_size(errs) > 0);
    return errs;
}

/* True when errs holds {path, message} exactly. */
static bool has_error(const json_t *errs, const char *path, const char *message)
{
    size_t i;
    json_t *e;
    json_array_foreach(errs, i,
                       e) if (strcmp(json_string_value(json_object_get(e, "path")), path) == 0 &&
                              strcmp(json_string_value(json_object_get(e, "message")), message) ==
                                  0) return true;
    return false;
}

static void expect_error(struct jschema_registry *reg, const char *name, const char *text,
                         const char *path, const char *message)
{
    json_t *errs = errors_of(reg, name, text, "/data");
    char *dump = errs ? json_dumps(errs, JSON_COMPACT) : NULL;
    cr_expect(errs && has_error(errs, path, message), "%s: want %s \"%s\", got %s", text, path,
              message, dump ? dump : "valid");
    free(dump);
    json_decref(errs);
}

static void expect_valid(struct jschema_registry *reg, const char *name, const char *text)
{
    json_t *errs = errors_of(reg, name, text, "");
    char *dump = errs ? json_dumps(errs, JSON_COMPACT) : NULL;
    cr_expect_null(errs, "%s should be valid: %s", text, dump);
    free(dump);
    json_decref(errs);
}

/* ---- the fixture corpus ---- */

struct corpus_stats {
    int files, cases, valid, invalid, mismatches;
};

static void run_fixture_file(struct jschema_registry *reg, const char *path, const char *name,
                             struct corpus_stats *st)
{
    json_error_t jerr;
    /* Loaded with plain jansson, not json_strict_parse: 5.0 stays a real, so
     * the validator's own integer rules are what is tested. */
    json_t *cases = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    size_t i;
    json_t *c;

    cr_assert_not_null(cases, "%s: %s", path, jerr.text);
    cr_assert(json_is_array(cases), "%s: not an array", path);
    cr_expect_not_null(jschema_get(reg, name), "fixture %s has no schema", name);
    st->files++;
    json_array_foreach(cases, i, c)
    {
        const char *cname = json_string_value(json_object_get(c, "name"));
        json_t *want = json_object_get(c, "valid");
        json_t *errs = NULL;
        cr_assert(cname && json_is_boolean(want), "%s case %zu: needs name and valid", path, i);
        int rc = jschema_validate(reg, name, json_object_get(c, "doc"), "/data", &errs);
        cr_assert_neq(rc, -1, "%s: unknown schema", name);
        st->cases++;
        if (json_is_true(want))
            st->valid++;
        else
            st->invalid++;
        if ((rc == 0) != json_is_true(want)) {
            char *dump = errs ? json_dumps(errs, JSON_COMPACT) : NULL;
            st->mismatches++;
            cr_expect_fail("%s / %s: expected %s, got %s", name, cname,
                           json_is_true(want) ? "valid" : "invalid", dump ? dump : "valid");
            free(dump);
        }
        /* Every error names a path under the prefix and says something. */
        size_t k;
        json_t *e;
        json_array_foreach(errs, k, e)
        {
            const char *p = json_string_value(json_object_get(e, "path"));
            const char *m = json_string_value(json_object_get(e, "message"));
            cr_expect(p && strncmp(p, "/data", 5) == 0, "%s / %s: path %s", name, cname, p);
            cr_expect(m && *m, "%s / %s: empty message", name, cname);
        }
        json_decref(errs);
    }
    json_decref(cases);
}

static void walk_fixtures(struct jschema_registry *reg, const char *dir, const char *rel,
                          struct corpus_stats *st)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    cr_assert_not_null(d, "%s", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct stat sb;
        if (de->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        char *name = rel[0] ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        cr_assert_eq(stat(path, &sb), 0);
        if (S_ISDIR(sb.st_mode)) {
            walk_fixtures(reg, path, name, st);
        } else if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0) {
            name[strlen(name) - 5] = '\0';
            run_fixture_file(reg, path, name, st);
        }
        free(path);
        free(name);
    }
    closedir(d);
}

Test(json_schema, fixture_corpus_matches_expectations)
{
    struct jschema_registry *reg = load();
    struct corpus_stats st = {0};
    walk_fixtures(reg, FIXTURE_DIR, "", &st);
    cr_log_info("fixtures: %d files, %d cases (%d valid, %d invalid), %d mismatches", st.files,
                st.cases, st.valid, st.invalid, st.mismatches);
    cr_expect_geq(st.files, (int)N_TYPES + 1);
    cr_expect_geq(st.cases, (int)N_TYPES * 9);
    cr_expect_eq(st.mismatches, 0);
    jschema_registry_free(reg);
}

Test(json_schema, every_command_type_has_a_schema_and_fixtures)
{
    struct jschema_registry *reg = load();
    for (size_t i = 0; i < N_TYPES; i++) {
        char *name = xasprintf("commands/%s", command_types[i]);
        char *fixture = xasprintf("%s/%s.json", FIXTURE_DIR, name);
        char *id = xasprintf("https://psop.example/schemas/%s.json", name);
        const json_t *s = jschema_get(reg, name);
        cr_expect_not_null(s, "no schema %s", name);
        cr_expect_eq(jschema_get(reg, id), s, "$id %s should name the same schema", id);
        cr_expect_str_eq(json_string_value(json_object_get(s, "$schema")),
                         "https://json-schema.org/draft/2020-12/schema");
        cr_expect(json_is_false(json_object_get(s, "additionalProperties")),
                  "%s must reject unknown fields", name);
        cr_expect_eq(access(fixture, R_OK), 0, "no fixtures for %s", name);
        free(name);
        free(fixture);
        free(id);
    }
    /* The envelope's type enum lists exactly these types. */
    const json_t *types = json_object_get(
        json_object_get(json_object_get(jschema_get(reg, "envelope"), "properties"), "type"),
        "enum");
    cr_expect_eq(json_array_size(types), N_TYPES);
    jschema_registry_free(reg);
}

/* ---- messages and paths ---- */

#define ORG                                                                                        \
    "\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"name\":\"Vantaa\",\"business_id\":"         \
    "\"1572860-0\",\"iban\":\"FI2112345600000785\",\"invoice_prefix\":\"VAN\""
#define EVENT "\"voucher_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"date\":\"2025-03-03\""

Test(json_schema, organiser_messages)
{
    struct jschema_registry *reg = load();
    const char *n = "commands/organiser.upsert";
    expect_valid(reg, n, "{" ORG ",\"settlement_day\":5,\"auto_approve_days\":0}");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":0,\"auto_approve_days\":0}",
                 "/data/settlement_day", "must be >= 1");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":29,\"auto_approve_days\":0}",
                 "/data/settlement_day", "must be <= 28");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":\"5\",\"auto_approve_days\":0}",
                 "/data/settlement_day", "must be an integer");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":5.5,\"auto_approve_days\":0}",
                 "/data/settlement_day", "must be an integer");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":5,\"auto_approve_days\":0,\"x\":1}",
                 "/data/x", "unknown field");
    expect_error(reg, n, "{" ORG ",\"settlement_day\":5}", "/data/auto_approve_days",
                 "is required");
    expect_error(reg, n,
                 "{\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"name\":\"V\",\"business_id\":"
                 "\"1572860-1\",\"iban\":\"FI2212345600000785\",\"invoice_prefix\":\"van\","
                 "\"settlement_day\":5,\"auto_approve_days\":0}",
                 "/data/business_id", "invalid Y-tunnus check digit");
    expect_error(reg, n,
                 "{\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"name\":\"V\",\"business_id\":"
                 "\"1572860-0\",\"iban\":\"FI2212345600000785\",\"invoice_prefix\":\"VAN\","
                 "\"settlement_day\":5,\"auto_approve_days\":0}",
                 "/data/iban", "invalid IBAN checksum");
    expect_error(reg, n,
                 "{\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"name\":\"V\",\"business_id\":"
                 "\"1572860-0\",\"iban\":\"FI21 1234 5600 0007 85\",\"invoice_prefix\":\"V\","
                 "\"settlement_day\":5,\"auto_approve_days\":0}",
                 "/data/invoice_prefix", "must be 2 to 10 upper-case letters A-Z or digits");
    /* The integral real 5.0 is an integer in JSON Schema 2020-12. */
    expect_valid(reg, n, "{" ORG ",\"settlement_day\":5.0,\"auto_approve_days\":1e1}");
    jschema_registry_free(reg);
}

Test(json_schema, dates_and_months)
{
    struct jschema_registry *reg = load();
    expect_error(reg, "commands/holiday.upsert", "{\"date\":\"2025-02-30\",\"name\":\"x\"}",
                 "/data/date", "not a real date");
    expect_error(reg, "commands/holiday.upsert", "{\"date\":\"2025-2-3\",\"name\":\"x\"}",
                 "/data/date", "must be a date YYYY-MM-DD");
    expect_valid(reg, "commands/holiday.upsert", "{\"date\":\"2024-02-29\",\"name\":\"x\"}");
    expect_error(
        reg, "commands/settlement.run",
        "{\"organiser_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"period\":\"2025-13\"}",
        "/data/period", "not a real month");
    expect_error(reg, "commands/service_event.auto_approve",
                 "{\"organiser_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\","
                 "\"recorded_before\":\"2025-03-01T00:00:00\"}",
                 "/data/recorded_before", "must be an RFC 3339 date-time with a time zone");
    jschema_registry_free(reg);
}

Test(json_schema, quantities_have_at_most_two_decimals)
{
    struct jschema_registry *reg = load();
    const char *n = "commands/service_event.record";
    expect_valid(reg, n, "{" EVENT ",\"quantity\":1.15}");
    expect_valid(reg, n, "{" EVENT ",\"quantity\":0.29}");
    expect_valid(reg, n, "{" EVENT ",\"quantity\":1000}");
    expect_valid(reg, n, "{" EVENT ",\"quantity\":4.0}");
    expect_error(reg, n, "{" EVENT ",\"quantity\":1.155}", "/data/quantity", "at most 2 decimals");
    expect_error(reg, n, "{" EVENT ",\"quantity\":0}", "/data/quantity", "must be > 0");
    expect_error(reg, n, "{" EVENT ",\"quantity\":1000.01}", "/data/quantity", "must be <= 1000");
    expect_error(reg, n, "{" EVENT ",\"quantity\":\"1\"}", "/data/quantity", "must be a number");
    jschema_registry_free(reg);
}

Test(json_schema, every_hundredth_up_to_1000_is_a_valid_quantity)
{
    struct jschema_registry *reg = load();
    const json_t *q = json_object_get(
        json_object_get(json_object_get(jschema_get(reg, "common"), "$defs"), "quantity"),
        "multipleOf");
    cr_assert_not_null(q);
    json_t *doc = J("{" EVENT ",\"quantity\":1}");
    int bad = 0, bad_thousandths = 0;
    for (int k = 1; k <= 100000; k++) {
        char text[32];
        /* What a client writes: "k/100" in decimal, parsed by jansson's strtod. */
        snprintf(text, sizeof text, "%d.%02d", k / 100, k % 100);
        json_object_set_new(doc, "quantity", json_loads(text, JSON_DECODE_ANY, NULL));
        if (jschema_validate(reg, "commands/service_event.record", doc, "", NULL) != 0)
            bad++;
        if (k % 10 != 0) { /* k/1000 with a third decimal */
            snprintf(text, sizeof text, "%d.%03d", k / 1000, k % 1000);
            json_object_set_new(doc, "quantity", json_loads(text, JSON_DECODE_ANY, NULL));
            if (jschema_validate(reg, "commands/service_event.record", doc, "", NULL) != 1)
                bad_thousandths++;
        }
    }
    cr_expect_eq(bad, 0, "%d hundredths rejected", bad);
    cr_expect_eq(bad_thousandths, 0, "%d thousandths accepted", bad_thousandths);
    json_decref(doc);
    jschema_registry_free(reg);
}

Test(json_schema, exclusive_alternatives)
{
    struct jschema_registry *reg = load();
    const char *g = "commands/voucher.grant";
#define GRANT                                                                                      \
    "\"organiser_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"client_id\":\"C1\","              \
    "\"service_type\":\"kotihoito\",\"decision_number\":\"D\",\"valid_from\":\"2025-01-01\""
    expect_valid(reg, g, "{" GRANT ",\"unit_value_cents\":3200}");
    expect_error(reg, g, "{" GRANT "}", "/data",
                 "must have exactly one of unit_value_cents, income, budget_cents");
    expect_error(reg, g,
                 "{" GRANT ",\"unit_value_cents\":1,\"income\":{\"household_size\":1,"
                 "\"monthly_income_cents\":0}}",
                 "/data",
                 "must have exactly one of unit_value_cents, income, budget_cents, not several");
    /* A budget voucher: with valid_to, without monthly_quota. */
    expect_valid(reg, g, "{" GRANT ",\"valid_to\":\"2025-03-31\",\"budget_cents\":99000}");
    json_t *no_to = errors_of(reg, g, "{" GRANT ",\"budget_cents\":99000}", "/data");
    cr_expect_not_null(no_to, "a budget without valid_to");
    json_decref(no_to);
    json_t *quota = errors_of(reg, g,
                              "{" GRANT ",\"valid_to\":\"2025-03-31\",\"budget_cents\":99000,"
                              "\"monthly_quota\":10}",
                              "/data");
    cr_expect_not_null(quota, "a budget with a monthly quota");
    json_decref(quota);
    expect_error(reg, g, "{" GRANT ",\"unit_value_cents\":1,\"client_id\":\"010190-123A\"}",
                 "/data/client_id", "must not be a personal identity code (henkilötunnus)");
    expect_error(reg, "commands/service_event.approve",
                 "{\"event_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\"}", "/data",
                 "must have exactly one of voucher_id, order_id");
    /* An order event may name a price: the worker checks it against the contract. */
    expect_valid(reg, "commands/service_event.record",
                 "{\"order_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"date\":\"2025-03-03\","
                 "\"quantity\":1,\"unit_price_cents\":100}");
    expect_error(
        reg, "commands/voucher.amend",
        "{\"voucher_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"effective_from\":\"2025-01-"
        "01\"}",
        "/data",
        "must have at least one of unit_value_cents, valid_to, monthly_quota, budget_cents");
#define DECIDE                                                                                     \
    "\"provider_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"organiser_id\":"                   \
    "\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c\",\"service_type\":\"kotihoito\""
    expect_error(reg, "commands/provider.decide", "{" DECIDE ",\"decision\":\"approved\"}",
                 "/data/valid_from", "is required");
    expect_error(reg, "commands/provider.decide", "{" DECIDE ",\"decision\":\"rejected\"}",
                 "/data/reason", "is required");
    expect_error(reg, "commands/provider.decide",
                 "{" DECIDE ",\"decision\":\"maybe\",\"reason\":\"r\"}", "/data/decision",
                 "must be one of: \"approved\", \"rejected\"");
    jschema_registry_free(reg);
}

Test(json_schema, prefix_and_escaped_paths)
{
    struct jschema_registry *reg = load();
    json_t *errs = errors_of(reg, "commands/settlement.confirm",
                             "{\"settlement_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\","
                             "\"a/b~c\":1}",
                             "/commands/3/data");
    cr_expect(has_error(errs, "/commands/3/data/a~1b~0c", "unknown field"));
    json_decref(errs);
    errs = errors_of(reg, "commands/settlement.confirm", "{\"settlement_id\":\"X\"}", "");
    cr_expect(has_error(errs, "/settlement_id", "must be a lower-case UUID"));
    json_decref(errs);
    errs = errors_of(reg, "commands/settlement.confirm", "{\"settlement_id\":\"abc\"}", "");
    cr_expect(has_error(errs, "/settlement_id", "must be a UUID"));
    json_decref(errs);
    /* Nested: array items of the income model table. */
    errs = errors_of(reg, "commands/service_type.upsert",
                     "{\"code\":\"kh\",\"name\":\"n\",\"unit\":\"hour\",\"vat_rate_bp\":0,"
                     "\"client_share_allowed\":true,\"income_model\":{\"max_value_cents\":1,"
                     "\"min_value_cents\":1,\"divisor\":1,\"extra_person_limit_cents\":1,"
                     "\"extra_person_pct_bp\":1,\"table\":[{\"household_size\":1,"
                     "\"limit_cents\":1,\"pct_bp\":1},{\"household_size\":0,\"limit_cents\":1,"
                     "\"pct_bp\":1}]}}",
                     "");
    cr_expect(has_error(errs, "/income_model/table/1/household_size", "must be >= 1"));
    json_decref(errs);
    jschema_registry_free(reg);
}

Test(json_schema, errors_are_capped_at_50)
{
    struct jschema_registry *reg = load();
    json_t *doc = json_object(), *errs = NULL;
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        json_object_set_new(doc, k, json_integer(i));
    }
    cr_expect_eq(jschema_validate(reg, "commands/settlement.confirm", doc, "", &errs), 1);
    cr_expect_eq(json_array_size(errs), 50);
    json_decref(errs);
    /* errors may be NULL when only the verdict matters. */
    cr_expect_eq(jschema_validate(reg, "commands/settlement.confirm", doc, "", NULL), 1);
    json_decref(doc);
    jschema_registry_free(reg);
}

Test(json_schema, unknown_schema_and_lookups)
{
    struct jschema_registry *reg = load();
    json_t *doc = json_object(), *errs = (json_t *)1;
    cr_expect_eq(jschema_validate(reg, "commands/nope", doc, "", &errs), -1);
    cr_expect_null(errs);
    cr_expect_null(jschema_get(reg, "commands/nope"));
    cr_expect_not_null(jschema_get(reg, "common"));
    cr_expect_eq(jschema_get(reg, "https://psop.example/schemas/envelope.json"),
                 jschema_get(reg, "envelope"));
    json_decref(doc);
    jschema_registry_free(reg);
    jschema_registry_free(NULL);
}

Test(json_schema, envelope_validates_data_by_type)
{
    struct jschema_registry *reg = load();
#define ENV                                                                                        \
    "\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"schema_version\":1,\"received_at\":"        \
    "\"2025-03-01T10:00:00Z\",\"actor\":{\"sub\":\"a\",\"role\":\"admin\"}"
    expect_valid(reg, "envelope",
                 "{" ENV ",\"type\":\"settlement.confirm\",\"data\":{\"settlement_id\":"
                 "\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\"}}");
    json_t *errs =
        errors_of(reg, "envelope", "{" ENV ",\"type\":\"settlement.confirm\",\"data\":{}}", "");
    cr_expect(has_error(errs, "/data/settlement_id", "is required"));
    json_decref(errs);
    jschema_registry_free(reg);
}

/* ---- keywords our command schemas do not use, on a private registry ---- */

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char *path = xasprintf("%s/%s", tmpdir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    free(path);
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/psop-schema-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static struct jschema_registry *load_tmp(char *err, size_t errlen)
{
    return jschema_registry_load(tmpdir, err, errlen);
}

static void expect_load_error(const char *file_text, const char *why)
{
    char err[512] = "";
    mk_tmp();
    write_file("bad.json", file_text);
    struct jschema_registry *reg = load_tmp(err, sizeof err);
    cr_expect_null(reg, "should not load: %s", file_text);
    cr_expect(strstr(err, why) != NULL, "error \"%s\" should mention \"%s\"", err, why);
    jschema_registry_free(reg);
    rm_tree(tmpdir);
}

Test(json_schema, load_refuses_what_it_cannot_check)
{
    expect_load_error("{\"type\":\"object\",\"minProperties\":1}", "unsupported keyword");
    expect_load_error("{\"properties\":{\"a\":{\"maxlength\":3}}}", "unsupported keyword");
    expect_load_error("{\"format\":\"hostname\"}", "unsupported format");
    expect_load_error("{\"$ref\":\"other.json\"}", "no such schema");
    expect_load_error("{\"$ref\":\"#/$defs/missing\"}", "no schema at that pointer");
    expect_load_error("{\"pattern\":\"([a-z\"}", "pattern");
    expect_load_error("{\"multipleOf\":0}", "multipleOf");
    expect_load_error("{\"type\":\"text\"}", "bad type");
    expect_load_error("{\"unevaluatedProperties\":{\"type\":\"string\"}}", "unevaluatedProperties");
    expect_load_error("[1, 2]", "schema must be an object");
    expect_load_error("{\"a\":1,\"a\":2}", "duplicate");
    char err[256];
    cr_expect_null(jschema_registry_load("/nonexistent/psop", err, sizeof err));
}

Test(json_schema, other_keywords)
{
    char err[512] = "";
    mk_tmp();
    write_file(
        "k/t.json",
        "{\"$id\":\"https://psop.example/t/k/t.json\",\"$defs\":{\"n\":{\"type\":\"integer\"}},"
        "\"type\":\"object\",\"properties\":{"
        "\"pair\":{\"type\":\"array\",\"prefixItems\":[{\"const\":1},{\"type\":\"string\"}],"
        "\"items\":false,\"minItems\":2},"
        "\"list\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"},\"maxItems\":2},"
        "\"n\":{\"enum\":[1,\"x\",null]},"
        "\"s\":{\"type\":[\"string\",\"null\"],\"minLength\":2,\"maxLength\":3},"
        "\"other\":{\"$ref\":\"../u.json\"},"
        "\"abs\":{\"$ref\":\"https://psop.example/t/u.json#/$defs/pos\"},"
        "\"neg\":{\"not\":{\"type\":\"string\"}},"
        "\"m\":{\"multipleOf\":3}},"
        "\"dependentRequired\":{\"a\":[\"b\"]}}");
    write_file("u.json", "{\"$id\":\"https://psop.example/t/u.json\",\"type\":\"boolean\","
                         "\"$defs\":{\"pos\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":10}}}");
    write_file("e.json",
               "{\"allOf\":[{\"properties\":{\"a\":true}}],"
               "\"anyOf\":[{\"properties\":{\"b\":{\"type\":\"integer\"}}},{\"type\":\"null\"}],"
               "\"unevaluatedProperties\":false}");
    write_file("loop.json",
               "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
               "\"$ref\":\"#/$defs/a\"}");
    write_file("rec.json", "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}");
    struct jschema_registry *reg = load_tmp(err, sizeof err);
    cr_assert_not_null(reg, "%s", err);

    expect_valid(reg, "k/t",
                 "{\"pair\":[1,\"a\"],\"list\":[1,2.0],\"n\":1.0,\"s\":\"äö\","
                 "\"other\":true,\"abs\":9.5,\"neg\":1,\"m\":9,\"a\":1,\"b\":2}");
    expect_valid(reg, "k/t", "{\"s\":null,\"n\":null}");
    expect_error(reg, "k/t", "{\"pair\":[1,\"a\",3]}", "/data/pair/2", "no item allowed here");
    expect_error(reg, "k/t", "{\"pair\":[2,\"a\"]}", "/data/pair/0", "must be 1");
    expect_error(reg, "k/t", "{\"pair\":[1]}", "/data/pair", "must have at least 2 items");
    expect_error(reg, "k/t", "{\"list\":[1,2,3]}", "/data/list", "must have at most 2 items");
    expect_error(reg, "k/t", "{\"list\":[1.5]}", "/data/list/0", "must be an integer");
    expect_error(reg, "k/t", "{\"n\":2}", "/data/n", "must be one of: 1, \"x\", null");
    expect_error(reg, "k/t", "{\"s\":\"ä\"}", "/data/s", "must be at least 2 characters");
    expect_error(reg, "k/t", "{\"s\":\"äöüå\"}", "/data/s", "must be at most 3 characters");
    expect_error(reg, "k/t", "{\"s\":1}", "/data/s", "must be a string or null");
    expect_error(reg, "k/t", "{\"other\":1}", "/data/other", "must be a boolean");
    expect_error(reg, "k/t", "{\"abs\":10}", "/data/abs", "must be < 10");
    expect_error(reg, "k/t", "{\"abs\":0}", "/data/abs", "must be > 0");
    expect_error(reg, "k/t", "{\"neg\":\"s\"}", "/data/neg",
                 "must not match the schema in \"not\"");
    expect_error(reg, "k/t", "{\"m\":10}", "/data/m", "must be a multiple of 3");
    expect_error(reg, "k/t", "{\"a\":1}", "/data/b", "is required when a is present");

    /* unevaluatedProperties sees through allOf and passing anyOf branches. */
    expect_valid(reg, "e", "{\"a\":1,\"b\":2}");
    expect_error(reg, "e", "{\"a\":1,\"c\":2}", "/data/c", "unknown field");

    /* $ref loops and deep recursion end in an error, not a crash. */
    json_t *errs = errors_of(reg, "loop", "1", "");
    cr_expect_eq(json_array_size(errs), 1);
    json_decref(errs);
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 1000; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    cr_expect_eq(jschema_validate(reg, "rec", deep, "", NULL), 1);
    json_decref(deep);
    jschema_registry_free(reg);
    rm_tree(tmpdir);
}

Test(json_schema, validates_what_json_strict_parsed)
{
    /* The path the API takes: strict parse, then validate. */
    struct jschema_registry *reg = load();
    const char *body = "{\"settlement_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\","
                       "\"paid_date\":\"2025-03-20\"}";
    char err[256];
    json_t *doc = json_strict_parse(body, strlen(body), JSON_STRICT_MAX_DEPTH, err, sizeof err);
    cr_assert_not_null(doc, "%s", err);
    cr_expect_eq(jschema_validate(reg, "commands/settlement.mark_paid", doc, "", NULL), 0);
    json_decref(doc);
    jschema_registry_free(reg);
}

/* ---- pattern: ECMA-262 as PCRE2 reads it (lib/wire/jschema.c) ---- */

struct pat_case {
    const char *pattern; /* the regex itself, as the schema's string holds it */
    const char *subject;
    bool match;
};

static const struct pat_case pat_cases[] = {
    /* \d, \w, \b are ASCII as in ECMAScript; regcomp read \d as "d" */
    {"^\\d{3}$", "123", true},
    {"^\\d{3}$", "ddd", false},
    {"^\\d{3}$", "12a", false},
    {"^\\d{3}$", "\xd9\xa1\xd9\xa2\xd9\xa3", false}, /* Arabic-Indic digits */
    {"^\\D+$", "abc", true},
    {"^\\w+$", "Ab_9", true},
    {"^\\w+$", "w-w", false},
    {"^\\w+$", "\xc3\xa4", false}, /* ä is no ECMAScript word character */
    {"\\bfoo\\b", "a foo.", true},
    {"\\bfoo\\b", "afoo", false},
    {"^\\s$", "\t", true},
    /* not anchored unless the pattern says so */
    {"\\d", "a1b", true},
    {"[0-9]{2}", "x12", true},
    {"^a", "ba", false},
    /* "$" is the end of the string, not also before a final newline */
    {"^a$", "a", true},
    {"^a$", "a\n", false},
    {"a$", "aa", true},
    /* "." is one code point, never a line terminator */
    {"^.$", "\xc3\xa4", true},
    {"^.$", "\xf0\x9f\x98\x80", true},
    {"^.$", "\n", false},
    {"^.$", "\r", false},
    {"^.$", "\xe2\x80\xa8", false}, /* U+2028 */
    {"^..$", "\xc3\xa4", false},
    /* unicode classes, escapes and lengths */
    {"^[\xc3\xa4\xc3\xb6\xe2\x82\xac]{2}$", "\xe2\x82\xac\xc3\xa4", true},
    {"^[\xc3\xa4\xc3\xb6]$", "\xc3", false}, /* not UTF-8: matches nothing */
    {"^\\u00e4$", "\xc3\xa4", true},
    {"^\\u{1F600}$", "\xf0\x9f\x98\x80", true},
    {"^\\x41$", "A", true},
    {"^[^]$", "x", true},
    {"^[]$", "x", false},
    {"^(a)?\\1b$", "b", true}, /* an unset group's backreference matches "" */
    /* the schemas' own patterns */
    {"^[a-z_]+\\.[a-z_]+$", "voucher.grant", true},
    {"^[a-z_]+\\.[a-z_]+$", "voucherxgrant", false},
    {"^[!-~]+$", "Abc-1", true},
    {"^[!-~]+$", "A b", false},
    {"^[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]$", "131052-308T", true},
};

Test(json_schema, patterns_read_as_ecma262)
{
    char err[512] = "";
    mk_tmp();
    json_t *props = json_object();
    size_t n = sizeof pat_cases / sizeof pat_cases[0];
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%zu", i);
        json_object_set_new(props, key, json_pack("{s:s}", "pattern", pat_cases[i].pattern));
    }
    json_t *schema = json_pack("{s:o}", "properties", props);
    char *path = xasprintf("%s/pat.json", tmpdir);
    cr_assert_eq(json_dump_file(schema, path, 0), 0);
    free(path);
    json_decref(schema);
    struct jschema_registry *reg = load_tmp(err, sizeof err);
    cr_assert_not_null(reg, "%s", err);
    for (size_t i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%zu", i);
        /* _nocheck: one case is not UTF-8, which no parsed document holds */
        json_t *doc = json_object();
        json_object_set_new(doc, key, json_string_nocheck(pat_cases[i].subject));
        json_t *errs = NULL;
        int rc = jschema_validate(reg, "pat", doc, "", &errs);
        cr_expect_eq(rc == 0, pat_cases[i].match, "/%s/ on \"%s\": want %s", pat_cases[i].pattern,
                     pat_cases[i].subject, pat_cases[i].match ? "a match" : "no match");
        if (rc == 1) {
            char *where = xasprintf("/%s", key);
            char *msg = xasprintf("must match the pattern %s", pat_cases[i].pattern);
            cr_expect(has_error(errs, where, msg), "case %zu: %s", i, msg);
            free(where);
            free(msg);
        }
        json_decref(errs);
        json_decref(doc);
    }
    jschema_registry_free(reg);
    rm_tree(tmpdir);
}

Test(json_schema, patterns_pcre2_refuses_fail_the_load)
{
    expect_load_error("{\"pattern\":\"a{2,1}\"}", "pattern");
    expect_load_error("{\"pattern\":\"(?<n\"}", "pattern");
    expect_load_error("{\"pattern\":\"\\\\C\"}", "pattern"); /* \C: bytes, not characters */
}
