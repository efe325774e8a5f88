/* Unit tests of api/auth.c: JWT verification and the token-only checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../integration/api_testlib.h"
#include "auth.h"
#include "core/config.h"
#include "wire/jschema.h"
#include "schemas.h"

static struct psop_config cfg;

static struct auth *make_auth(const char *alg, const char *iss, const char *aud,
                              const char *pubkey_file)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.jwt_alg = (char *)alg;
    cfg.jwt_secret = (char *)TL_SECRET;
    cfg.jwt_public_key_file = (char *)(pubkey_file ? pubkey_file : "");
    cfg.jwt_issuer = (char *)(iss ? iss : "");
    cfg.jwt_audience = (char *)(aud ? aud : "");
    char err[256];
    struct auth *a = auth_new(&cfg, err, sizeof(err));
    cr_assert_not_null(a, "auth_new: %s", err);
    return a;
}

/* Verifies "Bearer <tok>"; returns 0/-1 and leaves the reason in why. */
static int verify(struct auth *a, const char *tok, struct actor *ac, char *why, size_t cap)
{
    char hdr[8300];
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    return auth_verify(a, hdr, time(NULL), ac, why, cap);
}

/* a accepts tok, which is freed. */
static void accepts(struct auth *a, char *tok)
{
    struct actor ac;
    char why[160];
    cr_expect_eq(verify(a, tok, &ac, why, sizeof(why)), 0, "%s", why);
    free(tok);
}

/* a refuses tok, which is freed, saying says (any reason where NULL). */
static void refuses(struct auth *a, char *tok, const char *says)
{
    struct actor ac;
    char why[160];
    cr_expect_eq(verify(a, tok, &ac, why, sizeof(why)), -1, "%s", tok);
    if (says)
        cr_expect_str_eq(why, says);
    free(tok);
}

static char *hs256(const char *claims)
{
    return tl_jwt("HS256", TL_SECRET, strlen(TL_SECRET), claims);
}

static char *claims_exp(const char *extra, long ttl)
{
    static char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"sub\":\"u1\",\"role\":\"organiser\",\"org\":\"o1\",\"exp\":%ld%s}",
             (long)time(NULL) + ttl, extra ? extra : "");
    return buf;
}

Test(api_auth, a_valid_token_gives_the_actor)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    char *t = hs256(claims_exp(",\"provider\":\"p1\",\"client\":\"c1\"", 60));
    struct actor ac;
    char why[160];
    cr_assert_eq(verify(a, t, &ac, why, sizeof(why)), 0, "%s", why);
    cr_expect_str_eq(ac.sub, "u1");
    cr_expect_eq(ac.role, ROLE_ORGANISER);
    cr_expect_str_eq(ac.org, "o1");
    cr_expect_str_eq(ac.provider, "p1");
    cr_expect_str_eq(ac.client, "c1");
    json_t *j = actor_to_json(&ac);
    cr_expect_str_eq(json_string_value(json_object_get(j, "role")), "organiser");
    cr_expect_str_eq(json_string_value(json_object_get(j, "org")), "o1");
    json_decref(j);
    free(t);
    auth_free(a);
}

Test(api_auth, expired_token_is_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    refuses(a, hs256(claims_exp(NULL, -1)), "token expired");
    auth_free(a);
}

/* The same header verified at now. */
static int verify_at(struct auth *a, const char *tok, time_t now, struct actor *ac, char *why,
                     size_t cap)
{
    char hdr[8300];
    snprintf(hdr, sizeof(hdr), "Bearer %s", tok);
    return auth_verify(a, hdr, now, ac, why, cap);
}

Test(api_auth, a_token_verified_before_gives_the_same_actor_and_still_expires)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    time_t now = time(NULL);
    char *t = hs256(claims_exp(",\"client\":\"c1\"", 10));
    struct actor first, again;
    char why[160];
    cr_assert_eq(verify_at(a, t, now, &first, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(verify_at(a, t, now + 1, &again, why, sizeof(why)), 0, "%s", why);
    cr_expect_eq(memcmp(&first, &again, sizeof(first)), 0, "the remembered actor differs");
    cr_expect_eq(verify_at(a, t, now + 10, &again, why, sizeof(why)), -1);
    cr_expect_str_eq(why, "token expired");
    cr_expect_str_eq(again.sub, "", "a refused token leaves no actor");
    free(t);
    auth_free(a);
}

Test(api_auth, a_token_one_byte_away_from_a_verified_one_is_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    char *t = hs256(claims_exp(NULL, 60));
    struct actor ac;
    char why[160];
    cr_assert_eq(verify(a, t, &ac, why, sizeof(why)), 0, "%s", why);
    char *forged = strdup(t);
    size_t n = strlen(forged);
    forged[n - 2] = forged[n - 2] == 'A' ? 'B' : 'A'; /* in the signature */
    refuses(a, forged, "bad token signature");
    char *claims_changed = strdup(t);
    char *dot = strchr(claims_changed, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e'; /* in the claims */
    refuses(a, claims_changed, NULL);
    free(t);
    auth_free(a);
}

Test(api_auth, missing_exp_is_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    refuses(a, hs256("{\"sub\":\"u1\",\"role\":\"admin\"}"), "token has no exp");
    /* exp as a string is not a NumericDate either */
    refuses(a, hs256("{\"sub\":\"u1\",\"role\":\"admin\",\"exp\":\"9999999999\"}"), NULL);
    auth_free(a);
}

Test(api_auth, alg_none_is_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    char *t = tl_jwt("none", NULL, 0, claims_exp(NULL, 60));
    char *untrailed = strdup(t);
    refuses(a, t, "token algorithm must be HS256");
    /* and without the trailing dot */
    untrailed[strlen(untrailed) - 1] = '\0';
    refuses(a, untrailed, NULL);
    auth_free(a);
}

Test(api_auth, another_algorithm_is_refused_even_with_the_right_secret)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    refuses(a, tl_jwt("HS512", TL_SECRET, strlen(TL_SECRET), claims_exp(NULL, 60)),
            "token algorithm must be HS256");
    auth_free(a);
}

Test(api_auth, bad_signature_is_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    const char *other = "another-secret-of-enough-length-0123456789";
    refuses(a, tl_jwt("HS256", other, strlen(other), claims_exp(NULL, 60)), "bad token signature");
    /* a valid token with one payload byte changed */
    char *t = hs256(claims_exp(NULL, 60));
    char *p = strchr(t, '.') + 5;
    *p = *p == 'A' ? 'B' : 'A';
    refuses(a, t, NULL);
    auth_free(a);
}

Test(api_auth, malformed_headers_are_refused)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    struct actor ac;
    char why[160];
    const char *bad[] = {NULL,       "",           "Basic dXNlcjpwYXNz", "Bearer ",
                         "Bearer a", "Bearer a.b", "Bearer a.b.c.d",     "Bearer !!!.###.$$$"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(auth_verify(a, bad[i], time(NULL), &ac, why, sizeof(why)), -1, "%s",
                     bad[i] ? bad[i] : "(null)");
    auth_free(a);
}

Test(api_auth, role_and_sub_are_required)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    char c[256];
    snprintf(c, sizeof(c), "{\"sub\":\"u\",\"role\":\"root\",\"exp\":%ld}", (long)time(NULL) + 60);
    refuses(a, hs256(c), NULL);
    snprintf(c, sizeof(c), "{\"role\":\"admin\",\"exp\":%ld}", (long)time(NULL) + 60);
    refuses(a, hs256(c), NULL);
    auth_free(a);
}

Test(api_auth, issuer_and_audience_when_configured)
{
    struct auth *a = make_auth("HS256", "https://idp.example", "psop", NULL);
    accepts(a, hs256(claims_exp(",\"iss\":\"https://idp.example\",\"aud\":\"psop\"", 60)));
    accepts(a, hs256(claims_exp(",\"iss\":\"https://idp.example\",\"aud\":[\"x\",\"psop\"]", 60)));
    refuses(a, hs256(claims_exp(",\"iss\":\"https://evil.example\",\"aud\":\"psop\"", 60)),
            "wrong token issuer");
    refuses(a, hs256(claims_exp(",\"iss\":\"https://idp.example\",\"aud\":\"other\"", 60)),
            "wrong token audience");
    refuses(a, hs256(claims_exp(",\"aud\":\"psop\"", 60)), NULL);                /* no iss */
    refuses(a, hs256(claims_exp(",\"iss\":\"https://idp.example\"", 60)), NULL); /* no aud */
    auth_free(a);
}

Test(api_auth, iss_and_aud_are_ignored_when_not_configured)
{
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    accepts(a, hs256(claims_exp(",\"iss\":\"whoever\",\"aud\":\"whatever\"", 60)));
    auth_free(a);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *buf = malloc(65536);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

Test(api_auth, rs256_verifies_and_refuses_the_public_key_as_hmac_secret)
{
    char dir[] = "/tmp/api_auth_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out %s/priv.pem "
             "2>/dev/null && openssl pkey -in %s/priv.pem -pubout -out %s/pub.pem 2>/dev/null",
             dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    char priv_path[128], pub_path[128];
    snprintf(priv_path, sizeof(priv_path), "%s/priv.pem", dir);
    snprintf(pub_path, sizeof(pub_path), "%s/pub.pem", dir);
    size_t plen, publen;
    char *priv = read_all(priv_path, &plen);
    char *pub = read_all(pub_path, &publen);

    struct auth *a = make_auth("RS256", NULL, NULL, pub_path);
    accepts(a, tl_jwt("RS256", priv, plen, claims_exp(NULL, 60)));
    /* The classic confusion attack: HS256 keyed with the public key. */
    refuses(a, tl_jwt("HS256", pub, publen, claims_exp(NULL, 60)), "token algorithm must be RS256");
    refuses(a, tl_jwt("none", NULL, 0, claims_exp(NULL, 60)), NULL);
    auth_free(a);
    free(priv);
    free(pub);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(api_auth, bad_configuration_is_refused)
{
    memset(&cfg, 0, sizeof(cfg));
    char err[256];
    cfg.jwt_alg = "none";
    cfg.jwt_secret = TL_SECRET;
    cr_expect_null(auth_new(&cfg, err, sizeof(err)));
    cfg.jwt_alg = "HS256";
    cfg.jwt_secret = "short";
    cr_expect_null(auth_new(&cfg, err, sizeof(err)));
    cfg.jwt_alg = "RS256";
    cfg.jwt_public_key_file = "/nonexistent/key.pem";
    cr_expect_null(auth_new(&cfg, err, sizeof(err)));
}

Test(api_auth, wrong_role_for_a_route)
{
    struct actor ac = {.sub = "u", .role = ROLE_CLIENT, .client = "c1"};
    cr_expect_not(auth_role_allowed(&ac, ROLE_ADMIN | ROLE_ORGANISER));
    cr_expect(auth_role_allowed(&ac, ROLE_CLIENT | ROLE_ORGANISER));
}

Test(api_auth, contradicting_claims_are_refused)
{
    struct actor org = {.sub = "u", .role = ROLE_ORGANISER, .org = "o1"};
    struct actor prov = {.sub = "u", .role = ROLE_PROVIDER, .provider = "p1"};
    struct actor admin = {.sub = "u", .role = ROLE_ADMIN};
    struct actor orgless = {.sub = "u", .role = ROLE_ORGANISER};
    const char *field;
    char why[160];
    json_t *d = json_pack("{s:s, s:s}", "organiser_id", "o1", "provider_id", "p9");
    cr_expect_eq(auth_check_claims(&org, "contract.upsert", d, &field, why, sizeof(why)), 0);
    cr_expect_eq(auth_check_claims(&prov, "provider.apply", d, &field, why, sizeof(why)), -1);
    cr_expect_str_eq(field, "provider_id");
    cr_expect_eq(auth_check_claims(&admin, "contract.upsert", d, &field, why, sizeof(why)), 0);
    cr_expect_eq(auth_check_claims(&orgless, "voucher.grant", d, &field, why, sizeof(why)), -1);
    json_object_set_new(d, "organiser_id", json_string("o2"));
    cr_expect_eq(auth_check_claims(&org, "voucher.grant", d, &field, why, sizeof(why)), -1);
    cr_expect_str_eq(field, "organiser_id");
    json_decref(d);
    d = json_pack("{s:s}", "id", "p2");
    cr_expect_eq(auth_check_claims(&prov, "provider.register", d, &field, why, sizeof(why)), -1);
    cr_expect_str_eq(field, "id");
    json_decref(d);
}

/* With the schemas, the token's actor must be one the envelope accepts
 * (issue 14 item 2): org and provider uuids, a client with its org. */
Test(auth, actor_claims_are_checked_against_the_envelope_schema)
{
    char why[256];
    struct jschema_registry *reg = t_schemas();
    struct auth *a = make_auth("HS256", NULL, NULL, NULL);
    auth_use_schemas(a, reg);
    long exp = (long)time(NULL) + 300;
    struct {
        const char *claims;
        int ok;
        const char *says;
    } cases[] = {
        {"\"role\":\"organiser\",\"org\":\"not-a-uuid\"", 0, "org"},
        {"\"role\":\"organiser\",\"org\":\"0190a0a0-0000-7000-8000-000000000001\"", 1, NULL},
        {"\"role\":\"client\",\"client\":\"asiakas-1\"", 0, "org"},
        {"\"role\":\"client\",\"client\":\"asiakas-1\","
         "\"org\":\"0190a0a0-0000-7000-8000-000000000001\"",
         1, NULL},
        {"\"role\":\"client\",\"client\":\"has space\","
         "\"org\":\"0190a0a0-0000-7000-8000-000000000001\"",
         0, "client"},
        {"\"role\":\"provider\",\"provider\":\"../x\"", 0, "provider"},
        {"\"role\":\"admin\"", 1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char claims[512];
        snprintf(claims, sizeof(claims), "{\"sub\":\"s\",\"exp\":%ld,%s}", exp, cases[i].claims);
        char *tok = hs256(claims);
        struct actor ac;
        int rc = verify(a, tok, &ac, why, sizeof(why));
        cr_expect_eq(rc, cases[i].ok ? 0 : -1, "%s: %s", cases[i].claims, why);
        if (!cases[i].ok)
            cr_expect(strstr(why, cases[i].says) != NULL, "%s: %s", cases[i].claims, why);
        free(tok);
    }
    auth_free(a);
    jschema_registry_free(reg);
}
