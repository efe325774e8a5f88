#include "openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "idempotency.h"
#include "problem.h"
#include "router.h"
#include "core/xmalloc.h"

#define REF_BASE "#/components/schemas/"

/* "commands/voucher.grant" -> "commands.voucher.grant" (component names may
 * not hold '/'). */
static void component_name(const char *schema_name, char *out, size_t cap)
{
    snprintf(out, cap, "%s", schema_name);
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '.';
}

/* Resolves a file reference relative to the schema named base ("commands/x")
 * into a registry name ("common"). Absolute URLs keep what follows their
 * "/schemas/". Returns 0 or -1. */
static int resolve_file(const char *base, const char *file, size_t flen, char *out, size_t cap)
{
    char buf[512];
    const char *sch = NULL;
    if ((strncmp(file, "http://", 7) == 0 || strncmp(file, "https://", 8) == 0)) {
        const char *m = strstr(file, "/schemas/");
        if (!m || (size_t)(m - file) > flen)
            return -1;
        sch = m + 9;
        snprintf(buf, sizeof(buf), "%.*s", (int)(flen - (size_t)(sch - file)), sch);
    } else {
        const char *slash = strrchr(base, '/');
        int dirlen = slash ? (int)(slash - base) + 1 : 0;
        snprintf(buf, sizeof(buf), "%.*s%.*s", dirlen, base, (int)flen, file);
    }
    /* Normalise "a/../b" and "./". */
    char *segs[32];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0) {
            if (n == 0)
                return -1;
            n--;
            continue;
        }
        if (n == 32)
            return -1;
        segs[n++] = t;
    }
    if (n == 0)
        return -1;
    out[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s", i ? "/" : "", segs[i]);
    if (len >= cap)
        return -1;
    size_t ol = strlen(out);
    if (ol > 5 && strcmp(out + ol - 5, ".json") == 0)
        out[ol - 5] = '\0';
    return 0;
}

/* Rewrites every $ref under j (in place) to a document-internal ref and
 * appends the registry names it points at to deps. base is j's schema name. */
static void rewrite_refs(json_t *j, const char *base, json_t *deps)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) rewrite_refs(v, base, deps);
        return;
    }
    if (!json_is_object(j))
        return;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "$ref") == 0 && json_is_string(v)) {
            const char *ref = json_string_value(v);
            const char *hash = strchr(ref, '#');
            size_t flen = hash ? (size_t)(hash - ref) : strlen(ref);
            const char *frag = hash ? hash + 1 : "";
            char target[256], comp[256];
            if (flen == 0)
                snprintf(target, sizeof(target), "%s", base);
            else if (resolve_file(base, ref, flen, target, sizeof(target)) < 0)
                continue; /* leave what we cannot resolve */
            component_name(target, comp, sizeof(comp));
            char *nref = xasprintf(REF_BASE "%s%s", comp, frag);
            json_object_set_new(j, "$ref", json_string(nref));
            free(nref);
            if (flen)
                json_array_append_new(deps, json_string(target));
        } else {
            rewrite_refs(v, base, deps);
        }
    }
}

static json_t *schema_component(const struct jschema_registry *reg, const char *name, json_t *deps)
{
    const json_t *s = jschema_get(reg, name);
    if (!s)
        return NULL;
    json_t *c = json_deep_copy(s);
    json_object_del(c, "$id");
    json_object_del(c, "$schema");
    rewrite_refs(c, name, deps);
    return c;
}

/* Adds name and everything it refers to under components.schemas. */
static int add_schema_tree(const struct jschema_registry *reg, json_t *schemas, const char *name,
                           char *err, size_t errlen)
{
    json_t *queue = json_array();
    json_array_append_new(queue, json_string(name));
    int rc = 0;
    for (size_t i = 0; i < json_array_size(queue); i++) {
        const char *n = json_string_value(json_array_get(queue, i));
        char comp[256];
        component_name(n, comp, sizeof(comp));
        if (json_object_get(schemas, comp))
            continue;
        json_t *c = schema_component(reg, n, queue);
        if (!c) {
            snprintf(err, errlen, "schema %s not found", n);
            rc = -1;
            break;
        }
        json_object_set_new(schemas, comp, c);
    }
    json_decref(queue);
    return rc;
}

static void remove_required(json_t *schema, const char *field)
{
    json_t *req = json_object_get(schema, "required");
    for (size_t i = 0; json_is_array(req) && i < json_array_size(req);) {
        if (json_is_string(json_array_get(req, i)) &&
            strcmp(json_string_value(json_array_get(req, i)), field) == 0)
            json_array_remove(req, i);
        else
            i++;
    }
    static const char *combinators[] = {"allOf", "anyOf", "oneOf"};
    for (int k = 0; k < 3; k++) {
        json_t *list = json_object_get(schema, combinators[k]);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) remove_required(v, field);
    }
}

static json_t *problem_responses(void)
{
    static const int statuses[] = {400, 401, 403, 404, 405, 409, 413, 414, 415, 422, 429, 431, 503};
    json_t *r = json_object();
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        char k[8];
        snprintf(k, sizeof(k), "%d", statuses[i]);
        json_t *resp =
            json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", problem_title(statuses[i]),
                      "content", "application/problem+json", "schema", "$ref", REF_BASE "Problem");
        if (statuses[i] == 429 || statuses[i] == 503)
            json_object_set_new(resp, "headers",
                                json_pack("{s:{s:s, s:{s:s}}}", "Retry-After", "description",
                                          "Seconds to wait before retrying", "schema", "type",
                                          "integer"));
        if (statuses[i] == 405)
            json_object_set_new(resp, "headers",
                                json_pack("{s:{s:s, s:{s:s}}}", "Allow", "description",
                                          "Methods the path accepts", "schema", "type", "string"));
        json_object_set_new(r, k, resp);
    }
    return r;
}

static json_t *fixed_schemas(void)
{
    json_t *s = json_object();
    json_object_set_new(
        s, "Problem",
        json_pack("{s:s, s:s, s:[s,s,s,s], s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, "
                  "s:{s:s, s:{s:s, s:[s,s], s:{s:{s:s}, s:{s:s}}}}}}",
                  "description", "RFC 9457 problem details", "type", "object", "required", "type",
                  "title", "status", "detail", "properties", "type", "type", "string", "title",
                  "type", "string", "status", "type", "integer", "detail", "type", "string",
                  "errors", "type", "array", "items", "type", "object", "required", "path",
                  "message", "properties", "path", "type", "string", "message", "type", "string"));
    json_object_set_new(s, "Accepted",
                        json_pack("{s:s, s:[s,s,s,s], s:{s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}",
                                  "type", "object", "required", "command_id", "type", "resource_id",
                                  "status_url", "properties", "command_id", "type", "string",
                                  "format", "uuid", "type", "type", "string", "resource_id", "type",
                                  "string", "status_url", "type", "string"));
    json_object_set_new(
        s, "CommandStatus",
        json_pack("{s:s, s:s, s:[s,s,s], s:{s:{s:s, s:s}, s:{s:s}, s:{s:s, s:[s,s,s]}, "
                  "s:{s:s}, s:{s:s}, s:{s:s, s:s}}}",
                  "description",
                  "A command's status: accepted (on Kafka), applied or rejected (with the "
                  "worker's reason)",
                  "type", "object", "required", "command_id", "type", "status", "properties",
                  "command_id", "type", "string", "format", "uuid", "type", "type", "string",
                  "status", "type", "string", "enum", "accepted", "applied", "rejected", "reason",
                  "type", "string", "resource_id", "type", "string", "applied_at", "type", "string",
                  "format", "date-time"));
    /* api_key.create's answer (202, or the applied status after a wait):
     * the key's text, this once (docs/domain.md). */
    const char *answers[] = {"Accepted", "CommandStatus"};
    for (size_t i = 0; i < 2; i++) {
        json_t *props = json_object_get(json_object_get(s, answers[i]), "properties");
        json_object_set_new(props, "key_id",
                            json_pack("{s:s, s:s, s:s}", "type", "string", "format", "uuid",
                                      "description", "api_key.create: the new key's id"));
        json_object_set_new(
            props, "secret",
            json_pack("{s:s, s:s, s:s}", "type", "string", "pattern",
                      "^psop_[0-9a-f-]{36}_[A-Za-z0-9_-]{43}$", "description",
                      "api_key.create: the key's text psop_<key_id>_<secret>, answered this "
                      "once and stored nowhere (not in a replay of an Idempotency-Key either)"));
    }
    json_object_set_new(s, "CommandStatusBatch",
                        json_pack("{s:s, s:[s], s:{s:{s:s, s:{s:s}}}}", "type", "object",
                                  "required", "commands", "properties", "commands", "type", "array",
                                  "items", "$ref", REF_BASE "CommandStatus"));
    json_object_set_new(s, "AcceptedBatch",
                        json_pack("{s:s, s:[s], s:{s:{s:s, s:{s:s}}}}", "type", "object",
                                  "required", "commands", "properties", "commands", "type", "array",
                                  "items", "$ref", REF_BASE "Accepted"));
    return s;
}

static json_t *error_refs(const int *statuses, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) {
        char k[8], ref[64];
        snprintf(k, sizeof(k), "%d", statuses[i]);
        snprintf(ref, sizeof(ref), "#/components/responses/%d", statuses[i]);
        json_object_set_new(o, k, json_pack("{s:s}", "$ref", ref));
    }
    return o;
}

static json_t *idempotency_param(void)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:i, s:i}}", "name", "Idempotency-Key", "in",
                     "header", "required", 0, "description",
                     "Per principal (role, org, provider, client, sub): a repeat with the same "
                     "method, path and body gets the same command id and is applied once; "
                     "another request under the key is 409 when the front can tell at once "
                     "(24 h), else rejected by the worker as idempotency_key_reused.",
                     "schema", "type", "string", "minLength", 1, "maxLength", IDEM_KEY_MAX);
}

static json_t *on_behalf_of_param(void)
{
    return json_pack(
        "{s:s, s:s, s:b, s:s, s:{s:s, s:i, s:i}}", "name", "On-Behalf-Of", "in", "header",
        "required", 0, "description",
        "A client token acting for another client (its client id) under a mandate the "
        "organiser registered (POST /v1/mandates): 403 unless one is in force today; the "
        "worker applies the command only to that client's voucher. Envelope and access "
        "record carry it as on_behalf_of.",
        "schema", "type", "string", "minLength", 1, "maxLength", 64);
}

static json_t *prefer_param(void)
{
    return json_pack("{s:s, s:s, s:b, s:s, s:{s:s, s:s}}", "name", "Prefer", "in", "header",
                     "required", 0, "description",
                     "wait=N (seconds, at most 10; larger values count as 10, measured from the "
                     "request's arrival): hold the answer until the command is applied or "
                     "rejected: 200 with its status, 422 (type .../rejected, with command_id) "
                     "when rejected, a batch 200 with every status. 202 when N passes first.",
                     "schema", "type", "string", "example", "wait=10");
}

/* The 200 and 422 of a command answered after Prefer: wait. */
static void add_wait_responses(json_t *responses, bool batch)
{
    json_t *ok = batch ? json_pack("{s:[{s:s}, {s:s}]}", "oneOf", "$ref", REF_BASE "CommandStatus",
                                   "$ref", REF_BASE "CommandStatusBatch")
                       : json_pack("{s:s}", "$ref", REF_BASE "CommandStatus");
    json_object_set_new(responses, "200",
                        json_pack("{s:s, s:{s:{s:o}}}", "description",
                                  "Prefer: wait - applied (a batch: every command's status, "
                                  "rejections included)",
                                  "content", "application/json", "schema", ok));
}

static void operation_id(const struct route *rt, char *out, size_t cap)
{
    const struct route *rows[4];
    size_t n = router_rows_for_type(rt->type, rows, 4);
    snprintf(out, cap, "%s", rt->type);
    for (char *p = out; *p; p++)
        if (*p == '.')
            *p = '_';
    if (n > 1) { /* service events under vouchers and under orders */
        size_t len = strlen(out);
        const char *k = rt->key_field;
        const char *us = strchr(k, '_');
        snprintf(out + len, cap - len, "_%.*s", us ? (int)(us - k) : (int)strlen(k), k);
    }
}

static json_t *command_operation(const struct jschema_registry *reg, json_t *schemas,
                                 const struct route *rt, char *err, size_t errlen)
{
    static const int errs[] = {400, 401, 403, 409, 413, 414, 415, 422, 429, 431, 503};
    char name[128], comp[160], opid[128];
    snprintf(name, sizeof(name), "commands/%s", rt->type);
    component_name(name, comp, sizeof(comp));
    if (add_schema_tree(reg, schemas, name, err, errlen) < 0)
        return NULL;
    const json_t *cs = json_object_get(schemas, comp);
    operation_id(rt, opid, sizeof(opid));

    json_t *op = json_object();
    json_object_set_new(op, "operationId", json_string(opid));
    json_object_set_new(op, "summary", json_string(rt->summary ? rt->summary : rt->type));
    char desc[512], roles[64] = "";
    for (unsigned bit = ROLE_ADMIN; bit <= ROLE_CLIENT; bit <<= 1)
        if (rt->roles & bit)
            snprintf(roles + strlen(roles), sizeof(roles) - strlen(roles), "%s%s",
                     roles[0] ? ", " : "", role_name((enum role)bit));
    snprintf(desc, sizeof(desc),
             "Publishes a `%s` command to `%s`, keyed by `%s`. Roles: %s. Answers 202 once "
             "the broker has acknowledged it (acks=all).",
             rt->type, rt->topic, rt->key_field, roles);
    json_object_set_new(op, "description", json_string(desc));
    const char *tag_start = rt->pattern + 4;
    const char *tag_end = strchr(tag_start, '/');
    char tag[64];
    snprintf(tag, sizeof(tag), "%.*s",
             tag_end ? (int)(tag_end - tag_start) : (int)strlen(tag_start), tag_start);
    json_object_set_new(op, "tags", json_pack("[s]", tag));

    json_t *params = json_array();
    json_t *body = NULL;
    struct route_match m;
    /* The pattern itself matches with each placeholder as its own value. */
    if (router_match(rt->method, rt->pattern, &m, NULL, 0) == ROUTER_FOUND && m.n_params > 0) {
        body = json_deep_copy(cs);
        for (int i = 0; i < m.n_params; i++) {
            char field[64];
            snprintf(field, sizeof(field), "%.*s", (int)m.params[i].name_len, m.params[i].name);
            json_t *ps = json_object_get(json_object_get(cs, "properties"), field);
            char pdesc[256];
            snprintf(pdesc, sizeof(pdesc), "Becomes data.%s; a body field %s that differs is 422",
                     field, field);
            json_array_append_new(
                params, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", field, "in", "path",
                                  "required", 1, "description", pdesc, "schema",
                                  ps ? json_deep_copy(ps) : json_pack("{s:s}", "type", "string")));
            remove_required(body, field);
        }
    } else {
        char ref[200];
        snprintf(ref, sizeof(ref), REF_BASE "%s", comp);
        body = json_pack("{s:s}", "$ref", ref);
    }
    json_array_append_new(params, idempotency_param());
    json_array_append_new(params, prefer_param());
    if (rt->roles & ROLE_CLIENT)
        json_array_append_new(params, on_behalf_of_param());
    json_object_set_new(op, "parameters", params);
    json_object_set_new(op, "requestBody",
                        json_pack("{s:b, s:{s:{s:o}}}", "required", 0, "content",
                                  "application/json", "schema", body));
    json_t *responses = error_refs(errs, sizeof(errs) / sizeof(errs[0]));
    json_object_set_new(responses, "202",
                        json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "Accepted: on Kafka",
                                  "content", "application/json", "schema", "$ref",
                                  REF_BASE "Accepted"));
    add_wait_responses(responses, false);
    json_object_set_new(op, "responses", responses);
    return op;
}

static json_t *batch_operation(json_t *schemas)
{
    static const int errs[] = {400, 401, 403, 409, 413, 414, 415, 422, 429, 431, 503};
    json_t *items = json_array();
    json_t *seen = json_object();
    size_t n;
    const struct route *rt = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        if (rt[i].kind != ROUTE_COMMAND || json_object_get(seen, rt[i].type))
            continue;
        json_object_set_new(seen, rt[i].type, json_true());
        char ref[200];
        snprintf(ref, sizeof(ref), REF_BASE "commands.%s", rt[i].type);
        json_array_append_new(items, json_pack("{s:s, s:[s,s], s:b, s:{s:{s:s}, s:{s:s}}}", "type",
                                               "object", "required", "type", "data",
                                               "additionalProperties", 0, "properties", "type",
                                               "const", rt[i].type, "data", "$ref", ref));
    }
    json_decref(seen);
    json_object_set_new(schemas, "CommandItem",
                        json_pack("{s:s, s:o}", "description",
                                  "One command: its type and its data (path parameters of the "
                                  "type's route included)",
                                  "oneOf", items));
    json_object_set_new(schemas, "CommandBatch",
                        json_pack("{s:[{s:s}, {s:s, s:[s], s:b, s:{s:{s:s, s:i, s:i, s:{s:s}}}}]}",
                                  "oneOf", "$ref", REF_BASE "CommandItem", "type", "object",
                                  "required", "commands", "additionalProperties", 0, "properties",
                                  "commands", "type", "array", "minItems", 1, "maxItems",
                                  CMD_BATCH_MAX, "items", "$ref", REF_BASE "CommandItem"));
    json_t *responses = error_refs(errs, sizeof(errs) / sizeof(errs[0]));
    json_object_set_new(
        responses, "202",
        json_pack("{s:s, s:{s:{s:{s:[{s:s}, {s:s}]}}}}", "description",
                  "Accepted: every command is on Kafka. A single {type, data} answers Accepted, "
                  "a batch answers AcceptedBatch in request order.",
                  "content", "application/json", "schema", "oneOf", "$ref", REF_BASE "Accepted",
                  "$ref", REF_BASE "AcceptedBatch"));
    add_wait_responses(responses, true);
    return json_pack("{s:s, s:s, s:s, s:[s], s:[o,o], s:{s:b, s:{s:{s:{s:s}}}}, s:o}",
                     "operationId", "commands_submit", "summary",
                     "Submit one command or a batch of 1-500 commands", "description",
                     "All-or-nothing: one invalid item and nothing is published; 422 lists "
                     "each bad item by index (/commands/N/...). Roles are checked per type.",
                     "tags", "commands", "parameters", idempotency_param(), prefer_param(),
                     "requestBody", "required", 1, "content", "application/json", "schema", "$ref",
                     REF_BASE "CommandBatch", "responses", responses);
}

static json_t *plain_operation(const struct route *rt)
{
    const char *ct = rt->kind == ROUTE_METRICS ? "text/plain" : "application/json";
    json_t *resp = json_object();
    json_object_set_new(resp, "200",
                        json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "OK", "content", ct,
                                  "schema", "type",
                                  rt->kind == ROUTE_METRICS ? "string" : "object"));
    if (rt->kind == ROUTE_READYZ)
        json_object_set_new(resp, "503", json_pack("{s:s}", "$ref", "#/components/responses/503"));
    const char *opid = rt->kind == ROUTE_HEALTHZ   ? "healthz"
                       : rt->kind == ROUTE_READYZ  ? "readyz"
                       : rt->kind == ROUTE_METRICS ? "metrics"
                                                   : "openapi";
    return json_pack("{s:s, s:s, s:[s], s:[], s:o}", "operationId", opid, "summary",
                     rt->summary ? rt->summary : opid, "tags", "operations", "security",
                     "responses", resp);
}

/* Query parameters and answers of the read routes, by pattern. */
struct read_query_doc {
    const char *pattern, *name;
    int required;
    const char *format; /* "uuid", "month", "code", "date", "limit", "cursor", "client" */
    const char *description;
};

static const struct read_query_doc read_queries[] = {
    {"/v1/public/providers", "organiser_id", 1, "uuid", "The organiser"},
    {"/v1/public/providers", "service_type", 1, "code", "The service type code"},
    {"/v1/vouchers/{voucher_id}", "month", 0, "month",
     "The month of the usage figures (YYYY-MM; default: this month in Helsinki)"},
    {"/v1/vouchers/{voucher_id}/service-events", "month", 0, "month",
     "Only the events of this month (YYYY-MM)"},
    {"/v1/vouchers", "client_id", 1, "client", "The client whose vouchers to list"},
    {"/v1/mandates", "client_id", 0, "client",
     "The client, as represented or as proxy (an organiser: required; a client: itself)"},
    {"/v1/audit", "client_id", 0, "client", "Only the records about this client"},
    {"/v1/audit", "organiser_id", 0, "uuid",
     "Admin: only this organiser's records (an organiser always reads its own)"},
    {"/v1/audit", "from", 0, "date", "From this day on (Helsinki, YYYY-MM-DD)"},
    {"/v1/audit", "to", 0, "date", "Up to and including this day (Helsinki, YYYY-MM-DD)"},
    {"/v1/audit", "limit", 0, "limit", "Records per page, 1-500 (default 50)"},
    {"/v1/audit", "cursor", 0, "cursor", "next_cursor of the previous page"},
    {"/v1/me/access-log", "from", 0, "date", "From this day on (Helsinki, YYYY-MM-DD)"},
    {"/v1/me/access-log", "to", 0, "date", "Up to and including this day (Helsinki, YYYY-MM-DD)"},
    {"/v1/me/access-log", "limit", 0, "limit", "Records per page, 1-500 (default 50)"},
    {"/v1/me/access-log", "cursor", 0, "cursor", "next_cursor of the previous page"},
};

struct read_answer_doc {
    const char *pattern, *description, *ref;
};

static const struct read_answer_doc read_answers[] = {
    {"/v1/commands/{id}",
     "The command's status. Visible to its issuer (token sub) and admins; 404 for anyone "
     "else.",
     REF_BASE "CommandStatus"},
    {"/v1/providers/{provider_id}",
     "Registration, applications with their decisions, approvals per organiser and service "
     "type, suspensions, price history (lib/views/view_provider.h). A provider reads its own only "
     "(403).",
     NULL},
    {"/v1/public/providers",
     "{organiser_id, service_type, unit, date, providers: [{provider_id, name, business_id, "
     "email?, approved_from, price}]}: approved and not suspended today, cheapest first. No "
     "token needed.",
     NULL},
    {"/v1/vouchers/{voucher_id}",
     "The voucher (lib/views/view_voucher.h) with its value history, status and value in force "
     "today, and the month's used_quantity, remaining_quantity, voucher_used_cents; a budget "
     "voucher (value_basis budget) shows budget_cents, budget_used_cents and "
     "budget_remaining_cents instead of a value per unit. Its organiser, client and chosen "
     "provider; 404 for anyone else.",
     NULL},
    {"/v1/vouchers",
     "{client_id, vouchers: [...]}: the client's vouchers (each as GET /v1/vouchers/{id} "
     "for this month), of the organiser's own org for an organiser; a client lists its own "
     "only (403).",
     NULL},
    {"/v1/vouchers/{voucher_id}/providers",
     "{voucher_id, date, unit, voucher_value_cents, providers: [{provider_id, name, "
     "unit_price_cents, voucher_value_cents, client_share_cents, bands?}]}: approved today, "
     "cheapest own share first. A budget voucher: {voucher_id, date, unit, "
     "budget_remaining_cents, providers: [{..., unit_price_cents, budget_covers_quantity "
     "(remaining / price, truncated to 2 decimals), bands?}]}, cheapest first. Its client and "
     "organiser; 404 for anyone else.",
     NULL},
    {"/v1/vouchers/{voucher_id}/service-events",
     "{voucher_id, month?, events: [...]}: every event (deleted ones with state deleted) with "
     "state and amounts. Its organiser and chosen provider; 404 for anyone else.",
     NULL},
    {"/v1/orders/{order_id}",
     "The order (lib/views/view_order.h) with its contract's provider and service type, status, "
     "client_fee_cents, and the month's used_quantity, remaining_quantity, "
     "organiser_used_cents, client_fee_used_cents. Its organiser, client and the contract's "
     "provider; 404 for anyone else.",
     NULL},
    {"/v1/orders",
     "{client_id, orders: [...]}: the client's orders (each as GET /v1/orders/{id} for this "
     "month), of the organiser's own org for an organiser; a client lists its own only (403).",
     NULL},
    {"/v1/orders/{order_id}/service-events",
     "{order_id, contract_id, month?, events: [...]}: every event with state and amounts "
     "(client_fee_cents per unit). Its organiser and the contract's provider; 404 for anyone "
     "else.",
     NULL},
    {"/v1/audit",
     "{items: [{id, at, actor {sub, role, org?, provider?, client?, key_id?}, on_behalf_of?, "
     "action (read | command), resource {type, id?}, organiser_id?, client_ids, status, ip?, "
     "traceparent?}], next_cursor?}: access records (schemas/audit/access_record.json), newest "
     "first. An organiser reads those of its own organiser's clients, an admin all. Reading "
     "them is recorded too.",
     NULL},
    {"/v1/mandates",
     "{client_id, organiser_id, mandates: [{mandate_id, organiser_id, client_id, "
     "proxy_client_id, kind (guardian | trustee | authorised), valid_from, valid_to?, "
     "revoked_from?, granted_at, in_force}]}: the mandates at the reader's organiser where "
     "client_id is the represented client or the proxy, newest first. An organiser reads any "
     "of its clients', a client its own (403 for another). Reading them is recorded.",
     NULL},
    {"/v1/me/access-log",
     "{items: [...], next_cursor?}: the access records about the calling client at its "
     "organiser (as GET /v1/audit, without the reader's address), newest first.",
     NULL},
    {"/v1/contracts/{id}",
     "{id, organiser_id, provider_id, service_type, unit, valid_from, valid_to?, "
     "monthly_volume_cap?, price_history: [{valid_from, price_cents, band_prices_cents?}]}. "
     "Its organiser and provider; 404 for anyone else.",
     NULL},
};

static json_t *query_schema(const char *format)
{
    if (strcmp(format, "date") == 0)
        return json_pack("{s:s, s:s}", "type", "string", "format", "date");
    if (strcmp(format, "limit") == 0)
        return json_pack("{s:s, s:i, s:i}", "type", "integer", "minimum", 1, "maximum", 500);
    if (strcmp(format, "cursor") == 0)
        return json_pack("{s:s, s:s}", "type", "string", "pattern",
                         "^[0-9]{1,19}_[0-9a-fA-F-]{36}$");
    if (strcmp(format, "uuid") == 0)
        return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
    if (strcmp(format, "month") == 0)
        return json_pack("{s:s, s:s}", "type", "string", "pattern", "^[0-9]{4}-[0-9]{2}$");
    if (strcmp(format, "code") == 0)
        return json_pack("{s:s, s:s}", "type", "string", "pattern", "^[a-z][a-z0-9_-]{1,39}$");
    return json_pack("{s:s, s:i, s:i}", "type", "string", "minLength", 1, "maxLength", 64);
}

static json_t *read_operation(const struct route *rt)
{
    char opid[128] = "read";
    size_t len = strlen(opid);
    for (const char *p = rt->pattern + 3; *p && len + 1 < sizeof(opid); p++) {
        if (*p == '{' || *p == '}')
            continue;
        opid[len++] = (*p == '/' || *p == '-') ? '_' : *p;
    }
    opid[len] = '\0';
    const char *tag_start = rt->pattern + 4;
    const char *tag_end = strchr(tag_start, '/');
    char tag[64];
    snprintf(tag, sizeof(tag), "%.*s",
             tag_end ? (int)(tag_end - tag_start) : (int)strlen(tag_start), tag_start);

    json_t *params = json_array();
    struct route_match m;
    if (router_match(rt->method, rt->pattern, &m, NULL, 0) == ROUTER_FOUND)
        for (int i = 0; i < m.n_params; i++) {
            char field[64];
            snprintf(field, sizeof(field), "%.*s", (int)m.params[i].name_len, m.params[i].name);
            json_array_append_new(params,
                                  json_pack("{s:s, s:s, s:b, s:o}", "name", field, "in", "path",
                                            "required", 1, "schema", query_schema("uuid")));
        }
    bool has_query = false;
    for (size_t i = 0; i < sizeof(read_queries) / sizeof(read_queries[0]); i++) {
        const struct read_query_doc *q = &read_queries[i];
        if (strcmp(q->pattern, rt->pattern) != 0)
            continue;
        has_query = true;
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:s, s:o}", "name", q->name, "in",
                                                "query", "required", q->required, "description",
                                                q->description, "schema", query_schema(q->format)));
    }
    const char *desc = "The document, from Redis or, on a miss, from PostgreSQL (the same).";
    const char *ref = NULL;
    for (size_t i = 0; i < sizeof(read_answers) / sizeof(read_answers[0]); i++)
        if (strcmp(read_answers[i].pattern, rt->pattern) == 0) {
            desc = read_answers[i].description;
            ref = read_answers[i].ref;
        }
    char roles[64] = "";
    for (unsigned bit = ROLE_ADMIN; bit <= ROLE_CLIENT; bit <<= 1)
        if (rt->roles & bit)
            snprintf(roles + strlen(roles), sizeof(roles) - strlen(roles), "%s%s",
                     roles[0] ? ", " : "", role_name((enum role)bit));
    char full[768];
    snprintf(full, sizeof(full), "%s Roles: %s.", desc, roles[0] ? roles : "anyone");

    static const int auth_errs[] = {401, 403, 404, 414, 422, 429, 431, 503};
    static const int anon_errs[] = {404, 414, 422, 429, 431, 503};
    json_t *responses = rt->roles == ROLE_NONE
                            ? error_refs(anon_errs, sizeof(anon_errs) / sizeof(anon_errs[0]))
                            : error_refs(auth_errs, sizeof(auth_errs) / sizeof(auth_errs[0]));
    if (!has_query)
        json_object_del(responses, "422");
    json_object_set_new(
        responses, "200",
        json_pack("{s:s, s:{s:{s:o}}}", "description", "OK", "content", "application/json",
                  "schema",
                  ref ? json_pack("{s:s}", "$ref", ref) : json_pack("{s:s}", "type", "object")));
    json_t *op = json_pack("{s:s, s:s, s:s, s:[s], s:o, s:o}", "operationId", opid, "summary",
                           rt->summary ? rt->summary : opid, "description", full, "tags", tag,
                           "parameters", params, "responses", responses);
    if (rt->roles == ROLE_NONE)
        json_object_set_new(op, "security", json_array());
    return op;
}

json_t *openapi_build(const struct jschema_registry *reg, char *err, size_t errlen)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "openapi", json_string("3.1.0"));
    json_object_set_new(
        doc, "info",
        json_pack("{s:s, s:s, s:s}", "title", "psop API", "version", "1", "description",
                  "Finnish municipal service vouchers. Commands are validated against the "
                  "schemas in schemas/ and answered 202 only after Kafka acknowledged them "
                  "(acks=all). Errors are RFC 9457 application/problem+json."));
    json_object_set_new(doc, "jsonSchemaDialect",
                        json_string("https://json-schema.org/draft/2020-12/schema"));
    json_object_set_new(doc, "security", json_pack("[{s:[]}]", "bearer"));
    json_t *paths = json_object();
    json_t *schemas = fixed_schemas();
    size_t n;
    const struct route *rt = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        json_t *op = NULL;
        switch (rt[i].kind) {
        case ROUTE_COMMAND:
            op = command_operation(reg, schemas, &rt[i], err, errlen);
            if (!op)
                goto fail;
            break;
        case ROUTE_BATCH:
            op = batch_operation(schemas);
            break;
        case ROUTE_READ:
            op = read_operation(&rt[i]);
            break;
        default:
            op = plain_operation(&rt[i]);
        }
        json_t *item = json_object_get(paths, rt[i].pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, rt[i].pattern, item);
        }
        char method[16];
        snprintf(method, sizeof(method), "%s", rt[i].method);
        for (char *p = method; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        json_object_set_new(item, method, op);
    }
    json_object_set_new(doc, "paths", paths);
    json_object_set_new(
        doc, "components",
        json_pack("{s:{s:{s:s, s:s, s:s, s:s}}, s:o, s:o}", "securitySchemes", "bearer", "type",
                  "http", "scheme", "bearer", "bearerFormat", "JWT or psop_ API key", "description",
                  "A JWT (HS256 in development; RS256/ES256 by kid from the identity "
                  "provider's JWKS), or a provider integration key psop_<key_id>_<secret> "
                  "(acts as role provider of its provider; scope read: GETs only)",
                  "responses", problem_responses(), "schemas", schemas));
    return doc;
fail:
    json_decref(paths);
    json_decref(schemas);
    json_decref(doc);
    return NULL;
}
