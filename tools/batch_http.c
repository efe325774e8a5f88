/*
 * batch_http.c - see batch_http.h.
 */
#include "batch_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xmalloc.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
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

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t l = deadline - now_ms();
    return l < 0 ? 0 : (int)l;
}

int http_url_parse(const char *url, struct http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!url || strncasecmp(url, "http://", 7) != 0)
        return fail(err, errlen, "api URL must start with http:// (got '%s')", url ? url : "");
    const char *p = url + 7, *host_end, *hp_end = p + strcspn(p, "/?#");
    if (*hp_end == '?' || *hp_end == '#')
        return fail(err, errlen, "api URL must not have a query or fragment");
    const char *host = p;
    if (*p == '[') {
        host = p + 1;
        host_end = memchr(p, ']', (size_t)(hp_end - p));
        if (!host_end)
            return fail(err, errlen, "api URL: unterminated [ in host");
        p = host_end + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(hp_end - p));
        if (!host_end)
            host_end = hp_end;
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof(out->host))
        return fail(err, errlen, "api URL: bad host");
    memcpy(out->host, host, hlen);
    if (p < hp_end) {
        if (*p != ':')
            return fail(err, errlen, "api URL: junk after host");
        p++;
        size_t plen = (size_t)(hp_end - p);
        if (plen == 0 || plen > 5 || strspn(p, "0123456789") < plen)
            return fail(err, errlen, "api URL: bad port");
        memcpy(out->port, p, plen);
        long port = strtol(out->port, NULL, 10);
        if (port < 1 || port > 65535)
            return fail(err, errlen, "api URL: port out of range");
    } else {
        strcpy(out->port, "80");
    }
    size_t blen = strlen(hp_end);
    while (blen > 0 && hp_end[blen - 1] == '/')
        blen--;
    if (blen >= sizeof(out->base))
        return fail(err, errlen, "api URL: path too long");
    memcpy(out->base, hp_end, blen);
    for (size_t i = 0; i < blen; i++)
        if ((unsigned char)out->base[i] <= ' ' || out->base[i] == 0x7f)
            return fail(err, errlen, "api URL: bad character in path");
    return 0;
}

void http_response_free(struct http_response *r)
{
    if (!r)
        return;
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Connects to one of the host's addresses before the deadline; fd or -1. */
static int dial(const struct http_url *u, int64_t deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(u->host, u->port, &hints, &res);
    if (gr != 0)
        return fail(err, errlen, "resolve %s: %s", u->host, gai_strerror(gr));
    int fd = -1;
    char why[160] = "no address";
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            snprintf(why, sizeof(why), "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int pr;
            do
                pr = poll(&pfd, 1, left_ms(deadline));
            while (pr < 0 && errno == EINTR);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (pr == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            snprintf(why, sizeof(why), "%s", pr == 0 ? "connect timed out" : strerror(soerr));
        } else {
            snprintf(why, sizeof(why), "%s", strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return fail(err, errlen, "connect %s:%s: %s", u->host, u->port, why);
    return fd;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline, char *err,
                    size_t errlen)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            int pr = poll(&pfd, 1, left_ms(deadline));
            if (pr == 0)
                return fail(err, errlen, "send timed out");
            continue;
        }
        return fail(err, errlen, "send: %s", strerror(errno));
    }
    return 0;
}

/* Case-insensitive search for header name in the head [h, end); returns a
 * pointer to the value (spaces skipped) and its length, or NULL. */
static const char *header_value(const char *h, const char *end, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *line = memchr(h, '\n', (size_t)(end - h)); /* skip the status line */
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol < end ? eol : NULL;
    }
    return NULL;
}

/* Decodes a chunked body from [p, end): 1 when complete (*len set), 0 when
 * more bytes are needed, -1 when malformed. Writes (in place) only when
 * write is set: call it first without, so a partial body is left intact. */
static int dechunk(char *p, const char *end, bool write, size_t *len)
{
    char *w = p, *r = p;
    for (;;) {
        const char *eol = memchr(r, '\n', (size_t)(end - r));
        if (!eol)
            return 0;
        char *hex_end = NULL;
        errno = 0;
        unsigned long long n = strtoull(r, &hex_end, 16);
        if (hex_end == r || errno || n > HTTP_MAX_RESPONSE)
            return -1;
        r = (char *)eol + 1;
        if (n == 0) {
            /* trailers until an empty line */
            for (;;) {
                const char *e2 = memchr(r, '\n', (size_t)(end - r));
                if (!e2)
                    return 0;
                bool empty = e2 == r || (e2 == r + 1 && *r == '\r');
                r = (char *)e2 + 1;
                if (empty) {
                    *len = (size_t)(w - p);
                    return 1;
                }
            }
        }
        if ((size_t)(end - r) < n + 2)
            return 0;
        if (write)
            memmove(w, r, n);
        w += n;
        r += n;
        if (*r == '\r')
            r++;
        if (*r != '\n')
            return -1;
        r++;
    }
}

/*
 * Parses what was received so far. 1 = complete answer in *out, 0 = more
 * needed (or, at EOF, -1), -1 = malformed. buf is modified (chunked bodies
 * are decoded in place) only once the answer is complete.
 */
static int parse_answer(char *buf, size_t len, bool eof, struct http_response *out, char *err,
                        size_t errlen)
{
    char *head_end = NULL;
    for (size_t i = 0; i + 3 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
            head_end = buf + i + 4;
            break;
        }
    if (!head_end)
        return eof ? fail(err, errlen, "connection closed before the answer's head") : 0;
    int major, minor, status;
    if (sscanf(buf, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || status < 100 ||
        status > 599)
        return fail(err, errlen, "malformed status line");
    size_t vlen;
    const char *v;
    bool chunked = false;
    long long clen = -1;
    if ((v = header_value(buf, head_end, "Transfer-Encoding", &vlen)) && vlen >= 7 &&
        strncasecmp(v + vlen - 7, "chunked", 7) == 0)
        chunked = true;
    if (!chunked && (v = header_value(buf, head_end, "Content-Length", &vlen))) {
        char tmp[24];
        if (vlen == 0 || vlen >= sizeof(tmp) || strspn(v, "0123456789") < vlen)
            return fail(err, errlen, "malformed Content-Length");
        memcpy(tmp, v, vlen);
        tmp[vlen] = '\0';
        clen = strtoll(tmp, NULL, 10);
        if (clen > (long long)HTTP_MAX_RESPONSE)
            return fail(err, errlen, "answer too large");
    }
    char *body = head_end;
    size_t have = len - (size_t)(head_end - buf), blen;
    bool no_body = status == 204 || status == 304 || status < 200;
    if (no_body) {
        blen = 0;
    } else if (chunked) {
        int d = dechunk(body, buf + len, false, &blen);
        if (d < 0)
            return fail(err, errlen, "malformed chunked body");
        if (d == 0)
            return eof ? fail(err, errlen, "connection closed inside a chunked body") : 0;
        dechunk(body, buf + len, true, &blen);
    } else if (clen >= 0) {
        if (have < (size_t)clen)
            return eof ? fail(err, errlen, "connection closed before the whole body") : 0;
        blen = (size_t)clen;
    } else {
        if (!eof)
            return 0; /* body delimited by the close */
        blen = have;
    }
    int retry_after = -1;
    if ((v = header_value(buf, head_end, "Retry-After", &vlen)) && vlen > 0 && vlen < 9 &&
        strspn(v, "0123456789") >= vlen)
        retry_after = atoi(v);
    out->status = status;
    out->retry_after = retry_after;
    out->body = xmalloc(blen + 1);
    memcpy(out->body, body, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    return 1;
}

int http_request(const struct http_url *u, const char *method, const char *path,
                 const char *const *headers, const char *body, int timeout_ms,
                 struct http_response *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
    int rc = -1, fd = -1;
    char *req = NULL, *buf = NULL;
    size_t extra = 0;
    for (const char *const *h = headers; h && *h; h++)
        extra += strlen(*h) + 2;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(method) + strlen(u->base) + strlen(path) + strlen(u->host) + extra +
                 blen + 256;
    req = xmalloc(cap);
    bool v6 = strchr(u->host, ':') != NULL;
    int n = snprintf(req, cap, "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\nConnection: close\r\n"
                               "Accept: application/json\r\nUser-Agent: psop-batch\r\n",
                     method, u->base, path, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    size_t off = (size_t)n;
    for (const char *const *h = headers; h && *h; h++)
        off += (size_t)snprintf(req + off, cap - off, "%s\r\n", *h);
    if (body)
        off += (size_t)snprintf(req + off, cap - off,
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                                blen);
    off += (size_t)snprintf(req + off, cap - off, "\r\n");
    if (body) {
        memcpy(req + off, body, blen);
        off += blen;
    }

    if ((fd = dial(u, deadline, err, errlen)) < 0)
        goto out;
    if (send_all(fd, req, off, deadline, err, errlen) < 0)
        goto out;

    size_t bcap = 16384, len = 0;
    buf = xmalloc(bcap + 1);
    for (;;) {
        if (len == bcap) {
            if (bcap >= HTTP_MAX_RESPONSE) {
                fail(err, errlen, "answer larger than %u bytes", HTTP_MAX_RESPONSE);
                goto out;
            }
            bcap *= 2;
            buf = xrealloc(buf, bcap + 1);
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, left_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            fail(err, errlen, "no complete answer within %d ms", timeout_ms);
            goto out;
        }
        ssize_t r = recv(fd, buf + len, bcap - len, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (r < 0) {
            fail(err, errlen, "recv: %s", strerror(errno));
            goto out;
        }
        len += (size_t)r;
        buf[len] = '\0';
        int pa = parse_answer(buf, len, r == 0, out, err, errlen);
        if (pa < 0)
            goto out;
        if (pa == 1)
            break;
        if (r == 0) { /* parse_answer reports every EOF case */
            fail(err, errlen, "connection closed");
            goto out;
        }
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(req);
    if (rc < 0)
        http_response_free(out);
    return rc;
}
