/*
 * core/clock.h - the one way to read the clocks.
 *
 * Durations, deadlines and timeouts use the monotonic clock (never moved by
 * NTP or an operator); times that leave the process (ids, leases shared
 * between replicas) use the wall clock. Thread-safe.
 */
#ifndef PSOP_CLOCK_H
#define PSOP_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin). */
long long clock_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
long long clock_wall_ms(void);

/* Milliseconds, with fraction, since t0 (a CLOCK_MONOTONIC reading). */
double clock_since_ms(const struct timespec *t0);

/* The CLOCK_MONOTONIC reading ms milliseconds from now: a deadline for
 * pthread_cond_timedwait on a condition made by clock_cond_init. */
struct timespec clock_deadline(long ms);

/* Initialises c to time its waits on CLOCK_MONOTONIC (deadlines from
 * clock_deadline), not on the wall clock. */
void clock_cond_init(pthread_cond_t *c);

#endif
