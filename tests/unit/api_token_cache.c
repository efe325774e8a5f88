/* Unit tests of api/token_cache.c: when a verified token may be believed
 * again without a new check. */
#include <criterion/criterion.h>
#include <string.h>

#include "token_cache.h"

static struct token_entry entry(const char *tok, long long verified_at, double exp, double nbf)
{
    struct token_entry e = {0};
    token_digest(tok, strlen(tok), e.digest);
    snprintf(e.actor.sub, sizeof(e.actor.sub), "%s", tok);
    e.actor.role = ROLE_ORGANISER;
    e.verified_at = verified_at;
    e.exp = exp;
    e.nbf = nbf;
    return e;
}

Test(api_token_cache, an_entry_is_usable_only_within_exp_nbf_and_its_ttl)
{
    struct token_entry e = entry("t", 1000, 1100, 990);
    cr_expect(token_entry_usable(&e, 1000));
    cr_expect(token_entry_usable(&e, 1000 + TOKEN_CACHE_TTL_S - 1));
    cr_expect_not(token_entry_usable(&e, 1000 + TOKEN_CACHE_TTL_S), "older than the ttl");
    cr_expect_not(token_entry_usable(&e, 999), "the clock went back past the check");
    e.exp = 1030;
    cr_expect(token_entry_usable(&e, 1029));
    cr_expect_not(token_entry_usable(&e, 1030), "exp is the first second it is not valid");
    e.nbf = 1005;
    cr_expect_not(token_entry_usable(&e, 1004), "before nbf");
    cr_expect(token_entry_usable(&e, 1005));
}

Test(api_token_cache, only_the_same_token_hits)
{
    struct token_cache *c = token_cache_new();
    struct token_entry a = entry("header.claims.signature", 1000, 2000, 0);
    struct token_entry got;
    cr_expect_not(token_cache_get(c, a.digest, 1000, &got), "empty");
    token_cache_put(c, &a);
    cr_assert(token_cache_get(c, a.digest, 1001, &got));
    cr_expect_str_eq(got.actor.sub, "header.claims.signature");
    cr_expect_eq(got.actor.role, ROLE_ORGANISER);
    struct token_entry b = entry("header.claims.signaturf", 1000, 2000, 0);
    cr_expect_not(token_cache_get(c, b.digest, 1001, &got), "one byte away is another token");
    cr_expect_not(token_cache_get(c, a.digest, 1000 + TOKEN_CACHE_TTL_S, &got), "too old");
    token_cache_free(c);
}

Test(api_token_cache, a_token_in_the_same_slot_replaces_the_older_one)
{
    struct token_cache *c = token_cache_new();
    struct token_entry a = entry("a", 1000, 2000, 0);
    struct token_entry b = a;
    b.digest[TOKEN_DIGEST_LEN - 1] ^= 1; /* same slot (the first bytes), another digest */
    snprintf(b.actor.sub, sizeof(b.actor.sub), "b");
    token_cache_put(c, &a);
    token_cache_put(c, &b);
    struct token_entry got;
    cr_expect_not(token_cache_get(c, a.digest, 1000, &got), "a was replaced");
    cr_assert(token_cache_get(c, b.digest, 1000, &got));
    cr_expect_str_eq(got.actor.sub, "b");
    token_cache_free(c);
}
