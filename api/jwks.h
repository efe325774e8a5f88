/*
 * jwks.h - the identity provider's signing keys, from a JSON Web Key Set file.
 *
 * The file ({"keys":[...]}, RFC 7517) holds RSA (RS256) and EC P-256 (ES256)
 * public keys, each with a distinct "kid". It is read at start (an unreadable,
 * empty or invalid file is a start-up error) and again whenever it changes:
 * at most once a second a request looks at the file's identity (inode, size,
 * modification time) and, when it differs, reads it anew. A new file that
 * cannot be read or is invalid leaves the keys in use as they are (logged),
 * so a key added and an old one removed rotate without a restart and without
 * a failed request. Readers hold a reference to the key set they use; a
 * reload swaps the set under a mutex: thread-safe.
 */
#ifndef PSOP_API_JWKS_H
#define PSOP_API_JWKS_H

#include <stddef.h>
#include <time.h>

#define JWKS_MAX_KEYS 32
#define JWKS_CHECK_MS 1000

struct jwks;
struct jwks_set;

struct jwks_key {
    char kid[129];
    char alg[8]; /* "RS256" / "ES256" */
    char *pem;   /* public key */
    size_t pemlen;
};

/* Reads the file; NULL with a reason in err. */
struct jwks *jwks_open(const char *path, char *err, size_t errlen);
void jwks_free(struct jwks *j);

/* The key set in force (re-read first when the file changed and the last
 * look is JWKS_CHECK_MS old); release it with jwks_release. */
struct jwks_set *jwks_acquire(struct jwks *j);
void jwks_release(struct jwks_set *s);

/* The key with that kid, or NULL. Borrowed from s. */
const struct jwks_key *jwks_find(const struct jwks_set *s, const char *kid);

/* Parses a key set document (pure: no file); NULL with a reason in err. */
struct jwks_set *jwks_parse(const char *text, size_t len, char *err, size_t errlen);

/* Which load of the file s is (1 at start, then 1 more a reload), so that
 * what was decided with one set can be told apart from the next. */
unsigned long jwks_generation(const struct jwks_set *s);

/* How many keys a set holds. */
size_t jwks_count(const struct jwks_set *s);

#endif
