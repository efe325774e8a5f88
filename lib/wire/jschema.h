/*
 * wire/jschema.h - JSON Schema (draft 2020-12) validation of documents against
 * the files in schemas/, the one source of the rules.
 *
 * Supported keywords: type, enum, const, properties, required,
 * additionalProperties (boolean or schema), unevaluatedProperties:false on
 * the object holding it, items, prefixItems, minItems, maxItems,
 * minLength, maxLength (in code points), pattern (ECMA-262 through PCRE2, see
 * wire/jschema.c), minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf,
 * format, allOf, anyOf, oneOf, not, if/then/else, dependentRequired,
 * $ref (relative file refs and "#/$defs/..."), $defs.
 * Formats checked: date (YYYY-MM-DD, a real calendar day), date-time
 * (RFC 3339), uuid, email (simple), and the psop formats "fi-business-id"
 * (Y-tunnus with check digit), "iban" (ISO 13616 mod 97), "year-month"
 * (YYYY-MM), and the number keyword multipleOf 0.01 is evaluated exactly in
 * hundredths (1.15 is a multiple of 0.01).
 *
 * A registry is loaded once and read-only afterwards: safe to share between
 * threads.
 *
 * Loading is strict so a schema cannot silently check less than it says: an
 * unsupported keyword (e.g. a misspelt "maxlength"), an unknown format, a
 * pattern PCRE2 refuses, a $ref that does not resolve, or a nested "$id"
 * fails the whole load. Patterns are compiled and $refs resolved once, at
 * load. Integral reals (1.0) are integers, as JSON Schema says. Validation
 * recursion is bounded ($ref loops end in an error, not a crash).
 *
 * Messages are short and fixed ("unknown field", "is required", "must be an
 * integer", "must be >= 1", "at most 2 decimals", "not a real date",
 * "invalid Y-tunnus check digit", "invalid IBAN checksum", ...). A failing
 * "pattern" is explained by the "title" of the schema holding it when there
 * is one ("must be <title>"), a failing "not" likewise ("must not be <title>").
 */
#ifndef PSOP_JSON_SCHEMA_H
#define PSOP_JSON_SCHEMA_H

#include <stddef.h>
#include <jansson.h>

struct jschema_registry;

/* Loads every *.json under dir (recursively). Each is indexed by its path
 * relative to dir without ".json", e.g. "commands/voucher.grant", and by its
 * "$id" if any. Returns NULL with err filled on unreadable or invalid files. */
struct jschema_registry *jschema_registry_load(const char *dir, char *err, size_t errlen);
void jschema_registry_free(struct jschema_registry *reg);

/* Borrowed reference to the schema named name, or NULL. */
const json_t *jschema_get(const struct jschema_registry *reg, const char *name);

/* Validates doc against the schema named name. Returns 0 when valid, 1 when
 * invalid (then *errors, if errors is non-NULL, gets a new array of
 * {"path": JSON Pointer like "/data/quantity", "message": "..."}), -1 when the
 * schema is unknown. path_prefix is prepended to every error path ("" or e.g.
 * "/commands/3/data"). At most 50 errors are reported. */
int jschema_validate(const struct jschema_registry *reg, const char *name, const json_t *doc,
                     const char *path_prefix, json_t **errors);

#endif
