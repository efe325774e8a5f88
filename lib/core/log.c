#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/invariant.h"

static const char *log_svc = "psop";
static enum log_level log_min = LOG_LVL_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

/* What ends a truncated string ("…", U+2026) and a truncated line. */
static const char ELLIPSIS[] = "\xe2\x80\xa6";
static const char TRUNC_TAIL[] = ",\"log_truncated\":true}\n";
static const char REPLACEMENT[] = "\xef\xbf\xbd"; /* U+FFFD */

void log_init(const char *svc, enum log_level min_level)
{
    log_svc = svc;
    log_min = min_level;
}

void log_set_level(enum log_level min_level)
{
    log_min = min_level;
}

enum log_level log_level_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (enum log_level)i;
    return LOG_LVL_INFO;
}

/*
 * A line under construction. `end` is where string bodies must stop so that
 * the closing quote, the ellipsis and TRUNC_TAIL always still fit: nothing is
 * ever cut mid-token, so the line is valid JSON however it ends.
 */
struct line {
    char buf[LOG_LINE_MAX];
    size_t pos;
    size_t end;
    bool truncated;
};

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 if s does not start one. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* The JSON text of the character at *s into out (at most 6 bytes); advances
 * *s past it and returns the text's length. Controls (C0, DEL, C1) become
 * \u escapes, invalid UTF-8 bytes U+FFFD one byte at a time. */
static size_t escape_one(const unsigned char **s, char out[8])
{
    unsigned char c = **s;
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        (*s)++;
        return 2;
    }
    if (c == '\n' || c == '\t' || c == '\r') {
        out[0] = '\\';
        out[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        (*s)++;
        return 2;
    }
    if (c < 0x20 || c == 0x7f) {
        (*s)++;
        return (size_t)snprintf(out, 8, "\\u%04x", c);
    }
    if (c < 0x80) {
        out[0] = (char)c;
        (*s)++;
        return 1;
    }
    size_t n = utf8_seq_len(*s);
    if (n == 0) {
        memcpy(out, REPLACEMENT, 3);
        (*s)++;
        return 3;
    }
    if (n == 2 && c == 0xc2 && (*s)[1] < 0xa0) { /* C1 control U+0080..U+009F */
        unsigned cp = (*s)[1];
        *s += 2;
        return (size_t)snprintf(out, 8, "\\u%04x", cp);
    }
    memcpy(out, *s, n);
    *s += n;
    return n;
}

static void put_raw(struct line *l, const char *s)
{
    size_t n = strlen(s);
    memcpy(l->buf + l->pos, s, n);
    l->pos += n;
}

/* Room for n more bytes of body before `end`. */
static bool room(const struct line *l, size_t n)
{
    return l->pos + n <= l->end;
}

/*
 * Writes s as a quoted JSON string, at most max bytes of body. Cut short, it
 * ends in "…" and marks the line truncated. The caller has checked that at
 * least the two quotes and the ellipsis fit.
 */
static void put_string(struct line *l, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t body = 0, stop = l->end - 1 - (sizeof(ELLIPSIS) - 1); /* keep '"' + '…' */
    l->buf[l->pos++] = '"';
    while (*p) {
        char tmp[8];
        const unsigned char *next = p;
        size_t n = escape_one(&next, tmp);
        if (l->pos + n > stop || body + n > max) {
            put_raw(l, ELLIPSIS);
            l->truncated = true;
            break;
        }
        memcpy(l->buf + l->pos, tmp, n);
        l->pos += n;
        body += n;
        p = next;
    }
    l->buf[l->pos++] = '"';
}

/* ,"key":"value" (or null). A field whose key does not fit whole, with at
 * least an ellipsis of value, is left out and the line marked truncated. */
static void put_field(struct line *l, const char *k, const char *v)
{
    /* Worst case of a key: 6 bytes of JSON per input byte. */
    size_t klen = strlen(k);
    size_t need = 1 + 2 + 6 * klen + 1 + (v ? 2 + sizeof(ELLIPSIS) - 1 : 4);
    if (!room(l, need)) {
        l->truncated = true;
        return;
    }
    put_raw(l, ",");
    put_string(l, k, SIZE_MAX);
    put_raw(l, ":");
    if (v)
        put_string(l, v, LOG_VALUE_MAX);
    else
        put_raw(l, "null");
}

size_t log_format(char *out, enum log_level lvl, const char *msg, va_list ap)
{
    PSOP_ASSERT((int)lvl >= LOG_LVL_DEBUG && (int)lvl <= LOG_LVL_ERROR);
    struct line l;
    l.pos = 0;
    l.end = sizeof(l.buf) - (sizeof(TRUNC_TAIL) - 1);
    l.truncated = false;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    l.pos += strftime(l.buf, l.end, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    l.pos += (size_t)snprintf(l.buf + l.pos, l.end - l.pos,
                              ".%03ldZ\",\"level\":\"%s\",\"svc\":", (long)(tv.tv_usec / 1000),
                              level_names[lvl]);
    put_string(&l, log_svc, 64);
    put_raw(&l, ",\"msg\":");
    put_string(&l, msg, LOG_VALUE_MAX);

    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        put_field(&l, k, v);
    }
    PSOP_ASSERT(l.pos <= l.end); /* what put_string and put_field keep */
    if (l.truncated)
        put_raw(&l, TRUNC_TAIL);
    else
        put_raw(&l, "}\n");
    memcpy(out, l.buf, l.pos);
    return l.pos;
}

void log_line(enum log_level lvl, const char *msg, ...)
{
    if (lvl < log_min)
        return;
    char buf[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, msg);
    size_t n = log_format(buf, lvl, msg, ap);
    va_end(ap);
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}
