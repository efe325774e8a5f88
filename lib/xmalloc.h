/*
 * xmalloc.h - the one allocation-failure policy of psop.
 *
 * Every allocation in psop goes through these wrappers. Running out of memory
 * is not a condition any of our services can recover from mid-request, so the
 * wrappers print one line and abort(); callers never check for NULL.
 */
#ifndef PSOP_XMALLOC_H
#define PSOP_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
