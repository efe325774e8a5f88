/*
 * bench_seed.h - helpers shared by the benchmark seeding tools
 * (seed_vouchers.c, seed_settlement.c): random numbers, valid Finnish
 * business ids and IBANs, PostgreSQL array literals for unnest($n::T[]).
 * Header-only (static functions): each tool is a single-file program.
 */
#ifndef PSOP_BENCH_SEED_H
#define PSOP_BENCH_SEED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/pgc.h"

static inline uint64_t rnd64(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof(v), 0) != sizeof(v))
        v = (uint64_t)time(NULL) * 6364136223846793005ULL + (uint64_t)getpid();
    return v;
}

/* The Y-tunnus "NNNNNNN-C" of the 7-digit number n (weights 7,9,10,5,8,4,2);
 * -1 when n has no valid check digit (remainder 1). */
static inline int business_id_of(unsigned long n, char out[16])
{
    static const int w[7] = {7, 9, 10, 5, 8, 4, 2};
    char d[8];
    snprintf(d, sizeof(d), "%07lu", n % 10000000UL);
    int s = 0;
    for (int i = 0; i < 7; i++)
        s += w[i] * (d[i] - '0');
    int r = s % 11;
    if (r == 1)
        return -1;
    snprintf(out, 16, "%s-%d", d, r == 0 ? 0 : 11 - r);
    return 0;
}

/* A random valid Y-tunnus. */
static inline void business_id(char out[16])
{
    while (business_id_of((unsigned long)(rnd64() % 9000000) + 1000000, out) < 0)
        ;
}

/* A valid Finnish IBAN: FI + check digits + 14 random digits. */
static inline void fi_iban(char out[24])
{
    char bban[15];
    snprintf(bban, sizeof(bban), "%014llu", (unsigned long long)(rnd64() % 100000000000000ULL));
    char t[32];
    snprintf(t, sizeof(t), "%s151800", bban); /* F=15 I=18, check "00" */
    int rem = 0;
    for (const char *p = t; *p; p++)
        rem = (rem * 10 + (*p - '0')) % 97;
    snprintf(out, 24, "FI%02d%s", 98 - rem, bban);
}

/* Growing "{a,b,c}" array literal for unnest($n::T[]). */
struct arr {
    char *s;
    size_t len, cap;
};

static inline void arr_add(struct arr *a, const char *v)
{
    size_t n = strlen(v);
    if (a->len + n + 3 > a->cap) {
        a->cap = (a->cap + n + 3) * 2;
        a->s = realloc(a->s, a->cap);
        if (!a->s) {
            perror("realloc");
            exit(1);
        }
    }
    a->s[a->len] = a->len == 0 ? '{' : ',';
    a->len++;
    memcpy(a->s + a->len, v, n);
    a->len += n;
    a->s[a->len] = '\0';
}

static inline const char *arr_done(struct arr *a)
{
    if (!a->len)
        arr_add(a, "");
    a->s[a->len] = '}';
    a->s[a->len + 1] = '\0';
    return a->s;
}

/* Runs one statement; prints the error with the tool's name and -1 on failure. */
static inline int seed_q(const char *tool, struct pgc *pg, const char *sql, int n,
                         const char *const *p)
{
    char err[512];
    PGresult *r = pgc_query(pg, sql, n, p, err, sizeof(err));
    if (!r) {
        fprintf(stderr, "%s: %s\n  in: %.160s\n", tool, err, sql);
        return -1;
    }
    PQclear(r);
    return 0;
}

#endif
