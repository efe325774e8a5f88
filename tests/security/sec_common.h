/*
 * sec_common.h - helpers of the attacker suite (tests/security/): what a
 * careless client or an attacker sends, through HAProxy ($PSOP_API_URL) or
 * straight to one api replica ($PSOP_API_REPLICA, else the first port of
 * PSOP_API_PORTS). Header-only, on e2e_http.h.
 */
#ifndef PSOP_TESTS_SEC_COMMON_H
#define PSOP_TESTS_SEC_COMMON_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e_http.h"

/* Words that say a database or its schema is speaking. */
static const char *const SEC_LEAK_WORDS[] = {"postgres", "ERROR",         "constraint",
                                             "DETAIL",   "duplicate key", "violates",
                                             "Key (",    "_key\"",        "SQLSTATE"};

/* Expects text to carry none of the database's words (nor extra, e.g.
 * another party's id, when not NULL). Non-fatal. */
static inline void sec_expect_clean(const char *what, const char *text, const char *extra)
{
    for (size_t i = 0; i < sizeof(SEC_LEAK_WORDS) / sizeof(SEC_LEAK_WORDS[0]); i++)
        cr_expect_null(strstr(text, SEC_LEAK_WORDS[i]), "%s carries '%s': %s", what,
                       SEC_LEAK_WORDS[i], text);
    if (extra)
        cr_expect_null(strstr(text, extra), "%s names %s: %s", what, extra, text);
}

/* The port of one api replica, for requests that must not pass HAProxy:
 * $PSOP_API_REPLICA, else the first of $PSOP_API_PORTS (.run/stack.env). */
static inline int sec_replica_port(void)
{
    const char *p = getenv("PSOP_API_REPLICA");
    if (p && atoi(p) > 0)
        return atoi(p);
    p = getenv("PSOP_API_PORTS");
    cr_assert(p && atoi(p) > 0, "PSOP_API_PORTS is not set: source .run/stack.env");
    return atoi(p);
}

/* An organiser created by the admin; its business id, prefix into yt/prefix. */
static inline void sec_org(struct e2e *e, const char *admin, const char *id, char yt[10],
                           char prefix[11])
{
    char iban[19];
    tc_ytunnus(yt);
    tc_iban_fi(iban);
    prefix[0] = 'S';
    tc_alnum(prefix + 1, 9);
    for (char *c = prefix; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    e2e_ok(e, "PUT", e2e_fmt(e, "/v1/organisers/%s", id), admin,
           e2e_fmt(e,
                   "{\"name\":\"Sec %s\",\"business_id\":\"%s\",\"iban\":\"%s\","
                   "\"invoice_prefix\":\"%s\",\"settlement_day\":5,\"auto_approve_days\":0}",
                   id + 30, yt, iban, prefix));
}

#endif
