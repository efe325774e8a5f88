#include "wire/envelope.h"

#include <stdio.h>
#include <string.h>

#include "wire/jschema.h"
#include "wire/json_strict.h"

static const struct {
    const char *name;
    int since;
} fields[] = {
    {"id", 1},
    {"type", 1},
    {"schema_version", 1},
    {"actor", 1},
    {"received_at", 1},
    {"data", 1},
    {"idempotency_key", 1},
    {"traceparent", 2},
    {"request_digest", 3},
    {"on_behalf_of", 4},
    {"access", 5},
};
#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

int envelope_field_version(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return fields[i].since;
    return 0;
}

int envelope_downgrade(json_t *env, int reader_version)
{
    if (!json_is_object(env))
        return 0;
    int removed = 0;
    const char *key;
    json_t *value;
    void *tmp;
    json_object_foreach_safe(env, tmp, key, value)
    {
        (void)value;
        int since = envelope_field_version(key);
        if (since == 0 || since > reader_version) {
            json_object_del(env, key);
            removed++;
        }
    }
    return removed;
}

char *envelope_build(const struct envelope_head *h, json_t *data)
{
    json_t *env = json_object();
    json_object_set_new(env, "id", json_string(h->id));
    json_object_set_new(env, "type", json_string(h->type));
    json_object_set_new(env, "schema_version", json_integer(h->version));
    json_object_set_new(env, "actor", actor_to_json(h->actor));
    json_object_set_new(env, "received_at", json_string(h->received_at));
    if (h->idempotency_key)
        json_object_set_new(env, "idempotency_key", json_string(h->idempotency_key));
    if (h->traceparent && *h->traceparent && h->version >= 2)
        json_object_set_new(env, "traceparent", json_string(h->traceparent));
    if (h->idempotency_key && h->request_digest && h->version >= 3)
        json_object_set_new(env, "request_digest", json_string(h->request_digest));
    if (h->on_behalf_of && *h->on_behalf_of && h->version >= 4)
        json_object_set_new(env, "on_behalf_of", json_string(h->on_behalf_of));
    if (h->access && h->version >= 5)
        json_object_set(env, "access", h->access);
    json_object_set(env, "data", data); /* borrows: data stays the caller's */
    char *out = json_dumps(env, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(env);
    return out;
}

static const char *opt_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "<path> <message>" of the first validation error. */
static void first_error(json_t *errors, const char *what, char *err, size_t errlen)
{
    json_t *first = json_array_get(errors, 0);
    snprintf(err, errlen, "%s: %s %s", what, first ? opt_str(first, "path") : "",
             first ? opt_str(first, "message") : "");
}

int envelope_parse(const struct jschema_registry *reg, int reader_version, const void *payload,
                   size_t len, struct envelope *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    char perr[256];
    json_t *root = json_strict_parse(payload, len, JSON_STRICT_MAX_DEPTH, perr, sizeof(perr));
    if (!root) {
        snprintf(err, errlen, "envelope is not valid JSON: %s", perr);
        return -1;
    }
    json_t *version = json_object_get(root, "schema_version");
    if (json_is_integer(version) && json_integer_value(version) > reader_version)
        envelope_downgrade(root, reader_version);
    json_t *errors = NULL;
    if (jschema_validate(reg, "envelope", root, "", &errors) != 0) {
        first_error(errors, "envelope invalid", err, errlen);
        json_decref(errors);
        json_decref(root);
        return -1;
    }
    e->root = root;
    e->id = opt_str(root, "id");
    e->type = opt_str(root, "type");
    e->schema_version = (int)json_integer_value(json_object_get(root, "schema_version"));
    e->received_at = opt_str(root, "received_at");
    e->idempotency_key = opt_str(root, "idempotency_key");
    e->traceparent = opt_str(root, "traceparent");
    e->request_digest = opt_str(root, "request_digest");
    e->on_behalf_of = opt_str(root, "on_behalf_of");
    e->access =
        json_is_object(json_object_get(root, "access")) ? json_object_get(root, "access") : NULL;
    e->data = json_object_get(root, "data");
    if (actor_from_json(json_object_get(root, "actor"), &e->actor) < 0) {
        snprintf(err, errlen, "envelope invalid: /actor cannot be read");
        goto fail;
    }
    if (e->schema_version < ENVELOPE_VERSION_MIN) {
        snprintf(err, errlen, "unsupported schema_version %d", e->schema_version);
        goto fail;
    }
    char name[128];
    snprintf(name, sizeof(name), "commands/%s", e->type);
    int rc = jschema_validate(reg, name, e->data, "/data", &errors);
    if (rc < 0) {
        snprintf(err, errlen, "unknown command type '%s'", e->type);
        goto fail;
    }
    if (rc > 0) {
        first_error(errors, "data invalid", err, errlen);
        json_decref(errors);
        goto fail;
    }
    return 0;
fail:
    envelope_free(e);
    return -1;
}

void envelope_free(struct envelope *e)
{
    json_decref(e->root);
    memset(e, 0, sizeof(*e));
}

const char *envelope_str(const struct envelope *e, const char *field)
{
    return opt_str(e->data, field);
}

int envelope_int(const struct envelope *e, const char *field, long long *out)
{
    json_t *v = json_object_get(e->data, field);
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}
