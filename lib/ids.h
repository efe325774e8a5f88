/*
 * ids.h - UUIDs: UUIDv7 generation (RFC 9562, time-ordered) and validation.
 * Thread-safe. Strings are lower-case canonical 8-4-4-4-12, 36 chars + NUL.
 */
#ifndef PSOP_IDS_H
#define PSOP_IDS_H

#include <stdbool.h>

#define UUID_STR_LEN 37

/* Writes a new UUIDv7 into out (UUID_STR_LEN bytes). Monotonic within a process. */
void ids_uuid7(char out[UUID_STR_LEN]);
/* True when s is a canonical UUID (any version, either case). */
bool ids_uuid_valid(const char *s);

#endif
