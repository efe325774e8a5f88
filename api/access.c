#include "access.h"

#include <stdio.h>
#include <string.h>

#include "command.h"
#include "core/ids.h"
#include "store/topics.h"

/* "apikey:<key id>" subs are provider integration keys (api/apikeys.h). */
static const char *key_id_of(const char *sub)
{
    return strncmp(sub, "apikey:", 7) == 0 && ids_uuid_valid(sub + 7) ? sub + 7 : NULL;
}

json_t *access_record_json(const struct access_rec *a)
{
    char id[UUID_STR_LEN], at[32];
    ids_uuid7(id);
    cmd_now_rfc3339(at);
    json_t *actor = actor_to_json(a->actor);
    const char *kid = key_id_of(a->actor->sub);
    if (kid)
        json_object_set_new(actor, "key_id", json_string(kid));
    json_t *res = json_pack("{s:s}", "type", a->resource_type);
    if (a->resource_id && *a->resource_id)
        json_object_set_new(res, "id", json_string(a->resource_id));
    json_t *clients = json_array();
    if (a->client_id && *a->client_id)
        json_array_append_new(clients, json_string(a->client_id));
    json_t *rec =
        json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:i}", "id", id, "at", at, "actor", actor,
                  "action", a->action, "resource", res, "client_ids", clients, "status", a->status);
    if (a->on_behalf_of && *a->on_behalf_of)
        json_object_set_new(rec, "on_behalf_of", json_string(a->on_behalf_of));
    if (a->organiser_id && *a->organiser_id)
        json_object_set_new(rec, "organiser_id", json_string(a->organiser_id));
    if (a->ip && *a->ip)
        json_object_set_new(rec, "ip", json_string(a->ip));
    if (a->traceparent && *a->traceparent)
        json_object_set_new(rec, "traceparent", json_string(a->traceparent));
    return rec;
}

char *access_record(const struct access_rec *a, const char **key)
{
    json_t *rec = access_record_json(a);
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    /* As access_record_key() reads it from the record (a worker's key for
     * the record a command carried): checked by tests/unit/api_access.c. */
    if (a->client_id && *a->client_id)
        *key = a->client_id;
    else if (a->resource_id && *a->resource_id)
        *key = a->resource_id;
    else
        *key = a->actor->sub;
    return text;
}

const char *access_command_resource(const struct route *rt)
{
    if (rt->kind != ROUTE_COMMAND || !rt->topic || !rt->key_field)
        return NULL;
    /* Keyed by the voucher or order (its id for voucher.grant and
     * order.create); service_event.auto_approve is keyed by the organiser
     * and is about no one client. */
    if (rt->type && strncmp(rt->type, "mandate.", 8) == 0)
        return "mandate";
    bool own_id = strcmp(rt->key_field, "id") == 0;
    if (strcmp(rt->topic, TOPIC_CMD_VOUCHER) == 0 &&
        (strcmp(rt->key_field, "voucher_id") == 0 || own_id))
        return "voucher";
    if (strcmp(rt->topic, TOPIC_CMD_ORDER) == 0 &&
        (strcmp(rt->key_field, "order_id") == 0 || own_id))
        return "order";
    return NULL;
}

bool access_status_recorded(int status)
{
    return status == 200 || status == 403 || status == 404;
}
