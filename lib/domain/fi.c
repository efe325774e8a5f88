#include "domain/fi.h"

#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

bool fi_ytunnus_valid(const char *s)
{
    static const int w[7] = {7, 9, 10, 5, 8, 4, 2};
    if (!s || strlen(s) != 9 || s[7] != '-' || !is_digit(s[8]))
        return false;
    int sum = 0;
    for (int i = 0; i < 7; i++) {
        if (!is_digit(s[i]))
            return false;
        sum += (s[i] - '0') * w[i];
    }
    int r = sum % 11;
    if (r == 1)
        return false;
    int check = r == 0 ? 0 : 11 - r;
    return s[8] - '0' == check;
}

/*
 * Total IBAN lengths of the SEPA countries (EU, EEA, CH, GB, the micro-states
 * and the 2024-25 joiners AL, MD, ME, MK, RS), from the SWIFT IBAN registry.
 * An IBAN of a country not listed is rejected: neither organisers nor
 * providers are paid outside SEPA. Territories without a code of their own
 * (Åland, French overseas departments) use FI and FR IBANs.
 */
static const struct {
    char cc[3];
    int len;
} iban_len[] = {
    {"AD", 24}, {"AL", 28}, {"AT", 20}, {"BE", 16}, {"BG", 22}, {"CH", 21}, {"CY", 28},
    {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"EE", 20}, {"ES", 24}, {"FI", 18}, {"FR", 27},
    {"GB", 22}, {"GI", 23}, {"GR", 27}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IS", 26},
    {"IT", 27}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MT", 31}, {"NL", 18}, {"NO", 15}, {"PL", 28}, {"PT", 25},
    {"RO", 24}, {"RS", 22}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"VA", 22},
};

static int iban_country_len(const char *s)
{
    for (size_t i = 0; i < sizeof iban_len / sizeof iban_len[0]; i++)
        if (s[0] == iban_len[i].cc[0] && s[1] == iban_len[i].cc[1])
            return iban_len[i].len;
    return 0;
}

/* Feeds one character of the rearranged IBAN into a running mod 97; letters
 * count as two digits (A = 10 .. Z = 35). */
static unsigned mod97_step(unsigned acc, char c)
{
    if (is_digit(c))
        return (acc * 10 + (unsigned)(c - '0')) % 97;
    return (acc * 100 + (unsigned)(c - 'A' + 10)) % 97;
}

bool fi_iban_valid(const char *s)
{
    if (!s || !is_upper(s[0]) || !is_upper(s[1]))
        return false;
    int want = iban_country_len(s);
    size_t n = strlen(s);
    if (want == 0 || n != (size_t)want)
        return false;
    if (!is_digit(s[2]) || !is_digit(s[3]))
        return false;
    for (size_t i = 4; i < n; i++)
        if (!is_digit(s[i]) && !is_upper(s[i]))
            return false;
    unsigned acc = 0;
    for (size_t i = 4; i < n; i++)
        acc = mod97_step(acc, s[i]);
    for (size_t i = 0; i < 4; i++)
        acc = mod97_step(acc, s[i]);
    return acc == 1;
}

/* 7-3-1 weights from the rightmost digit of the base leftwards. */
static int viite_check(const char *base, size_t n)
{
    static const int w[3] = {7, 3, 1};
    int sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (base[n - 1 - i] - '0') * w[i % 3];
    return (10 - sum % 10) % 10;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return false;
    return true;
}

int fi_viite_make(const char *base, char *out, size_t outlen)
{
    if (!base || !out)
        return -1;
    size_t n = strlen(base);
    if (n < 3 || n > 19 || !all_digits(base, n) || outlen < n + 2)
        return -1;
    memmove(out, base, n);
    out[n] = (char)('0' + viite_check(out, n));
    out[n + 1] = '\0';
    return 0;
}

bool fi_viite_valid(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n < 4 || n > 20 || !all_digits(s, n))
        return false;
    return s[n - 1] - '0' == viite_check(s, n - 1);
}
