/*
 * domain/fi.h - Finnish business identifiers and payment references.
 * Pure functions, thread-safe.
 */
#ifndef PSOP_FINNISH_IDS_H
#define PSOP_FINNISH_IDS_H

#include <stdbool.h>
#include <stddef.h>

/* Y-tunnus "NNNNNNN-C": weights 7,9,10,5,8,4,2; remainder 0 -> C=0,
 * remainder 1 -> never valid, else C = 11 - remainder. */
bool fi_ytunnus_valid(const char *s);

/* IBAN per ISO 13616: country code, check digits, country-specific length
 * (FI = 18), alphanumeric BBAN, mod 97 == 1. No spaces accepted (the API
 * takes the electronic format). */
bool fi_iban_valid(const char *s);

/* Finnish creditor reference (viitenumero) from a base of 3..19 digits:
 * appends the 7-3-1 check digit. Returns 0, or -1 when base is not 3..19
 * digits or out is too small (needs strlen(base) + 2). */
int fi_viite_make(const char *base, char *out, size_t outlen);
/* 4..20 digits whose last is the correct 7-3-1 check digit. */
bool fi_viite_valid(const char *s);

#endif
