/*
 * api/apikeys.c against the stack's PostgreSQL, without the HTTP front:
 * a key is verified from its row, a wrong secret or an unknown id is
 * refused alike, a revocation is refused within APIKEYS_FRESH_MS, last_used_at
 * is written to the minute, an unreachable PostgreSQL with nothing cached is
 * 503 (never a guess), and four threads verifying while the key is revoked
 * see no torn state (run under ASan/UBSan in asan-integration too).
 * Rows are made straight in psop.providers / psop.api_keys with fresh ids.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "wire/apikey.h"
#include "apikeys.h"
#include "commands.h"
#include "harness.h"
#include "pgpool.h"

struct key {
    char provider[UUID_STR_LEN], id[UUID_STR_LEN];
    char text[APIKEY_TEXT_MAX];
};

/* A provider and a write key of it, valid for a day. */
static void make_key(PGconn *pg, struct key *k, const char *scope)
{
    char secret[APIKEY_SECRET_LEN + 1], hash[APIKEY_HASH_HEX], yt[10], iban[19];
    tc_uuid(k->provider);
    tc_uuid(k->id);
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    apikey_secret_new(secret);
    apikey_hash_hex(secret, hash);
    apikey_text(k->id, secret, k->text);
    free(h_pg_value(pg,
                    "INSERT INTO psop.providers (id, business_id, name, iban, registered_by) "
                    "VALUES ('%s', '%s', 'Avaintesti Oy', '%s', 'test')",
                    k->provider, yt, iban));
    free(h_pg_value(pg,
                    "INSERT INTO psop.api_keys (id, provider_id, name, scope, secret_hash, "
                    "created_by, expires_at) VALUES ('%s', '%s', 'cache test', '%s', '%s', "
                    "'test', now() + interval '1 day')",
                    k->id, k->provider, scope, hash));
}

static enum apikey_verdict verify(struct apikeys *ak, const char *text, struct actor *a, bool *ro)
{
    char err[128];
    return apikeys_verify(ak, text, time(NULL), a, ro, err, sizeof err);
}

Test(api_keys_cache, a_key_acts_as_its_provider_and_nothing_else_passes, .timeout = 60)
{
    PGconn *pg = h_pg();
    struct pgpool *pool = pgpool_new(h_config()->pg_dsn, 2);
    struct apikeys *ak = apikeys_new(pool);
    struct key k, r;
    make_key(pg, &k, "write");
    make_key(pg, &r, "read");
    struct actor a;
    bool ro = true;
    cr_assert_eq(verify(ak, k.text, &a, &ro), APIKEY_OK);
    cr_assert_eq(a.role, ROLE_PROVIDER);
    cr_assert_str_eq(a.provider, k.provider);
    char sub[64];
    snprintf(sub, sizeof sub, "apikey:%s", k.id);
    cr_assert_str_eq(a.sub, sub);
    cr_assert_not(ro);
    cr_assert_eq(verify(ak, r.text, &a, &ro), APIKEY_OK);
    cr_assert(ro, "a read key must say so");

    /* One wrong character of the secret; a key id nobody made; not a key. */
    char wrong[APIKEY_TEXT_MAX];
    memcpy(wrong, k.text, sizeof wrong);
    wrong[APIKEY_TEXT_MAX - 2] = wrong[APIKEY_TEXT_MAX - 2] == 'A' ? 'B' : 'A';
    cr_assert_eq(verify(ak, wrong, &a, &ro), APIKEY_REFUSED);
    struct key ghost;
    tc_uuid(ghost.id);
    char secret[APIKEY_SECRET_LEN + 1];
    apikey_secret_new(secret);
    apikey_text(ghost.id, secret, ghost.text);
    cr_assert_eq(verify(ak, ghost.text, &a, &ro), APIKEY_REFUSED);
    cr_assert_eq(verify(ak, "psop_x", &a, &ro), APIKEY_REFUSED);
    cr_assert_eq(a.role, ROLE_NONE, "a refused key leaves no actor");

    /* last_used_at: the minute of the uses above, seconds zero. */
    char *used = h_pg_value(pg,
                            "SELECT last_used_at = date_trunc('minute', last_used_at) AND "
                            "last_used_at > now() - interval '2 minutes' FROM psop.api_keys "
                            "WHERE id = '%s'",
                            k.id);
    cr_assert_str_eq(used, "t", "last_used_at not written to the minute");
    free(used);

    /* Revoked in the database: refused within APIKEYS_FRESH_MS. */
    free(h_pg_value(pg,
                    "UPDATE psop.api_keys SET revoked_at = now(), revoked_by = 'test' "
                    "WHERE id = '%s'",
                    k.id));
    double t0 = h_now();
    while (verify(ak, k.text, &a, &ro) == APIKEY_OK) {
        cr_assert(h_now() - t0 < APIKEYS_FRESH_MS / 1000.0 + 1, "revoked key still accepted");
        h_sleep_ms(20);
    }
    apikeys_free(ak);
    pgpool_free(pool);
    PQfinish(pg);
}

Test(api_keys_cache, no_database_and_nothing_cached_is_unavailable, .timeout = 30)
{
    struct pgpool *pool = pgpool_new("host=127.0.0.1 port=1 dbname=psop user=psop", 1);
    struct apikeys *ak = apikeys_new(pool);
    struct key k;
    char secret[APIKEY_SECRET_LEN + 1];
    tc_uuid(k.id);
    apikey_secret_new(secret);
    apikey_text(k.id, secret, k.text);
    struct actor a;
    bool ro;
    cr_assert_eq(verify(ak, k.text, &a, &ro), APIKEY_UNAVAILABLE);
    apikeys_free(ak);
    pgpool_free(pool);
}

struct hammer {
    struct apikeys *ak;
    const char *good, *bad;
    atomic_int ok, refused, other;
    atomic_bool stop;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; !atomic_load(&h->stop); i++) {
        struct actor a;
        bool ro;
        enum apikey_verdict v = verify(h->ak, i % 4 ? h->good : h->bad, &a, &ro);
        if (v == APIKEY_OK && strncmp(a.sub, "apikey:", 7) == 0)
            atomic_fetch_add(&h->ok, 1);
        else if (v == APIKEY_REFUSED)
            atomic_fetch_add(&h->refused, 1);
        else
            atomic_fetch_add(&h->other, 1);
    }
    return NULL;
}

Test(api_keys_cache, four_threads_see_a_revocation_without_torn_state, .timeout = 60)
{
    PGconn *pg = h_pg();
    struct pgpool *pool = pgpool_new(h_config()->pg_dsn, 4);
    struct key k;
    make_key(pg, &k, "write");
    char bad[APIKEY_TEXT_MAX];
    memcpy(bad, k.text, sizeof bad);
    bad[APIKEY_TEXT_MAX - 2] = bad[APIKEY_TEXT_MAX - 2] == 'A' ? 'B' : 'A';
    struct hammer h = {.ak = apikeys_new(pool), .good = k.text, .bad = bad};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer_main, &h);
    h_sleep_ms(1000);
    free(h_pg_value(pg,
                    "UPDATE psop.api_keys SET revoked_at = now(), revoked_by = 'test' "
                    "WHERE id = '%s'",
                    k.id));
    h_sleep_ms(APIKEYS_FRESH_MS + 500);
    int ok_at_revoke_plus = atomic_load(&h.ok);
    h_sleep_ms(1000);
    atomic_store(&h.stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_gt(ok_at_revoke_plus, 0, "the key never passed before its revocation");
    cr_assert_eq(atomic_load(&h.ok), ok_at_revoke_plus,
                 "%d uses passed more than %d ms after the revocation",
                 atomic_load(&h.ok) - ok_at_revoke_plus, APIKEYS_FRESH_MS + 500);
    cr_assert_eq(atomic_load(&h.other), 0, "%d verdicts neither OK nor REFUSED",
                 atomic_load(&h.other));
    apikeys_free(h.ak);
    pgpool_free(pool);
    PQfinish(pg);
}
