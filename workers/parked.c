#include "parked.h"

#include <stdio.h>
#include <string.h>

#include "core/ids.h"

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* processed_commands.type's CHECK: ^[a-z][a-z_]*\.[a-z][a-z_]*$ */
static int type_valid(const char *t)
{
    if (!t || strlen(t) > 64)
        return 0;
    const char *dot = strchr(t, '.');
    if (!dot || dot == t || !dot[1] || strchr(dot + 1, '.'))
        return 0;
    if (!(t[0] >= 'a' && t[0] <= 'z') || !(dot[1] >= 'a' && dot[1] <= 'z'))
        return 0;
    for (const char *c = t; *c; c++)
        if (c != dot && !((*c >= 'a' && *c <= 'z') || *c == '_'))
            return 0;
    return 1;
}

static int role_valid(const char *r)
{
    const char *roles[] = {"admin", "organiser", "provider", "client"};
    for (size_t i = 0; r && i < 4; i++)
        if (strcmp(r, roles[i]) == 0)
            return 1;
    return 0;
}

json_t *parked_row(const struct envelope *parsed, const void *payload, size_t len, const char *why)
{
    if (parsed && parsed->id) {
        return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "command_id",
                         parsed->id, "type", parsed->type, "status", "rejected", "reason",
                         PARKED_NOT_APPLIED, "actor_sub", parsed->actor.sub, "actor_role",
                         role_name(parsed->actor.role), "actor_org", actor_opt(parsed->actor.org),
                         "actor_provider", actor_opt(parsed->actor.provider), "actor_client",
                         actor_opt(parsed->actor.client), "received_at", parsed->received_at);
    }
    if (!payload || len == 0)
        return NULL;
    json_t *env = json_loadb(payload, len, 0, NULL);
    if (!json_is_object(env)) {
        json_decref(env);
        return NULL;
    }
    const char *id = str(env, "id"), *type = str(env, "type");
    if (!id || !ids_uuid_valid(id) || !type_valid(type)) {
        json_decref(env);
        return NULL;
    }
    json_t *actor = json_object_get(env, "actor");
    const char *sub = str(actor, "sub"), *role = str(actor, "role");
    const char *org = str(actor, "org"), *prov = str(actor, "provider"),
               *client = str(actor, "client");
    if (sub && strlen(sub) > 256)
        sub = NULL;
    if (org && strlen(org) > 256)
        org = NULL;
    if (prov && strlen(prov) > 256)
        prov = NULL;
    if (client && strlen(client) > 256)
        client = NULL;
    char reason[512];
    snprintf(reason, sizeof(reason), "invalid_envelope: %s", why && *why ? why : "refused");
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "command_id", id,
                  "type", type, "status", "rejected", "reason", reason, "actor_sub", sub,
                  "actor_role", role_valid(role) ? role : NULL, "actor_org", org, "actor_provider",
                  prov, "actor_client", client, "received_at", NULL);
    json_decref(env);
    return row;
}
