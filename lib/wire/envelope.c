#include "wire/envelope.h"

#include <string.h>

static const struct {
    const char *name;
    int since;
} fields[] = {
    {"id", 1},          {"type", 1}, {"schema_version", 1},  {"actor", 1},
    {"received_at", 1}, {"data", 1}, {"idempotency_key", 1}, {"traceparent", 2},
    {"request_digest", 3},
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
