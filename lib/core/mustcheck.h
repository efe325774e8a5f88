/*
 * core/mustcheck.h - PSOP_MUSTCHECK marks a function whose failure must be
 * handled (money arithmetic, PostgreSQL, Kafka, Redis writes): ignoring its
 * result is a compile error under -Werror, as PgBouncer's _MUSTCHECK.
 */
#ifndef PSOP_MUSTCHECK_H
#define PSOP_MUSTCHECK_H

#define PSOP_MUSTCHECK __attribute__((warn_unused_result))

#endif
