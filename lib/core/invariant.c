#include "core/invariant.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The names come from the source (#cond, __FILE__, __func__): they need
 * escaping only for '"' and '\\', which string literals in a check may hold. */
static size_t put_json_string(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 3 < cap; s++) {
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    out[n] = '\0';
    return n;
}

void invariant_fail(const char *check, const char *file, int line, const char *func)
{
    char c[512], f[256], fn[128], buf[1024];
    put_json_string(c, sizeof c, check);
    put_json_string(f, sizeof f, file);
    put_json_string(fn, sizeof fn, func);
    int n = snprintf(buf, sizeof buf,
                     "{\"level\":\"fatal\",\"msg\":\"invariant violated\",\"check\":\"%s\","
                     "\"at\":\"%s:%d\",\"func\":\"%s\"}\n",
                     c, f, line, fn);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)w;
    }
    abort();
}
