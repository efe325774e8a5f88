/*
 * core/file.h - reading a whole small file (keys, migrations) into memory.
 * Thread-safe.
 */
#ifndef PSOP_FILE_H
#define PSOP_FILE_H

#include <stddef.h>

/* The file's bytes, NUL-terminated (caller frees), and their count in *len
 * (may be NULL). NULL with err filled ("<path>: ...") when it cannot be
 * opened or read, is empty, holds a NUL byte, or is over max bytes. */
char *file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

#endif
