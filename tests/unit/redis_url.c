#include <criterion/criterion.h>
#include <string.h>

#include "store/redis_url.h"

static struct redis_url parse_ok(const char *url)
{
    struct redis_url u;
    char err[128] = "";
    cr_assert_eq(redis_url_parse(url, &u, err, sizeof(err)), 0, "%s: %s", url, err);
    return u;
}

static void parse_bad(const char *url, const char *why)
{
    struct redis_url u;
    char err[128] = "";
    cr_assert_eq(redis_url_parse(url, &u, err, sizeof(err)), -1, "%s accepted", url);
    cr_assert(strstr(err, why), "%s: error '%s' lacks '%s'", url, err, why);
}

/* url parses to host, port and database number. */
static struct redis_url expect_url(const char *url, const char *host, int port, int db)
{
    struct redis_url u = parse_ok(url);
    cr_assert_str_eq(u.host, host, "%s", url);
    cr_assert_eq(u.port, port, "%s", url);
    cr_assert_eq(u.db, db, "%s", url);
    return u;
}

Test(redis_url, host_and_port)
{
    struct redis_url u = expect_url("redis://127.0.0.1:16379", "127.0.0.1", 16379, 0);
    cr_assert_str_eq(u.password, "");
}

Test(redis_url, defaults_port_6379_and_db_0)
{
    expect_url("redis://cache.internal", "cache.internal", 6379, 0);
    cr_assert_eq(parse_ok("redis://cache.internal/").db, 0);
}

Test(redis_url, database_number)
{
    expect_url("redis://localhost:6380/7", "localhost", 6380, 7);
}

Test(redis_url, credentials)
{
    struct redis_url u = parse_ok("redis://:s3cr@t@h:1/2");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "s3cr@t");
    cr_assert_str_eq(u.host, "h");
    u = parse_ok("redis://app:pw@h");
    cr_assert_str_eq(u.user, "app");
    cr_assert_str_eq(u.password, "pw");
    u = parse_ok("redis://onlypw@h");
    cr_assert_str_eq(u.user, "");
    cr_assert_str_eq(u.password, "onlypw");
}

Test(redis_url, ipv6_in_brackets)
{
    expect_url("redis://[::1]:7000/1", "::1", 7000, 1);
}

Test(redis_url, refuses_malformed)
{
    /* Each URL and a word its error must carry. */
    static const char *const bad[][2] = {
        {"http://h:1", "redis://"},        {NULL, "redis://"},
        {"redis://", "no host"},           {"redis://:6379", "no host"},
        {"redis://h:0", "port"},           {"redis://h:65536", "port"},
        {"redis://h:12x", "port"},         {"redis://h:", "port"},
        {"redis://h:1/x", "database"},     {"redis://h:1/-1", "database"},
        {"redis://h:1/16000", "database"}, {"redis://[::1", "unclosed"},
        {"redis://[::1]x", "junk"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i][0], bad[i][1]);
}

Test(redis_url, refuses_overlong_host)
{
    char url[600] = "redis://";
    memset(url + 8, 'a', 400);
    url[408] = '\0';
    parse_bad(url, "too long");
}
