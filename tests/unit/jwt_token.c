#include <criterion/criterion.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "wire/jwt.h"
#include "core/xmalloc.h"

static struct psop_config cfg;
static const char SECRET[] = "unit-test-secret-0123456789abcdefghij";

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

static void setup(void)
{
    char err[256];
    cr_assert_eq(config_load(&cfg, NULL, err, sizeof(err)), 0, "%s", err);
    set_str(&cfg.jwt_alg, "HS256");
    set_str(&cfg.jwt_secret, SECRET);
    set_str(&cfg.jwt_issuer, "");
    set_str(&cfg.jwt_audience, "");
}

static void teardown(void)
{
    config_free(&cfg);
}

TestSuite(jwt_token, .init = setup, .fini = teardown);

/* Decodes and verifies tok with key; fails the test when it does not verify. */
static jwt_t *decode(const char *tok, const unsigned char *key, int keylen)
{
    jwt_t *jwt = NULL;
    cr_assert_eq(jwt_decode(&jwt, tok, key, keylen), 0, "token does not verify: %s", tok);
    return jwt;
}

Test(jwt_token, hs256_carries_the_claims_and_expiry)
{
    char err[256], *tok = NULL;
    cr_assert_eq(jwt_token_mint_at(&cfg, "organiser", "alice", "org-1", NULL, NULL, 600, 1700000000,
                                   &tok, err, sizeof(err)),
                 0, "%s", err);
    jwt_t *jwt = decode(tok, (const unsigned char *)SECRET, (int)strlen(SECRET));
    cr_assert_eq(jwt_get_alg(jwt), JWT_ALG_HS256);
    cr_assert_str_eq(jwt_get_grant(jwt, "sub"), "alice");
    cr_assert_str_eq(jwt_get_grant(jwt, "role"), "organiser");
    cr_assert_str_eq(jwt_get_grant(jwt, "org"), "org-1");
    cr_assert_null(jwt_get_grant(jwt, "provider"));
    cr_assert_null(jwt_get_grant(jwt, "client"));
    cr_assert_null(jwt_get_grant(jwt, "iss"));
    cr_assert_null(jwt_get_grant(jwt, "aud"));
    cr_assert_eq(jwt_get_grant_int(jwt, "iat"), 1700000000L);
    cr_assert_eq(jwt_get_grant_int(jwt, "exp"), 1700000600L);
    jwt_free(jwt);
    free(tok);
}

Test(jwt_token, wrong_secret_does_not_verify)
{
    char err[256], *tok = NULL;
    cr_assert_eq(
        jwt_token_mint(&cfg, "admin", "root", NULL, NULL, NULL, 60, &tok, err, sizeof(err)), 0,
        "%s", err);
    jwt_t *jwt = NULL;
    const char other[] = "another-secret-0123456789abcdefghijkl";
    cr_assert_neq(jwt_decode(&jwt, tok, (const unsigned char *)other, (int)strlen(other)), 0);
    free(tok);
}

Test(jwt_token, issuer_and_audience_when_configured)
{
    char err[256], *tok = NULL;
    set_str(&cfg.jwt_issuer, "psop-test");
    set_str(&cfg.jwt_audience, "psop-api");
    cr_assert_eq(
        jwt_token_mint(&cfg, "provider", "bob", NULL, "prov-9", NULL, 60, &tok, err, sizeof(err)),
        0, "%s", err);
    jwt_t *jwt = decode(tok, (const unsigned char *)SECRET, (int)strlen(SECRET));
    cr_assert_str_eq(jwt_get_grant(jwt, "iss"), "psop-test");
    cr_assert_str_eq(jwt_get_grant(jwt, "aud"), "psop-api");
    cr_assert_str_eq(jwt_get_grant(jwt, "provider"), "prov-9");
    jwt_free(jwt);
    free(tok);
}

static void refused(const char *role, const char *sub, const char *org, const char *provider,
                    const char *client, long ttl, const char *why)
{
    char err[256] = "", *tok = (char *)"untouched";
    cr_assert_eq(
        jwt_token_mint(&cfg, role, sub, org, provider, client, ttl, &tok, err, sizeof(err)), -1,
        "role %s minted", role ? role : "(null)");
    cr_assert_null(tok);
    cr_assert(strstr(err, why), "error '%s' lacks '%s'", err, why);
}

Test(jwt_token, refuses_what_the_api_would_refuse)
{
    refused("root", "x", NULL, NULL, NULL, 60, "role must be");
    refused(NULL, "x", NULL, NULL, NULL, 60, "role must be");
    refused("admin", "", NULL, NULL, NULL, 60, "sub is required");
    refused("organiser", "x", NULL, NULL, NULL, 60, "org claim");
    refused("provider", "x", "org-1", NULL, NULL, 60, "provider claim");
    refused("client", "x", NULL, NULL, "", 60, "client claim");
    refused("admin", "x", NULL, NULL, NULL, 0, "ttl");
    refused("admin", "x", NULL, NULL, NULL, JWT_TOKEN_TTL_MAX + 1, "ttl");
    char longv[JWT_TOKEN_CLAIM_MAX + 2];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    refused("admin", longv, NULL, NULL, NULL, 60, "longer than");
}

Test(jwt_token, refuses_short_secret_and_unknown_alg)
{
    set_str(&cfg.jwt_secret, "short");
    refused("admin", "x", NULL, NULL, NULL, 60, "at least 32 bytes");
    set_str(&cfg.jwt_secret, SECRET);
    set_str(&cfg.jwt_alg, "none");
    refused("admin", "x", NULL, NULL, NULL, 60, "HS256 or RS256");
    set_str(&cfg.jwt_alg, "RS256");
    set_str(&cfg.jwt_private_key_file, "");
    refused("admin", "x", NULL, NULL, NULL, 60, "jwt_private_key_file");
    set_str(&cfg.jwt_private_key_file, "/nonexistent/key.pem");
    refused("admin", "x", NULL, NULL, NULL, 60, "No such file");
}

/* Writes a fresh RSA key pair; returns the public key PEM (caller frees). */
static char *make_rsa(const char *priv_path)
{
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    cr_assert_not_null(pk);
    FILE *f = fopen(priv_path, "w");
    cr_assert_not_null(f);
    cr_assert(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL));
    fclose(f);
    char *pub = NULL;
    size_t publen = 0;
    FILE *m = open_memstream(&pub, &publen);
    cr_assert(PEM_write_PUBKEY(m, pk));
    fclose(m);
    EVP_PKEY_free(pk);
    return pub;
}

Test(jwt_token, rs256_verifies_with_the_public_key)
{
    char path[] = "/tmp/psop-jwt-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char *pub = make_rsa(path);
    set_str(&cfg.jwt_alg, "RS256");
    set_str(&cfg.jwt_private_key_file, path);

    char err[256], *tok = NULL;
    int rc =
        jwt_token_mint(&cfg, "client", "carol", NULL, NULL, "client-3", 60, &tok, err, sizeof(err));
    unlink(path);
    cr_assert_eq(rc, 0, "%s", err);
    jwt_t *jwt = decode(tok, (const unsigned char *)pub, (int)strlen(pub));
    cr_assert_eq(jwt_get_alg(jwt), JWT_ALG_RS256);
    cr_assert_str_eq(jwt_get_grant(jwt, "client"), "client-3");
    jwt_free(jwt);
    free(tok);
    free(pub);
}
