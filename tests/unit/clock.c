/* Unit tests of lib/core/clock.c: the deadlines and conditions every
 * timed wait of the api and the producer uses. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>

#include "core/clock.h"

Test(clock, a_deadline_is_that_far_on_the_monotonic_clock)
{
    long cases[] = {0, 1, 999, 1000, 1001, 15000, 2500};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct timespec now, d = clock_deadline(cases[i]);
        clock_gettime(CLOCK_MONOTONIC, &now);
        cr_assert(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L, "%ld ms: tv_nsec %ld", cases[i],
                  d.tv_nsec);
        double ahead =
            (double)(d.tv_sec - now.tv_sec) * 1e3 + (double)(d.tv_nsec - now.tv_nsec) / 1e6;
        cr_assert(ahead <= (double)cases[i] && ahead > (double)cases[i] - 50, "%ld ms: %.3f ahead",
                  cases[i], ahead);
    }
}

Test(clock, a_monotonic_condition_times_out_at_its_deadline)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c;
    clock_cond_init(&c);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec d = clock_deadline(120);
    pthread_mutex_lock(&mu);
    int rc = 0;
    while (rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c, &mu, &d);
    pthread_mutex_unlock(&mu);
    double took = clock_since_ms(&t0);
    /* On the wall clock it would be a deadline in 1970: at once. */
    cr_assert(took >= 115 && took < 2000, "waited %.1f ms for a 120 ms deadline", took);
    pthread_cond_destroy(&c);
}
