/*
 * command.h - turning a request body into validated command envelopes.
 *
 * A request carries one command (a command route: body + path parameters is
 * the data) or 1..CMD_BATCH_MAX (POST /v1/commands). Validation is
 * all-or-nothing and runs in the order the error table implies: structure
 * (422), roles (403), token claims (403), path/body agreement and JSON Schema
 * (422). Only a fully valid batch gets ids and envelopes.
 * A cmd_batch is owned by one request; functions are thread-safe given a
 * read-only schema registry.
 */
#ifndef PSOP_API_COMMAND_H
#define PSOP_API_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "auth.h"
#include "core/ids.h"
#include "wire/jschema.h"
#include "router.h"

#define CMD_BATCH_MAX 500
/* Errors listed in one 422 body at most. */
#define CMD_MAX_ERRORS 100

/* Why a request was refused: status plus detail and, for 422, the errors. */
struct cmd_error {
    int status;
    char detail[256];
    json_t *errors; /* owned array of {path, message}, or NULL */
};

struct cmd_item {
    const char *type;        /* borrowed from the route table */
    const struct route *row; /* topic and key */
    json_t *data;            /* owned */
    char command_id[UUID_STR_LEN];
    bool generated_id;       /* the create field was filled by us */
    const char *resource_id; /* borrowed from data */
    const char *key;         /* borrowed from data */
    char *payload;           /* the serialized envelope, owned */
    size_t payload_len;
    bool access_inside; /* the envelope carries the access record (v5) */
};

struct cmd_batch {
    struct cmd_item *items;
    size_t n;
    bool batch_form; /* answered as {"commands": [...]} */
    /* A proxy's commands: the represented client (borrowed), or NULL;
     * written from envelope version 4. */
    const char *on_behalf_of;
};

/* A command route's request: body (stolen; may be NULL for an empty body,
 * meaning {}) plus the matched path parameters. Returns 0, or -1 with e. */
int cmd_from_route(const struct route_match *m, json_t *body, const struct actor *ac,
                   const struct jschema_registry *reg, struct cmd_batch *out, struct cmd_error *e);

/* POST /v1/commands: {"type","data"} or {"commands":[...]} (body stolen). */
int cmd_from_commands(json_t *body, const struct actor *ac, const struct jschema_registry *reg,
                      struct cmd_batch *out, struct cmd_error *e);

/* Assigns command ids and generated resource ids. reuse (borrowed, may be
 * NULL) is a previous cmd_ids_json() of the same request: its ids are taken
 * again so a retried request publishes the same command ids. */
void cmd_assign_ids(struct cmd_batch *b, const json_t *reuse);

/* [[command_id, generated id or null], ...]: new reference. */
json_t *cmd_ids_json(const struct cmd_batch *b);

/* Where a request's commands come from: what every envelope repeats. */
struct cmd_origin {
    const char *received_at;    /* RFC 3339 UTC */
    const char *idem_key;       /* may be NULL */
    const char *traceparent;    /* may be NULL; written from envelope version 2 */
    int envelope_version;       /* lib/wire/envelope.h */
    const char *request_digest; /* hex SHA-256 of method, path and body of a keyed
                                 * request, or NULL; written from envelope version 3 */
    /* The access record of an item (new reference), or NULL when the item
     * is about no client; asked once its row and key are known, and written
     * into the envelope from version 5. May be NULL. */
    json_t *(*access_of)(void *ctx, const struct cmd_item *it);
    void *access_ctx;
};

/* Chooses each item's row and key and serializes its envelope.
 * Returns 0 or -1 with e (422). */
int cmd_finalize(struct cmd_batch *b, const struct actor *ac, const struct cmd_origin *o,
                 struct cmd_error *e);

/* The 202 body. New reference. */
json_t *cmd_accepted_json(const struct cmd_batch *b);

void cmd_batch_free(struct cmd_batch *b);
void cmd_error_clear(struct cmd_error *e);

/* Writes the current time as "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes). */
void cmd_now_rfc3339(char out[32]);

#endif
