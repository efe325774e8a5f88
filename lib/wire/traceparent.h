/*
 * traceparent.h - W3C Trace Context traceparent values: the front sets one
 * on every command it publishes (envelope v2), taken from the request or
 * made fresh.
 */
#ifndef PSOP_TRACEPARENT_H
#define PSOP_TRACEPARENT_H

#include <stdbool.h>

/* 55 characters: "00-" 32 hex "-" 16 hex "-" 2 hex. */
#define TRACEPARENT_LEN 56

/* True when s is a version-00 traceparent with non-zero ids, lower-case hex. */
bool traceparent_valid(const char *s);

/* A fresh traceparent (random trace and parent ids, sampled flag). */
void traceparent_new(char out[TRACEPARENT_LEN]);

#endif
