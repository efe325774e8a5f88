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

Test(redis_url, host_and_port)
{
    struct redis_url u = parse_ok("redis://127.0.0.1:16379");
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 16379);
    cr_assert_eq(u.db, 0);
    cr_assert_str_eq(u.password, "");
}

Test(redis_url, defaults_port_6379_and_db_0)
{
    struct redis_url u = parse_ok("redis://cache.internal");
    cr_assert_str_eq(u.host, "cache.internal");
    cr_assert_eq(u.port, 6379);
    cr_assert_eq(u.db, 0);
    u = parse_ok("redis://cache.internal/");
    cr_assert_eq(u.db, 0);
}

Test(redis_url, database_number)
{
    struct redis_url u = parse_ok("redis://localhost:6380/7");
    cr_assert_str_eq(u.host, "localhost");
    cr_assert_eq(u.port, 6380);
    cr_assert_eq(u.db, 7);
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
    struct redis_url u = parse_ok("redis://[::1]:7000/1");
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 7000);
    cr_assert_eq(u.db, 1);
}

Test(redis_url, refuses_malformed)
{
    parse_bad("http://h:1", "redis://");
    parse_bad(NULL, "redis://");
    parse_bad("redis://", "no host");
    parse_bad("redis://:6379", "no host");
    parse_bad("redis://h:0", "port");
    parse_bad("redis://h:65536", "port");
    parse_bad("redis://h:12x", "port");
    parse_bad("redis://h:", "port");
    parse_bad("redis://h:1/x", "database");
    parse_bad("redis://h:1/-1", "database");
    parse_bad("redis://h:1/16000", "database");
    parse_bad("redis://[::1", "unclosed");
    parse_bad("redis://[::1]x", "junk");
}

Test(redis_url, refuses_overlong_host)
{
    char url[600] = "redis://";
    memset(url + 8, 'a', 400);
    url[408] = '\0';
    parse_bad(url, "too long");
}
