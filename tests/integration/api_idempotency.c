/*
 * Integration: Idempotency-Key without Redis on the critical path, and
 * command status / keys scoped by the whole principal (issue 15 section 2,
 * issue 14 item 7). Real stack: its Kafka, PostgreSQL and workers.
 *
 *  - a private psop-api on its own Redis (a redis-server the test starts and
 *    SIGKILLs): a retry with the same key after the Redis stop gets 202 with
 *    the same command id, and the provider is registered exactly once;
 *  - the same key with another body: 409 while Redis knows the key; with
 *    Redis down 202, then the rejection idempotency_key_reused in
 *    GET /v1/commands/{id};
 *  - through the stack's api: two organiser tokens with the same sub at two
 *    organisers neither read each other's command status nor replay each
 *    other's key.
 */
#include <criterion/criterion.h>

#include <fcntl.h>

#include "e2e_http.h"

static pid_t redis_pid = -1, api_pid = -1;
static int redis_port, api_port;
static char redis_env[64];

static bool tcp_up(int port)
{
    int fd = tl_connect(port);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void redis_start(void)
{
    redis_pid = fork();
    cr_assert(redis_pid >= 0);
    if (redis_pid == 0) {
        char p[16];
        snprintf(p, sizeof(p), "%d", redis_port);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tcp_up(redis_port); i++)
        h_sleep_ms(25);
    cr_assert(tcp_up(redis_port), "redis-server did not start on %d", redis_port);
}

static void redis_kill(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

static void setup(void)
{
    redis_port = tl_port(0);
    api_port = tl_port(1);
    redis_start();
    snprintf(redis_env, sizeof(redis_env), "PSOP_REDIS_URL=redis://127.0.0.1:%d", redis_port);
    const char *env[] = {redis_env, NULL};
    api_pid = tl_api_start(api_port, env);
    cr_assert(api_pid > 0, "psop-api did not start");
}

static void teardown(void)
{
    if (api_pid > 0)
        tl_api_stop(api_pid);
    redis_kill();
}

/* A token with TL_SECRET (the private api's) and claims of our choosing. */
static char *token(const char *role, const char *sub, const char *org, const char *provider)
{
    char *t = tl_token_as(sub, role, org, provider, NULL, 3600);
    cr_assert_not_null(t);
    return t;
}

static int post(int port, const char *path, const char *tok, const char *body, const char *key,
                struct tl_resp *r)
{
    char extra[256];
    snprintf(extra, sizeof(extra), "Idempotency-Key: %s\r\n", key);
    cr_assert_eq(tl_request(port, "POST", path, tok, "application/json", body, extra, r), 0,
                 "POST %s: no answer", path);
    return r->status;
}

static char *register_body(const char *name)
{
    char yt[10], iban[19], *b = NULL;
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    cr_assert(asprintf(&b,
                       "{\"business_id\":\"%s\",\"name\":\"%s Oy\",\"iban\":\"%s\","
                       "\"email\":\"laskutus@example.fi\"}",
                       yt, name, iban) > 0);
    return b;
}

TestSuite(api_idempotency, .init = setup, .fini = teardown, .timeout = 180);

Test(api_idempotency, a_retry_after_redis_stops_is_the_same_command_applied_once)
{
    PGconn *pg = h_pg();
    char pid[UUID_STR_LEN], key[64];
    tc_uuid(pid);
    snprintf(key, sizeof(key), "idem-retry-%s", pid);
    char *tok = token("provider", "idem-test-provider", NULL, pid);
    char *body = register_body("Idem Retry");
    struct tl_resp a, b;
    cr_assert_eq(post(api_port, "/v1/providers", tok, body, key, &a), 202, "%s", a.body);
    char cid[UUID_STR_LEN];
    snprintf(cid, sizeof(cid), "%s", json_string_value(json_object_get(a.json, "command_id")));

    redis_kill();
    cr_assert_eq(post(api_port, "/v1/providers", tok, body, key, &b), 202,
                 "a retry with Redis down: %s", b.body);
    cr_expect_str_eq(json_string_value(json_object_get(b.json, "command_id")), cid);
    cr_expect_str_eq(json_string_value(json_object_get(b.json, "resource_id")), pid);

    /* The same key with another body, Redis still down: accepted, then
     * rejected by the worker (no effect). */
    char *other = register_body("Idem Other");
    struct tl_resp c;
    cr_assert_eq(post(api_port, "/v1/providers", tok, other, key, &c), 202, "%s", c.body);
    const char *cid2 = json_string_value(json_object_get(c.json, "command_id"));
    cr_assert_not_null(cid2);
    cr_expect_str_neq(cid2, cid);
    /* Same partition (keyed by the provider): its verdict comes after the
     * retry's copy was consumed. */
    cr_assert(h_wait_pg(pg, 60,
                        "SELECT count(*) = 2 FROM psop.processed_commands "
                        "WHERE command_id IN ('%s', '%s')",
                        cid, cid2),
              "no verdicts for %s / %s", cid, cid2);
    char *n = h_pg_value(pg,
                         "SELECT count(*) FROM psop.processed_commands WHERE resource_id = '%s' "
                         "OR command_id IN ('%s', '%s')",
                         pid, cid, cid2);
    cr_expect_str_eq(n, "2", "one registration and one rejection, nothing doubled");
    char *applied =
        h_pg_value(pg, "SELECT status FROM psop.processed_commands WHERE command_id = '%s'", cid);
    cr_expect_str_eq(applied, "applied");
    char *providers = h_pg_value(pg, "SELECT count(*) FROM psop.providers WHERE id = '%s'", pid);
    cr_expect_str_eq(providers, "1");

    /* The status of the conflicting request, answered from PostgreSQL. */
    char path[128];
    snprintf(path, sizeof(path), "/v1/commands/%s", cid2);
    struct tl_resp s;
    cr_assert_eq(tl_request(api_port, "GET", path, tok, NULL, NULL, NULL, &s), 0);
    cr_expect_eq(s.status, 200, "%s", s.body);
    cr_expect_str_eq(json_string_value(json_object_get(s.json, "status")), "rejected");
    const char *why = json_string_value(json_object_get(s.json, "reason"));
    cr_expect(why && strncmp(why, "idempotency_key_reused", 22) == 0, "reason: %s",
              why ? why : "(none)");

    free(n);
    free(applied);
    free(providers);
    free(other);
    free(body);
    free(tok);
    tl_resp_free(&a);
    tl_resp_free(&b);
    tl_resp_free(&c);
    tl_resp_free(&s);
    PQfinish(pg);
}

Test(api_idempotency, another_body_under_a_known_key_is_409)
{
    char pid[UUID_STR_LEN], key[64];
    tc_uuid(pid);
    snprintf(key, sizeof(key), "idem-409-%s", pid);
    char *tok = token("provider", "idem-test-provider", NULL, pid);
    char *body = register_body("Idem First"), *other = register_body("Idem Second");
    struct tl_resp a, b, c;
    cr_assert_eq(post(api_port, "/v1/providers", tok, body, key, &a), 202, "%s", a.body);
    cr_expect_eq(post(api_port, "/v1/providers", tok, other, key, &b), 409, "%s", b.body);
    cr_expect_eq(post(api_port, "/v1/providers", tok, body, key, &c), 202, "%s", c.body);
    char h[16] = "";
    cr_expect(tl_header(&c, "Idempotent-Replayed", h, sizeof(h)), "a replay");
    free(body);
    free(other);
    free(tok);
    tl_resp_free(&a);
    tl_resp_free(&b);
    tl_resp_free(&c);
}

/* Organisers A and B, both with sub `sub`, through the api on port (tokens
 * signed for it): each gets its own command for one key, and reads its own
 * status only, while accepted and after the verdict. */
static void two_principals(struct e2e *e, int port, const char *org_a, const char *org_b,
                           const char *ta, const char *tb)
{
    char *key = e2e_code(e, "shared-key-");
    struct tl_resp a, b;
    char *ba = e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2025-04\"}", org_a);
    char *bb = e2e_fmt(e, "{\"organiser_id\":\"%s\",\"period\":\"2025-04\"}", org_b);
    cr_assert_eq(post(port, "/v1/settlements/runs", ta, ba, key, &a), 202, "%s", a.body);
    cr_assert_eq(post(port, "/v1/settlements/runs", tb, bb, key, &b), 202,
                 "B's own key is not A's: %s", b.body);
    char h[16] = "";
    cr_expect_not(tl_header(&b, "Idempotent-Replayed", h, sizeof(h)), "B got A's answer");
    const char *ca = json_string_value(json_object_get(a.json, "command_id"));
    const char *cb = json_string_value(json_object_get(b.json, "command_id"));
    cr_assert(ca && cb);
    cr_expect_str_neq(ca, cb);

    /* Accepted (the api's document), then the verdict (the worker's). */
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            PGconn *pg = h_pg();
            cr_assert(h_wait_pg(pg, 60,
                                "SELECT count(*) = 2 FROM psop.processed_commands "
                                "WHERE command_id IN ('%s', '%s')",
                                ca, cb));
            PQfinish(pg);
            h_sleep_ms(500);
        }
        const char *ids[2] = {ca, cb}, *toks[2] = {ta, tb};
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++) {
                char path[128];
                snprintf(path, sizeof(path), "/v1/commands/%s", ids[i]);
                struct tl_resp r;
                cr_assert_eq(tl_request(port, "GET", path, toks[j], NULL, NULL, NULL, &r), 0);
                cr_expect_eq(r.status, i == j ? 200 : 404,
                             "organiser %c reading %c's status (round %d): %d %s", 'A' + j, 'A' + i,
                             round, r.status, r.body);
                tl_resp_free(&r);
            }
        }
    }
    tl_resp_free(&a);
    tl_resp_free(&b);
}

/* One sub at two new organisers, through the stack's api (HAProxy, the
 * stack's Redis and workers) or the private api (its Redis up; verdicts from
 * PostgreSQL). */
static void same_sub_at_two_organisers(bool private_api)
{
    struct e2e e;
    e2e_init(&e);
    char *org_a = e2e_uuid(&e), *org_b = e2e_uuid(&e);
    char *sub = e2e_code(&e, "same-sub-");
    if (private_api)
        two_principals(&e, api_port, org_a, org_b,
                       e2e_keep(&e, token("organiser", sub, org_a, NULL)),
                       e2e_keep(&e, token("organiser", sub, org_b, NULL)));
    else
        two_principals(&e, e.port, org_a, org_b, e2e_tok(&e, "organiser", sub, org_a, NULL, NULL),
                       e2e_tok(&e, "organiser", sub, org_b, NULL, NULL));
    e2e_fini(&e);
}

Test(api_idempotency, the_same_sub_at_two_organisers_is_two_principals)
{
    same_sub_at_two_organisers(false);
}

Test(api_idempotency, the_same_sub_at_two_organisers_is_two_principals_private_api)
{
    same_sub_at_two_organisers(true);
}
