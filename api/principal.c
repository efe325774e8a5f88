#include "principal.h"

#include <stdio.h>
#include <string.h>

void principal_text(const struct actor *ac, char out[PRINCIPAL_MAX])
{
    snprintf(out, PRINCIPAL_MAX, "%s|%zu:%s|%zu:%s|%zu:%s|%zu:%s", role_name(ac->role),
             strlen(ac->org), ac->org, strlen(ac->provider), ac->provider, strlen(ac->client),
             ac->client, strlen(ac->sub), ac->sub);
}

static bool same(const json_t *doc, const char *field, const char *want)
{
    const json_t *v = json_object_get(doc, field);
    if (!v || json_is_null(v))
        return want[0] == '\0';
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

bool principal_matches(const json_t *doc, const struct actor *ac)
{
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "sub")))
        return false;
    return same(doc, "sub", ac->sub) && same(doc, "role", role_name(ac->role)) &&
           same(doc, "org", ac->org) && same(doc, "provider", ac->provider) &&
           same(doc, "client", ac->client);
}
