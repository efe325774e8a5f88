/*
 * batch_http.c - see batch_http.h.
 */
#include "batch_http.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/xmalloc.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int http_global_init(char *err, size_t errlen)
{
    CURLcode rc =
        curl_global_init_mem(CURL_GLOBAL_DEFAULT, xmalloc, free, xrealloc, xstrdup, xcalloc);
    if (rc != CURLE_OK)
        return fail(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
    return 0;
}

void http_global_cleanup(void)
{
    curl_global_cleanup();
}

/* A part of the parsed URL (curl-allocated) or NULL when it has none. */
static char *url_part(CURLU *h, CURLUPart what, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(h, what, &v, flags) != CURLUE_OK)
        return NULL;
    return v;
}

int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!url || (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return fail(err, errlen, "api URL must start with http:// or https:// (got '%s')",
                    url ? url : "");
    int rc = -1;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *query = NULL,
         *frag = NULL;
    CURLU *h = curl_url();
    if (!h)
        return fail(err, errlen, "api URL: out of memory");
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        fail(err, errlen, "api URL: %s", curl_url_strerror(uc));
        goto out;
    }
    scheme = url_part(h, CURLUPART_SCHEME, 0);
    host = url_part(h, CURLUPART_HOST, 0);
    port = url_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    path = url_part(h, CURLUPART_PATH, 0);
    user = url_part(h, CURLUPART_USER, 0);
    query = url_part(h, CURLUPART_QUERY, 0);
    frag = url_part(h, CURLUPART_FRAGMENT, 0);
    if (user) {
        fail(err, errlen, "api URL must not carry a user or password");
        goto out;
    }
    if (query || frag) {
        fail(err, errlen, "api URL must not have a query or fragment");
        goto out;
    }
    if (!scheme || !host || !*host || !port || !path) {
        fail(err, errlen, "api URL: bad host");
        goto out;
    }
    out->tls = strcmp(scheme, "https") == 0;
    if ((size_t)snprintf(out->origin, sizeof(out->origin), "%s://%s:%s", scheme, host, port) >=
        sizeof(out->origin)) {
        fail(err, errlen, "api URL: host too long");
        goto out;
    }
    size_t blen = strlen(path);
    while (blen > 0 && path[blen - 1] == '/')
        blen--;
    if (blen >= sizeof(out->base)) {
        fail(err, errlen, "api URL: path too long");
        goto out;
    }
    memcpy(out->base, path, blen);
    out->base[blen] = '\0';
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(user);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(h);
    return rc;
}

void http_response_free(struct http_response *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* The answer's body, collected up to HTTP_MAX_RESPONSE. */
struct sink {
    char *buf;
    size_t len, cap;
    bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t n, void *userp)
{
    struct sink *s = userp;
    size_t add = size * n;
    if (add > HTTP_MAX_RESPONSE - s->len) {
        s->too_big = true;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (s->len + add + 1 > s->cap) {
        while (s->len + add + 1 > s->cap)
            s->cap = s->cap ? 2 * s->cap : 16384;
        s->buf = xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

/* Retry-After as delta-seconds, -1 when absent or an HTTP date. */
static int retry_after(CURL *c)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
        return -1;
    const char *v = h->value;
    size_t n = strlen(v);
    if (n == 0 || n >= 9 || strspn(v, "0123456789") != n)
        return -1;
    return atoi(v);
}

int http_request(const struct http_url *u, const char *method, const char *path,
                 const char *const *headers, const char *body, int timeout_ms,
                 struct http_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int rc = -1;
    struct curl_slist *hl = NULL;
    struct sink s = {0};
    char cerr[CURL_ERROR_SIZE] = "";
    char *url = xasprintf("%s%s%s", u->origin, u->base, path);
    CURL *c = curl_easy_init();
    if (!c) {
        fail(err, errlen, "libcurl: cannot make a handle");
        goto out;
    }
    /* "Expect:" turns off Expect: 100-continue (a second's wait on big bodies). */
    hl = curl_slist_append(hl, "Accept: application/json");
    hl = curl_slist_append(hl, "Expect:");
    if (body)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    for (const char *const *hp = headers; hp && *hp; hp++)
        hl = curl_slist_append(hl, *hp);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "psop-batch");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_RESPONSE);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    if (u->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, u->ca_file);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED)
            fail(err, errlen, "answer larger than %u bytes", HTTP_MAX_RESPONSE);
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            fail(err, errlen, "no complete answer within %d ms", timeout_ms);
        else
            fail(err, errlen, "%s %s: %s", method, url, cerr[0] ? cerr : curl_easy_strerror(cc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 100 || status > 599) {
        fail(err, errlen, "malformed status line");
        goto out;
    }
    out->status = (int)status;
    out->retry_after = retry_after(c);
    out->body = s.buf ? s.buf : xstrdup("");
    out->body_len = s.len;
    s.buf = NULL;
    rc = 0;
out:
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    free(s.buf);
    free(url);
    return rc;
}
