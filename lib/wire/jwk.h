/*
 * wire/jwk.h - JSON Web Keys (RFC 7517/7518) as the PEM keys libjwt takes.
 *
 * Two key types: RSA ("kty":"RSA", n and e; private: d, p, q, dp, dq, qi)
 * for RS256 and EC on P-256 ("kty":"EC", "crv":"P-256", x and y; private: d)
 * for ES256. Everything else is refused with a reason. The conversion goes
 * through OpenSSL 3's key-from-parameters API; nothing is cached here.
 */
#ifndef PSOP_JWK_H
#define PSOP_JWK_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

enum jwk_kty { JWK_NONE = 0, JWK_RSA, JWK_EC };

/* The key type of a JWK object (JWK_NONE: not one we take). */
enum jwk_kty jwk_kty(const json_t *jwk);

/* The JWS algorithm a key type signs with: "RS256" / "ES256" (NULL for none). */
const char *jwk_alg_for(enum jwk_kty kty);

/* A new NUL-terminated PEM of the key: the public key ("-----BEGIN PUBLIC
 * KEY-----") or, with private, the private key (needs the private members).
 * NULL with a reason in err. */
char *jwk_to_pem(const json_t *jwk, bool private_key, char *err, size_t errlen);

/* A fresh private JWK of the type with the given kid (RSA 2048 bits, EC
 * P-256), "alg" and "use":"sig" set. New reference, NULL with err. */
json_t *jwk_generate(enum jwk_kty kty, const char *kid, char *err, size_t errlen);

/* The public part of a private JWK (kty, crv, n, e, x, y, kid, alg, use).
 * New reference. */
json_t *jwk_public(const json_t *jwk);

#endif
