#include "wire/apikey.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/ids.h"

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool apikey_is_key(const char *token)
{
    return token && strncmp(token, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0;
}

void apikey_secret_new(char secret[APIKEY_SECRET_LEN + 1])
{
    unsigned char raw[33]; /* 32 random bytes and a zero pad: 11 groups of 3 */
    ids_random(raw, 32);
    raw[32] = 0;
    size_t o = 0;
    for (size_t i = 0; i < 33; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 3; k >= 0 && o < APIKEY_SECRET_LEN; k--)
            secret[o++] = B64URL[(v >> (6 * k)) & 63];
    }
    secret[APIKEY_SECRET_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
}

void apikey_text(const char *key_id, const char *secret, char out[APIKEY_TEXT_MAX])
{
    snprintf(out, APIKEY_TEXT_MAX, "%s%s_%s", APIKEY_PREFIX, key_id, secret);
}

static bool b64url_char(char c)
{
    return c && strchr(B64URL, c) != NULL;
}

int apikey_parse(const char *text, char key_id[37], char secret[APIKEY_SECRET_LEN + 1])
{
    size_t pre = strlen(APIKEY_PREFIX);
    if (!apikey_is_key(text) || strlen(text) != APIKEY_TEXT_MAX - 1)
        return -1;
    const char *id = text + pre, *sep = id + 36, *sec = sep + 1;
    if (*sep != '_')
        return -1;
    char tmp[37];
    memcpy(tmp, id, 36);
    tmp[36] = '\0';
    if (!ids_uuid_valid(tmp))
        return -1;
    for (size_t i = 0; i < APIKEY_SECRET_LEN; i++)
        if (!b64url_char(sec[i]))
            return -1;
    for (size_t i = 0; i < 37; i++)
        key_id[i] = (char)tolower((unsigned char)tmp[i]);
    memcpy(secret, sec, APIKEY_SECRET_LEN);
    secret[APIKEY_SECRET_LEN] = '\0';
    return 0;
}

void apikey_hash_hex(const char *secret, char out[APIKEY_HASH_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

bool apikey_hash_equal(const char *a, const char *b)
{
    if (strlen(a) != 64 || strlen(b) != 64)
        return false;
    return CRYPTO_memcmp(a, b, 64) == 0;
}

bool apikey_hash_valid(const char *s)
{
    if (!s || strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}
