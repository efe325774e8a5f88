/*
 * command.h - a command envelope as consumed from psop.commands.*.
 *
 * {id, type, schema_version, actor{sub, role, org?, provider?, client?},
 *  received_at, idempotency_key?, traceparent? (v2), request_digest? (v3), data}. Parsing validates the envelope
 * against schemas/envelope.json and the data against
 * schemas/commands/<type>.json, so a worker never applies what the front
 * would not have accepted. Every envelope version from ENVELOPE_VERSION_MIN
 * on is read: newer ones are first stripped of the fields this reader's
 * version does not know (lib/wire/envelope.h), so old and new replicas run side by
 * side in one consumer group.
 */
#ifndef PSOP_WORKER_COMMAND_H
#define PSOP_WORKER_COMMAND_H

#include <jansson.h>
#include <stddef.h>

#include "wire/envelope.h"
#include "wire/jschema.h"


struct actor {
    const char *sub, *role, *org, *provider, *client; /* NULL when absent */
};

struct cmd {
    json_t *root; /* owned: the whole envelope */
    const char *id;
    const char *type;
    int schema_version;
    const char *received_at;
    const char *idempotency_key;
    const char *traceparent; /* envelope v2; NULL when absent */
    const char *request_digest; /* envelope v3: the keyed request's digest; NULL when absent */
    struct actor actor;
    json_t *data; /* borrowed from root */
};

/* Parses and validates payload as a reader of envelope version
 * reader_version. Returns 0 and fills c (free with cmd_free), or -1 with the
 * reason in err (the message is poison: to the DLQ). */
int cmd_parse(const struct jschema_registry *reg, int reader_version, const void *payload,
              size_t len, struct cmd *c, char *err, size_t errlen);
void cmd_free(struct cmd *c);

/* String field of data, or NULL. Borrowed. */
const char *cmd_str(const struct cmd *c, const char *field);
/* Integer field of data into *out; 0 when present and an integer, else -1. */
int cmd_int(const struct cmd *c, const char *field, long long *out);

#endif
