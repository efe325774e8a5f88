#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "problem.h"
#include "wire/envelope.h"
#include "core/xmalloc.h"

static void set_error(struct cmd_error *e, int status, const char *detail)
{
    e->status = status;
    snprintf(e->detail, sizeof(e->detail), "%s", detail);
}

static json_t *errs_of(struct cmd_error *e)
{
    if (!e->errors)
        e->errors = json_array();
    return e->errors;
}

void cmd_error_clear(struct cmd_error *e)
{
    json_decref(e->errors);
    e->errors = NULL;
}

/* JSON Pointer token escaping (RFC 6901): ~ -> ~0, / -> ~1. */
static void pointer_append(char *buf, size_t cap, const char *token)
{
    size_t n = strlen(buf);
    if (n + 1 < cap)
        buf[n++] = '/';
    for (; *token && n + 2 < cap; token++) {
        if (*token == '~' || *token == '/') {
            buf[n++] = '~';
            buf[n++] = *token == '~' ? '0' : '1';
        } else {
            buf[n++] = *token;
        }
    }
    buf[n] = '\0';
}

static void add_err(struct cmd_error *e, const char *prefix, const char *field, const char *msg)
{
    if (json_array_size(errs_of(e)) >= CMD_MAX_ERRORS)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s", prefix);
    if (field)
        pointer_append(path, sizeof(path), field);
    problem_add_error(e->errors, path, msg);
}

static void batch_init(struct cmd_batch *b, size_t n, bool batch_form)
{
    b->items = xcalloc(n ? n : 1, sizeof(*b->items));
    b->n = n;
    b->batch_form = batch_form;
}

void cmd_batch_free(struct cmd_batch *b)
{
    if (!b->items)
        return;
    for (size_t i = 0; i < b->n; i++) {
        json_decref(b->items[i].data);
        free(b->items[i].payload);
    }
    free(b->items);
    b->items = NULL;
    b->n = 0;
}

/* Path parameters become data fields; a body field that says otherwise is a
 * 422 rather than silently overwritten. */
static void merge_params(const struct route_match *m, json_t *data, struct cmd_error *e)
{
    for (int i = 0; i < m->n_params; i++) {
        char field[64];
        size_t fl =
            m->params[i].name_len < sizeof(field) - 1 ? m->params[i].name_len : sizeof(field) - 1;
        memcpy(field, m->params[i].name, fl);
        field[fl] = '\0';
        json_t *pv = json_string(m->params[i].value);
        if (!pv) { /* not UTF-8 */
            add_err(e, "", field, "path parameter is not valid UTF-8");
            continue;
        }
        json_t *bv = json_object_get(data, field);
        if (bv && !json_equal(bv, pv)) {
            add_err(e, "", field, "contradicts the path parameter");
            json_decref(pv);
            continue;
        }
        json_object_set_new(data, field, pv);
    }
}

/* Role and token-claim checks of one item: 403 on the first failure. */
static int check_actor(const struct actor *ac, const char *type, const json_t *data, unsigned roles,
                       long index, struct cmd_error *e)
{
    char where[48] = "";
    if (index >= 0)
        snprintf(where, sizeof(where), " (command %ld)", index);
    if (!auth_role_allowed(ac, roles)) {
        snprintf(e->detail, sizeof(e->detail), "role %s may not send %s%s", role_name(ac->role),
                 type, where);
        e->status = 403;
        return -1;
    }
    const char *field;
    char why[160];
    if (auth_check_claims(ac, type, data, &field, why, sizeof(why)) < 0) {
        snprintf(e->detail, sizeof(e->detail), "%s%s", why, where);
        e->status = 403;
        return -1;
    }
    return 0;
}

/* A provider registering itself registers the id its token names. */
static void default_register_id(const struct actor *ac, const char *type, json_t *data)
{
    if (ac->role == ROLE_PROVIDER && ac->provider[0] && strcmp(type, "provider.register") == 0 &&
        !json_object_get(data, "id"))
        json_object_set_new(data, "id", json_string(ac->provider));
}

/* Schema errors go into e; -1 when the type has no schema (a deployment bug). */
static int validate(const struct jschema_registry *reg, const char *type, const json_t *data,
                    const char *prefix, struct cmd_error *e)
{
    char name[96];
    snprintf(name, sizeof(name), "commands/%s", type);
    json_t *errs = NULL;
    int rc = jschema_validate(reg, name, data, prefix, &errs);
    if (rc < 0) {
        json_decref(errs);
        set_error(e, 500, "no schema for this command type");
        return -1;
    }
    if (rc == 1) {
        size_t i;
        json_t *v;
        json_array_foreach(errs, i, v)
        {
            if (json_array_size(errs_of(e)) >= CMD_MAX_ERRORS)
                break;
            json_array_append(e->errors, v);
        }
        if (json_array_size(errs) == 0)
            add_err(e, prefix, NULL, "does not match the schema");
    }
    json_decref(errs);
    return 0;
}

int cmd_from_route(const struct route_match *m, json_t *body, const struct actor *ac,
                   const struct jschema_registry *reg, struct cmd_batch *out, struct cmd_error *e)
{
    const struct route *rt = m->route;
    memset(out, 0, sizeof(*out));
    if (!body)
        body = json_object();
    if (!json_is_object(body)) {
        json_decref(body);
        set_error(e, 422, "the body must be a JSON object");
        add_err(e, "", NULL, "must be an object");
        return -1;
    }
    batch_init(out, 1, false);
    struct cmd_item *it = &out->items[0];
    it->type = rt->type;
    it->row = rt;
    it->data = body; /* takes the reference */
    merge_params(m, it->data, e);
    if (e->errors) {
        set_error(e, 422, "path parameters and body disagree");
        goto fail;
    }
    if (check_actor(ac, rt->type, it->data, rt->roles, -1, e) < 0)
        goto fail;
    default_register_id(ac, rt->type, it->data);
    if (validate(reg, rt->type, it->data, "", e) < 0)
        goto fail;
    if (e->errors) {
        set_error(e, 422, "the command does not match its schema");
        goto fail;
    }
    return 0;
fail:
    cmd_batch_free(out);
    return -1;
}

/* Roles allowed for a type: the union over its rows (they agree today). */
static unsigned type_roles(const char *type)
{
    const struct route *rows[4];
    size_t n = router_rows_for_type(type, rows, 4);
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r |= rows[i]->roles;
    return r;
}

/* Checks one {type, data} object's shape; on success sets *type (interned
 * from the route table) and returns 0. prefix is "" or "/commands/N". */
static int item_shape(json_t *item, const char *prefix, const char **type, struct cmd_error *e)
{
    const char *key;
    json_t *v;
    int bad = 0;
    if (!json_is_object(item)) {
        add_err(e, prefix, NULL, "must be an object with type and data");
        return -1;
    }
    json_object_foreach(item, key, v)
    {
        if (strcmp(key, "type") != 0 && strcmp(key, "data") != 0) {
            add_err(e, prefix, key, "unknown field");
            bad = 1;
        }
    }
    json_t *t = json_object_get(item, "type");
    const struct route *row = NULL;
    if (!json_is_string(t)) {
        add_err(e, prefix, "type", t ? "must be a string" : "required");
        bad = 1;
    } else if (router_rows_for_type(json_string_value(t), &row, 1) != 1) {
        add_err(e, prefix, "type", "unknown command type");
        bad = 1;
    }
    json_t *d = json_object_get(item, "data");
    if (!json_is_object(d)) {
        add_err(e, prefix, "data", d ? "must be an object" : "required");
        bad = 1;
    }
    if (bad)
        return -1;
    *type = row->type;
    return 0;
}

int cmd_from_commands(json_t *body, const struct actor *ac, const struct jschema_registry *reg,
                      struct cmd_batch *out, struct cmd_error *e)
{
    memset(out, 0, sizeof(*out));
    json_t *list = NULL;
    bool batch_form = false;
    if (!json_is_object(body)) {
        set_error(e, 422, "the body must be a JSON object");
        add_err(e, "", NULL, "must be an object");
        goto fail;
    }
    if (json_object_get(body, "commands")) {
        batch_form = true;
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            if (strcmp(key, "commands") != 0)
                add_err(e, "", key, "unknown field");
        }
        list = json_object_get(body, "commands");
        if (!json_is_array(list)) {
            add_err(e, "", "commands", "must be an array");
        } else if (json_array_size(list) < 1 || json_array_size(list) > CMD_BATCH_MAX) {
            add_err(e, "", "commands", "must hold 1 to 500 commands");
        }
        if (e->errors) {
            set_error(e, 422, "invalid batch");
            goto fail;
        }
        json_incref(list);
    } else {
        list = json_array();
        json_array_append(list, body);
    }

    size_t n = json_array_size(list);
    const char **types = xcalloc(n, sizeof(*types));
    char prefix[48];
    for (size_t i = 0; i < n; i++) {
        if (batch_form)
            snprintf(prefix, sizeof(prefix), "/commands/%zu", i);
        else
            prefix[0] = '\0';
        item_shape(json_array_get(list, i), prefix, &types[i], e);
    }
    if (e->errors) {
        set_error(e, 422, batch_form ? "invalid commands in the batch" : "invalid command");
        goto fail_types;
    }
    batch_init(out, n, batch_form);
    for (size_t i = 0; i < n; i++) {
        struct cmd_item *it = &out->items[i];
        it->type = types[i];
        /* A copy: the body may be freed before the batch. */
        it->data = json_deep_copy(json_object_get(json_array_get(list, i), "data"));
        if (check_actor(ac, it->type, it->data, type_roles(it->type), batch_form ? (long)i : -1,
                        e) < 0)
            goto fail_types;
        default_register_id(ac, it->type, it->data);
    }
    for (size_t i = 0; i < n; i++) {
        if (batch_form)
            snprintf(prefix, sizeof(prefix), "/commands/%zu/data", i);
        else
            snprintf(prefix, sizeof(prefix), "/data");
        if (validate(reg, out->items[i].type, out->items[i].data, prefix, e) < 0)
            goto fail_types;
    }
    if (e->errors) {
        set_error(e, 422, batch_form ? "invalid commands in the batch" : "invalid command");
        goto fail_types;
    }
    free(types);
    json_decref(list);
    json_decref(body);
    return 0;
fail_types:
    free(types);
fail:
    json_decref(list);
    json_decref(body);
    cmd_batch_free(out);
    return -1;
}

void cmd_assign_ids(struct cmd_batch *b, const json_t *reuse)
{
    for (size_t i = 0; i < b->n; i++) {
        struct cmd_item *it = &b->items[i];
        const json_t *prev = json_array_get(reuse, i);
        const char *prev_cid = json_string_value(json_array_get(prev, 0));
        const char *prev_rid = json_string_value(json_array_get(prev, 1));
        if (prev_cid && ids_uuid_valid(prev_cid))
            snprintf(it->command_id, sizeof(it->command_id), "%s", prev_cid);
        else
            ids_uuid7(it->command_id);
        /* Create commands: honour the client's id, else the one generated
         * (now or by the first attempt of this request). */
        const struct route *rows[4];
        size_t nr = router_rows_for_type(it->type, rows, 4);
        const char *create = nr ? rows[0]->create_field : NULL;
        if (create && (it->generated_id || !json_object_get(it->data, create))) {
            char rid[UUID_STR_LEN];
            if (prev_rid && ids_uuid_valid(prev_rid))
                snprintf(rid, sizeof(rid), "%s", prev_rid);
            else
                ids_uuid7(rid);
            json_object_set_new(it->data, create, json_string(rid));
            it->generated_id = true;
        }
    }
}

json_t *cmd_ids_json(const struct cmd_batch *b)
{
    json_t *a = json_array();
    for (size_t i = 0; i < b->n; i++) {
        const struct cmd_item *it = &b->items[i];
        const struct route *rows[4];
        size_t nr = router_rows_for_type(it->type, rows, 4);
        const char *create = nr ? rows[0]->create_field : NULL;
        json_t *gen = json_null();
        if (create && it->generated_id)
            gen = json_copy(json_object_get(it->data, create));
        json_array_append_new(a, json_pack("[so]", it->command_id, gen));
    }
    return a;
}

/* The row whose key field the data carries (service events: voucher or order). */
static const struct route *pick_row(const struct cmd_item *it)
{
    if (it->row)
        return it->row;
    const struct route *rows[4];
    size_t nr = router_rows_for_type(it->type, rows, 4);
    for (size_t k = 0; k < nr; k++)
        if (json_is_string(json_object_get(it->data, rows[k]->key_field)))
            return rows[k];
    return NULL;
}

int cmd_finalize(struct cmd_batch *b, const struct actor *ac, const struct cmd_origin *o,
                 struct cmd_error *e)
{
    for (size_t i = 0; i < b->n; i++) {
        struct cmd_item *it = &b->items[i];
        char prefix[48];
        if (b->batch_form)
            snprintf(prefix, sizeof(prefix), "/commands/%zu/data", i);
        else
            snprintf(prefix, sizeof(prefix), "%s", it->row ? "" : "/data");
        it->row = pick_row(it);
        if (!it->row) {
            add_err(e, prefix, NULL, "names neither voucher_id nor order_id");
            continue;
        }
        it->key = json_string_value(json_object_get(it->data, it->row->key_field));
        it->resource_id = json_string_value(json_object_get(it->data, it->row->resource_field));
        if (!it->key || !*it->key) {
            add_err(e, prefix, it->row->key_field, "required");
            continue;
        }
        if (!it->resource_id)
            it->resource_id = it->key;
        json_t *access =
            o->envelope_version >= 5 && o->access_of ? o->access_of(o->access_ctx, it) : NULL;
        it->access_inside = access != NULL;
        struct envelope_head h = {.id = it->command_id,
                                  .type = it->type,
                                  .version = o->envelope_version,
                                  .actor = ac,
                                  .received_at = o->received_at,
                                  .idempotency_key = o->idem_key,
                                  .traceparent = o->traceparent,
                                  .request_digest = o->request_digest,
                                  .on_behalf_of = b->on_behalf_of,
                                  .access = access};
        it->payload = envelope_build(&h, it->data);
        json_decref(access);
        it->payload_len = it->payload ? strlen(it->payload) : 0;
        if (!it->payload)
            add_err(e, prefix, NULL, "cannot be serialized");
    }
    if (e->errors) {
        set_error(e, 422, "invalid command");
        return -1;
    }
    return 0;
}

json_t *cmd_accepted_json(const struct cmd_batch *b)
{
    json_t *list = json_array();
    for (size_t i = 0; i < b->n; i++) {
        const struct cmd_item *it = &b->items[i];
        char url[64];
        snprintf(url, sizeof(url), "/v1/commands/%s", it->command_id);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s}", "command_id", it->command_id,
                                              "type", it->type, "resource_id", it->resource_id,
                                              "status_url", url));
    }
    if (b->batch_form)
        return json_pack("{s:o}", "commands", list);
    json_t *one = json_incref(json_array_get(list, 0));
    json_decref(list);
    return one;
}

void cmd_now_rfc3339(char out[32])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}
