#include <criterion/criterion.h>
#include <string.h>

#include "domain/fi.h"

/* valid() says want of each of the n strings. */
static void expect_valid(bool (*valid)(const char *), bool want, const char *const *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (want)
            cr_assert(valid(s[i]), "rejected: '%s'", s[i]);
        else
            cr_assert_not(valid(s[i]), "accepted: '%s'", s[i]);
    }
}

#define EXPECT_VALID(valid, want, ...)                                                             \
    do {                                                                                           \
        const char *const s_[] = {__VA_ARGS__};                                                    \
        expect_valid(valid, want, s_, sizeof s_ / sizeof s_[0]);                                   \
    } while (0)

/*
 * Check digits below were computed by hand with the published algorithms
 * (and cross-checked with a throwaway script), not copied from anywhere:
 *   0737546: 0*7+7*9+3*10+7*5+5*8+4*4+6*2 = 196, 196 % 11 = 9, 11-9 = 2
 *   1572860: 7+45+70+10+64+24+0 = 220, 220 % 11 = 0 -> check 0
 *   1234568: 7+18+30+20+40+24+16 = 155, 155 % 11 = 1 -> no valid check digit
 */
Test(ytunnus, valid)
{
    EXPECT_VALID(fi_ytunnus_valid, true, "0737546-2", "1572860-0" /* remainder 0 -> 0 */,
                 "0112038-9", "2617416-4", "0201256-6", "0000000-0", "9999999-2");
}

Test(ytunnus, wrong_check_digit)
{
    for (char c = '0'; c <= '9'; c++) {
        char s[10] = "0737546-X";
        s[8] = c;
        cr_assert_eq(fi_ytunnus_valid(s), c == '2', "%s", s);
    }
}

Test(ytunnus, remainder_one_never_valid)
{
    for (char c = '0'; c <= '9'; c++) {
        char a[10] = "1234568-X", b[10] = "3141592-X";
        a[8] = b[8] = c;
        cr_assert_not(fi_ytunnus_valid(a), "%s", a);
        cr_assert_not(fi_ytunnus_valid(b), "%s", b);
    }
}

Test(ytunnus, format_rejects)
{
    const char *bad[] = {"07375462",   "0737546 2",  "0737546-",  "737546-2",   "00737546-2",
                         "0737546-2 ", " 0737546-2", "0737546–2", "FI07375462", "073754a-2",
                         "0737546-a",  "",           "0737546_2", "0737546-22"};
    expect_valid(fi_ytunnus_valid, false, bad, sizeof bad / sizeof bad[0]);
    cr_assert_not(fi_ytunnus_valid(NULL));
}

Test(iban, valid_finnish)
{
    EXPECT_VALID(fi_iban_valid, true, "FI2112345600000785", "FI3679440302210143",
                 "FI4710203000004567");
}

Test(iban, valid_sepa_examples)
{
    const char *good[] = {
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "NO9386011117947",
        "MT84MALT011000012345MTLCAST001S",
        "BE68539007547034",
        "SE4550000000058398257466",
        "FR1420041010050500013M02606",
        "AT611904300234573201",
        "CH9300762011623852957",
        "ES9121000418450200051332",
        "IT60X0542811101000000123456",
        "NL91ABNA0417164300",
        "PL61109010140000071219812874",
        "DK5000400440116243",
        "EE382200221020145685",
        "LT121000011101001000",
        "LV80BANK0000435195001",
        "IE29AIBK93115212345678",
        "PT50000201231234567890154",
        "HU42117730161111101800000000",
        "CY17002001280000001200527600",
        "SI56263300012039086",
    };
    expect_valid(fi_iban_valid, true, good, sizeof good / sizeof good[0]);
}

Test(iban, wrong_checksum)
{
    /* last digit, check digits, transposition */
    EXPECT_VALID(fi_iban_valid, false, "FI2112345600000786", "FI2212345600000785",
                 "FI2112345600007085", "GB82WEST12345698765433");
    /* Every single-digit change of a valid IBAN breaks mod 97. */
    char s[] = "FI2112345600000785";
    for (size_t i = 2; i < strlen(s); i++) {
        char orig = s[i];
        for (char c = '0'; c <= '9'; c++) {
            if (c == orig)
                continue;
            s[i] = c;
            cr_assert_not(fi_iban_valid(s), "accepted: %s", s);
        }
        s[i] = orig;
    }
}

Test(iban, wrong_length_for_country)
{
    /* 19 and 17 long; then valid mod 97 but FI must be 18: a 16-char FI IBAN
     * (check digits computed for the 12-digit BBAN 123456000007) is still
     * rejected. */
    EXPECT_VALID(fi_iban_valid, false, "FI21123456000007850", "FI211234560000078",
                 "FI97123456000007", "DE8937040044053201300", "FI", "F", "", NULL);
}

Test(iban, unknown_country)
{
    /* XX83... is mod-97 valid but XX is no country. */
    cr_assert_not(fi_iban_valid("XX831234567890123456"));
    /* US has no IBAN. */
    cr_assert_not(fi_iban_valid("US2112345600000785"));
}

Test(iban, lowercase_and_spaces_rejected)
{
    EXPECT_VALID(fi_iban_valid, false, "fi2112345600000785", "Fi2112345600000785",
                 "gb82west12345698765432", "GB82west12345698765432", "FI21 1234 5600 0007 85",
                 " FI2112345600000785", "FI2112345600000785 ", "FI211234560000078\n",
                 "FI-2112345600000785", "FIAB12345600000785");
}

Test(viite, make)
{
    /* 3*7+2*3+1*1 = 28 -> 2; 0*7+0*3+1*1 = 1 -> 9 */
    static const char *const made[][2] = {
        {"123", "1232"},
        {"100", "1009"},
        {"1234561", "12345614"},
        {"2025000042", "20250000429"},
        {"1111111111111111111", "11111111111111111117"},
    };
    char out[21];
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        cr_assert_eq(fi_viite_make(made[i][0], out, sizeof out), 0, "%s", made[i][0]);
        cr_assert_str_eq(out, made[i][1]);
    }
}

Test(viite, make_rejects)
{
    char out[21];
    const char *bad[] = {"12", "11111111111111111111" /* 20 */, "12a", "123 4", "", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(fi_viite_make(bad[i], out, sizeof out), -1, "made: '%s'", bad[i]);
    cr_assert_eq(fi_viite_make("123", out, 4), -1); /* needs 5 */
    cr_assert_eq(fi_viite_make("123", out, 5), 0);
    cr_assert_str_eq(out, "1232");
}

Test(viite, valid)
{
    EXPECT_VALID(fi_viite_valid, true, "1232", "12345614", "20250000429", "11111111111111111117");
    /* "232" is too short, "111111111111111111117" 21 long */
    EXPECT_VALID(fi_viite_valid, false, "1233", "232", "111111111111111111117", "12 32", "RF1232",
                 "", NULL);
}

Test(viite, make_then_valid_for_every_length)
{
    char base[20], out[21];
    for (size_t n = 3; n <= 19; n++) {
        for (size_t i = 0; i < n; i++)
            base[i] = (char)('1' + (i * 7 + n) % 9);
        base[n] = '\0';
        cr_assert_eq(fi_viite_make(base, out, sizeof out), 0);
        cr_assert_eq(strlen(out), n + 1);
        cr_assert(fi_viite_valid(out), "%s", out);
        out[n] = (char)('0' + (out[n] - '0' + 1) % 10);
        cr_assert_not(fi_viite_valid(out), "%s", out);
    }
}
