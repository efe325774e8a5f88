/*
 * wire/envelope.h - versions of the command envelope, and how readers of one
 * version read another.
 *
 *   v1  {id, type, schema_version, actor, received_at, idempotency_key?, data}
 *   v2  v1 + traceparent? (W3C Trace Context, set by the front)
 *   v3  v2 + request_digest? (hex SHA-256 of the method, path and body of a
 *       request that carried an Idempotency-Key; the worker keeps
 *       (principal, key) -> (command id, digest) and rejects a reused key
 *       with another digest as idempotency_key_reused)
 *   v4  v3 + on_behalf_of? (the client a client token acts for under a
 *       mandate; a v3 reader drops it and refuses the command as another
 *       client's, which is safe while workers roll)
 *   v5  v4 + access? (the access record of a command about a client,
 *       schemas/audit/access_record.json: the worker that takes the
 *       command's verdict writes it to the outbox for psop.audit, instead of
 *       the front producing it beside the command; a v4 reader drops it, so
 *       workers roll to v5 before the api writes it: docs/decisions.md)
 *
 * The rule that lets old and new replicas share a consumer group: a new
 * envelope version may only add optional top-level fields. A reader that
 * meets a newer version than its own drops the fields it does not know and
 * applies the command as if it were its own version; a reader that meets an
 * older version finds only fields it knows. Versions below
 * ENVELOPE_VERSION_MIN are no longer produced anywhere and are refused.
 * Anything that cannot be said by adding an optional field is a new command
 * type, not a new envelope version. See docs/decisions.md.
 */
#ifndef PSOP_ENVELOPE_H
#define PSOP_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>

#include <stddef.h>

#include "core/mustcheck.h"
#include "core/versions.h" /* ENVELOPE_VERSION_MIN, ENVELOPE_VERSION_CURRENT */
#include "wire/actor.h"

/* The envelope version that introduced top-level field name; 0 if the
 * field is not part of any version this build knows. */
int envelope_field_version(const char *name);

/* Removes from env every top-level field that reader_version does not know
 * (introduced later, or unknown to this build). Returns how many it removed. */
int envelope_downgrade(json_t *env, int reader_version);

/* One command as it travels on psop.commands.*: the front writes it with
 * envelope_build, a worker reads it with envelope_parse.
 *   {id, type, schema_version, actor{sub, role, org?, provider?, client?},
 *    received_at, idempotency_key?, traceparent? (v2), request_digest? (v3),
 *    on_behalf_of? (v4), access? (v5), data} */
struct envelope {
    json_t *root; /* owned: the whole envelope */
    const char *id;
    const char *type;
    int schema_version;
    const char *received_at;
    const char *idempotency_key; /* NULL when absent */
    const char *traceparent;     /* envelope v2; NULL when absent */
    const char *request_digest;  /* envelope v3: the keyed request's digest; NULL when absent */
    const char *on_behalf_of;    /* envelope v4: the represented client; NULL when absent */
    json_t *access;              /* envelope v5: the command's access record, borrowed; or NULL */
    struct actor actor;
    json_t *data; /* borrowed from root */
};

/* What the front puts around a command's data. version is the envelope
 * version written (config envelope_version): fields of later versions are
 * left out. idempotency_key, traceparent and request_digest may be NULL. */
struct envelope_head {
    const char *id;
    const char *type;
    int version;
    const struct actor *actor;
    const char *received_at;
    const char *idempotency_key;
    const char *traceparent;
    const char *request_digest; /* written only with idempotency_key */
    const char *on_behalf_of;   /* v4: the represented client, or NULL */
    json_t *access;             /* v5: the access record (borrowed), or NULL */
};

/* The envelope's compact JSON (malloc'd; NULL if data cannot be serialised).
 * data is borrowed. */
char *envelope_build(const struct envelope_head *h, json_t *data);

struct jschema_registry;
/* Parses and validates payload as a reader of envelope version
 * reader_version: the envelope against schemas/envelope.json, the data
 * against schemas/commands/<type>.json, so a worker never applies what the
 * front would not have accepted. Newer versions are first stripped of the
 * fields this reader does not know. Returns 0 and fills e (free with
 * envelope_free), or -1 with the reason in err (the message is poison). */
PSOP_MUSTCHECK int envelope_parse(const struct jschema_registry *reg, int reader_version,
                                  const void *payload, size_t len, struct envelope *e, char *err,
                                  size_t errlen);
void envelope_free(struct envelope *e);

/* String member of data, or NULL. Borrowed. */
const char *envelope_str(const struct envelope *e, const char *field);
/* Integer member of data into *out; 0 when present and an integer, else -1. */
int envelope_int(const struct envelope *e, const char *field, long long *out);

#endif
