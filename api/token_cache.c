#include "token_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "core/xmalloc.h"

struct token_cache {
    pthread_mutex_t mu;
    /* An empty slot is all zeros: exp 0, so never usable. */
    struct token_entry slot[TOKEN_CACHE_SLOTS];
};

struct token_cache *token_cache_new(void)
{
    struct token_cache *c = xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void token_cache_free(struct token_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void token_digest(const char *tok, size_t len, unsigned char out[TOKEN_DIGEST_LEN])
{
    unsigned int n = 0;
    EVP_Digest(tok, len, out, &n, EVP_sha256(), NULL);
}

static size_t slot_of(const unsigned char *digest)
{
    size_t h = 0;
    memcpy(&h, digest, sizeof(h));
    return h % TOKEN_CACHE_SLOTS;
}

bool token_entry_usable(const struct token_entry *e, long long now)
{
    return (double)now < e->exp && e->nbf <= (double)now && now >= e->verified_at &&
           now - e->verified_at < TOKEN_CACHE_TTL_S;
}

bool token_cache_get(struct token_cache *c, const unsigned char digest[TOKEN_DIGEST_LEN],
                     long long now, struct token_entry *out)
{
    size_t i = slot_of(digest);
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    if (memcmp(c->slot[i].digest, digest, TOKEN_DIGEST_LEN) == 0 &&
        token_entry_usable(&c->slot[i], now)) {
        *out = c->slot[i];
        hit = true;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

void token_cache_put(struct token_cache *c, const struct token_entry *e)
{
    size_t i = slot_of(e->digest);
    pthread_mutex_lock(&c->mu);
    c->slot[i] = *e;
    pthread_mutex_unlock(&c->mu);
}
