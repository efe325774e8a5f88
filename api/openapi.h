/*
 * openapi.h - the OpenAPI 3.1 document, built from the route table and the
 * schema registry, so the published contract and what the api enforces
 * cannot drift: `psop-api --openapi` prints it, scripts/gen-openapi turns it
 * into docs/openapi.yaml, and a test fails when the two differ.
 *
 * Command schemas become components named after their registry path with
 * '/' -> '.' ("commands/voucher.grant" -> "commands.voucher.grant"); their
 * $refs are rewritten to point inside the document. A route's request body is
 * its command schema minus the fields its path supplies. Pure: thread-safe.
 */
#ifndef PSOP_API_OPENAPI_H
#define PSOP_API_OPENAPI_H

#include <stddef.h>
#include <jansson.h>

#include "wire/jschema.h"

/* New reference, or NULL with err filled (a command type without schema). */
json_t *openapi_build(const struct jschema_registry *reg, char *err, size_t errlen);

#endif
