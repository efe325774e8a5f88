/* Unit tests of api/raw_uri.c: the undecoded request target's verdict. */
#include <criterion/criterion.h>
#include <string.h>

#include "raw_uri.h"

Test(raw_uri, nul_anywhere_and_encoded_slashes_in_the_path)
{
    static const struct {
        enum raw_uri_verdict want;
        const char *uri;
    } cases[] = {
        {RAW_URI_OK, "/v1/vouchers/abc"},
        {RAW_URI_OK, "/v1/vouchers?client_id=a%2Fb"},
        {RAW_URI_ENCODED_SLASH, "/v1/vouchers/abc%2Fservice-events"},
        {RAW_URI_ENCODED_SLASH, "/v1/vouchers/abc%2fservice-events"},
        {RAW_URI_ENCODED_SLASH, "/v1/vouchers/abc%5Cx"},
        {RAW_URI_NUL, "/v1/vouchers/abc%00"},
        {RAW_URI_NUL, "/v1/vouchers?client_id=x%00y"},
        {RAW_URI_OK, "/v1/x%2"},
        {RAW_URI_OK, "%"},
        {RAW_URI_OK, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(raw_uri_check(cases[i].uri), cases[i].want, "%s",
                     cases[i].uri ? cases[i].uri : "(null)");
}

Test(raw_uri, a_target_over_the_limit_is_too_long)
{
    char uri[RAW_URI_MAX + 2];
    memset(uri, 'a', sizeof(uri) - 1);
    uri[0] = '/';
    uri[RAW_URI_MAX] = '\0'; /* exactly the limit */
    cr_expect_eq(raw_uri_check(uri), RAW_URI_OK);
    uri[RAW_URI_MAX] = 'a';
    uri[RAW_URI_MAX + 1] = '\0';
    cr_expect_eq(raw_uri_check(uri), RAW_URI_TOO_LONG);
    /* An encoded NUL is named as such, however long the target. */
    memcpy(uri + 1, "%00", 3);
    cr_expect_eq(raw_uri_check(uri), RAW_URI_NUL);
    cr_expect(strstr(raw_uri_reason(RAW_URI_TOO_LONG), "8192") != NULL);
}
