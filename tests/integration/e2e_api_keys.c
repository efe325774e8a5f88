/*
 * End-to-end tests of provider integration keys (docs/domain.md, "Provider
 * integration keys") on the running stack, through HAProxy ($PSOP_API_URL):
 * the key's text answered once, reads and commands with it, scopes, the
 * list (never a secret or hash), last_used_at to the minute, at most 10 live
 * keys, and revocation and expiry refused within 5 s. Every provider is new,
 * so the file runs again and again on the same database.
 * tests/security/apikey_secret.sh proves the secret is stored nowhere.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/apikey.h"
#include "e2e_http.h"

struct world {
    struct e2e e;
    PGconn *pg;
    char *admin, *pid, *ptok;
};

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    struct e2e *e = &w->e;
    e2e_init(e);
    w->pg = h_pg();
    w->admin = e2e_tok(e, "admin", "e2e-admin", NULL, NULL, NULL);
    w->pid = e2e_uuid(e);
    w->ptok = e2e_tok(e, "provider", e2e_fmt(e, "erp-user-%s", w->pid + 24), NULL, w->pid, NULL);
    char yt[10], iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    e2e_ok(e, "POST", "/v1/providers", w->ptok,
           e2e_fmt(e,
                   "{\"id\":\"%s\",\"business_id\":\"%s\",\"name\":\"Avain %s Oy\","
                   "\"iban\":\"%s\"}",
                   w->pid, yt, w->pid + 28, iban));
}

static void world_fini(struct world *w)
{
    PQfinish(w->pg);
    e2e_fini(&w->e);
}

/* Polls GET /v1/commands/{id} until its verdict; returns the status. */
static const char *verdict(struct world *w, const char *cid, const char *token)
{
    struct e2e *e = &w->e;
    double until = h_now() + E2E_VERDICT_S;
    for (;;) {
        int st;
        json_t *j =
            e2e_call(e, "GET", e2e_fmt(e, "/v1/commands/%s", cid), token, NULL, NULL, &st, NULL);
        const char *s = e2e_fmt(e, "%s", e2e_str(j, "status"));
        json_decref(j);
        if (st == 200 && (strcmp(s, "applied") == 0 || strcmp(s, "rejected") == 0))
            return s;
        cr_assert(h_now() < until, "no verdict for command %s", cid);
        h_sleep_ms(50);
    }
}

/* Creates a key (no Prefer: wait, so the 202 is the answer that carries
 * the text); *cid gets the command id. Returns the key's text, or NULL when
 * the create was refused (status in *status). */
static char *create_key(struct world *w, const char *token, const char *body, int *status,
                        char **cid)
{
    struct e2e *e = &w->e;
    int st;
    char *raw;
    json_t *j = e2e_call(e, "POST", e2e_fmt(e, "/v1/providers/%s/api-keys", w->pid), token, body,
                         NULL, &st, &raw);
    *status = st;
    if (st != 202) {
        json_decref(j);
        return NULL;
    }
    *cid = e2e_fmt(e, "%s", e2e_str(j, "command_id"));
    char *text = e2e_fmt(e, "%s", e2e_str(j, "secret"));
    const char *kid = e2e_str(j, "key_id");
    cr_assert(apikey_is_key(text), "202 without the key's text: %s", raw);
    char k[37], s[APIKEY_SECRET_LEN + 1];
    cr_assert_eq(apikey_parse(text, k, s), 0, "not a key's text: %s", text);
    cr_assert_str_eq(k, kid, "the text names key %s, the answer %s", k, kid);
    json_decref(j);
    return text;
}

/* A key of the world's provider that must be made and applied. */
static char *new_key(struct world *w, const char *body)
{
    int st;
    char *cid;
    char *text = create_key(w, w->ptok, body, &st, &cid);
    cr_assert_eq(st, 202, "api_key.create %s: %d", body, st);
    cr_assert_str_eq(verdict(w, cid, w->ptok), "applied", "api_key.create %s", body);
    return text;
}

static char *key_id_of(struct world *w, const char *text)
{
    char k[37], s[APIKEY_SECRET_LEN + 1];
    cr_assert_eq(apikey_parse(text, k, s), 0);
    return e2e_fmt(&w->e, "%s", k);
}

static int get_status(struct world *w, const char *path, const char *token)
{
    int st;
    json_decref(e2e_call(&w->e, "GET", path, token, NULL, NULL, &st, NULL));
    return st;
}

Test(api_keys, a_key_reads_and_sends_as_its_provider_and_lists_without_secrets, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    int st;
    char *key = new_key(&w, "{\"name\":\"Kirjanpito-ERP\",\"expires_in_days\":90}");
    char *kid = key_id_of(&w, key);
    const char *self = e2e_fmt(e, "/v1/providers/%s", w.pid);

    /* A read with the key: the provider's own document. */
    json_t *doc = e2e_get(e, self, key);
    cr_assert_str_eq(e2e_str(doc, "id"), w.pid);
    json_decref(doc);
    /* Another provider's document stays another's. */
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/providers/%s", e2e_uuid(e)), key), 403);

    /* A command with the key acts as the provider (sub apikey:<id>). */
    int pst;
    char *raw;
    json_t *c = e2e_call(e, "POST", e2e_fmt(e, "/v1/providers/%s/applications", w.pid), key,
                         e2e_fmt(e,
                                 "{\"organiser_id\":\"%s\",\"service_type\":\"eiole\","
                                 "\"rulebook_version\":\"2026-1\"}",
                                 e2e_uuid(e)),
                         E2E_WAIT, &pst, &raw);
    /* Authenticated and authorised: the workers decide (no such organiser). */
    cr_expect_eq(pst, 422, "%s", raw);
    cr_expect(strstr(raw, "not_found") != NULL, "%s", raw);
    json_decref(c);
    char *sub = h_pg_value(w.pg,
                           "SELECT actor_sub FROM psop.processed_commands WHERE "
                           "actor_provider = '%s' ORDER BY applied_at DESC LIMIT 1",
                           w.pid);
    cr_expect_str_eq(sub, e2e_fmt(e, "apikey:%s", kid));
    free(sub);

    /* A key cannot make keys, nor revoke them. */
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), key,
               "{\"name\":\"x\",\"expires_in_days\":1}", 403, "a key creating a key");
    e2e_status(e, "DELETE", e2e_fmt(e, "/v1/providers/%s/api-keys/%s", w.pid, kid), key, NULL, 403,
               "a key revoking itself");
    /* A client may not send its own hash. */
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.ptok,
               e2e_fmt(e, "{\"name\":\"x\",\"expires_in_days\":1,\"secret_hash\":\"%064d\"}", 0),
               422, "a client-made hash");
    /* Over a year, or no expiry: refused at the front. */
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.ptok,
               "{\"name\":\"x\",\"expires_in_days\":366}", 422, "a key over a year");
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.ptok,
               "{\"name\":\"x\"}", 422, "a key without expiry");

    /* A wrong secret, a malformed key: 401. */
    char *wrong = e2e_fmt(e, "%s", key);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
    cr_expect_eq(get_status(&w, self, wrong), 401);
    cr_expect_eq(get_status(&w, self, "psop_not-a-key"), 401);

    /* The list: the provider's own and admin's; no secret, no hash. */
    char *list_raw;
    json_t *list = e2e_call(e, "GET", e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.ptok, NULL,
                            NULL, &st, &list_raw);
    cr_assert_eq(st, 200, "%s", list_raw);
    cr_expect(strstr(list_raw, key + 42) == NULL, "the list shows the secret: %s", list_raw);
    cr_expect(strstr(list_raw, "hash") == NULL, "the list shows a hash: %s", list_raw);
    json_t *k = e2e_find(json_object_get(list, "keys"), "key_id", kid);
    cr_assert_not_null(k, "%s", list_raw);
    cr_expect_str_eq(e2e_str(k, "name"), "Kirjanpito-ERP");
    cr_expect_str_eq(e2e_str(k, "scope"), "write");
    /* last_used_at to the minute, written by the uses above. */
    const char *used = e2e_str(k, "last_used_at");
    cr_expect(strlen(used) == 27 && strcmp(used + 16, ":00.000000Z") == 0, "last_used_at %s", used);
    json_decref(list);
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.admin), 200);
    char *other = e2e_tok(e, "provider", "someone", NULL, e2e_uuid(e), NULL);
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), other), 403);
    world_fini(&w);
}

Test(api_keys, a_read_key_only_reads, .timeout = 120)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *key = new_key(&w, "{\"name\":\"Raportit\",\"expires_in_days\":30,\"scope\":\"read\"}");
    cr_expect_eq(get_status(&w, e2e_fmt(e, "/v1/providers/%s", w.pid), key), 200);
    e2e_status(e, "POST", e2e_fmt(e, "/v1/providers/%s/applications", w.pid), key,
               "{\"organiser_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c\","
               "\"service_type\":\"eiole\",\"rulebook_version\":\"1\"}",
               403, "a read key sending a command");
    world_fini(&w);
}

Test(api_keys, at_most_ten_live_keys, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *cids[11];
    int st;
    for (int i = 0; i < 11; i++) {
        cr_assert_not_null(
            create_key(&w, w.ptok, e2e_fmt(e, "{\"name\":\"avain %d\",\"expires_in_days\":7}", i),
                       &st, &cids[i]));
        /* One at a time, so the eleventh is the one over the limit. */
        const char *v = verdict(&w, cids[i], w.ptok);
        cr_expect_str_eq(v, i < 10 ? "applied" : "rejected", "key %d", i);
    }
    json_t *c = e2e_get(e, e2e_fmt(e, "/v1/commands/%s", cids[10]), w.ptok);
    cr_expect(strncmp(e2e_str(c, "reason"), "too_many_keys", 13) == 0, "%s", e2e_str(c, "reason"));
    json_decref(c);
    json_t *list = e2e_get(e, e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.admin);
    cr_expect_eq(e2e_int(list, "live"), 10);
    cr_expect_eq(json_array_size(json_object_get(list, "keys")), 10);
    json_decref(list);
    world_fini(&w);
}

/* The status of GET path with key straight from the replica on port. */
static int replica_status(int port, const char *path, const char *key)
{
    struct tl_resp r;
    cr_assert_eq(tl_request(port, "GET", path, key, NULL, NULL, NULL, &r), 0,
                 "no answer from the replica on port %d", port);
    int st = r.status;
    tl_resp_free(&r);
    return st;
}

/* Seconds from now until path answers 401 with key on every api replica
 * ($PSOP_API_PORTS, asked straight, not through the balancer), polling each
 * every 50 ms; fails past 10 s. */
static double seconds_until_refused(const char *path, const char *key)
{
    const char *ports = getenv("PSOP_API_PORTS");
    cr_assert(ports && *ports, "PSOP_API_PORTS is not set: source .run/stack.env");
    double t0 = h_now(), last = 0;
    int n = 0;
    for (const char *p = ports; *p;) {
        char *end;
        long port = strtol(p, &end, 10);
        if (end == p)
            break;
        n++;
        while (replica_status((int)port, path, key) != 401) {
            cr_assert(h_now() - t0 < 10, "key still accepted by port %ld after 10 s", port);
            h_sleep_ms(50);
        }
        if (h_now() - t0 > last)
            last = h_now() - t0;
        p = end;
        while (*p == ' ')
            p++;
    }
    cr_assert_geq(n, 1, "no replica port in PSOP_API_PORTS '%s'", ports);
    return last;
}

Test(api_keys, revoked_and_expired_keys_are_refused_within_5_s, .timeout = 180)
{
    struct world w;
    world_init(&w);
    struct e2e *e = &w.e;
    char *k1 = new_key(&w, "{\"name\":\"vanha\",\"expires_in_days\":365}");
    char *k2 = new_key(&w, "{\"name\":\"lyhyt\",\"expires_in_days\":1}");
    const char *self = e2e_fmt(e, "/v1/providers/%s", w.pid);
    /* Both replicas read both keys (HAProxy balances round robin). */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(get_status(&w, self, k1), 200);
        cr_assert_eq(get_status(&w, self, k2), 200);
    }
    e2e_ok(e, "DELETE", e2e_fmt(e, "/v1/providers/%s/api-keys/%s", w.pid, key_id_of(&w, k1)),
           w.ptok, NULL);
    double t = seconds_until_refused(self, k1);
    fprintf(stderr, "revoked key refused on every replica %.2f s after the verdict\n", t);
    cr_expect_lt(t, 5.0, "revoked key accepted for %.2f s", t);
    /* Refused on every replica from then on. */
    for (int i = 0; i < 6; i++)
        cr_expect_eq(get_status(&w, self, k1), 401);
    e2e_rej(e, "DELETE", e2e_fmt(e, "/v1/providers/%s/api-keys/%s", w.pid, key_id_of(&w, k1)),
            w.ptok, NULL, "already_revoked");

    /* Expiry, brought forward in the database (a day is long to wait). */
    free(h_pg_value(w.pg,
                    "UPDATE psop.api_keys SET created_at = now() - interval '2 days', "
                    "expires_at = now() - interval '1 second' WHERE id = '%s'",
                    key_id_of(&w, k2)));
    t = seconds_until_refused(self, k2);
    fprintf(stderr, "expired key refused on every replica %.2f s after the expiry\n", t);
    cr_expect_lt(t, 5.0, "expired key accepted for %.2f s", t);
    json_t *list = e2e_get(e, e2e_fmt(e, "/v1/providers/%s/api-keys", w.pid), w.ptok);
    cr_expect_eq(e2e_int(list, "live"), 0);
    json_t *r = e2e_find(json_object_get(list, "keys"), "key_id", key_id_of(&w, k1));
    cr_expect(json_is_string(json_object_get(r, "revoked_at")));
    json_decref(list);
    world_fini(&w);
}
