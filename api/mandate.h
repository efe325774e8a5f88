/*
 * mandate.h - representation at the front: whether a client token acts for
 * another client under a mandate in force today, and GET /v1/mandates.
 */
#ifndef PSOP_API_MANDATE_H
#define PSOP_API_MANDATE_H

#include "read.h"

enum { MANDATE_NONE = 0, MANDATE_IN_FORCE = 1, MANDATE_OUTSIDE = 2 };

/* Whether rq's actor, a client token, holds a mandate at its organiser to
 * act for client today (Helsinki): MANDATE_IN_FORCE; MANDATE_OUTSIDE when
 * it holds one only for other days (res filled: 403 naming the day);
 * MANDATE_NONE when it holds none (also for any other role, and for the
 * client itself); -1 with res filled (503 when PostgreSQL is unreachable). */
int mandate_in_force(const struct read_req *rq, const char *client, struct read_res *res);

/* GET /v1/mandates?client_id= : the mandates at the reader's organiser where
 * client_id is the represented client or the proxy, newest first (organiser:
 * any of its clients; client: itself, client_id optional). */
void read_mandates(const struct read_req *rq, struct read_res *res);

#endif
