#include "wire/jwk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "core/xmalloc.h"

#define JWK_MEMBER_MAX 2048 /* base64url characters: RSA 8192-bit moduli fit */
#define P256_COORD 32

enum jwk_kty jwk_kty(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty && strcmp(kty, "RSA") == 0)
        return JWK_RSA;
    if (kty && strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        return crv && strcmp(crv, "P-256") == 0 ? JWK_EC : JWK_NONE;
    }
    return JWK_NONE;
}

const char *jwk_alg_for(enum jwk_kty kty)
{
    return kty == JWK_RSA ? "RS256" : kty == JWK_EC ? "ES256" : NULL;
}

/* base64url (no padding) member -> bytes; returns the length, -1 when absent
 * or not base64url. out must hold JWK_MEMBER_MAX bytes. */
static int member_bytes(const json_t *jwk, const char *name, unsigned char *out)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JWK_MEMBER_MAX || n % 4 == 1)
        return -1;
    char b64[JWK_MEMBER_MAX + 4];
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return -1;
        b64[i] = c;
    }
    size_t pad = (4 - n % 4) % 4;
    memset(b64 + n, '=', pad);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)(n + pad));
    return len < 0 ? -1 : len - (int)pad;
}

static BIGNUM *member_bn(const json_t *jwk, const char *name)
{
    unsigned char buf[JWK_MEMBER_MAX];
    int len = member_bytes(jwk, name, buf);
    return len <= 0 ? NULL : BN_bin2bn(buf, len, NULL);
}

static int push_bns(OSSL_PARAM_BLD *bld, const json_t *jwk, const char *const *members,
                    const char *const *params, size_t n, BIGNUM **keep, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        keep[i] = member_bn(jwk, members[i]);
        if (!keep[i]) {
            snprintf(err, errlen, "key member \"%s\" missing or not base64url", members[i]);
            return -1;
        }
        if (!OSSL_PARAM_BLD_push_BN(bld, params[i], keep[i])) {
            snprintf(err, errlen, "key member \"%s\" refused", members[i]);
            return -1;
        }
    }
    return 0;
}

/* The key from the built parameters; NULL on a key
 * OpenSSL refuses. */
static EVP_PKEY *key_from(OSSL_PARAM_BLD *bld, const char *type, bool private_key)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *p = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!p || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, private_key ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, p) <= 0)
        pkey = NULL;
    OSSL_PARAM_free(p);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *rsa_key(const json_t *jwk, bool private_key, char *err, size_t errlen)
{
    static const char *const members[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
    static const char *const params[] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    size_t n = private_key ? 8 : 2;
    BIGNUM *keep[8] = {0};
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld || push_bns(bld, jwk, members, params, n, keep, err, errlen) < 0)
        goto out;
    if (BN_num_bits(keep[0]) < 2048) {
        snprintf(err, errlen, "RSA key shorter than 2048 bits");
        goto out;
    }
    if (!(pkey = key_from(bld, "RSA", private_key)))
        snprintf(err, errlen, "not a valid RSA key");
out:
    for (size_t i = 0; i < 8; i++)
        BN_clear_free(keep[i]);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

static EVP_PKEY *ec_key(const json_t *jwk, bool private_key, char *err, size_t errlen)
{
    unsigned char x[JWK_MEMBER_MAX], y[JWK_MEMBER_MAX], point[1 + 2 * P256_COORD];
    if (member_bytes(jwk, "x", x) != P256_COORD || member_bytes(jwk, "y", y) != P256_COORD) {
        snprintf(err, errlen, "EC key members \"x\" and \"y\" must be 32 bytes each");
        return NULL;
    }
    point[0] = 0x04; /* uncompressed */
    memcpy(point + 1, x, P256_COORD);
    memcpy(point + 1 + P256_COORD, y, P256_COORD);
    EVP_PKEY *pkey = NULL;
    BIGNUM *d = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point))) {
        snprintf(err, errlen, "EC key refused");
        goto out;
    }
    if (private_key) {
        static const char *const members[] = {"d"};
        static const char *const params[] = {OSSL_PKEY_PARAM_PRIV_KEY};
        if (push_bns(bld, jwk, members, params, 1, &d, err, errlen) < 0)
            goto out;
    }
    if (!(pkey = key_from(bld, "EC", private_key)))
        snprintf(err, errlen, "not a valid P-256 key (the point is not on the curve?)");
out:
    BN_clear_free(d);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

char *jwk_to_pem(const json_t *jwk, bool private_key, char *err, size_t errlen)
{
    enum jwk_kty kty = jwk_kty(jwk);
    if (kty == JWK_NONE) {
        snprintf(err, errlen, "key type must be RSA or EC on P-256");
        return NULL;
    }
    EVP_PKEY *pkey = kty == JWK_RSA ? rsa_key(jwk, private_key, err, errlen)
                                    : ec_key(jwk, private_key, err, errlen);
    if (!pkey)
        return NULL;
    char *pem = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = bio && (private_key ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                                 : PEM_write_bio_PUBKEY(bio, pkey));
    char *data = NULL;
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    if (len > 0) {
        pem = xmalloc((size_t)len + 1);
        memcpy(pem, data, (size_t)len);
        pem[len] = '\0';
    } else {
        snprintf(err, errlen, "cannot write the key as PEM");
    }
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return pem;
}

/* bytes -> base64url without padding, a new string. */
static char *b64url(const unsigned char *b, int n)
{
    char *s = xmalloc((size_t)(4 * ((n + 2) / 3) + 1));
    int len = EVP_EncodeBlock((unsigned char *)s, b, n);
    while (len > 0 && s[len - 1] == '=')
        len--;
    s[len] = '\0';
    for (char *c = s; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
    return s;
}

/* Sets obj[name] = base64url of the key's BIGNUM parameter, padded to pad
 * bytes when pad > 0. */
static int set_bn(json_t *obj, const char *name, const EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
        return -1;
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char *buf = xmalloc((size_t)n);
    int rc = BN_bn2binpad(bn, buf, n) == n ? 0 : -1;
    if (rc == 0) {
        char *s = b64url(buf, n);
        json_object_set_new(obj, name, json_string(s));
        free(s);
    }
    OPENSSL_cleanse(buf, (size_t)n);
    free(buf);
    BN_clear_free(bn);
    return rc;
}

json_t *jwk_generate(enum jwk_kty kty, const char *kid, char *err, size_t errlen)
{
    EVP_PKEY *pkey = kty == JWK_RSA  ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                     : kty == JWK_EC ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                     : NULL;
    if (!pkey) {
        snprintf(err, errlen, "key generation failed");
        return NULL;
    }
    json_t *j = json_object();
    int rc = 0;
    if (kty == JWK_RSA) {
        static const char *const members[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi"};
        static const char *const params[] = {
            OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
            OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
            OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
            OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
        json_object_set_new(j, "kty", json_string("RSA"));
        for (size_t i = 0; i < 8 && rc == 0; i++)
            rc = set_bn(j, members[i], pkey, params[i], 0);
    } else {
        json_object_set_new(j, "kty", json_string("EC"));
        json_object_set_new(j, "crv", json_string("P-256"));
        rc = set_bn(j, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, P256_COORD);
        if (rc == 0)
            rc = set_bn(j, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, P256_COORD);
        if (rc == 0)
            rc = set_bn(j, "d", pkey, OSSL_PKEY_PARAM_PRIV_KEY, P256_COORD);
    }
    EVP_PKEY_free(pkey);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the generated key's parameters");
        json_decref(j);
        return NULL;
    }
    json_object_set_new(j, "kid", json_string(kid));
    json_object_set_new(j, "alg", json_string(jwk_alg_for(kty)));
    json_object_set_new(j, "use", json_string("sig"));
    return j;
}

json_t *jwk_public(const json_t *jwk)
{
    static const char *const keep[] = {"kty", "crv", "n", "e", "x", "y", "kid", "alg", "use"};
    json_t *pub = json_object();
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        json_t *v = json_object_get(jwk, keep[i]);
        if (v)
            json_object_set(pub, keep[i], v);
    }
    return pub;
}
