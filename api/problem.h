/*
 * problem.h - RFC 9457 problem documents (application/problem+json).
 *
 * Every error the api answers is {type, title, status, detail, errors?} where
 * errors is [{path, message}] with JSON Pointer paths into the request body.
 * type is "https://psop.fi/problems/<slug>", one slug per status (see
 * problem_slug). Pure functions, thread-safe.
 */
#ifndef PSOP_API_PROBLEM_H
#define PSOP_API_PROBLEM_H

#include <jansson.h>

#define PROBLEM_TYPE_BASE "https://psop.fi/problems/"

/* The short name of a status ("validation" for 422...), never NULL. */
const char *problem_slug(int status);
/* The reason phrase used as title ("Unprocessable Content"...), never NULL. */
const char *problem_title(int status);

/* A new problem object. errors (may be NULL) is stolen: a jansson array of
 * {path, message}; an empty array is dropped. */
json_t *problem_new(int status, const char *detail, json_t *errors);

/* Appends {path, message} to the array errs (borrowed). */
void problem_add_error(json_t *errs, const char *path, const char *message);

#endif
