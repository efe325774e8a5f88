#include "wire/jwt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jwt.h>

#include "core/file.h"
#include "wire/jwk.h"
#include "core/xmalloc.h"

#define KEY_FILE_MAX (64 * 1024)

static bool set(const char *s)
{
    return s && *s;
}

/* The private key with that kid from a JWKS file of private keys, as PEM
 * (psopctl token --jwks-private FILE --kid K: tokens as an identity
 * provider would sign them). */
static int jwks_private_key(const char *path, const char *kid, jwt_alg_t *alg, unsigned char **key,
                            int *keylen, char *err, size_t errlen)
{
    if (!set(kid)) {
        snprintf(err, errlen, "--kid is required with --jwks-private");
        return -1;
    }
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je), *jwk;
    size_t i;
    int rc = -1;
    if (!doc) {
        snprintf(err, errlen, "%s: %s", path, je.text);
        return -1;
    }
    snprintf(err, errlen, "%s has no key with kid %s", path, kid);
    json_array_foreach(json_object_get(doc, "keys"), i, jwk)
    {
        const char *k = json_string_value(json_object_get(jwk, "kid"));
        if (!k || strcmp(k, kid) != 0)
            continue;
        char *pem = jwk_to_pem(jwk, true, err, errlen);
        if (pem) {
            *alg = jwk_kty(jwk) == JWK_RSA ? JWT_ALG_RS256 : JWT_ALG_ES256;
            *key = (unsigned char *)pem;
            *keylen = (int)strlen(pem);
            rc = 0;
        }
        break;
    }
    json_decref(doc);
    return rc;
}

static int check_claim(const char *name, const char *v, char *err, size_t errlen)
{
    if (v && strlen(v) > JWT_TOKEN_CLAIM_MAX) {
        snprintf(err, errlen, "%s is longer than %d bytes", name, JWT_TOKEN_CLAIM_MAX);
        return -1;
    }
    return 0;
}

int jwt_token_mint_at(const struct psop_config *cfg, const char *role, const char *sub,
                      const char *org, const char *provider, const char *client, long ttl_s,
                      time_t now, char **out, char *err, size_t errlen)
{
    jwt_t *jwt = NULL;
    unsigned char *key = NULL;
    int keylen = 0;
    jwt_alg_t alg;
    int rc = -1;

    *out = NULL;
    if (!set(role) || (strcmp(role, "admin") != 0 && strcmp(role, "organiser") != 0 &&
                       strcmp(role, "provider") != 0 && strcmp(role, "client") != 0)) {
        snprintf(err, errlen, "role must be admin, organiser, provider or client, not '%s'",
                 role ? role : "");
        return -1;
    }
    if (!set(sub)) {
        snprintf(err, errlen, "sub is required");
        return -1;
    }
    if ((strcmp(role, "organiser") == 0 && !set(org)) ||
        (strcmp(role, "provider") == 0 && !set(provider)) ||
        (strcmp(role, "client") == 0 && !set(client))) {
        snprintf(err, errlen, "a token with role %s needs the %s claim", role,
                 strcmp(role, "organiser") == 0 ? "org" : role);
        return -1;
    }
    if (check_claim("sub", sub, err, errlen) || check_claim("org", org, err, errlen) ||
        check_claim("provider", provider, err, errlen) ||
        check_claim("client", client, err, errlen))
        return -1;
    if (ttl_s < 1 || ttl_s > JWT_TOKEN_TTL_MAX) {
        snprintf(err, errlen, "ttl must be 1..%ld seconds, got %ld", JWT_TOKEN_TTL_MAX, ttl_s);
        return -1;
    }

    const char *alg_name = cfg->jwt_alg, *kid = NULL;
    if (set(cfg->jwt_mint_jwks_file)) {
        if (jwks_private_key(cfg->jwt_mint_jwks_file, cfg->jwt_mint_kid, &alg, &key, &keylen, err,
                             errlen) < 0)
            return -1;
        alg_name = alg == JWT_ALG_RS256 ? "RS256" : "ES256";
        kid = cfg->jwt_mint_kid;
    } else if (cfg->jwt_alg && strcmp(cfg->jwt_alg, "HS256") == 0) {
        if (!cfg->jwt_secret || strlen(cfg->jwt_secret) < 32) {
            snprintf(err, errlen, "jwt_secret must be at least 32 bytes for HS256");
            return -1;
        }
        alg = JWT_ALG_HS256;
        keylen = (int)strlen(cfg->jwt_secret);
        key = (unsigned char *)xstrdup(cfg->jwt_secret);
    } else if (cfg->jwt_alg && strcmp(cfg->jwt_alg, "RS256") == 0) {
        if (!set(cfg->jwt_private_key_file)) {
            snprintf(err, errlen, "jwt_private_key_file is required to mint RS256 tokens");
            return -1;
        }
        alg = JWT_ALG_RS256;
        size_t n = 0;
        key = (unsigned char *)file_read(cfg->jwt_private_key_file, KEY_FILE_MAX, &n, err, errlen);
        if (!key)
            return -1;
        keylen = (int)n;
    } else {
        snprintf(err, errlen, "jwt_alg must be HS256 or RS256, not '%s'",
                 cfg->jwt_alg ? cfg->jwt_alg : "");
        return -1;
    }

    int e = jwt_new(&jwt);
    if (e) {
        snprintf(err, errlen, "jwt_new: %s", strerror(e));
        goto out;
    }
    /* libjwt returns an errno value; EINVAL here means a duplicate or bad
     * argument, which our checks above rule out. */
    if ((e = jwt_add_grant(jwt, "sub", sub)) || (e = jwt_add_grant(jwt, "role", role)) ||
        (set(org) && (e = jwt_add_grant(jwt, "org", org))) ||
        (set(provider) && (e = jwt_add_grant(jwt, "provider", provider))) ||
        (set(client) && (e = jwt_add_grant(jwt, "client", client))) ||
        (set(cfg->jwt_issuer) && (e = jwt_add_grant(jwt, "iss", cfg->jwt_issuer))) ||
        (set(cfg->jwt_audience) && (e = jwt_add_grant(jwt, "aud", cfg->jwt_audience))) ||
        (e = jwt_add_grant_int(jwt, "iat", (long)now)) ||
        (e = jwt_add_grant_int(jwt, "exp", (long)now + ttl_s))) {
        snprintf(err, errlen, "jwt claims: %s", strerror(e));
        goto out;
    }
    if ((e = jwt_set_alg(jwt, alg, key, keylen))) {
        snprintf(err, errlen, "jwt_set_alg %s: %s", alg_name, strerror(e));
        goto out;
    }
    if (kid && (e = jwt_add_header(jwt, "kid", kid))) {
        snprintf(err, errlen, "jwt kid header: %s", strerror(e));
        goto out;
    }
    char *tok = jwt_encode_str(jwt);
    if (!tok) {
        snprintf(err, errlen, "jwt sign (%s): %s%s", alg_name, strerror(errno),
                 alg == JWT_ALG_RS256 ? " (is jwt_private_key_file an RSA private key?)" : "");
        goto out;
    }
    /* Into our allocator so callers free() what psop functions return
     * without knowing about jwt_set_alloc. */
    *out = xstrdup(tok);
    free(tok);
    rc = 0;
out:
    if (jwt)
        jwt_free(jwt);
    if (key) {
        explicit_bzero(key, (size_t)keylen);
        free(key);
    }
    return rc;
}

int jwt_token_mint(const struct psop_config *cfg, const char *role, const char *sub,
                   const char *org, const char *provider, const char *client, long ttl_s,
                   char **out, char *err, size_t errlen)
{
    return jwt_token_mint_at(cfg, role, sub, org, provider, client, ttl_s, time(NULL), out, err,
                             errlen);
}
