/*
 * batch_http.h - a small blocking HTTP/1.1 client for psop-batch.
 *
 * Plain HTTP only (the api listens on loopback behind HAProxy; TLS belongs to
 * the edge, not to the nightly job). One TCP connection per request, sent with
 * "Connection: close"; the answer is read up to its Content-Length, the end of
 * a chunked body, or EOF. Every wait (connect, send, receive) is bounded by
 * the request's deadline, and the answer by HTTP_MAX_RESPONSE bytes: the
 * network decides no length and no wait.
 *
 * No shared state: thread-safe. Functions return 0, or -1 with err filled.
 */
#ifndef PSOP_BATCH_HTTP_H
#define PSOP_BATCH_HTTP_H

#include <stddef.h>

/* Largest answer (head and body) accepted. */
#define HTTP_MAX_RESPONSE (8u << 20)

struct http_url {
    char host[256];
    char port[8];
    char base[256]; /* path prefix without a trailing '/', "" for none */
};

/* Parses "http://HOST[:PORT][/BASE]" (HOST may be "[v6]"); port default 80. */
int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen);

struct http_response {
    int status;       /* 100..599 */
    int retry_after;  /* seconds from Retry-After, -1 when absent */
    char *body;       /* NUL-terminated (owned; http_response_free) */
    size_t body_len;
};

void http_response_free(struct http_response *r);

/*
 * Sends METHOD base+path with the given extra header lines ("Name: value",
 * NULL-terminated, may be NULL) and body (NULL: none; else sent as
 * application/json). timeout_ms bounds the whole exchange. On success *out
 * holds the answer (any status); on failure (cannot connect, timeout,
 * malformed or oversized answer) *out is zeroed and -1 returned.
 */
int http_request(const struct http_url *u, const char *method, const char *path,
                 const char *const *headers, const char *body, int timeout_ms,
                 struct http_response *out, char *err, size_t errlen);

#endif
