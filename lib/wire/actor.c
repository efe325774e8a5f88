#include "wire/actor.h"

#include <string.h>

static const char *role_names[] = {"admin", "organiser", "provider", "client"};
#define N_ROLES (sizeof(role_names) / sizeof(role_names[0]))

enum role role_parse(const char *name)
{
    for (size_t i = 0; name && i < N_ROLES; i++)
        if (strcmp(name, role_names[i]) == 0)
            return (enum role)(1 << i);
    return ROLE_NONE;
}

const char *role_name(enum role r)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (r == (enum role)(1 << i))
            return role_names[i];
    return "none";
}

json_t *actor_to_json(const struct actor *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "sub", json_string(a->sub));
    json_object_set_new(o, "role", json_string(role_name(a->role)));
    if (a->org[0])
        json_object_set_new(o, "org", json_string(a->org));
    if (a->provider[0])
        json_object_set_new(o, "provider", json_string(a->provider));
    if (a->client[0])
        json_object_set_new(o, "client", json_string(a->client));
    return o;
}

/* 0 when obj[key] is absent (dst stays "") or a string that fits. */
static int copy_member(const json_t *obj, const char *key, char dst[ACTOR_FIELD_MAX + 1])
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v) || json_string_length(v) > ACTOR_FIELD_MAX)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return strlen(dst) == json_string_length(v) ? 0 : -1; /* no NUL inside */
}

int actor_from_json(const json_t *obj, struct actor *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj))
        return -1;
    json_t *role = json_object_get(obj, "role");
    out->role = role_parse(json_is_string(role) ? json_string_value(role) : NULL);
    if (out->role == ROLE_NONE || copy_member(obj, "sub", out->sub) < 0 ||
        copy_member(obj, "org", out->org) < 0 || copy_member(obj, "provider", out->provider) < 0 ||
        copy_member(obj, "client", out->client) < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}
