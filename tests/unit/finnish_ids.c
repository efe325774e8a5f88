#include <criterion/criterion.h>
#include <string.h>

#include "domain/fi.h"

/*
 * Check digits below were computed by hand with the published algorithms
 * (and cross-checked with a throwaway script), not copied from anywhere:
 *   0737546: 0*7+7*9+3*10+7*5+5*8+4*4+6*2 = 196, 196 % 11 = 9, 11-9 = 2
 *   1572860: 7+45+70+10+64+24+0 = 220, 220 % 11 = 0 -> check 0
 *   1234568: 7+18+30+20+40+24+16 = 155, 155 % 11 = 1 -> no valid check digit
 */
Test(ytunnus, valid)
{
    cr_assert(fi_ytunnus_valid("0737546-2"));
    cr_assert(fi_ytunnus_valid("1572860-0")); /* remainder 0 -> 0 */
    cr_assert(fi_ytunnus_valid("0112038-9"));
    cr_assert(fi_ytunnus_valid("2617416-4"));
    cr_assert(fi_ytunnus_valid("0201256-6"));
    cr_assert(fi_ytunnus_valid("0000000-0"));
    cr_assert(fi_ytunnus_valid("9999999-2"));
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
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(fi_ytunnus_valid(bad[i]), "accepted: '%s'", bad[i]);
    cr_assert_not(fi_ytunnus_valid(NULL));
}

Test(iban, valid_finnish)
{
    cr_assert(fi_iban_valid("FI2112345600000785"));
    cr_assert(fi_iban_valid("FI3679440302210143"));
    cr_assert(fi_iban_valid("FI4710203000004567"));
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
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert(fi_iban_valid(good[i]), "rejected: %s", good[i]);
}

Test(iban, wrong_checksum)
{
    cr_assert_not(fi_iban_valid("FI2112345600000786")); /* last digit */
    cr_assert_not(fi_iban_valid("FI2212345600000785")); /* check digits */
    cr_assert_not(fi_iban_valid("FI2112345600007085")); /* transposition */
    cr_assert_not(fi_iban_valid("GB82WEST12345698765433"));
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
    cr_assert_not(fi_iban_valid("FI21123456000007850")); /* 19 */
    cr_assert_not(fi_iban_valid("FI211234560000078"));   /* 17 */
    /* Valid mod 97 but FI must be 18: a 16-char FI IBAN (check digits
     * computed for the 12-digit BBAN 123456000007) is still rejected. */
    cr_assert_not(fi_iban_valid("FI97123456000007"));
    cr_assert_not(fi_iban_valid("DE8937040044053201300"));
    cr_assert_not(fi_iban_valid("FI"));
    cr_assert_not(fi_iban_valid("F"));
    cr_assert_not(fi_iban_valid(""));
    cr_assert_not(fi_iban_valid(NULL));
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
    cr_assert_not(fi_iban_valid("fi2112345600000785"));
    cr_assert_not(fi_iban_valid("Fi2112345600000785"));
    cr_assert_not(fi_iban_valid("gb82west12345698765432"));
    cr_assert_not(fi_iban_valid("GB82west12345698765432"));
    cr_assert_not(fi_iban_valid("FI21 1234 5600 0007 85"));
    cr_assert_not(fi_iban_valid(" FI2112345600000785"));
    cr_assert_not(fi_iban_valid("FI2112345600000785 "));
    cr_assert_not(fi_iban_valid("FI211234560000078\n"));
    cr_assert_not(fi_iban_valid("FI-2112345600000785"));
    cr_assert_not(fi_iban_valid("FIAB12345600000785"));
}

Test(viite, make)
{
    char out[21];
    cr_assert_eq(fi_viite_make("123", out, sizeof out), 0);
    cr_assert_str_eq(out, "1232"); /* 3*7+2*3+1*1 = 28 -> 2 */
    cr_assert_eq(fi_viite_make("100", out, sizeof out), 0);
    cr_assert_str_eq(out, "1009"); /* 0*7+0*3+1*1 = 1 -> 9 */
    cr_assert_eq(fi_viite_make("1234561", out, sizeof out), 0);
    cr_assert_str_eq(out, "12345614");
    cr_assert_eq(fi_viite_make("2025000042", out, sizeof out), 0);
    cr_assert_str_eq(out, "20250000429");
    cr_assert_eq(fi_viite_make("1111111111111111111", out, sizeof out), 0);
    cr_assert_str_eq(out, "11111111111111111117");
}

Test(viite, make_rejects)
{
    char out[21];
    cr_assert_eq(fi_viite_make("12", out, sizeof out), -1);
    cr_assert_eq(fi_viite_make("11111111111111111111", out, sizeof out), -1); /* 20 */
    cr_assert_eq(fi_viite_make("12a", out, sizeof out), -1);
    cr_assert_eq(fi_viite_make("123 4", out, sizeof out), -1);
    cr_assert_eq(fi_viite_make("", out, sizeof out), -1);
    cr_assert_eq(fi_viite_make(NULL, out, sizeof out), -1);
    cr_assert_eq(fi_viite_make("123", out, 4), -1); /* needs 5 */
    cr_assert_eq(fi_viite_make("123", out, 5), 0);
    cr_assert_str_eq(out, "1232");
}

Test(viite, valid)
{
    cr_assert(fi_viite_valid("1232"));
    cr_assert(fi_viite_valid("12345614"));
    cr_assert(fi_viite_valid("20250000429"));
    cr_assert(fi_viite_valid("11111111111111111117"));
    cr_assert_not(fi_viite_valid("1233"));
    cr_assert_not(fi_viite_valid("232"));                   /* too short */
    cr_assert_not(fi_viite_valid("111111111111111111117")); /* 21 */
    cr_assert_not(fi_viite_valid("12 32"));
    cr_assert_not(fi_viite_valid("RF1232"));
    cr_assert_not(fi_viite_valid(""));
    cr_assert_not(fi_viite_valid(NULL));
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
