#ifndef PSOP_PORT_GUARD_H
#define PSOP_PORT_GUARD_H
/*
 * Refuses to share a listening port with a stranger.
 *
 * psop-api binds with SO_REUSEPORT so that a new process can take over a
 * port while the old one drains (a rollout). The kernel lets any process of
 * the same user share such a port, so a replica started with the wrong port
 * would silently take half of another stack's connections. Before binding,
 * the api asks whoever already answers on the port for `GET /healthz` and
 * goes ahead only if the answer carries PORT_GUARD_HEADER with the same
 * stack id (an older psop-api of this stack, draining).
 */
#include <stddef.h>

/* Header every psop-api answer to /healthz carries: the configured api_stack_id. */
#define PORT_GUARD_HEADER "Psop-Stack"

enum port_guard_verdict {
    PORT_FREE = 0,   /* nobody answers: bind */
    PORT_SAME_STACK, /* an older psop-api of this stack: bind beside it */
    PORT_TAKEN,      /* anything else: refuse to start (err says who) */
};

/*
 * Probes addr:port (a wildcard address is probed on loopback) within
 * timeout_ms. stack_id may be "" (a deployment that names none matches only
 * another that names none). Never blocks longer than about 2 x timeout_ms.
 */
enum port_guard_verdict port_guard_check(const char *addr, int port, const char *stack_id,
                                         int timeout_ms, char *err, size_t errlen);

/* Pure: the verdict for a raw HTTP answer (NUL-terminated, may be partial). */
enum port_guard_verdict port_guard_judge(const char *answer, const char *stack_id, char *err,
                                         size_t errlen);

#endif
