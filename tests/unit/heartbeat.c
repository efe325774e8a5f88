/* Unit tests of lib/core/heartbeat.c: the worker's liveness file. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/heartbeat.h"

static char *tmp_path(void)
{
    char *p = NULL;
    cr_assert_neq(asprintf(&p, "/tmp/psop-heartbeat-test-%d", (int)getpid()), -1);
    unlink(p);
    return p;
}

Test(heartbeat, missing_file_or_no_path_is_not_alive)
{
    char *p = tmp_path(), why[256];
    cr_assert_eq(heartbeat_check(p, 300, time(NULL), why, sizeof(why)), -1);
    cr_assert(strstr(why, p) != NULL, "%s", why);
    cr_assert_eq(heartbeat_check("", 300, time(NULL), why, sizeof(why)), -1);
    cr_assert_eq(heartbeat_check(NULL, 300, time(NULL), why, sizeof(why)), -1);
    heartbeat_touch(""); /* no path: nothing happens, nothing crashes */
    heartbeat_touch(NULL);
    free(p);
}

Test(heartbeat, touched_file_is_alive_until_it_ages)
{
    char *p = tmp_path(), why[256];
    heartbeat_touch(p);
    time_t now = time(NULL);
    cr_assert_eq(heartbeat_check(p, 300, now, why, sizeof(why)), 0, "%s", why);
    /* seen from 301 s later it is stale; from 300 s later still alive */
    cr_assert_eq(heartbeat_check(p, 300, now + 301, why, sizeof(why)), -1);
    cr_assert(strstr(why, "limit 300 s") != NULL, "%s", why);
    cr_assert_eq(heartbeat_check(p, 300, now + 299, why, sizeof(why)), 0, "%s", why);

    /* an old file (a stuck loop) is not alive; a new touch revives it */
    struct timespec old[2] = {{now - 600, 0}, {now - 600, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, p, old, 0), 0);
    cr_assert_eq(heartbeat_check(p, 300, time(NULL), why, sizeof(why)), -1);
    sleep(1); /* touches are at most once a second */
    heartbeat_touch(p);
    cr_assert_eq(heartbeat_check(p, 300, time(NULL), why, sizeof(why)), 0, "%s", why);
    unlink(p);
    free(p);
}
