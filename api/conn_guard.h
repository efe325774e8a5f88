/*
 * conn_guard.h - a deadline for a request's header block straight on a
 * replica (issue 14 item 4; docs/api-decisions.md, "Slow requests").
 *
 * libmicrohttpd 0.9.75 calls the api only once a request's headers are in,
 * and its connection timeout (api_conn_timeout_s) is an idle timeout: a
 * client sending a header byte every few seconds held a connection for ever.
 * The guard follows every connection (MHD_OPTION_NOTIFY_CONNECTION) from the
 * moment it is ready for a request (accepted, or its previous request
 * completed) until that request's headers are in. A connection still waiting
 * after the limit is shut down (shutdown(2): libmicrohttpd still owns the
 * descriptor, sees the end of the stream and closes it itself).
 *
 * The limit is api_conn_timeout_s + CONN_GUARD_SLACK_MS: a connection that
 * sent nothing for api_conn_timeout_s is closed by libmicrohttpd already, so
 * the guard never cuts an idle keep-alive connection a balancer is about to
 * reuse, only one that kept sending a header too slowly.
 */
#ifndef PSOP_API_CONN_GUARD_H
#define PSOP_API_CONN_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

#define CONN_GUARD_SLACK_MS 5000

struct conn_guard;

/* Starts the guard's thread, which looks every second; NULL when it cannot. */
struct conn_guard *conn_guard_new(long long limit_ms);
void conn_guard_free(struct conn_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the guard. */
void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* A request's headers are in (its first access-handler call) / the request
 * completed and the connection waits for the next one. */
void conn_guard_headers_in(struct MHD_Connection *c);
void conn_guard_request_done(struct MHD_Connection *c);

/* Pure: whether a connection waiting for headers since since_ms (0: not
 * waiting) is past the limit at now_ms. */
bool conn_guard_overdue(long long since_ms, long long now_ms, long long limit_ms);

/* The peer's address as text ("unknown" when there is none). */
void conn_peer_ip(struct MHD_Connection *c, char *out, size_t cap);

#endif
