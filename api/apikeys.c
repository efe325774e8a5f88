#include "apikeys.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "wire/apikey.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* What a replica read of one key id (or that there is no such key). */
struct slot {
    char key_id[37];
    bool found;
    char hash[APIKEY_HASH_HEX];
    char provider[37];
    bool read_only;
    long long expires_at; /* epoch seconds */
    bool revoked;
    long long fetched_ms;  /* monotonic; 0: empty slot */
    long long used_minute; /* the last minute whose use this replica wrote */
};

struct apikeys {
    struct pgpool *pg;
    pthread_mutex_t mu;
    struct slot *slots;
};

struct apikeys *apikeys_new(struct pgpool *pg)
{
    struct apikeys *k = xcalloc(1, sizeof(*k));
    k->pg = pg;
    pthread_mutex_init(&k->mu, NULL);
    k->slots = xcalloc(APIKEYS_SLOTS, sizeof(*k->slots));
    return k;
}

void apikeys_free(struct apikeys *k)
{
    if (!k)
        return;
    pthread_mutex_destroy(&k->mu);
    free(k->slots);
    free(k);
}

/* FNV-1a of the key id: the slot it lives in (a newer id evicts an older). */
static size_t slot_of(const char *key_id)
{
    unsigned long long h = 1469598103934665603ULL;
    for (const char *p = key_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)(h % APIKEYS_SLOTS);
}

/* Runs sql with $1 = key_id on a pooled connection: the result, or NULL
 * with err filled. */
static PGresult *query(struct apikeys *k, const char *sql, const char *key_id, char *err,
                       size_t errlen)
{
    struct pgc *c = pgpool_get(k->pg, err, errlen);
    if (!c)
        return NULL;
    const char *p[] = {key_id};
    PGresult *r = pgc_query(c, sql, 1, p, err, errlen);
    pgpool_put(k->pg, c);
    return r;
}

/* Reads the key's row into s: 0, or -1 when PostgreSQL could not answer. */
static int fetch(struct apikeys *k, const char *key_id, struct slot *s)
{
    char err[256];
    PGresult *r = query(k,
                        "SELECT secret_hash, provider_id, scope = 'read', "
                        "extract(epoch FROM expires_at)::bigint, revoked_at IS NOT NULL "
                        "FROM psop.api_keys WHERE id = $1",
                        key_id, err, sizeof err);
    if (!r) {
        LOG_WARN("api key lookup failed", "error", err, NULL);
        return -1;
    }
    memset(s, 0, sizeof(*s));
    snprintf(s->key_id, sizeof s->key_id, "%s", key_id);
    s->found = PQntuples(r) == 1;
    if (s->found) {
        snprintf(s->hash, sizeof s->hash, "%s", PQgetvalue(r, 0, 0));
        snprintf(s->provider, sizeof s->provider, "%s", PQgetvalue(r, 0, 1));
        s->read_only = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
        s->expires_at = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
        s->revoked = strcmp(PQgetvalue(r, 0, 4), "t") == 0;
    }
    PQclear(r);
    s->fetched_ms = clock_mono_ms();
    return 0;
}

/* Writes last_used_at for this minute unless a replica already did. */
static void touch(struct apikeys *k, const char *key_id)
{
    char err[256];
    PGresult *r = query(k,
                        "UPDATE psop.api_keys SET last_used_at = date_trunc('minute', now()) "
                        "WHERE id = $1 AND (last_used_at IS NULL OR "
                        "last_used_at < date_trunc('minute', now()))",
                        key_id, err, sizeof err);
    if (r)
        PQclear(r);
    else /* a missed minute is not worth failing a request */
        LOG_DEBUG("api key last_used_at not written", "error", err, NULL);
}

enum apikey_verdict apikeys_verify(struct apikeys *k, const char *token, time_t now,
                                   struct actor *out, bool *read_only, char *err, size_t errlen)
{
    char key_id[37], secret[APIKEY_SECRET_LEN + 1], hash[APIKEY_HASH_HEX];
    memset(out, 0, sizeof(*out));
    *read_only = false;
    if (apikey_parse(token, key_id, secret) < 0) {
        snprintf(err, errlen, "malformed API key");
        return APIKEY_REFUSED;
    }
    apikey_hash_hex(secret, hash);
    OPENSSL_cleanse(secret, sizeof secret);

    size_t i = slot_of(key_id);
    struct slot s;
    long long t = clock_mono_ms();
    pthread_mutex_lock(&k->mu);
    s = k->slots[i];
    pthread_mutex_unlock(&k->mu);
    bool have = s.fetched_ms && strcmp(s.key_id, key_id) == 0;
    if (!have || t - s.fetched_ms >= APIKEYS_FRESH_MS) {
        struct slot fresh;
        if (fetch(k, key_id, &fresh) == 0) {
            if (have)
                fresh.used_minute = s.used_minute;
            s = fresh;
            have = true;
            pthread_mutex_lock(&k->mu);
            if (k->slots[i].fetched_ms < s.fetched_ms || strcmp(k->slots[i].key_id, key_id))
                k->slots[i] = s;
            pthread_mutex_unlock(&k->mu);
        } else if (!have || t - s.fetched_ms >= APIKEYS_STALE_MS) {
            snprintf(err, errlen, "API keys cannot be checked right now");
            return APIKEY_UNAVAILABLE;
        }
    }
    /* Same answer for an unknown key and a wrong secret: no oracle. */
    if (!s.found || !apikey_hash_equal(s.hash, hash)) {
        snprintf(err, errlen, "unknown API key");
        return APIKEY_REFUSED;
    }
    if (s.revoked) {
        snprintf(err, errlen, "API key revoked");
        return APIKEY_REFUSED;
    }
    if (s.expires_at <= (long long)now) {
        snprintf(err, errlen, "API key expired");
        return APIKEY_REFUSED;
    }
    out->role = ROLE_PROVIDER;
    snprintf(out->sub, sizeof out->sub, "apikey:%s", key_id);
    snprintf(out->provider, sizeof out->provider, "%s", s.provider);
    *read_only = s.read_only;

    long long minute = (long long)now / 60;
    bool write_use = false;
    pthread_mutex_lock(&k->mu);
    if (strcmp(k->slots[i].key_id, key_id) == 0 && k->slots[i].used_minute < minute) {
        k->slots[i].used_minute = minute;
        write_use = true;
    }
    pthread_mutex_unlock(&k->mu);
    if (write_use)
        touch(k, key_id);
    return APIKEY_OK;
}
