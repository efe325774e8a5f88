/* Unit tests of api/router.c and api/routes.c: the route table. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "router.h"

static const struct route *match_ok(const char *method, const char *path, struct route_match *m)
{
    char allow[128];
    enum router_result r = router_match(method, path, m, allow, sizeof(allow));
    cr_assert_eq(r, ROUTER_FOUND, "%s %s: expected a match, got %d", method, path, r);
    return m->route;
}

Test(api_router, every_command_route_of_the_spec_matches_its_type)
{
    static const struct {
        const char *method, *path, *type;
    } cases[] = {
        {"PUT", "/v1/organisers/0190a0b0-0000-7000-8000-000000000001", "organiser.upsert"},
        {"PUT", "/v1/service-types/home_care", "service_type.upsert"},
        {"PUT", "/v1/holidays/2025-12-24", "holiday.upsert"},
        {"POST", "/v1/providers", "provider.register"},
        {"POST", "/v1/providers/p1/applications", "provider.apply"},
        {"POST", "/v1/providers/p1/decisions", "provider.decide"},
        {"POST", "/v1/providers/p1/suspensions", "provider.suspend"},
        {"POST", "/v1/providers/p1/prices", "provider.set_price"},
        {"POST", "/v1/vouchers", "voucher.grant"},
        {"POST", "/v1/vouchers/v1/amendments", "voucher.amend"},
        {"PUT", "/v1/vouchers/v1/provider", "voucher.choose_provider"},
        {"POST", "/v1/vouchers/v1/revocation", "voucher.revoke"},
        {"POST", "/v1/vouchers/v1/refusal", "voucher.refuse"},
        {"POST", "/v1/vouchers/v1/service-events", "service_event.record"},
        {"PATCH", "/v1/vouchers/v1/service-events/e1", "service_event.update"},
        {"DELETE", "/v1/vouchers/v1/service-events/e1", "service_event.delete"},
        {"POST", "/v1/vouchers/v1/service-events/e1/approval", "service_event.approve"},
        {"POST", "/v1/vouchers/v1/service-events/e1/credits", "service_event.credit"},
        {"POST", "/v1/service-events/auto-approval", "service_event.auto_approve"},
        {"PUT", "/v1/contracts/c1", "contract.upsert"},
        {"POST", "/v1/orders", "order.create"},
        {"POST", "/v1/orders/o1/end", "order.end"},
        {"POST", "/v1/orders/o1/service-events", "service_event.record"},
        {"PATCH", "/v1/orders/o1/service-events/e1", "service_event.update"},
        {"DELETE", "/v1/orders/o1/service-events/e1", "service_event.delete"},
        {"POST", "/v1/orders/o1/service-events/e1/approval", "service_event.approve"},
        {"POST", "/v1/orders/o1/service-events/e1/credits", "service_event.credit"},
        {"POST", "/v1/settlements/runs", "settlement.run"},
        {"POST", "/v1/settlements/s1/confirmation", "settlement.confirm"},
        {"POST", "/v1/settlements/s1/payment", "settlement.mark_paid"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct route_match m;
        const struct route *rt = match_ok(cases[i].method, cases[i].path, &m);
        cr_expect_eq(rt->kind, ROUTE_COMMAND);
        cr_expect_str_eq(rt->type, cases[i].type, "%s %s", cases[i].method, cases[i].path);
    }
}

Test(api_router, path_parameters_are_named_after_data_fields)
{
    struct route_match m;
    match_ok("PATCH", "/v1/vouchers/abc/service-events/def", &m);
    cr_assert_eq(m.n_params, 2);
    cr_expect_eq(m.params[0].name_len, strlen("voucher_id"));
    cr_expect_eq(strncmp(m.params[0].name, "voucher_id", m.params[0].name_len), 0);
    cr_expect_str_eq(m.params[0].value, "abc");
    cr_expect_eq(strncmp(m.params[1].name, "event_id", m.params[1].name_len), 0);
    cr_expect_str_eq(m.params[1].value, "def");

    match_ok("PUT", "/v1/organisers/x", &m);
    cr_expect_eq(strncmp(m.params[0].name, "id", m.params[0].name_len), 0);
    match_ok("POST", "/v1/orders/o9/end", &m);
    cr_expect_eq(strncmp(m.params[0].name, "order_id", m.params[0].name_len), 0);
}

Test(api_router, topics_and_keys_follow_the_architecture)
{
    struct route_match m;
    cr_expect_str_eq(match_ok("PUT", "/v1/organisers/x", &m)->topic, "psop.commands.reference");
    cr_expect_str_eq(m.route->key_field, "id");
    cr_expect_str_eq(match_ok("PUT", "/v1/service-types/x", &m)->key_field, "code");
    cr_expect_str_eq(match_ok("PUT", "/v1/holidays/2025-01-01", &m)->key_field, "date");
    cr_expect_str_eq(match_ok("PUT", "/v1/contracts/c", &m)->topic, "psop.commands.provider");
    cr_expect_str_eq(m.route->key_field, "provider_id");
    cr_expect_str_eq(match_ok("POST", "/v1/providers/p/prices", &m)->key_field, "provider_id");
    cr_expect_str_eq(match_ok("POST", "/v1/vouchers/v/service-events", &m)->topic,
                     "psop.commands.voucher");
    cr_expect_str_eq(m.route->key_field, "voucher_id");
    cr_expect_str_eq(match_ok("POST", "/v1/orders/o/service-events", &m)->topic,
                     "psop.commands.order");
    cr_expect_str_eq(m.route->key_field, "order_id");
    cr_expect_str_eq(match_ok("POST", "/v1/settlements/runs", &m)->topic,
                     "psop.commands.settlement");
    cr_expect_str_eq(m.route->key_field, "organiser_id");
    cr_expect_str_eq(match_ok("POST", "/v1/settlements/s/payment", &m)->key_field, "settlement_id");
}

Test(api_router, roles_follow_the_spec)
{
    struct route_match m;
    cr_expect_eq(match_ok("PUT", "/v1/organisers/x", &m)->roles, ROLE_ADMIN);
    cr_expect_eq(match_ok("POST", "/v1/providers", &m)->roles, ROLE_PROVIDER | ROLE_ADMIN);
    cr_expect_eq(match_ok("PUT", "/v1/vouchers/v/provider", &m)->roles,
                 ROLE_CLIENT | ROLE_ORGANISER);
    cr_expect_eq(match_ok("POST", "/v1/vouchers/v/refusal", &m)->roles, ROLE_CLIENT);
    cr_expect_eq(match_ok("POST", "/v1/vouchers/v/service-events/e/approval", &m)->roles,
                 ROLE_ORGANISER | ROLE_ADMIN);
    cr_expect_eq(match_ok("GET", "/healthz", &m)->roles, ROLE_NONE);
}

Test(api_router, unknown_paths_are_404)
{
    struct route_match m;
    const char *paths[] = {"/",
                           "/v1",
                           "/v1/",
                           "/v1/vouchers/",
                           "/v1/vouchers//amendments",
                           "/v1/vouchers/x/amendments/extra",
                           "/v2/vouchers",
                           "/v1/nothing",
                           "/healthz/",
                           ""};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_expect_eq(router_match("POST", paths[i], &m, NULL, 0), ROUTER_NOT_FOUND, "%s", paths[i]);
}

Test(api_router, wrong_method_is_405_with_allow)
{
    struct route_match m;
    char allow[128];
    cr_assert_eq(router_match("GET", "/v1/vouchers/v/service-events/e", &m, allow, sizeof(allow)),
                 ROUTER_METHOD_NOT_ALLOWED);
    cr_expect_str_eq(allow, "PATCH, DELETE");
    cr_assert_eq(router_match("POST", "/healthz", &m, allow, sizeof(allow)),
                 ROUTER_METHOD_NOT_ALLOWED);
    cr_expect_str_eq(allow, "GET, HEAD");
    cr_assert_eq(router_match("DELETE", "/v1/vouchers", &m, allow, sizeof(allow)),
                 ROUTER_METHOD_NOT_ALLOWED);
    cr_expect_str_eq(allow, "POST, GET, HEAD");
    cr_assert_eq(router_match("GET", "/v1/service-events/auto-approval", &m, allow, sizeof(allow)),
                 ROUTER_METHOD_NOT_ALLOWED);
    cr_expect_str_eq(allow, "POST");
}

Test(api_router, head_matches_get_rows)
{
    struct route_match m;
    cr_expect_eq(match_ok("HEAD", "/readyz", &m)->kind, ROUTE_READYZ);
    cr_expect_eq(match_ok("GET", "/metrics", &m)->kind, ROUTE_METRICS);
    cr_expect_eq(match_ok("GET", "/v1/openapi.json", &m)->kind, ROUTE_OPENAPI);
    cr_expect_eq(match_ok("POST", "/v1/commands", &m)->kind, ROUTE_BATCH);
}

Test(api_router, overlong_segments_never_match)
{
    char path[600];
    char seg[400];
    memset(seg, 'a', sizeof(seg) - 1);
    seg[sizeof(seg) - 1] = '\0';
    snprintf(path, sizeof(path), "/v1/vouchers/%s/refusal", seg);
    struct route_match m;
    cr_expect_eq(router_match("POST", path, &m, NULL, 0), ROUTER_NOT_FOUND);
}

Test(api_router, rows_for_type_and_service_event_variants)
{
    const struct route *rows[4];
    cr_expect_eq(router_rows_for_type("service_event.record", rows, 4), 2);
    cr_expect_eq(router_rows_for_type("voucher.grant", rows, 4), 1);
    cr_expect_str_eq(rows[0]->create_field, "id");
    cr_expect_eq(router_rows_for_type("voucher.nope", rows, 4), 0);
    cr_expect(router_is_command_type("settlement.mark_paid"));
    cr_expect_not(router_is_command_type("GET"));
}

Test(api_router, every_command_type_has_a_schema_file)
{
    size_t n;
    const struct route *rt = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        if (rt[i].kind != ROUTE_COMMAND)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/schemas/commands/%s.json", PSOP_SOURCE_DIR, rt[i].type);
        cr_expect_eq(access(path, R_OK), 0, "missing %s", path);
    }
}

Test(api_router, role_names_round_trip)
{
    cr_expect_eq(role_parse("admin"), ROLE_ADMIN);
    cr_expect_eq(role_parse("organiser"), ROLE_ORGANISER);
    cr_expect_eq(role_parse("provider"), ROLE_PROVIDER);
    cr_expect_eq(role_parse("client"), ROLE_CLIENT);
    cr_expect_eq(role_parse("root"), ROLE_NONE);
    cr_expect_eq(role_parse(NULL), ROLE_NONE);
    cr_expect_str_eq(role_name(ROLE_CLIENT), "client");
}
