/*
 * auth_cost.c - psop-bench-auth: what auth_verify costs a request, for a
 * token seen for the first time (signature, claims, the actor against the
 * envelope schema) and for one the replica verified lately (api/token_cache.h).
 *
 *   psop-bench-auth [N]     N tokens (default 20 000), one thread
 *
 * Prints one JSON line: microseconds per call, first time and again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <string.h>

#include "auth.h"
#include "core/clock.h"
#include "core/config.h"
#include "wire/jschema.h"
#include "wire/jwt.h"

#define SECRET "bench-secret-bench-secret-bench-secret"

static double per_call_us(struct auth *a, char **hdrs, int n, int same)
{
    struct actor ac;
    char why[160];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    time_t now = time(NULL);
    for (int i = 0; i < n; i++) {
        if (auth_verify(a, hdrs[same ? 0 : i], now, &ac, why, sizeof(why)) != 0) {
            fprintf(stderr, "refused: %s\n", why);
            exit(1);
        }
    }
    return clock_since_ms(&t0) * 1000.0 / n;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n < 1)
        n = 20000;
    char err[512];
    struct jschema_registry *reg =
        jschema_registry_load(PSOP_SOURCE_DIR "/schemas", err, sizeof(err));
    if (!reg) {
        fprintf(stderr, "schemas: %s\n", err);
        return 1;
    }
    struct psop_config cfg = {0};
    cfg.jwt_alg = "HS256";
    cfg.jwt_secret = SECRET;
    struct auth *a = auth_new(&cfg, err, sizeof(err));
    if (!a) {
        fprintf(stderr, "auth: %s\n", err);
        return 1;
    }
    auth_use_schemas(a, reg);
    char **hdrs = calloc((size_t)n, sizeof(*hdrs));
    for (int i = 0; i < n; i++) {
        char sub[32], *tok = NULL;
        snprintf(sub, sizeof(sub), "user-%d", i);
        if (jwt_token_mint(&cfg, "organiser", sub, "0190a0b0-0000-7000-8000-00000000000a", NULL,
                           NULL, 3600, &tok, err, sizeof(err)) != 0) {
            fprintf(stderr, "mint: %s\n", err);
            return 1;
        }
        hdrs[i] = malloc(strlen(tok) + 8);
        sprintf(hdrs[i], "Bearer %s", tok);
        free(tok);
    }
    fprintf(stderr, "psop-bench-auth: %d distinct tokens, then one token %d times\n", n, n);
    double first = per_call_us(a, hdrs, n, 0);
    double again = per_call_us(a, hdrs, n, 1);
    printf("{\"calls\":%d,\"first_time_us\":%.2f,\"again_us\":%.2f}\n", n, first, again);
    for (int i = 0; i < n; i++)
        free(hdrs[i]);
    free(hdrs);
    auth_free(a);
    jschema_registry_free(reg);
    return 0;
}
