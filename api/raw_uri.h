/*
 * raw_uri.h - the request target as the client sent it, before
 * libmicrohttpd decodes it (MHD_OPTION_URI_LOG_CALLBACK).
 *
 * The router sees the decoded path, where "%2F" has become a '/' (an id
 * "{id}%2Fservice-events" would route as the events list) and "%00" ends
 * the string (an id or a query value silently cut short). Those are
 * refused on the raw target, before any routing: a NUL anywhere (path or
 * query) and an encoded '/' or '\' in the path are a 400. Pure.
 */
#ifndef PSOP_API_RAW_URI_H
#define PSOP_API_RAW_URI_H

enum raw_uri_verdict {
    RAW_URI_OK,
    RAW_URI_NUL,           /* %00 anywhere */
    RAW_URI_ENCODED_SLASH, /* %2F, %5C in the path */
};

enum raw_uri_verdict raw_uri_check(const char *uri);

/* The client-safe sentence of a refusal. */
const char *raw_uri_reason(enum raw_uri_verdict v);

#endif
