#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/invariant.h"

Test(invariant, a_kept_invariant_costs_nothing_but_the_check)
{
    int n = 3;
    PSOP_ASSERT(n == 3);
    PSOP_ASSERT(n > 0 && n < 4);
    cr_expect_eq(n, 3);
}

/* Release builds keep the check: this file is compiled like the rest (with
 * NDEBUG in RelWithDebInfo), and the process still aborts. */
Test(invariant, a_broken_invariant_aborts, .signal = SIGABRT)
{
    volatile int n = 5;
    PSOP_ASSERT(n < 4);
}

/* What it says before aborting: one JSON line naming the check and where. */
Test(invariant, the_fatal_line_is_json)
{
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(fileno(tmp), STDERR_FILENO);
        volatile int n = 5;
        PSOP_ASSERT(n < 4 && "\"quoted\"");
        _exit(0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    rewind(tmp);
    char line[2048] = "";
    cr_assert_not_null(fgets(line, sizeof line, tmp));
    json_error_t e;
    json_t *j = json_loads(line, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, line);
    cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "fatal");
    cr_expect_str_eq(json_string_value(json_object_get(j, "check")), "n < 4 && \"\\\"quoted\\\"\"");
    cr_expect(strstr(json_string_value(json_object_get(j, "at")), "invariant.c:") != NULL);
    json_decref(j);
    fclose(tmp);
}
