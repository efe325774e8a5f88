#include "raw_uri.h"

#include <stdbool.h>
#include <stddef.h>

static bool pct(const char *p, char hi, char lo)
{
    char a = p[1], b = a ? p[2] : '\0';
    if (b >= 'a' && b <= 'z')
        b = (char)(b - 32);
    return p[0] == '%' && a == hi && b == lo;
}

enum raw_uri_verdict raw_uri_check(const char *uri)
{
    if (!uri)
        return RAW_URI_OK;
    bool in_query = false;
    enum raw_uri_verdict v = RAW_URI_OK;
    const char *p = uri;
    for (; *p; p++) {
        if (*p == '?')
            in_query = true;
        if (*p != '%')
            continue;
        if (pct(p, '0', '0'))
            return RAW_URI_NUL;
        if (!in_query && (pct(p, '2', 'F') || pct(p, '5', 'C')))
            v = RAW_URI_ENCODED_SLASH;
    }
    if (v == RAW_URI_OK && (size_t)(p - uri) > RAW_URI_MAX)
        return RAW_URI_TOO_LONG;
    return v;
}

const char *raw_uri_reason(enum raw_uri_verdict v)
{
    switch (v) {
    case RAW_URI_NUL:
        return "the request target contains an encoded NUL (%00)";
    case RAW_URI_ENCODED_SLASH:
        return "the path contains an encoded '/' or '\\' (%2F, %5C): ids never do";
    case RAW_URI_TOO_LONG:
        return "the request target is over the limit of " RAW_STR(RAW_URI_MAX) " bytes";
    default:
        return "";
    }
}
