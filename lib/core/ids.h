/*
 * core/ids.h - UUIDs: UUIDv7 generation (RFC 9562, time-ordered) and validation.
 * Thread-safe. Strings are lower-case canonical 8-4-4-4-12, 36 chars + NUL.
 */
#ifndef PSOP_IDS_H
#define PSOP_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_STR_LEN 37

/* Writes a new UUIDv7 into out (UUID_STR_LEN bytes). Monotonic within a process. */
void ids_uuid7(char out[UUID_STR_LEN]);
/* Fills buf with n bytes from the kernel's CSPRNG (getrandom); aborts when
 * there is no entropy, as no caller could go on safely. */
void ids_random(void *buf, size_t n);
/* True when s is a canonical UUID (any version, either case). */
bool ids_uuid_valid(const char *s);
/* id (a canonical UUID, either case) as PostgreSQL's uuid::text writes it:
 * lower case, into out; a longer string is cut at UUID_STR_LEN - 1. */
void ids_lower(char out[UUID_STR_LEN], const char *id);

/* A PostgreSQL uuid[] literal "{a,b,...}" grown one id at a time, for
 * "= ANY ($1::uuid[])" and "unnest($1::uuid[])". Only canonical UUIDs get in,
 * so the literal never needs quoting and its size is known. */
struct ids_list {
    char *text; /* always a whole literal: "{}" when empty */
    size_t len, cap, n;
};

void ids_list_init(struct ids_list *l);
/* Appends id: 0, or -1 (nothing appended) when it is not a canonical UUID. */
int ids_list_add(struct ids_list *l, const char *id);
/* Empties the list, keeping its memory. */
void ids_list_clear(struct ids_list *l);
void ids_list_free(struct ids_list *l);

#endif
