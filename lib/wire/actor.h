/*
 * wire/actor.h - who sent a command: the actor of the command envelope
 * (schemas/envelope.json, /actor), one layout for the front that fills it
 * from a verified token or API key and for the workers that read it back.
 *
 * Fields are NUL-terminated strings, "" when absent; actor_opt() turns an
 * absent field into NULL where that matters (SQL parameters, optional JSON
 * members). The role is an enum; its wire names are role_name()'s.
 */
#ifndef PSOP_ACTOR_H
#define PSOP_ACTOR_H

#include <jansson.h>
#include <stdbool.h>

enum role {
    ROLE_NONE = 0,
    ROLE_ADMIN = 1 << 0,
    ROLE_ORGANISER = 1 << 1,
    ROLE_PROVIDER = 1 << 2,
    ROLE_CLIENT = 1 << 3,
};
#define ROLE_ANY (ROLE_ADMIN | ROLE_ORGANISER | ROLE_PROVIDER | ROLE_CLIENT)

/* The longest field the envelope schema allows (sub: 256; org and provider
 * are UUIDs, client ids at most 64). */
#define ACTOR_FIELD_MAX 256

struct actor {
    char sub[ACTOR_FIELD_MAX + 1];
    enum role role;
    char org[ACTOR_FIELD_MAX + 1];
    char provider[ACTOR_FIELD_MAX + 1];
    char client[ACTOR_FIELD_MAX + 1];
};

/* ROLE_NONE for NULL or an unknown name. */
enum role role_parse(const char *name);
/* "admin", "organiser", "provider", "client"; "none" for anything else. */
const char *role_name(enum role r);

/* field itself, or NULL when it is "" (absent). */
static inline const char *actor_opt(const char *field)
{
    return field && field[0] ? field : NULL;
}

/* True when the actor's role is one of roles (a mask of enum role). */
static inline bool actor_role_in(const struct actor *a, unsigned roles)
{
    return (a->role & roles) != 0;
}

/* The envelope's actor object: sub and role always, org, provider and client
 * when present. New reference. */
json_t *actor_to_json(const struct actor *a);

/* Fills out from an envelope's actor object. -1 when obj is not an object,
 * a member is not a string or longer than ACTOR_FIELD_MAX, or the role is
 * unknown (out is then zeroed). */
int actor_from_json(const json_t *obj, struct actor *out);

#endif
