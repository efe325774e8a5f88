/*
 * core/heartbeat.h - a worker's liveness signal for container health checks.
 *
 * The worker touches a file while its loop turns (polling, applying, waiting
 * for PostgreSQL with backoff): `psop-worker --check-alive MAX_AGE_S` (the
 * image's HEALTHCHECK, the Kubernetes livenessProbe) then fails when the
 * file is older than MAX_AGE_S, i.e. the loop is stuck. A worker waiting for
 * a database that is down is alive: restarting it would not help.
 */
#ifndef PSOP_HEARTBEAT_H
#define PSOP_HEARTBEAT_H

#include <stddef.h>
#include <time.h>

/* Sets the file's modification time to now (creating it), at most once per
 * second. path NULL or "" = no heartbeat. Errors are ignored: a missing
 * heartbeat is what the check reports. */
void heartbeat_touch(const char *path);

/* 0 when path was touched within max_age_s seconds of now, else -1 with why. */
int heartbeat_check(const char *path, int max_age_s, time_t now, char *why, size_t n);

#endif
