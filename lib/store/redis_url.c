#include "store/redis_url.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Copies s[0..n) into dst (cap bytes); -1 when it does not fit. */
static int copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Parses all of s[0..n) as a decimal in [lo, hi]; -1 otherwise. */
static int parse_int(const char *s, size_t n, long lo, long hi, int *out)
{
    long v = 0;
    if (n == 0 || n > 6)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *out, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    if (!url || strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(err, errlen, "redis url must start with redis://");
        return -1;
    }
    const char *p = url + sizeof(scheme) - 1;
    const char *end = p + strlen(p);
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *auth_end = slash ? slash : end;

    /* userinfo: the last '@' before the path, since passwords may hold '@'. */
    const char *at = NULL;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *user_end = colon ? colon : at;
        if (copy(out->user, sizeof(out->user), p, (size_t)(user_end - p)) < 0 ||
            (colon &&
             copy(out->password, sizeof(out->password), colon + 1, (size_t)(at - colon - 1)) < 0)) {
            snprintf(err, errlen, "redis url: credentials too long");
            return -1;
        }
        if (!colon) { /* redis://password@host is how some tools spell it */
            memcpy(out->password, out->user, sizeof(out->user));
            out->user[0] = '\0';
        }
        p = at + 1;
    }

    const char *host = p, *host_end, *port = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (!rb) {
            snprintf(err, errlen, "redis url: unclosed '[' in host");
            return -1;
        }
        host = p + 1;
        host_end = rb;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':') {
                snprintf(err, errlen, "redis url: junk after ']'");
                return -1;
            }
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        host_end = colon ? colon : auth_end;
        if (colon)
            port = colon + 1;
    }
    if (host_end == host) {
        snprintf(err, errlen, "redis url: no host");
        return -1;
    }
    if (copy(out->host, sizeof(out->host), host, (size_t)(host_end - host)) < 0) {
        snprintf(err, errlen, "redis url: host too long");
        return -1;
    }
    if (port && parse_int(port, (size_t)(auth_end - port), 1, 65535, &out->port) < 0) {
        snprintf(err, errlen, "redis url: bad port");
        return -1;
    }
    if (slash && slash + 1 < end &&
        parse_int(slash + 1, (size_t)(end - slash - 1), 0, 15999, &out->db) < 0) {
        snprintf(err, errlen, "redis url: bad database number");
        return -1;
    }
    return 0;
}
