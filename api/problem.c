#include "problem.h"

#include <stdio.h>

struct status_name {
    int status;
    const char *slug;
    const char *title;
};

static const struct status_name names[] = {
    {400, "malformed-body", "Bad Request"},
    {401, "unauthenticated", "Unauthorized"},
    {403, "forbidden", "Forbidden"},
    {404, "not-found", "Not Found"},
    {405, "method-not-allowed", "Method Not Allowed"},
    {409, "idempotency-conflict", "Conflict"},
    {411, "length-required", "Length Required"},
    {413, "body-too-large", "Content Too Large"},
    {414, "uri-too-long", "URI Too Long"},
    {415, "unsupported-media-type", "Unsupported Media Type"},
    {422, "validation", "Unprocessable Content"},
    {429, "rate-limited", "Too Many Requests"},
    {431, "header-fields-too-large", "Request Header Fields Too Large"},
    {500, "internal", "Internal Server Error"},
    {503, "unavailable", "Service Unavailable"},
};

static const struct status_name *find(int status)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].status == status)
            return &names[i];
    return NULL;
}

const char *problem_slug(int status)
{
    const struct status_name *n = find(status);
    return n ? n->slug : "error";
}

const char *problem_title(int status)
{
    const struct status_name *n = find(status);
    return n ? n->title : "Error";
}

json_t *problem_new(int status, const char *detail, json_t *errors)
{
    json_t *p = json_object();
    char type[128];
    snprintf(type, sizeof(type), PROBLEM_TYPE_BASE "%s", problem_slug(status));
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(problem_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    /* detail may quote client input; jansson refuses invalid UTF-8, so fall
     * back to a fixed text rather than lose the field. */
    json_t *d = json_string(detail ? detail : problem_title(status));
    json_object_set_new(p, "detail", d ? d : json_string("invalid input"));
    if (errors && json_array_size(errors) > 0)
        json_object_set_new(p, "errors", errors); /* steals */
    else
        json_decref(errors);
    return p;
}

void problem_add_error(json_t *errs, const char *path, const char *message)
{
    json_t *e = json_object();
    json_t *jp = json_string(path ? path : "");
    json_t *jm = json_string(message ? message : "invalid");
    json_object_set_new(e, "path", jp ? jp : json_string(""));
    json_object_set_new(e, "message", jm ? jm : json_string("invalid"));
    json_array_append_new(errs, e);
}
