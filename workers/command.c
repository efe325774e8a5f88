#include "command.h"

#include <stdio.h>
#include <string.h>

#include "wire/json_strict.h"

static const char *opt_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int cmd_parse(const struct jschema_registry *reg, int reader_version, const void *payload,
              size_t len, struct cmd *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
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
        json_t *first = json_array_get(errors, 0);
        snprintf(err, errlen, "envelope invalid: %s %s",
                 first ? opt_str(first, "path") : "", first ? opt_str(first, "message") : "");
        json_decref(errors);
        json_decref(root);
        return -1;
    }
    c->root = root;
    c->id = opt_str(root, "id");
    c->type = opt_str(root, "type");
    c->schema_version = (int)json_integer_value(json_object_get(root, "schema_version"));
    c->received_at = opt_str(root, "received_at");
    c->idempotency_key = opt_str(root, "idempotency_key");
    c->traceparent = opt_str(root, "traceparent");
    c->request_digest = opt_str(root, "request_digest");
    json_t *actor = json_object_get(root, "actor");
    c->actor.sub = opt_str(actor, "sub");
    c->actor.role = opt_str(actor, "role");
    c->actor.org = opt_str(actor, "org");
    c->actor.provider = opt_str(actor, "provider");
    c->actor.client = opt_str(actor, "client");
    c->data = json_object_get(root, "data");
    if (c->schema_version < ENVELOPE_VERSION_MIN) {
        snprintf(err, errlen, "unsupported schema_version %d", c->schema_version);
        goto fail;
    }
    char name[128];
    snprintf(name, sizeof(name), "commands/%s", c->type);
    int rc = jschema_validate(reg, name, c->data, "/data", &errors);
    if (rc < 0) {
        snprintf(err, errlen, "unknown command type '%s'", c->type);
        goto fail;
    }
    if (rc > 0) {
        json_t *first = json_array_get(errors, 0);
        snprintf(err, errlen, "data invalid: %s %s", first ? opt_str(first, "path") : "",
                 first ? opt_str(first, "message") : "");
        json_decref(errors);
        goto fail;
    }
    return 0;
fail:
    cmd_free(c);
    return -1;
}

void cmd_free(struct cmd *c)
{
    json_decref(c->root);
    memset(c, 0, sizeof(*c));
}

const char *cmd_str(const struct cmd *c, const char *field)
{
    return opt_str(c->data, field);
}

int cmd_int(const struct cmd *c, const char *field, long long *out)
{
    json_t *v = json_object_get(c->data, field);
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}
