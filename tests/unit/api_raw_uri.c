/* Unit tests of api/raw_uri.c: the undecoded request target's verdict. */
#include <criterion/criterion.h>

#include "raw_uri.h"

Test(raw_uri, nul_anywhere_and_encoded_slashes_in_the_path)
{
    cr_expect_eq(raw_uri_check("/v1/vouchers/abc"), RAW_URI_OK);
    cr_expect_eq(raw_uri_check("/v1/vouchers?client_id=a%2Fb"), RAW_URI_OK);
    cr_expect_eq(raw_uri_check("/v1/vouchers/abc%2Fservice-events"), RAW_URI_ENCODED_SLASH);
    cr_expect_eq(raw_uri_check("/v1/vouchers/abc%2fservice-events"), RAW_URI_ENCODED_SLASH);
    cr_expect_eq(raw_uri_check("/v1/vouchers/abc%5Cx"), RAW_URI_ENCODED_SLASH);
    cr_expect_eq(raw_uri_check("/v1/vouchers/abc%00"), RAW_URI_NUL);
    cr_expect_eq(raw_uri_check("/v1/vouchers?client_id=x%00y"), RAW_URI_NUL);
    cr_expect_eq(raw_uri_check("/v1/x%2"), RAW_URI_OK);
    cr_expect_eq(raw_uri_check("%"), RAW_URI_OK);
    cr_expect_eq(raw_uri_check(NULL), RAW_URI_OK);
}
