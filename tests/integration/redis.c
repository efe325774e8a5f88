/* Integration tests of lib/store/rds.c on the stack's Redis. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "store/rds.h"
#include "rds_test.h"
#include "stack.h"

Test(redis, versioned_write_refuses_older_and_equal_accepts_newer)
{
    struct rds *r = st_redis_connect();
    char *key = st_unique("psop:test:rm");
    char err[256] = "", *doc = NULL;
    long long v = 0;

    cr_assert_eq(rds_get_versioned(r, key, &doc, &v, err, sizeof(err)), RDS_ABSENT, "absent: %s",
                 err);
    cr_assert_null(doc);

    cr_assert_eq(rds_put_versioned(r, key, 5, "{\"v\":5}", 0, err, sizeof(err)), 1, "%s", err);
    cr_assert_eq(rds_put_versioned(r, key, 4, "{\"v\":4}", 0, err, sizeof(err)), 0, "older");
    cr_assert_eq(rds_put_versioned(r, key, 5, "{\"v\":5,\"replay\":1}", 0, err, sizeof(err)), 0,
                 "equal");
    cr_assert_eq(rds_get_versioned(r, key, &doc, &v, err, sizeof(err)), RDS_FOUND, "%s", err);
    cr_assert_eq(v, 5);
    cr_assert_str_eq(doc, "{\"v\":5}");
    free(doc);

    cr_assert_eq(rds_put_versioned(r, key, 6, "{\"v\":6}", 0, err, sizeof(err)), 1, "newer");
    cr_assert_eq(rds_get_versioned(r, key, &doc, NULL, err, sizeof(err)), RDS_FOUND, "%s", err);
    cr_assert_str_eq(doc, "{\"v\":6}");
    free(doc);

    redisReply *rep = rds_command(r, "TTL %s", key);
    cr_assert_eq(rep->integer, -1, "no ttl asked, none set");
    freeReplyObject(rep);

    st_redis_del(r, key);
    free(key);
    rds_free(r);
}

/* Writes doc ("" a marker) at version ver to all n keys in one pipelined
 * call; want_written of them must land. */
static void put_all(struct rds *r, size_t n, const char *const *keys, const char *doc,
                    long long ver, long want_written)
{
    const char **docs = calloc(n, sizeof(*docs));
    long long *vers = calloc(n, sizeof(*vers));
    for (size_t i = 0; i < n; i++) {
        docs[i] = doc;
        vers[i] = ver;
    }
    char err[256] = "";
    long written = -1;
    cr_assert_eq(rds_put_versioned_many(r, n, keys, vers, docs, 0, &written, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(written, want_written);
    free(docs);
    free(vers);
}

Test(redis, stale_markers_and_pipelined_writes)
{
    struct rds *r = st_redis_connect();
    enum { N = 600 }; /* more than one pipeline chunk */
    char *keys[N], err[256] = "", *doc = NULL;
    const char *kp[N];
    long long v = 0;
    for (int i = 0; i < N; i++) {
        keys[i] = st_unique("psop:test:many");
        kp[i] = keys[i];
    }
    /* key 0 already holds version 5: its write at 3 is refused, the rest land */
    cr_assert_eq(rds_put_versioned(r, keys[0], 5, "{\"n\":0}", 0, err, sizeof(err)), 1);
    put_all(r, N, kp, "{\"n\":1}", 3, N - 1);
    cr_assert_eq(rds_get_versioned(r, keys[N - 1], &doc, &v, err, sizeof(err)), RDS_FOUND, "%s",
                 err);
    cr_assert_eq(v, 3);
    cr_assert_str_eq(doc, "{\"n\":1}");
    free(doc);

    /* Markers at version 4: refused at key 0 (5 is newer), taken elsewhere. */
    put_all(r, N, kp, "", 4, N - 1);
    doc = NULL;
    cr_assert_eq(rds_get_versioned(r, keys[1], &doc, &v, err, sizeof(err)), RDS_STALE);
    cr_assert_null(doc);
    cr_assert_eq(v, 4);
    cr_assert_eq(rds_get_versioned(r, keys[0], &doc, &v, err, sizeof(err)), RDS_FOUND);
    cr_assert_str_eq(doc, "{\"n\":0}");
    free(doc);

    /* Over a marker: an older document is refused, a marker again is
     * refused, the document of the marker's own version is taken, and then
     * neither a marker nor a replay of that version replaces it. */
    cr_assert_eq(rds_put_versioned(r, keys[1], 3, "{\"n\":3}", 0, err, sizeof(err)), 0);
    cr_assert_eq(rds_put_versioned(r, keys[1], 4, "", 0, err, sizeof(err)), 0);
    cr_assert_eq(rds_put_versioned(r, keys[1], 4, "{\"n\":4}", 0, err, sizeof(err)), 1);
    cr_assert_eq(rds_put_versioned(r, keys[1], 4, "", 0, err, sizeof(err)), 0);
    cr_assert_eq(rds_put_versioned(r, keys[1], 4, "{\"n\":44}", 0, err, sizeof(err)), 0);
    cr_assert_eq(rds_get_versioned(r, keys[1], &doc, &v, err, sizeof(err)), RDS_FOUND);
    cr_assert_str_eq(doc, "{\"n\":4}");
    free(doc);
    /* a newer marker replaces a document */
    cr_assert_eq(rds_put_versioned(r, keys[1], 5, "", 0, err, sizeof(err)), 1);
    cr_assert_eq(rds_get_versioned(r, keys[1], &doc, &v, err, sizeof(err)), RDS_STALE);

    /* The script cache lost (a Redis restart): the pipelined path reloads it. */
    redisReply *rep = rds_command(r, "SCRIPT FLUSH");
    cr_assert_not_null(rep);
    freeReplyObject(rep);
    put_all(r, N, kp, "{\"n\":9}", 9, N);

    for (int i = 0; i < N; i++) {
        st_redis_del(r, keys[i]);
        free(keys[i]);
    }
    rds_free(r);
}

Test(redis, versioned_write_sets_ttl_and_is_binary_safe)
{
    struct rds *r = st_redis_connect();
    char *key = st_unique("psop:test:ttl");
    char err[256] = "", *doc = NULL;
    const char *text = "{\"name\":\"Äänekoski % %s \\\" \"}";

    cr_assert_eq(rds_put_versioned(r, key, 1, text, 120, err, sizeof(err)), 1, "%s", err);
    redisReply *rep = rds_command(r, "TTL %s", key);
    cr_assert(rep->integer > 0 && rep->integer <= 120, "ttl %lld", rep->integer);
    freeReplyObject(rep);
    cr_assert_eq(rds_get_versioned(r, key, &doc, NULL, err, sizeof(err)), RDS_FOUND, "%s", err);
    cr_assert_str_eq(doc, text);
    free(doc);

    st_redis_del(r, key);
    free(key);
    rds_free(r);
}

Test(redis, killed_connection_reconnects_on_next_call)
{
    struct rds *r = st_redis_connect();
    struct rds *admin = st_redis_connect();
    char *key = st_unique("psop:test:kill");
    char err[256] = "";

    cr_assert_eq(rds_put_versioned(r, key, 1, "a", 0, err, sizeof(err)), 1, "%s", err);
    long long id = st_redis_client_id(r);
    redisReply *rep = rds_command(admin, "CLIENT KILL ID %lld", id);
    cr_assert_eq(rep->type, REDIS_REPLY_INTEGER);
    cr_assert_eq(rep->integer, 1, "one client killed");
    freeReplyObject(rep);

    /* The first call after the kill finds the socket closed, reconnects and
     * succeeds; it is a new connection. */
    rep = rds_command(r, "PING");
    cr_assert_not_null(rep, "no reconnect: %s", rds_ctx(r) ? rds_ctx(r)->errstr : "no ctx");
    cr_assert_str_eq(rep->str, "PONG");
    freeReplyObject(rep);
    cr_assert_neq(st_redis_client_id(r), id);

    /* Same for the versioned write path. */
    rep = rds_command(admin, "CLIENT KILL ID %lld", st_redis_client_id(r));
    freeReplyObject(rep);
    cr_assert_eq(rds_put_versioned(r, key, 2, "b", 0, err, sizeof(err)), 1, "%s", err);

    /* And for the pipelined paths (a worker's batch after a Redis restart):
     * the write and the announcement both go through on a new connection,
     * and the connection stays usable afterwards. */
    const char *keys[] = {key};
    const char *docs[] = {"c"};
    long long vers[] = {3};
    long written = 0;
    rep = rds_command(admin, "CLIENT KILL ID %lld", st_redis_client_id(r));
    freeReplyObject(rep);
    cr_assert_eq(rds_put_versioned_many(r, 1, keys, vers, docs, 0, &written, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(written, 1);
    rep = rds_command(admin, "CLIENT KILL ID %lld", st_redis_client_id(r));
    freeReplyObject(rep);
    const char *msgs[] = {"m1", "m2"};
    cr_assert_eq(rds_publish_many(r, "psop:test:channel", 2, msgs, err, sizeof(err)), 0, "%s", err);
    vers[0] = 4;
    cr_assert_eq(rds_put_versioned_many(r, 1, keys, vers, docs, 0, &written, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(written, 1);

    st_redis_del(r, key);
    free(key);
    rds_free(admin);
    rds_free(r);
}

Test(redis, database_number_from_url_is_selected)
{
    char err[256] = "";
    char *url = xasprintf("%s/3", st_config()->redis_url);
    struct rds *r = rds_connect(url, 2000, err, sizeof(err));
    cr_assert_not_null(r, "%s: %s", url, err);
    redisReply *rep = rds_command(r, "CLIENT INFO");
    cr_assert_eq(rep->type, REDIS_REPLY_STRING);
    cr_assert(strstr(rep->str, " db=3 "), "%s", rep->str);
    freeReplyObject(rep);
    rds_free(r);
    free(url);
}

Test(redis, unreachable_server_is_an_error_not_a_hang)
{
    char err[256] = "";
    double t0 = st_now();
    struct rds *r = rds_connect("redis://127.0.0.1:1", 500, err, sizeof(err));
    cr_assert_null(r);
    cr_assert(strstr(err, "127.0.0.1:1"), "%s", err);
    cr_assert(st_now() - t0 < 3.0);
    cr_assert_null(rds_connect("http://nope", 500, err, sizeof(err)));
}
