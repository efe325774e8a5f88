#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

char *file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    const char *why = NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n > max) {
            why = "too large";
            break;
        }
        if (got == 0)
            break;
    }
    if (!why && ferror(fp))
        why = "read error";
    fclose(fp);
    if (!why && n == 0)
        why = "empty";
    if (!why) {
        buf[n] = '\0';
        if (strlen(buf) != n)
            why = "contains a NUL byte";
    }
    if (why) {
        if (strcmp(why, "too large") == 0)
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        else
            snprintf(err, errlen, "%s: %s", path, why);
        free(buf);
        return NULL;
    }
    if (len)
        *len = n;
    return buf;
}
