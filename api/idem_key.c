#include "idem_key.h"

#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

int idem_key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > IDEM_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return 0;
    return 1;
}

void idem_fingerprint(const char *method, const char *path, const char *body, size_t len,
                      char out[IDEM_FP_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, method, strlen(method));
    EVP_DigestUpdate(ctx, "\n", 1);
    EVP_DigestUpdate(ctx, path, strlen(path));
    EVP_DigestUpdate(ctx, "\n", 1);
    if (len)
        EVP_DigestUpdate(ctx, body, len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

void idem_derive_uuid(const char *principal, const char *key, const char *fp, size_t index,
                      enum idem_id_kind kind, char out[UUID_STR_LEN])
{
    /* Every part length-prefixed: no two inputs hash the same text. */
    char head[64];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    static const char domain[] = "psop idempotency id v1";
    EVP_DigestUpdate(ctx, domain, sizeof(domain));
    const char *parts[] = {principal, key, fp};
    for (size_t i = 0; i < 3; i++) {
        int n = snprintf(head, sizeof(head), "%zu:", strlen(parts[i]));
        EVP_DigestUpdate(ctx, head, (size_t)n);
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    }
    int n = snprintf(head, sizeof(head), "%zu:%c", index, (char)kind);
    EVP_DigestUpdate(ctx, head, (size_t)n);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x80); /* version 8 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* variant 10 */
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1],
             md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13],
             md[14], md[15]);
}

json_t *idem_derived_ids(const char *principal, const char *key, const char *fp, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char cid[UUID_STR_LEN], rid[UUID_STR_LEN];
        idem_derive_uuid(principal, key, fp, i, IDEM_ID_COMMAND, cid);
        idem_derive_uuid(principal, key, fp, i, IDEM_ID_RESOURCE, rid);
        json_array_append_new(a, json_pack("[ss]", cid, rid));
    }
    return a;
}
