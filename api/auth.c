#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jwt.h>

#include "core/file.h"
#include "wire/jschema.h"
#include "jwks.h"
#include "token_cache.h"
#include "core/xmalloc.h"

struct auth {
    jwt_alg_t alg;
    const char *alg_name; /* "HS256" / "RS256" */
    unsigned char *key;
    int keylen;
    char *issuer;                       /* NULL: not checked */
    char *audience;                     /* NULL: not checked */
    struct jwks *jwks;                  /* set: RS256/ES256 keys by kid from jwt_jwks_file */
    const struct jschema_registry *reg; /* NULL: actor not checked */
    struct token_cache *verified;       /* tokens that passed every check */
};

void auth_use_schemas(struct auth *a, const struct jschema_registry *reg)
{
    a->reg = reg;
    /* What was verified without the actor check is forgotten. */
    token_cache_free(a->verified);
    a->verified = token_cache_new();
}

int auth_actor_valid(const struct jschema_registry *reg, const json_t *actor, char *err,
                     size_t errlen)
{
    /* The envelope schema is the one the workers apply: validate a minimal
     * envelope around the actor and keep the errors under /actor only. */
    json_t *env =
        json_pack("{s:s, s:s, s:i, s:s, s:O, s:{}}", "id", "00000000-0000-4000-8000-000000000000",
                  "type", "holiday.upsert", "schema_version", 1, "received_at",
                  "2026-01-01T00:00:00Z", "actor", actor, "data");
    json_t *errors = NULL;
    int rc = jschema_validate(reg, "envelope", env, "", &errors);
    json_decref(env);
    if (rc < 0) {
        snprintf(err, errlen, "token claims cannot be checked");
        return -1;
    }
    int bad = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (!path || strncmp(path, "/actor", 6) != 0)
            continue;
        const char *claim = path[6] == '/' ? path + 7 : "";
        if (*claim)
            snprintf(err, errlen, "token claim %s %s", claim, msg ? msg : "is invalid");
        else
            snprintf(err, errlen, "token claims: %s", msg ? msg : "invalid");
        bad = 1;
        break;
    }
    json_decref(errors);
    return bad ? -1 : 0;
}

struct auth *auth_new(const struct psop_config *cfg, char *err, size_t errlen)
{
    struct auth *a = xcalloc(1, sizeof(*a));
    a->verified = token_cache_new();
    if (cfg->jwt_jwks_file && *cfg->jwt_jwks_file) {
        /* The identity provider's keys: the algorithm comes from the key the
         * token's kid names, never from the token alone. */
        a->alg_name = "RS256 or ES256";
        a->jwks = jwks_open(cfg->jwt_jwks_file, err, errlen);
        if (!a->jwks)
            goto fail;
    } else if (cfg->jwt_alg && strcmp(cfg->jwt_alg, "HS256") == 0) {
        a->alg = JWT_ALG_HS256;
        a->alg_name = "HS256";
        if (!cfg->jwt_secret || strlen(cfg->jwt_secret) < 32) {
            snprintf(err, errlen, "jwt_secret must be at least 32 bytes for HS256");
            goto fail;
        }
        a->key = (unsigned char *)xstrdup(cfg->jwt_secret);
        a->keylen = (int)strlen(cfg->jwt_secret);
    } else if (cfg->jwt_alg && strcmp(cfg->jwt_alg, "RS256") == 0) {
        a->alg = JWT_ALG_RS256;
        a->alg_name = "RS256";
        size_t len = 0;
        if (!cfg->jwt_public_key_file || !*cfg->jwt_public_key_file) {
            snprintf(err, errlen, "jwt_public_key_file is required for RS256");
            goto fail;
        }
        a->key = (unsigned char *)file_read(cfg->jwt_public_key_file, AUTH_KEY_FILE_MAX, &len, err,
                                            errlen);
        if (!a->key)
            goto fail;
        a->keylen = (int)len;
    } else {
        snprintf(err, errlen, "jwt_alg must be HS256 or RS256, not '%s'",
                 cfg->jwt_alg ? cfg->jwt_alg : "");
        goto fail;
    }
    if (cfg->jwt_issuer && *cfg->jwt_issuer)
        a->issuer = xstrdup(cfg->jwt_issuer);
    if (cfg->jwt_audience && *cfg->jwt_audience)
        a->audience = xstrdup(cfg->jwt_audience);
    return a;
fail:
    auth_free(a);
    return NULL;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    free(a->key);
    free(a->issuer);
    free(a->audience);
    jwks_free(a->jwks);
    token_cache_free(a->verified);
    free(a);
}

static int b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url s[0..len) into out (cap >= len); -1 on bad input. */
static long b64url_decode(const char *s, size_t len, unsigned char *out)
{
    unsigned acc = 0;
    int bits = 0;
    long n = 0;
    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return n;
}

/* Decodes one token segment as a JSON object (duplicate keys refused). */
static json_t *segment_json(const char *seg, size_t len)
{
    unsigned char *buf = xmalloc(len + 1);
    long n = b64url_decode(seg, len, buf);
    json_t *j = NULL;
    if (n > 0)
        j = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Copies an optional string claim; -1 when present but not a short string. */
static int copy_claim(const json_t *claims, const char *name, char *out)
{
    const json_t *v = json_object_get(claims, name);
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) > AUTH_CLAIM_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static bool aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *v;
        json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                          strcmp(json_string_value(v), want) == 0) return true;
    }
    return false;
}

/* The signature check with the configured key, or (JWKS) the key the
 * header's kid names; the header's alg must be the key's. 0 with *jwt set
 * and *gen the key set's generation (0 without JWKS). */
static int decode_signed(const struct auth *a, const json_t *hdr, const char *tok, bool signed_,
                         jwt_t **jwt, unsigned long *gen, char *err, size_t errlen)
{
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!a->jwks) {
        if (!alg || strcmp(alg, a->alg_name) != 0) {
            snprintf(err, errlen, "token algorithm must be %s", a->alg_name);
            return -1;
        }
        if (!signed_) {
            snprintf(err, errlen, "token is not signed");
            return -1;
        }
        if (jwt_decode(jwt, tok, a->key, a->keylen) != 0 || !*jwt) {
            snprintf(err, errlen, "bad token signature");
            return -1;
        }
        if (jwt_get_alg(*jwt) != a->alg) {
            snprintf(err, errlen, "token algorithm must be %s", a->alg_name);
            return -1;
        }
        return 0;
    }
    if (!alg || (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0)) {
        snprintf(err, errlen, "token algorithm must be RS256 or ES256");
        return -1;
    }
    if (!signed_) {
        snprintf(err, errlen, "token is not signed");
        return -1;
    }
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    if (!kid || !*kid) {
        snprintf(err, errlen, "token has no kid");
        return -1;
    }
    int rc = -1;
    struct jwks_set *set = jwks_acquire(a->jwks);
    *gen = jwks_generation(set);
    const struct jwks_key *key = jwks_find(set, kid);
    if (!key)
        snprintf(err, errlen, "unknown token signing key");
    else if (strcmp(key->alg, alg) != 0)
        snprintf(err, errlen, "token algorithm does not match its key");
    else if (jwt_decode(jwt, tok, (const unsigned char *)key->pem, (int)key->pemlen) != 0 || !*jwt)
        snprintf(err, errlen, "bad token signature");
    else if (jwt_get_alg(*jwt) != (strcmp(alg, "RS256") == 0 ? JWT_ALG_RS256 : JWT_ALG_ES256))
        snprintf(err, errlen, "token algorithm does not match its key");
    else
        rc = 0;
    jwks_release(set);
    return rc;
}

/* True, with *out set, when this very token passed every check lately and
 * (JWKS) the key set has not been reloaded since. */
static bool cached(const struct auth *a, const unsigned char *digest, time_t now, struct actor *out)
{
    struct token_entry e;
    if (!token_cache_get(a->verified, digest, (long long)now, &e))
        return false;
    if (a->jwks) {
        struct jwks_set *set = jwks_acquire(a->jwks);
        bool same = jwks_generation(set) == e.keys_generation;
        jwks_release(set);
        if (!same)
            return false;
    }
    *out = e.actor;
    return true;
}

int auth_verify(const struct auth *a, const char *authorization, time_t now, struct actor *out,
                char *err, size_t errlen)
{
    jwt_t *jwt = NULL;
    json_t *hdr = NULL, *claims = NULL;
    char *claims_str = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (!authorization || !*authorization) {
        snprintf(err, errlen, "missing bearer token");
        goto out;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        snprintf(err, errlen, "authorization scheme must be Bearer");
        goto out;
    }
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t tlen = strlen(tok);
    if (tlen == 0 || tlen > AUTH_TOKEN_MAX) {
        snprintf(err, errlen, "malformed token");
        goto out;
    }
    const char *dot1 = memchr(tok, '.', tlen);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', tlen - (size_t)(dot1 + 1 - tok)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', tlen - (size_t)(dot2 + 1 - tok))) {
        snprintf(err, errlen, "malformed token");
        goto out;
    }
    struct token_entry fresh = {0};
    token_digest(tok, tlen, fresh.digest);
    if (cached(a, fresh.digest, now, out))
        return 0;
    /* The algorithm check comes first and from our configuration only. */
    hdr = segment_json(tok, (size_t)(dot1 - tok));
    if (!hdr) {
        snprintf(err, errlen, "malformed token header");
        goto out;
    }
    if (decode_signed(a, hdr, tok, dot2[1] != '\0', &jwt, &fresh.keys_generation, err, errlen) < 0)
        goto out;
    claims_str = jwt_get_grants_json(jwt, NULL);
    claims = claims_str ? json_loads(claims_str, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(claims)) {
        snprintf(err, errlen, "malformed token claims");
        goto out;
    }
    const json_t *exp = json_object_get(claims, "exp");
    if (!json_is_number(exp)) {
        snprintf(err, errlen, "token has no exp");
        goto out;
    }
    fresh.exp = json_number_value(exp);
    if (fresh.exp <= (double)now) {
        snprintf(err, errlen, "token expired");
        goto out;
    }
    const json_t *nbf = json_object_get(claims, "nbf");
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) > (double)now)) {
        snprintf(err, errlen, "token not yet valid");
        goto out;
    }
    fresh.nbf = nbf ? json_number_value(nbf) : 0;
    if (a->issuer) {
        const char *iss = json_string_value(json_object_get(claims, "iss"));
        if (!iss || strcmp(iss, a->issuer) != 0) {
            snprintf(err, errlen, "wrong token issuer");
            goto out;
        }
    }
    if (a->audience && !aud_matches(json_object_get(claims, "aud"), a->audience)) {
        snprintf(err, errlen, "wrong token audience");
        goto out;
    }
    if (copy_claim(claims, "sub", out->sub) < 0 || !out->sub[0]) {
        snprintf(err, errlen, "token has no sub");
        goto out;
    }
    char role[AUTH_CLAIM_MAX + 1];
    if (copy_claim(claims, "role", role) < 0 || (out->role = role_parse(role)) == ROLE_NONE) {
        snprintf(err, errlen, "token has no valid role");
        goto out;
    }
    if (copy_claim(claims, "org", out->org) < 0 ||
        copy_claim(claims, "provider", out->provider) < 0 ||
        copy_claim(claims, "client", out->client) < 0) {
        snprintf(err, errlen, "malformed token claims");
        goto out;
    }
    if (a->reg) {
        json_t *aj = actor_to_json(out);
        int ok = auth_actor_valid(a->reg, aj, err, errlen);
        json_decref(aj);
        if (ok < 0)
            goto out;
    }
    fresh.actor = *out;
    fresh.verified_at = (long long)now;
    token_cache_put(a->verified, &fresh);
    rc = 0;
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    json_decref(hdr);
    json_decref(claims);
    free(claims_str);
    if (jwt)
        jwt_free(jwt);
    return rc;
}

bool auth_role_allowed(const struct actor *ac, unsigned roles)
{
    return (ac->role & roles) != 0;
}

/* -1 when data[field] is a string different from claim. */
static int contradicts(const json_t *data, const char *field, const char *claim)
{
    const char *v = json_string_value(json_object_get(data, field));
    return v && strcmp(v, claim) != 0 ? -1 : 0;
}

int auth_check_claims(const struct actor *ac, const char *type, const json_t *data,
                      const char **field, char *err, size_t errlen)
{
    *field = NULL;
    switch (ac->role) {
    case ROLE_ORGANISER:
        if (!ac->org[0]) {
            snprintf(err, errlen, "organiser token has no org claim");
            return -1;
        }
        if (contradicts(data, "organiser_id", ac->org) < 0) {
            *field = "organiser_id";
            snprintf(err, errlen, "organiser_id does not match the token's org");
            return -1;
        }
        return 0;
    case ROLE_PROVIDER:
        if (!ac->provider[0]) {
            snprintf(err, errlen, "provider token has no provider claim");
            return -1;
        }
        if (contradicts(data, "provider_id", ac->provider) < 0) {
            *field = "provider_id";
            snprintf(err, errlen, "provider_id does not match the token's provider");
            return -1;
        }
        if (type && strcmp(type, "provider.register") == 0 &&
            contradicts(data, "id", ac->provider) < 0) {
            *field = "id";
            snprintf(err, errlen, "id does not match the token's provider");
            return -1;
        }
        return 0;
    case ROLE_CLIENT:
        if (!ac->client[0]) {
            snprintf(err, errlen, "client token has no client claim");
            return -1;
        }
        if (contradicts(data, "client_id", ac->client) < 0) {
            *field = "client_id";
            snprintf(err, errlen, "client_id does not match the token's client");
            return -1;
        }
        return 0;
    case ROLE_ADMIN:
        return 0;
    default:
        snprintf(err, errlen, "no role");
        return -1;
    }
}
