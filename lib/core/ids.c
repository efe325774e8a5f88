#include "core/ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/clock.h"
#include "core/invariant.h"
#include "core/xmalloc.h"

/*
 * Monotonicity (RFC 9562 6.2, method 1): the 12-bit rand_a field is a counter.
 * A new millisecond starts it at a random value below 0x800, leaving at least
 * 2048 ids of headroom in that millisecond; ids within the same (or a
 * backwards-stepping) millisecond increment it. When it would overflow we
 * borrow the next millisecond, so ids stay strictly increasing even if the
 * wall clock stalls or steps back; the borrowed time is caught up as soon as
 * the real clock passes it.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static unsigned counter;

void ids_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            /* Without entropy we would hand out guessable ids; no caller can
             * do anything sensible about that. */
            fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"getrandom failed\",\"errno\":%d}\n",
                    errno);
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

void ids_uuid7(char out[UUID_STR_LEN])
{
    uint8_t rnd[10];
    ids_random(rnd, sizeof rnd);

    uint64_t ms = (uint64_t)clock_wall_ms() & 0xFFFFFFFFFFFFull;
    unsigned seq;
    pthread_mutex_lock(&lock);
    if (ms > last_ms) {
        last_ms = ms;
        counter = ((unsigned)rnd[8] << 8 | rnd[9]) & 0x7FF;
    } else if (counter < 0xFFF) {
        counter++;
    } else {
        last_ms++;
        counter = 0;
    }
    ms = last_ms;
    seq = counter;
    pthread_mutex_unlock(&lock);

    uint8_t b[16];
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (seq >> 8));
    b[7] = (uint8_t)(seq & 0xFF);
    b[8] = (uint8_t)(0x80 | (rnd[0] & 0x3F));
    memcpy(b + 9, rnd + 1, 7);

    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0xF];
    }
    *o = '\0';
}

bool ids_uuid_valid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false; /* also stops at a NUL before 36 chars */
        }
    }
    return s[36] == '\0';
}

void ids_lower(char out[UUID_STR_LEN], const char *id)
{
    size_t i = 0;
    for (; id[i] && i + 1 < UUID_STR_LEN; i++)
        out[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    out[i] = '\0';
}

/* ------------------------------------------------------------ ids_list */

static void ids_list_reserve(struct ids_list *l, size_t more)
{
    if (l->len + more + 1 <= l->cap)
        return;
    l->cap = (l->len + more + 1) * 2;
    l->text = xrealloc(l->text, l->cap);
}

void ids_list_init(struct ids_list *l)
{
    memset(l, 0, sizeof(*l));
    ids_list_reserve(l, 2);
    ids_list_clear(l);
}

int ids_list_add(struct ids_list *l, const char *id)
{
    if (!ids_uuid_valid(id))
        return -1;
    ids_list_reserve(l, 37); /* ",", the id; "}" replaces the old one */
    PSOP_ASSERT(l->len > 0 && l->text[l->len - 1] == '}');
    l->len--; /* the closing brace */
    if (l->n++ > 0)
        l->text[l->len++] = ',';
    memcpy(l->text + l->len, id, 36);
    l->len += 36;
    l->text[l->len++] = '}';
    l->text[l->len] = '\0';
    return 0;
}

void ids_list_clear(struct ids_list *l)
{
    memcpy(l->text, "{}", 3);
    l->len = 2;
    l->n = 0;
}

void ids_list_free(struct ids_list *l)
{
    free(l->text);
    memset(l, 0, sizeof(*l));
}
