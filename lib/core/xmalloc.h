/*
 * core/xmalloc.h - the one allocation-failure policy of psop.
 *
 * Every allocation in psop goes through these wrappers. Running out of memory
 * is not a condition any of our services can recover from mid-request, so the
 * wrappers print one line and abort(); callers never check for NULL.
 *
 * Libraries that accept an allocator get these too: jansson through
 * xmalloc_install (every main calls it first thing), PCRE2 through the
 * schema registry's general context (wire/jschema.c), libcurl through
 * http_global_init (psop-batch). hiredis 0.14.1, librdkafka, libpq,
 * libmicrohttpd and libjwt 1.10 offer no hook (docs/decisions.md); libjwt's
 * JSON is jansson's, so it goes through ours.
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

/* Makes jansson allocate through xmalloc (json_set_alloc_funcs): an
 * allocation failure inside jansson aborts with the one-line message instead
 * of a json_object_set that silently drops a field. Call before any jansson
 * use, from main. */
void xmalloc_install(void);

#endif
