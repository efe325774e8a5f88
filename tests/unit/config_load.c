/* lib/core/config.c: the settings a process refuses to start with. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

/* config_load with PSOP_<NAME>=value in the environment; returns its result
 * and leaves the error in err. */
static int load_with(const char *env, const char *value, char *err, size_t errlen)
{
    struct psop_config cfg;
    setenv(env, value, 1);
    int rc = config_load(&cfg, NULL, err, errlen);
    unsetenv(env);
    if (rc == 0)
        config_free(&cfg);
    return rc;
}

Test(config_load, the_defaults_load)
{
    struct psop_config cfg;
    char err[256] = "";
    cr_assert_eq(config_load(&cfg, NULL, err, sizeof(err)), 0, "%s", err);
    cr_expect_gt(cfg.audit_retention_days, 365 * 10, "access records kept for years by default");
    config_free(&cfg);
}

Test(config_load, an_audit_retention_below_one_day_is_refused)
{
    static const char *const bad[] = {"0", "-1", "-4383"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_expect_eq(load_with("PSOP_AUDIT_RETENTION_DAYS", bad[i], err, sizeof(err)), -1,
                     "retention %s accepted", bad[i]);
        cr_expect(strstr(err, "audit_retention_days") != NULL, "error names the key: %s", err);
    }
    err[0] = '\0';
    cr_expect_eq(load_with("PSOP_AUDIT_RETENTION_DAYS", "1", err, sizeof(err)), 0, "%s", err);
}

Test(config_load, an_envelope_version_out_of_range_is_refused)
{
    char err[256] = "";
    cr_expect_eq(load_with("PSOP_ENVELOPE_VERSION", "99", err, sizeof(err)), -1);
    cr_expect(strstr(err, "envelope_version") != NULL, "%s", err);
}

Test(config_load, a_setting_that_is_not_a_number_is_refused)
{
    char err[256] = "";
    cr_expect_eq(load_with("PSOP_AUDIT_RETENTION_DAYS", "twelve years", err, sizeof(err)), -1);
    cr_expect(strstr(err, "not an integer") != NULL, "%s", err);
}
