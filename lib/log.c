#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_svc = "psop";
static enum log_level log_min = LOG_LVL_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

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

/* Appends s as a JSON string body (no quotes) into buf at *pos, bounded. */
static void put_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (; *s && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

static void put_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos + n >= cap)
        n = cap - *pos - 1;
    memcpy(buf + *pos, s, n);
    *pos += n;
}

void log_line(enum log_level lvl, const char *msg, ...)
{
    if (lvl < log_min)
        return;
    char buf[4096];
    size_t pos = 0, cap = sizeof(buf) - 2;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    pos += strftime(buf, cap, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    pos += (size_t)snprintf(buf + pos, cap - pos, ".%03ldZ\",\"level\":\"%s\",\"svc\":\"",
                            (long)(tv.tv_usec / 1000), level_names[lvl]);
    put_escaped(buf, cap, &pos, log_svc);
    put_raw(buf, cap, &pos, "\",\"msg\":\"");
    put_escaped(buf, cap, &pos, msg);
    put_raw(buf, cap, &pos, "\"");
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        put_raw(buf, cap, &pos, ",\"");
        put_escaped(buf, cap, &pos, k);
        if (v) {
            put_raw(buf, cap, &pos, "\":\"");
            put_escaped(buf, cap, &pos, v);
            put_raw(buf, cap, &pos, "\"");
        } else {
            put_raw(buf, cap, &pos, "\":null");
        }
    }
    va_end(ap);
    buf[pos++] = '}';
    buf[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, pos);
    (void)w;
}
