#include "wire/traceparent.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static bool hex_run(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

bool traceparent_valid(const char *s)
{
    if (!s || strlen(s) != TRACEPARENT_LEN - 1)
        return false;
    bool zero;
    if (strncmp(s, "00-", 3) != 0 || s[35] != '-' || s[52] != '-')
        return false;
    if (!hex_run(s + 3, 32, &zero) || zero)
        return false;
    if (!hex_run(s + 36, 16, &zero) || zero)
        return false;
    return hex_run(s + 53, 2, &zero);
}

void traceparent_new(char out[TRACEPARENT_LEN])
{
    unsigned char r[24];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    r[0] |= 1; /* ids must not be all zero */
    r[16] |= 1;
    char *p = out;
    p += sprintf(p, "00-");
    for (int i = 0; i < 16; i++)
        p += sprintf(p, "%02x", r[i]);
    *p++ = '-';
    for (int i = 16; i < 24; i++)
        p += sprintf(p, "%02x", r[i]);
    sprintf(p, "-01");
}
