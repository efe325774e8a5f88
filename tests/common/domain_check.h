/*
 * domain_check.h - what the lib/domain unit tests share (header-only: every
 * test file is its own binary): the buffer a domain function writes its
 * reason into, REJECTS for a refused call (expect_answer for a table of
 * calls), checks of an event's money split, and a check of a state enum's
 * names.
 */
#ifndef PSOP_TEST_DOMAIN_CHECK_H
#define PSOP_TEST_DOMAIN_CHECK_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "domain/event.h"

static char err[64];

/* call returns -1 and writes reason into err. */
#define REJECTS(call, reason)                                                                      \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        cr_assert_eq((call), -1, #call);                                                           \
        cr_assert_str_eq(err, reason);                                                             \
    } while (0)

/* The answer rc of the i-th case of a table, called with err cleared: 0
 * where reason is NULL, else -1 with reason in err. */
static inline void expect_answer(int rc, const char *reason, size_t i)
{
    if (reason) {
        cr_assert_eq(rc, -1, "case %zu", i);
        cr_assert_str_eq(err, reason, "case %zu", i);
    } else {
        cr_assert_eq(rc, 0, "case %zu: %s", i, err);
    }
}

/* An event's (or a credit's) gross, organiser's part and client's share. */
static inline void expect_split(struct event_amounts a, int64_t gross, int64_t organiser,
                                int64_t client)
{
    cr_assert_eq(a.gross_cents, gross);
    cr_assert_eq(a.organiser_part_cents, organiser);
    cr_assert_eq(a.client_share_cents, client);
}

/* A call that worked (rc 0) and its amounts, whose parts add up to the
 * gross. */
static inline struct event_amounts split_adds_up(int rc, const struct event_amounts *a)
{
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(a->gross_cents, a->organiser_part_cents + a->client_share_cents);
    return *a;
}

/* Each of a state enum's names (in the enum's order) parses to its value,
 * and the value names itself back. */
#define EXPECT_STATE_NAMES(type, parse, name, ...)                                                 \
    do {                                                                                           \
        const char *names_[] = {__VA_ARGS__};                                                      \
        for (int i_ = 0; i_ < (int)(sizeof names_ / sizeof names_[0]); i_++) {                     \
            type s_;                                                                               \
            cr_assert_eq(parse(names_[i_], &s_), 0);                                               \
            cr_assert_eq((int)s_, i_);                                                             \
            cr_assert_str_eq(name(s_), names_[i_]);                                                \
        }                                                                                          \
    } while (0)

#endif
