/*
 * raw_uri.h - the request target as the client sent it, before
 * libmicrohttpd decodes it (MHD_OPTION_URI_LOG_CALLBACK).
 *
 * The router sees the decoded path, where "%2F" has become a '/' (an id
 * "{id}%2Fservice-events" would route as the events list) and "%00" ends
 * the string (an id or a query value silently cut short). Those are
 * refused on the raw target, before any routing: a NUL anywhere (path or
 * query) and an encoded '/' or '\' in the path are a 400. A target longer
 * than RAW_URI_MAX is a 414, as at HAProxy (docs/api-decisions.md). Pure.
 */
#ifndef PSOP_API_RAW_URI_H
#define PSOP_API_RAW_URI_H

/* The longest request target (path and query) served; HAProxy's
 * configuration refuses the same (scripts/dev, docker/haproxy.cfg). */
#define RAW_URI_MAX 8192
/* The largest block of header lines served ("name: value" and CRLF each,
 * the request line not counted, as HAProxy's req.hdrs,length), likewise:
 * 431 beyond it. */
#define RAW_HEADERS_MAX 12288
#define RAW_STR_(x) #x
#define RAW_STR(x) RAW_STR_(x)

enum raw_uri_verdict {
    RAW_URI_OK,
    RAW_URI_NUL,           /* %00 anywhere */
    RAW_URI_ENCODED_SLASH, /* %2F, %5C in the path */
    RAW_URI_TOO_LONG,      /* over RAW_URI_MAX bytes: 414 */
};

enum raw_uri_verdict raw_uri_check(const char *uri);

/* The client-safe sentence of a refusal. */
const char *raw_uri_reason(enum raw_uri_verdict v);

#endif
