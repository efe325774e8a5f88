/*
 * wire/apikey.h - provider integration keys (docs/domain.md, "Provider
 * integration keys"): the text of a key, its secret and the secret's hash.
 *
 * A key's text is "psop_<key id>_<secret>": the key id is a UUID, the secret
 * 43 base64url characters of 32 random bytes (256 bits). Only the SHA-256 of
 * the secret (hex) is ever stored or published; a secret of 256 random bits
 * needs no slow hash. Comparisons of hashes take constant time.
 * Pure functions (apikey_secret_new reads the kernel's CSPRNG); thread-safe.
 */
#ifndef PSOP_APIKEY_H
#define PSOP_APIKEY_H

#include <stdbool.h>
#include <stddef.h>

#define APIKEY_PREFIX "psop_"
#define APIKEY_SECRET_LEN 43 /* base64url of 32 bytes, no padding */
#define APIKEY_HASH_HEX 65   /* 64 hex digits + NUL */
/* "psop_" + uuid + "_" + secret + NUL */
#define APIKEY_TEXT_MAX (5 + 36 + 1 + APIKEY_SECRET_LEN + 1)

/* True when a bearer token is meant as an API key (starts with "psop_"). */
bool apikey_is_key(const char *token);

/* A new secret of 256 random bits, base64url. */
void apikey_secret_new(char secret[APIKEY_SECRET_LEN + 1]);

/* The key's text "psop_<key_id>_<secret>". */
void apikey_text(const char *key_id, const char *secret, char out[APIKEY_TEXT_MAX]);

/* Splits a key's text: 0 with key_id (lower-case) and secret filled, or -1
 * when it is not of the form above. */
int apikey_parse(const char *text, char key_id[37], char secret[APIKEY_SECRET_LEN + 1]);

/* The hex SHA-256 of the secret. */
void apikey_hash_hex(const char *secret, char out[APIKEY_HASH_HEX]);

/* True when two 64-digit hex hashes are equal, in time independent of where
 * they differ. */
bool apikey_hash_equal(const char *a, const char *b);

/* True when s is 64 lower-case hex digits. */
bool apikey_hash_valid(const char *s);

#endif
