/*
 * reasons.h - a constraint violation told as a domain sentence.
 *
 * A command that breaks a rule only PostgreSQL checks (a UNIQUE business id,
 * a CHECK, a foreign key, an exclusion) is rejected; its reason is read by
 * the caller (the 422, GET /v1/commands/{id}, the command.rejected event),
 * so it must say what is wrong in the domain's words and never carry the
 * database's text, a constraint name or another party's identifiers. The
 * raw error goes to the worker's log only.
 *
 * Pure: the sentence depends only on the violation and the values the
 * command itself carries (looked up through field()).
 */
#ifndef PSOP_WORKER_REASONS_H
#define PSOP_WORKER_REASONS_H

#include <stddef.h>

struct violation {
    const char *sqlstate;   /* 23505 unique, 23514 check, 23503 foreign key, 23P01 exclusion... */
    const char *table;      /* PG_DIAG_TABLE_NAME, may be "" */
    const char *constraint; /* PG_DIAG_CONSTRAINT_NAME, may be "" */
};

/* The command's value of a payload field, or NULL. */
typedef const char *(*reason_field_fn)(const void *arg, const char *field);

/* Writes "code: sentence" into out. A known constraint has its own code and
 * sentence (its {field} placeholders filled from the command); any other
 * violation gets the caller's code and a sentence by kind, naming the field
 * the constraint guards when its name tells it. */
void reason_for_violation(const struct violation *v, const char *code, reason_field_fn field,
                          const void *arg, char *out, size_t n);

/* Number of constraints with their own sentence, and the i-th's name (the
 * unit test checks every one has a sentence without database words). */
size_t reason_known_count(void);
const char *reason_known_name(size_t i);

#endif
