/*
 * batch_http.h - the blocking HTTP client of psop-batch, on libcurl.
 *
 * http:// and https:// (the batch may run against a remote api; certificates
 * are verified against the system's CAs or a given PEM bundle). One
 * connection per request. Every exchange is bounded by the request's timeout
 * (connect, TLS, send, receive) and the answer by HTTP_MAX_RESPONSE bytes: the
 * network decides no length and no wait. No redirects are followed.
 *
 * http_global_init once in main, before any thread; then http_request is
 * thread-safe. Functions return 0, or -1 with err filled.
 */
#ifndef PSOP_BATCH_HTTP_H
#define PSOP_BATCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Largest answer body accepted. */
#define HTTP_MAX_RESPONSE (8u << 20)

struct http_url {
    char origin[300]; /* "http://HOST:PORT" or "https://HOST:PORT" */
    char base[256];   /* path prefix without a trailing '/', "" for none */
    bool tls;
    const char *ca_file; /* PEM bundle trusted instead of the system's CAs, or NULL */
};

/* libcurl's global state, its allocations routed through xmalloc. */
int http_global_init(char *err, size_t errlen);
void http_global_cleanup(void);

/* Parses "http[s]://HOST[:PORT][/BASE]" (HOST may be "[v6]"); port default
 * 80 or 443. No user, query or fragment. ca_file is left NULL. */
int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen);

struct http_response {
    int status;      /* 100..599 */
    int retry_after; /* seconds from Retry-After, -1 when absent */
    char *body;      /* NUL-terminated (owned; http_response_free) */
    size_t body_len;
};

void http_response_free(struct http_response *r);

/*
 * Sends METHOD base+path with the given extra header lines ("Name: value",
 * NULL-terminated, may be NULL) and body (NULL: none; else sent as
 * application/json). timeout_ms bounds the whole exchange. On success *out
 * holds the answer (any status); on failure (cannot connect, TLS, timeout,
 * malformed or oversized answer) *out is zeroed and -1 returned.
 */
int http_request(const struct http_url *u, const char *method, const char *path,
                 const char *const *headers, const char *body, int timeout_ms,
                 struct http_response *out, char *err, size_t errlen);

#endif
