/* Unit tests of api/jwks.c and auth's JWKS mode: RS256 and ES256 keys by
 * kid, refusals, and a key rotation while two threads verify tokens. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "core/config.h"
#include "wire/jwk.h"
#include "jwks.h"
#include "wire/jwt.h"

static char dir[] = "/tmp/psop-jwks-XXXXXX";
static json_t *priv; /* {"keys":[rsa "r1", ec "e1", rsa "r2"]} */

static void write_json(const char *name, json_t *doc)
{
    char path[256], tmp[300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cr_assert_eq(json_dump_file(doc, tmp, 0), 0);
    cr_assert_eq(rename(tmp, path), 0); /* as an operator swaps the file */
}

/* Writes jwks.json with the public keys of the given kids. */
static void publish(const char *const *kids, size_t n)
{
    json_t *keys = json_array(), *jwk;
    size_t i;
    json_array_foreach(json_object_get(priv, "keys"), i, jwk)
    {
        for (size_t k = 0; k < n; k++)
            if (strcmp(json_string_value(json_object_get(jwk, "kid")), kids[k]) == 0)
                json_array_append_new(keys, jwk_public(jwk));
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    write_json("jwks.json", doc);
    json_decref(doc);
}

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    char err[256];
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_generate(JWK_RSA, "r1", err, sizeof(err)));
    json_array_append_new(keys, jwk_generate(JWK_EC, "e1", err, sizeof(err)));
    json_array_append_new(keys, jwk_generate(JWK_RSA, "r2", err, sizeof(err)));
    priv = json_pack("{s:o}", "keys", keys);
    write_json("private.json", priv);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    json_decref(priv);
}

TestSuite(api_jwks, .init = setup, .fini = teardown);

static char *mint(const char *kid)
{
    struct psop_config c = {0};
    char path[256], err[256], *tok = NULL;
    snprintf(path, sizeof(path), "%s/private.json", dir);
    c.jwt_mint_jwks_file = path;
    c.jwt_mint_kid = (char *)kid;
    c.jwt_issuer = c.jwt_audience = (char *)"";
    cr_assert_eq(jwt_token_mint(&c, "organiser", "u1", "0190a6f0-0000-7000-8000-000000000001", NULL,
                                NULL, 300, &tok, err, sizeof(err)),
                 0, "%s", err);
    return tok;
}

static struct auth *jwks_auth(void)
{
    static struct psop_config c;
    static char path[256];
    memset(&c, 0, sizeof(c));
    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    c.jwt_jwks_file = path;
    c.jwt_alg = (char *)"HS256";
    c.jwt_issuer = c.jwt_audience = (char *)"";
    char err[256];
    struct auth *a = auth_new(&c, err, sizeof(err));
    cr_assert_not_null(a, "auth_new: %s", err);
    return a;
}

static int verify(const struct auth *a, const char *tok, char *why, size_t cap)
{
    char hdr[9000];
    struct actor ac;
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    return auth_verify(a, hdr, time(NULL), &ac, why, cap);
}

Test(api_jwks, rs256_and_es256_tokens_verify_by_kid)
{
    static const char *const kids[] = {"r1", "e1"};
    publish(kids, 2);
    struct auth *a = jwks_auth();
    char why[160];
    for (size_t i = 0; i < 2; i++) {
        char *t = mint(kids[i]);
        cr_expect_eq(verify(a, t, why, sizeof(why)), 0, "%s: %s", kids[i], why);
        free(t);
    }
    auth_free(a);
}

Test(api_jwks, unknown_kid_wrong_alg_and_hs256_are_refused)
{
    static const char *const kids[] = {"r1", "e1"};
    publish(kids, 2);
    struct auth *a = jwks_auth();
    char why[160];
    char *t = mint("r2"); /* a key the set does not hold */
    cr_expect_eq(verify(a, t, why, sizeof(why)), -1);
    cr_expect_str_eq(why, "unknown token signing key");
    free(t);

    /* An ES256 header naming the RSA key: the alg is not the key's. */
    t = mint("e1");
    char *dot = strchr(t, '.');
    const char *hdr = "eyJhbGciOiJFUzI1NiIsImtpZCI6InIxIiwidHlwIjoiSldUIn0"; /* ES256, kid r1 */
    char *forged = malloc(strlen(hdr) + strlen(dot) + 1);
    sprintf(forged, "%s%s", hdr, dot);
    cr_expect_eq(verify(a, forged, why, sizeof(why)), -1);
    cr_expect_str_eq(why, "token algorithm does not match its key");
    free(forged);
    free(t);

    /* A development HS256 token is no identity provider's. */
    struct psop_config c = {0};
    c.jwt_alg = (char *)"HS256";
    c.jwt_secret = (char *)"psop-dev-secret-change-me-0123456789abcdef";
    c.jwt_issuer = c.jwt_audience = (char *)"";
    char err[160];
    cr_assert_eq(jwt_token_mint(&c, "admin", "x", NULL, NULL, NULL, 60, &t, err, sizeof(err)), 0);
    cr_expect_eq(verify(a, t, why, sizeof(why)), -1);
    cr_expect_str_eq(why, "token algorithm must be RS256 or ES256");
    free(t);
    auth_free(a);
}

Test(api_jwks, invalid_sets_are_refused_with_a_reason)
{
    char err[256];
    static const char *const bad[] = {
        "{}",
        "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k\",\"k\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"k\",\"x\":\"AA\",\"y\":\"AA\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", /* short */
        "not json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_expect_null(jwks_parse(bad[i], strlen(bad[i]), err, sizeof(err)), "%s", bad[i]);
        cr_expect_neq(err[0], '\0', "no reason for %s", bad[i]);
    }
    /* The same kid twice is ambiguous. */
    json_t *k = json_array_get(json_object_get(priv, "keys"), 1);
    json_t *doc = json_pack("{s:[o,o]}", "keys", jwk_public(k), jwk_public(k));
    char *text = json_dumps(doc, 0);
    cr_expect_null(jwks_parse(text, strlen(text), err, sizeof(err)));
    cr_expect(strstr(err, "twice") != NULL, "%s", err);
    free(text);
    json_decref(doc);
}

/* Rotation under load: r1 in use; r2 added; the signer moves to r2; r1
 * removed. Tokens of the key the signer uses never fail at any moment. */
struct load {
    const struct auth *a;
    char *tok[2];
    atomic_int phase; /* 0: r1 signs, 1: r2 signs, 2: stop */
    atomic_long ok, failed;
};

static void *verifier(void *arg)
{
    struct load *l = arg;
    char why[160];
    int p;
    while ((p = atomic_load(&l->phase)) < 2) {
        if (verify(l->a, l->tok[p], why, sizeof(why)) == 0)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->failed, 1);
    }
    return NULL;
}

Test(api_jwks, keys_rotate_without_a_restart_or_a_failed_request, .timeout = 60)
{
    static const char *const old_only[] = {"r1"}, *const both[] = {"r1", "r2"},
                             *const new_only[] = {"r2"};
    publish(old_only, 1);
    struct auth *a = jwks_auth();
    struct load l = {.a = a, .tok = {mint("r1"), mint("r2")}};
    char why[160];
    cr_expect_eq(verify(a, l.tok[1], why, sizeof(why)), -1, "r2 before it is published");
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, verifier, &l);
    usleep(300 * 1000);
    publish(both, 2);
    usleep((JWKS_CHECK_MS + 500) * 1000); /* every replica has re-read it */
    atomic_store(&l.phase, 1);            /* the identity provider signs with r2 */
    usleep(300 * 1000);
    publish(new_only, 1);
    usleep((JWKS_CHECK_MS + 500) * 1000);
    atomic_store(&l.phase, 2);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(atomic_load(&l.failed), 0, "%ld of %ld verifications failed",
                 atomic_load(&l.failed), atomic_load(&l.failed) + atomic_load(&l.ok));
    cr_expect_gt(atomic_load(&l.ok), 100);
    cr_expect_eq(verify(a, l.tok[0], why, sizeof(why)), -1, "r1 still accepted after removal");
    cr_expect_str_eq(why, "unknown token signing key");
    cr_expect_eq(verify(a, l.tok[1], why, sizeof(why)), 0, "%s", why);
    /* A broken file keeps the keys in force. */
    char path[256];
    snprintf(path, sizeof(path), "%s/jwks.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"keys\":", f);
    fclose(f);
    usleep((JWKS_CHECK_MS + 300) * 1000);
    cr_expect_eq(verify(a, l.tok[1], why, sizeof(why)), 0, "after a broken file: %s", why);
    free(l.tok[0]);
    free(l.tok[1]);
    auth_free(a);
}
