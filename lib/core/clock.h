/*
 * core/clock.h - the one way to read the clocks.
 *
 * Durations, deadlines and timeouts use the monotonic clock (never moved by
 * NTP or an operator); times that leave the process (ids, leases shared
 * between replicas) use the wall clock. Thread-safe.
 */
#ifndef PSOP_CLOCK_H
#define PSOP_CLOCK_H

#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin). */
long long clock_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
long long clock_wall_ms(void);

/* Milliseconds, with fraction, since t0 (a CLOCK_MONOTONIC reading). */
double clock_since_ms(const struct timespec *t0);

#endif
