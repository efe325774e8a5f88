/* lib/wire/apikey.c: the text of a provider integration key, its secret and hash. */
#include <criterion/criterion.h>
#include <string.h>

#include "wire/apikey.h"
#include "core/ids.h"

Test(apikey, secret_is_43_base64url_chars_and_new_each_time)
{
    char a[APIKEY_SECRET_LEN + 1], b[APIKEY_SECRET_LEN + 1];
    apikey_secret_new(a);
    apikey_secret_new(b);
    cr_assert_eq(strlen(a), 43);
    cr_assert_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    cr_assert_str_neq(a, b);
}

Test(apikey, text_round_trips_through_parse)
{
    char id[UUID_STR_LEN], secret[APIKEY_SECRET_LEN + 1], text[APIKEY_TEXT_MAX];
    ids_uuid7(id);
    apikey_secret_new(secret);
    apikey_text(id, secret, text);
    cr_assert(apikey_is_key(text));
    cr_assert_eq(strlen(text), APIKEY_TEXT_MAX - 1);
    char kid[37], sec[APIKEY_SECRET_LEN + 1];
    cr_assert_eq(apikey_parse(text, kid, sec), 0);
    cr_assert_str_eq(kid, id);
    cr_assert_str_eq(sec, secret);
}

Test(apikey, parse_refuses_what_is_not_a_key)
{
    char kid[37], sec[APIKEY_SECRET_LEN + 1];
    const char *good = "psop_0196b7a0-3333-7abc-8def-0123456789ab_"
                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    cr_assert_eq(apikey_parse(good, kid, sec), 0);
    const char *bad[] = {
        "",
        "psop_",
        "eyJhbGciOiJIUzI1NiJ9.e30.x",
        /* one character short, one too many */
        "psop_0196b7a0-3333-7abc-8def-0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "psop_0196b7a0-3333-7abc-8def-0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        /* not a uuid, wrong separator, a character outside base64url */
        "psop_0196b7a0-3333-7abc-8def-0123456789zz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "psop_0196b7a0-3333-7abc-8def-0123456789ab.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "psop_0196b7a0-3333-7abc-8def-0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(apikey_parse(bad[i], kid, sec), -1, "accepted %s", bad[i]);
}

Test(apikey, hash_is_sha256_hex_and_compares_exactly)
{
    char h[APIKEY_HASH_HEX], h2[APIKEY_HASH_HEX];
    apikey_hash_hex("abc", h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert(apikey_hash_valid(h));
    apikey_hash_hex("abd", h2);
    cr_assert(apikey_hash_equal(h, h));
    cr_assert_not(apikey_hash_equal(h, h2));
    cr_assert_not(apikey_hash_equal(h, "ba78"));
    cr_assert_not(
        apikey_hash_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}
