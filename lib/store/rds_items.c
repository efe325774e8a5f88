#include "store/rds_items.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

/* KEYS[1]; ARGV: version, head, tail, then field, value of every item.
 * Refused over a newer version, or this one unless it is a stale marker. */
static const struct rds_script put_script = {
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'v'))\n"
    "local v = tonumber(ARGV[1])\n"
    "if cur and (cur > v or (cur == v and redis.call('HGET', KEYS[1], 'd') ~= '')) then\n"
    "  return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'v', ARGV[1], 'h', ARGV[2], 't', ARGV[3], 'p', '0')\n"
    "for i = 4, #ARGV, 200 do\n"
    "  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV))) end\n"
    "return 1\n",
    1};

/* KEYS[1]; ARGV: from version, version, head, tail, then field, value of
 * the changed items. Only over the itemised form at exactly from version. */
static const struct rds_script patch_script = {
    "if tonumber(redis.call('HGET', KEYS[1], 'v')) ~= tonumber(ARGV[1])\n"
    "  or redis.call('HEXISTS', KEYS[1], 'd') == 1\n"
    "  or redis.call('HEXISTS', KEYS[1], 'h') == 0 then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'v', ARGV[2], 'h', ARGV[3], 't', ARGV[4])\n"
    "redis.call('HINCRBY', KEYS[1], 'p', 1)\n"
    "for i = 5, #ARGV, 200 do\n"
    "  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV))) end\n"
    "return 1\n",
    2};

/* The arguments of one document's script: key, [from,] version, head,
 * tail, then "i:<id>", "<sort>\x1f<text>" per item (free_calls frees them). */
static struct rds_call call_of(const struct rds_itemised *d, bool patch)
{
    int fixed = patch ? 5 : 4;
    int argc = fixed + 2 * (int)d->n;
    char **argv = xcalloc((size_t)argc, sizeof(*argv));
    int a = 0;
    argv[a++] = xstrdup(d->key);
    if (patch)
        argv[a++] = xasprintf("%lld", d->from_version);
    argv[a++] = xasprintf("%lld", d->version);
    argv[a++] = xstrdup(d->head);
    argv[a++] = xstrdup(d->tail);
    for (size_t i = 0; i < d->n; i++) {
        argv[a++] = xasprintf("i:%s", d->items[i].id);
        argv[a++] = xasprintf("%s\x1f%s", d->items[i].sort, d->items[i].text);
    }
    return (struct rds_call){argc, (const char *const *)argv, NULL};
}

static void free_calls(struct rds_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; a < calls[i].argc; a++)
            free((char *)calls[i].argv[a]);
        free((char **)calls[i].argv);
    }
    free(calls);
}

static int run(struct rds *r, const struct rds_script *s, const struct rds_itemised *docs, size_t n,
               bool *ok, char *err, size_t errlen)
{
    struct rds_call *calls = xcalloc(n ? n : 1, sizeof(*calls));
    long long *res = xcalloc(n ? n : 1, sizeof(*res));
    for (size_t i = 0; i < n; i++)
        calls[i] = call_of(&docs[i], s == &patch_script);
    int rc = rds_eval_many(r, s, n, calls, res, err, errlen);
    for (size_t i = 0; i < n; i++)
        ok[i] = rc == 0 && res[i] == 1;
    free_calls(calls, n);
    free(res);
    return rc;
}

int rds_items_put_many(struct rds *r, const struct rds_itemised *docs, size_t n, bool *written,
                       char *err, size_t errlen)
{
    return run(r, &put_script, docs, n, written, err, errlen);
}

int rds_items_patch_many(struct rds *r, const struct rds_itemised *docs, size_t n, bool *patched,
                         char *err, size_t errlen)
{
    return run(r, &patch_script, docs, n, patched, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Reading (pure)                                                          */
/* ---------------------------------------------------------------------- */

struct piece {
    const char *sort, *text;
    size_t sort_len, text_len;
};

static int piece_cmp(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    size_t n = x->sort_len < y->sort_len ? x->sort_len : y->sort_len;
    int c = memcmp(x->sort, y->sort, n);
    if (c == 0)
        c = (x->sort_len > y->sort_len) - (x->sort_len < y->sort_len);
    return c;
}

char *rds_items_text(const char *head, size_t head_len, const char *tail, size_t tail_len,
                     const char *const *values, const size_t *lens, size_t n)
{
    struct piece *p = xcalloc(n ? n : 1, sizeof(*p));
    size_t total = head_len + tail_len + n + 1;
    for (size_t i = 0; i < n; i++) {
        const char *sep = memchr(values[i], '\x1f', lens[i]);
        if (!sep) {
            free(p);
            return NULL;
        }
        p[i] = (struct piece){values[i], sep + 1, (size_t)(sep - values[i]),
                              lens[i] - (size_t)(sep + 1 - values[i])};
        total += p[i].text_len;
    }
    qsort(p, n, sizeof(*p), piece_cmp);
    char *out = xmalloc(total), *w = out;
    memcpy(w, head, head_len);
    w += head_len;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *w++ = ',';
        memcpy(w, p[i].text, p[i].text_len);
        w += p[i].text_len;
    }
    memcpy(w, tail, tail_len);
    w[tail_len] = '\0';
    free(p);
    return out;
}

static bool is(const redisReply *f, const char *name)
{
    return f->len == strlen(name) && memcmp(f->str, name, f->len) == 0;
}

enum rds_got rds_doc_of_hash(const redisReply *rep, char **doc, long long *version, char *err,
                             size_t errlen)
{
    const redisReply *v = NULL, *d = NULL, *h = NULL, *t = NULL;
    size_t pairs = rep->elements / 2, n = 0;
    const char **values = xcalloc(pairs ? pairs : 1, sizeof(*values));
    size_t *lens = xcalloc(pairs ? pairs : 1, sizeof(*lens));
    enum rds_got rc = RDS_ABSENT;
    *doc = NULL;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *f = rep->element[i], *val = rep->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        if (is(f, "v"))
            v = val;
        else if (is(f, "d"))
            d = val;
        else if (is(f, "h"))
            h = val;
        else if (is(f, "t"))
            t = val;
        else if (f->len > 2 && memcmp(f->str, "i:", 2) == 0) {
            values[n] = val->str;
            lens[n++] = val->len;
        }
    }
    if (!v || (!d && !(h && t)))
        goto out; /* absent, or half-written by someone else: treat as absent */
    char *end = NULL;
    errno = 0;
    long long ver = strtoll(v->str, &end, 10);
    if (errno || end == v->str || *end) {
        snprintf(err, errlen, "redis: version '%.32s' is not an integer", v->str);
        rc = RDS_ERROR;
        goto out;
    }
    if (d && d->len == 0) {
        rc = RDS_STALE; /* a stale marker: the document is to be rebuilt */
    } else if (d) {
        *doc = xstrndup(d->str, d->len);
        rc = RDS_FOUND;
    } else {
        *doc = rds_items_text(h->str, h->len, t->str, t->len, values, lens, n);
        rc = *doc ? RDS_FOUND : RDS_ABSENT;
    }
    if (rc != RDS_ABSENT && version)
        *version = ver;
out:
    free(values);
    free(lens);
    return rc;
}
