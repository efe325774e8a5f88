/*
 * wire/access_key.h - the Kafka key of an access record on psop.audit
 * (schemas/audit/access_record.json): the front keys a read's record, and
 * a worker the record a command carried (envelope v5), the same way.
 */
#ifndef PSOP_ACCESS_KEY_H
#define PSOP_ACCESS_KEY_H

#include <jansson.h>

/* The record's first client id, else its resource id, else its actor's sub;
 * "" when it has none of them. Borrowed from rec. */
const char *access_record_key(const json_t *rec);

#endif
