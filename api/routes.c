/*
 * routes.c - the route table. One row per (method, path); see router.h.
 *
 * Key and resource fields follow architecture.md's topic table. Where the
 * spec is silent (see docs/api-decisions.md): service_event.auto_approve
 * goes to the voucher topic keyed by organiser_id, settlement.run answers the
 * organiser_id as resource_id, provider.register is keyed by its id.
 */
#include "router.h"

#include "mandate.h"
#include "read.h"
#include "store/topics.h"

/* Settlement reads (read_settlement.c). */
void read_settlement(const struct read_req *rq, struct read_res *res);
void read_settlement_list(const struct read_req *rq, struct read_res *res);
void read_settlement_finvoice(const struct read_req *rq, struct read_res *res);

#define A ROLE_ADMIN
#define O ROLE_ORGANISER
#define P ROLE_PROVIDER
#define C ROLE_CLIENT

/* A command row: method, pattern, type, roles, topic, key, resource, create. */
#define CMD(m, pat, t, r, topic, key, res, create, sum)                                            \
    {                                                                                              \
        m, pat, ROUTE_COMMAND, r, t, topic, key, res, create, sum, NULL, NULL                      \
    }

/* A read row: pattern, roles, handler, summary. */
#define READ(pat, r, fn, sum)                                                                      \
    {                                                                                              \
        "GET", pat, ROUTE_READ, r, NULL, NULL, NULL, NULL, NULL, sum, fn, NULL                     \
    }

/* A read of client data: each answer leaves an access record naming the
 * resource type `what` (api/access.h). */
#define READ_CLIENT(pat, r, fn, what, sum)                                                         \
    {                                                                                              \
        "GET", pat, ROUTE_READ, r, NULL, NULL, NULL, NULL, NULL, sum, fn, what                     \
    }

/* A fixed endpoint (health, metrics, the OpenAPI document, the batch). */
#define PLAIN(m, pat, kind, r, sum)                                                                \
    {                                                                                              \
        m, pat, kind, r, NULL, NULL, NULL, NULL, NULL, sum, NULL, NULL                             \
    }

/* The service-event routes exist under vouchers and under orders; the parent
 * decides topic and key. */
#define SERVICE_EVENT_ROUTES(parent, pid, topic)                                                   \
    CMD("POST", parent "/{" pid "}/service-events", "service_event.record", P, topic, pid, "id",   \
        "id", "Record a service event"),                                                           \
        CMD("PATCH", parent "/{" pid "}/service-events/{event_id}", "service_event.update", P,     \
            topic, pid, "event_id", NULL, "Update a recorded service event"),                      \
        CMD("DELETE", parent "/{" pid "}/service-events/{event_id}", "service_event.delete", P,    \
            topic, pid, "event_id", NULL, "Delete a recorded service event"),                      \
        CMD("POST", parent "/{" pid "}/service-events/{event_id}/approval",                        \
            "service_event.approve", O | A, topic, pid, "event_id", NULL,                          \
            "Approve a service event"),                                                            \
        CMD("POST", parent "/{" pid "}/service-events/{event_id}/credits", "service_event.credit", \
            O, topic, pid, "id", "id", "Credit an approved service event")

static const struct route routes[] = {
    CMD("PUT", "/v1/organisers/{id}", "organiser.upsert", A, TOPIC_CMD_REFERENCE, "id", "id", NULL,
        "Create or update an organiser"),
    CMD("PUT", "/v1/service-types/{code}", "service_type.upsert", A, TOPIC_CMD_REFERENCE, "code",
        "code", NULL, "Create or update a service type"),
    CMD("PUT", "/v1/holidays/{date}", "holiday.upsert", A, TOPIC_CMD_REFERENCE, "date", "date",
        NULL, "Create or update a public holiday"),
    CMD("POST", "/v1/providers", "provider.register", P | A, TOPIC_CMD_PROVIDER, "id", "id", "id",
        "Register a service provider"),
    CMD("POST", "/v1/providers/{provider_id}/applications", "provider.apply", P, TOPIC_CMD_PROVIDER,
        "provider_id", "provider_id", NULL, "Apply for approval for a service type"),
    CMD("POST", "/v1/providers/{provider_id}/decisions", "provider.decide", O, TOPIC_CMD_PROVIDER,
        "provider_id", "provider_id", NULL, "Approve or reject a provider's application"),
    CMD("POST", "/v1/providers/{provider_id}/suspensions", "provider.suspend", O,
        TOPIC_CMD_PROVIDER, "provider_id", "provider_id", NULL, "Suspend a provider"),
    CMD("POST", "/v1/providers/{provider_id}/prices", "provider.set_price", P, TOPIC_CMD_PROVIDER,
        "provider_id", "provider_id", NULL, "Set a provider's unit price"),
    CMD("POST", "/v1/providers/{provider_id}/api-keys", "api_key.create", P | A, TOPIC_CMD_PROVIDER,
        "provider_id", "key_id", "key_id",
        "Create a provider integration key (its text is answered once)"),
    CMD("DELETE", "/v1/providers/{provider_id}/api-keys/{key_id}", "api_key.revoke", P | A,
        TOPIC_CMD_PROVIDER, "provider_id", "key_id", NULL, "Revoke a provider integration key"),
    CMD("POST", "/v1/vouchers", "voucher.grant", O, TOPIC_CMD_VOUCHER, "id", "id", "id",
        "Grant a service voucher"),
    CMD("POST", "/v1/vouchers/{voucher_id}/amendments", "voucher.amend", O, TOPIC_CMD_VOUCHER,
        "voucher_id", "voucher_id", NULL, "Amend a voucher"),
    CMD("PUT", "/v1/vouchers/{voucher_id}/provider", "voucher.choose_provider", C | O,
        TOPIC_CMD_VOUCHER, "voucher_id", "voucher_id", NULL, "Choose the voucher's provider"),
    CMD("POST", "/v1/vouchers/{voucher_id}/revocation", "voucher.revoke", O, TOPIC_CMD_VOUCHER,
        "voucher_id", "voucher_id", NULL, "Revoke a voucher"),
    CMD("POST", "/v1/vouchers/{voucher_id}/refusal", "voucher.refuse", C, TOPIC_CMD_VOUCHER,
        "voucher_id", "voucher_id", NULL, "Refuse a voucher"),
    SERVICE_EVENT_ROUTES("/v1/vouchers", "voucher_id", TOPIC_CMD_VOUCHER),
    CMD("POST", "/v1/service-events/auto-approval", "service_event.auto_approve", A,
        TOPIC_CMD_VOUCHER, "organiser_id", "organiser_id", NULL,
        "Approve an organiser's service events recorded before a time"),
    CMD("PUT", "/v1/contracts/{id}", "contract.upsert", O, TOPIC_CMD_PROVIDER, "provider_id", "id",
        NULL, "Create or update a contract with a provider"),
    CMD("POST", "/v1/orders", "order.create", O, TOPIC_CMD_ORDER, "id", "id", "id",
        "Create a purchase-service order"),
    CMD("POST", "/v1/orders/{order_id}/end", "order.end", O, TOPIC_CMD_ORDER, "order_id",
        "order_id", NULL, "End an order"),
    SERVICE_EVENT_ROUTES("/v1/orders", "order_id", TOPIC_CMD_ORDER),
    CMD("POST", "/v1/mandates", "mandate.grant", O, TOPIC_CMD_VOUCHER, "id", "id", "id",
        "Register a mandate: a client may act for another"),
    CMD("POST", "/v1/mandates/{mandate_id}/revocation", "mandate.revoke", O, TOPIC_CMD_VOUCHER,
        "mandate_id", "mandate_id", NULL, "Revoke a mandate from a date"),
    CMD("POST", "/v1/settlements/runs", "settlement.run", O | A, TOPIC_CMD_SETTLEMENT,
        "organiser_id", "organiser_id", NULL, "Run the settlement of a period"),
    CMD("POST", "/v1/settlements/{settlement_id}/confirmation", "settlement.confirm", O,
        TOPIC_CMD_SETTLEMENT, "settlement_id", "settlement_id", NULL, "Confirm a settlement"),
    CMD("POST", "/v1/settlements/{settlement_id}/payment", "settlement.mark_paid", O,
        TOPIC_CMD_SETTLEMENT, "settlement_id", "settlement_id", NULL, "Mark a settlement as paid"),
    PLAIN("POST", "/v1/commands", ROUTE_BATCH, ROLE_ANY,
          "Submit one command or a batch of 1-500 commands"),

    /* Reads. Roles here are what the token alone decides (403); ownership of
     * the resource is the handler's (read.h). */
    READ("/v1/commands/{id}", ROLE_ANY, read_command,
         "A command's status (its issuer or an admin)"),
    READ("/v1/providers/{provider_id}", P | O | A, read_provider,
         "A provider's registration, applications, approvals and prices"),
    READ("/v1/providers/{provider_id}/api-keys", P | A, read_api_keys,
         "A provider's integration keys (never their secrets)"),
    READ("/v1/public/providers", ROLE_NONE, read_public_providers,
         "The public list of providers approved today for an organiser and service type"),
    READ_CLIENT("/v1/vouchers/{voucher_id}", O | C | P, read_voucher, "voucher",
                "A voucher, its value history and a month's usage"),
    READ_CLIENT("/v1/vouchers", O | C, read_voucher_list, "voucher_list", "A client's vouchers"),
    READ_CLIENT("/v1/vouchers/{voucher_id}/providers", O | C, read_voucher_providers,
                "voucher_providers",
                "Providers approved for the voucher today, with the client's share per unit"),
    READ_CLIENT("/v1/vouchers/{voucher_id}/service-events", O | P, read_voucher_events,
                "voucher_events", "The voucher's service events with state and amounts"),
    READ_CLIENT("/v1/orders/{order_id}", O | C | P, read_order, "order",
                "An order (purchased service) and a month's usage"),
    READ_CLIENT("/v1/orders", O | C, read_order_list, "order_list", "A client's orders"),
    READ_CLIENT("/v1/orders/{order_id}/service-events", O | P, read_order_events, "order_events",
                "The order's service events with state and amounts"),
    READ("/v1/contracts/{id}", O | P, read_contract,
         "A procurement contract and its price history (its organiser and provider)"),
    READ_CLIENT("/v1/audit", O | A, read_audit, "audit",
                "Access records of the organiser's clients (admin: all), newest first, paged"),
    READ_CLIENT("/v1/me/access-log", C, read_my_access_log, "access_log",
                "The access records about the calling client, newest first, paged"),
    READ_CLIENT("/v1/mandates", O | C, read_mandates, "mandates",
                "Mandates where the client is represented or the proxy, in force and past"),
    READ("/v1/settlements", O | P, read_settlement_list,
         "Settlements with totals (an organiser's own, a provider's own)"),
    READ_CLIENT("/v1/settlements/{settlement_id}", O | P, read_settlement, "settlement",
                "A settlement with its lines and totals (its organiser, its provider)"),
    READ_CLIENT("/v1/settlements/{settlement_id}/finvoice", O | P, read_settlement_finvoice,
                "settlement_finvoice",
                "A settlement as a Finvoice 3.0 e-invoice (application/xml)"),

    PLAIN("GET", "/v1/openapi.json", ROUTE_OPENAPI, ROLE_NONE, "This API's OpenAPI 3.1 document"),
    PLAIN("GET", "/healthz", ROUTE_HEALTHZ, ROLE_NONE, "Liveness"),
    PLAIN("GET", "/readyz", ROUTE_READYZ, ROLE_NONE, "Readiness (503 while draining)"),
    PLAIN("GET", "/metrics", ROUTE_METRICS, ROLE_NONE, "Prometheus metrics"),
};

const struct route *router_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
