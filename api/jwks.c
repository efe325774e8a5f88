#include "jwks.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>

#include "core/clock.h"
#include "wire/jwk.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define JWKS_FILE_MAX (256 * 1024)

struct jwks_set {
    atomic_int refs;
    unsigned long generation; /* 0 from jwks_parse; 1, 2, ... as jwks installs it */
    size_t n;
    struct jwks_key keys[JWKS_MAX_KEYS];
};

struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct jwks {
    char *path;
    pthread_mutex_t mu;
    struct jwks_set *cur;    /* under mu */
    unsigned long loads;     /* under mu: sets installed so far */
    struct file_id id;       /* under mu */
    long long next_check_ms; /* under mu */
};

static void set_free(struct jwks_set *s)
{
    for (size_t i = 0; s && i < s->n; i++)
        free(s->keys[i].pem);
    free(s);
}

void jwks_release(struct jwks_set *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        set_free(s);
}

size_t jwks_count(const struct jwks_set *s)
{
    return s ? s->n : 0;
}

const struct jwks_key *jwks_find(const struct jwks_set *s, const char *kid)
{
    for (size_t i = 0; s && kid && i < s->n; i++)
        if (strcmp(s->keys[i].kid, kid) == 0)
            return &s->keys[i];
    return NULL;
}

/* One key of the set into k; -1 with err naming the key. */
static int parse_key(const json_t *jwk, size_t idx, struct jwks_key *k, char *err, size_t errlen)
{
    char why[256];
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    if (!kid || !*kid || strlen(kid) >= sizeof(k->kid)) {
        snprintf(err, errlen, "key %zu: \"kid\" missing or longer than %zu bytes", idx,
                 sizeof(k->kid) - 1);
        return -1;
    }
    enum jwk_kty kty = jwk_kty(jwk);
    const char *alg = jwk_alg_for(kty);
    if (!alg) {
        snprintf(err, errlen, "key %s: key type must be RSA or EC on P-256", kid);
        return -1;
    }
    const char *want = json_string_value(json_object_get(jwk, "alg"));
    if (json_object_get(jwk, "alg") && (!want || strcmp(want, alg) != 0)) {
        snprintf(err, errlen, "key %s: \"alg\" must be %s for its key type", kid, alg);
        return -1;
    }
    const char *use = json_string_value(json_object_get(jwk, "use"));
    if (json_object_get(jwk, "use") && (!use || strcmp(use, "sig") != 0)) {
        snprintf(err, errlen, "key %s: \"use\" must be \"sig\"", kid);
        return -1;
    }
    k->pem = jwk_to_pem(jwk, false, why, sizeof(why));
    if (!k->pem) {
        snprintf(err, errlen, "key %s: %s", kid, why);
        return -1;
    }
    k->pemlen = strlen(k->pem);
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
    snprintf(k->alg, sizeof(k->alg), "%s", alg);
    return 0;
}

struct jwks_set *jwks_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *keys = json_object_get(doc, "keys");
    struct jwks_set *s = NULL;
    if (!doc) {
        snprintf(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
        goto out;
    }
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > JWKS_MAX_KEYS) {
        snprintf(err, errlen, "\"keys\" must be an array of 1..%d keys", JWKS_MAX_KEYS);
        goto out;
    }
    s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        if (parse_key(jwk, i, &s->keys[s->n], err, errlen) < 0)
            goto fail;
        if (jwks_find(s, s->keys[s->n].kid)) {
            snprintf(err, errlen, "kid %s appears twice", s->keys[s->n].kid);
            free(s->keys[s->n].pem);
            goto fail;
        }
        s->n++;
    }
    goto out;
fail:
    set_free(s);
    s = NULL;
out:
    json_decref(doc);
    return s;
}

/* Reads and parses the file; fills *id with what was read. */
static struct jwks_set *load(const char *path, struct file_id *id, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    struct jwks_set *s = NULL;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > JWKS_FILE_MAX) {
        snprintf(err, errlen, "%s: empty, unreadable or over %d bytes", path, JWKS_FILE_MAX);
        goto out;
    }
    buf = xmalloc((size_t)st.st_size);
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        snprintf(err, errlen, "%s: short read", path);
        goto out;
    }
    s = jwks_parse(buf, (size_t)st.st_size, err, errlen);
    *id = (struct file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
out:
    free(buf);
    fclose(f);
    return s;
}

struct jwks *jwks_open(const char *path, char *err, size_t errlen)
{
    struct jwks *j = xcalloc(1, sizeof(*j));
    char why[512];
    j->cur = load(path, &j->id, why, sizeof(why));
    if (!j->cur) {
        snprintf(err, errlen, "jwt_jwks_file: %s", why);
        free(j);
        return NULL;
    }
    j->cur->generation = ++j->loads;
    j->path = xstrdup(path);
    pthread_mutex_init(&j->mu, NULL);
    j->next_check_ms = clock_mono_ms() + JWKS_CHECK_MS;
    return j;
}

void jwks_free(struct jwks *j)
{
    if (!j)
        return;
    jwks_release(j->cur);
    pthread_mutex_destroy(&j->mu);
    free(j->path);
    free(j);
}

static bool same_file(const struct file_id *a, const struct stat *st)
{
    return a->dev == st->st_dev && a->ino == st->st_ino && a->size == st->st_size &&
           a->mtime.tv_sec == st->st_mtim.tv_sec && a->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Under j->mu: re-reads the file when it changed. */
static void maybe_reload(struct jwks *j)
{
    struct stat st;
    if (stat(j->path, &st) != 0 || same_file(&j->id, &st))
        return;
    char err[512];
    struct file_id id;
    struct jwks_set *s = load(j->path, &id, err, sizeof(err));
    if (!s) {
        /* Kept as is; the same broken file is not read again until it changes. */
        j->id = (struct file_id){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
        LOG_WARN("jwks file invalid, keys in use kept", "file", j->path, "error", err, NULL);
        return;
    }
    jwks_release(j->cur);
    s->generation = ++j->loads;
    j->cur = s;
    j->id = id;
    char n[16];
    snprintf(n, sizeof(n), "%zu", s->n);
    LOG_INFO("jwks reloaded", "file", j->path, "keys", n, NULL);
}

struct jwks_set *jwks_acquire(struct jwks *j)
{
    long long now = clock_mono_ms();
    pthread_mutex_lock(&j->mu);
    if (now >= j->next_check_ms) {
        j->next_check_ms = now + JWKS_CHECK_MS;
        maybe_reload(j);
    }
    struct jwks_set *s = j->cur;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&j->mu);
    return s;
}

unsigned long jwks_generation(const struct jwks_set *s)
{
    return s->generation;
}
