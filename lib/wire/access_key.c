#include "wire/access_key.h"

static const char *nonempty(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && *s ? s : NULL;
}

const char *access_record_key(const json_t *rec)
{
    const char *k = nonempty(json_array_get(json_object_get(rec, "client_ids"), 0));
    if (!k)
        k = nonempty(json_object_get(json_object_get(rec, "resource"), "id"));
    if (!k)
        k = nonempty(json_object_get(json_object_get(rec, "actor"), "sub"));
    return k ? k : "";
}
