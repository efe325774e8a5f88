/*
 * waiters.h - requests waiting (Prefer: wait=N) for their commands' verdict.
 *
 * The workers write psop:cmd:{id} (version 1) and then PUBLISH the document
 * on psop:cmd-done. One thread per process holds a SUBSCRIBE connection to
 * that channel (its own hiredis context; reconnects with backoff from 100 ms
 * to 5 s) and completes the waiters registered under each command id. A
 * second thread checks psop:cmd:{id} once for every new registration (a
 * command applied before its wait was registered has already been
 * announced), checks every waiter again after the subscription was
 * (re)established (announcements are lost while it is down), and expires
 * waiters at their deadline. No request thread ever blocks: a waiter is a
 * callback.
 *
 * Thread-safe. The done callback runs exactly once per waiters_wait, on one
 * of the two threads (or in waiters_free/waiters_expire_all), never inside
 * waiters_wait and never under a lock of ours.
 */
#ifndef PSOP_API_WAITERS_H
#define PSOP_API_WAITERS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* docs: array of n status documents in the order of ids (taken: the callee
 * decrefs), an element null where the command is not done; all_done when
 * none is null. */
typedef void (*waiters_done_fn)(void *opaque, json_t *docs, bool all_done);

struct waiters;

/* Starts both threads. The caller's signal mask is inherited by them. */
struct waiters *waiters_new(const char *redis_url);

/* Expires every waiter (done with all_done false), stops the threads. */
void waiters_free(struct waiters *w);

/* Waits for every id of ids[0..n) to be applied or rejected, at most until
 * deadline_ms (CLOCK_MONOTONIC milliseconds). ids are copied. */
void waiters_wait(struct waiters *w, const char *const *ids, size_t n, long long deadline_ms,
                  waiters_done_fn done, void *opaque);

/* Expires every current waiter now (draining: answer 202 and go). */
void waiters_expire_all(struct waiters *w);

/* True when doc (borrowed) is a verdict: status applied or rejected. */
bool waiters_doc_done(const json_t *doc);

#endif
