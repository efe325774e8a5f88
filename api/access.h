/*
 * access.h - access records: who read or changed which client's data
 * (docs/domain.md, "Access log and representation"; issue 18).
 *
 * The front builds one record per answered read of a client-data route (a
 * route row with `audit` set: 200, and the denials 403 and 404) and one per
 * command about a client (voucher, order and mandate commands). A read's
 * record is produced on psop.audit with acks=all, and the read answered only
 * once it is acknowledged (503 when it cannot be). A command's record
 * travels inside the command (envelope v5, `access`) and the worker that
 * takes the verdict writes it to the outbox for psop.audit; with
 * envelope_version below 5 it is produced beside the command, as a read's. The record format is
 * schemas/audit/access_record.json; the audit worker (workers/audit.h) writes it to
 * psop.access_log. Pure functions; thread-safe.
 */
#ifndef PSOP_API_ACCESS_H
#define PSOP_API_ACCESS_H

#include <jansson.h>

#include "router.h"
#include "wire/actor.h"

struct access_rec {
    const struct actor *actor;
    const char *action;        /* "read" or "command" */
    const char *resource_type; /* the route's `audit`, or "voucher"/"order" for commands */
    const char *resource_id;   /* the path's id, or NULL (lists) */
    const char *organiser_id;  /* NULL: the audit worker takes it from the resource */
    const char *client_id;     /* NULL: likewise */
    const char *on_behalf_of;  /* a proxy's access under a mandate: the represented client */
    int status;
    const char *ip;
    const char *traceparent; /* NULL or "" when none */
};

/* The record (new reference): schemas/audit/access_record.json, with a
 * new id and the current time. */
json_t *access_record_json(const struct access_rec *a);

/* The record's JSON text (malloc'd) and, in key, the Kafka key
 * (wire/access_key.h: the client id, else the resource id, else the actor's
 * sub; borrowed from a). */
char *access_record(const struct access_rec *a, const char **key);

/* The resource type of a command row about a client: "voucher" or "order"
 * for commands keyed by a voucher or an order, "mandate" for mandate.*,
 * NULL for every other. */
const char *access_command_resource(const struct route *rt);

/* True for the answers of a client-data read that leave a record: the data
 * itself (200) and the denials of a resource (403, 404). */
bool access_status_recorded(int status);

#endif
