/* Unit tests of api/port_guard.c: who may share psop-api's port. */
#include <criterion/criterion.h>
#include <string.h>

#include "port_guard.h"

static enum port_guard_verdict judge(const char *answer, const char *stack, char *why)
{
    return port_guard_judge(answer, stack, why, 256);
}

Test(api_port_guard, an_older_psop_api_of_the_same_stack_may_share)
{
    char why[256] = "";
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Psop-Stack: s-1\r\n\r\n{}",
                       "s-1", why),
                 PORT_SAME_STACK);
    /* Header names are case-insensitive; spaces around the value do not count. */
    cr_expect_eq(judge("HTTP/1.0 200 OK\r\npsop-stack:   s-1  \r\n\r\n", "s-1", why),
                 PORT_SAME_STACK);
    /* Deployments that name no stack match each other only. */
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nPsop-Stack: \r\n\r\n", "", why), PORT_SAME_STACK);
}

Test(api_port_guard, another_stack_is_refused_and_named)
{
    char why[256] = "";
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nPsop-Stack: other\r\n\r\n", "mine", why), PORT_TAKEN);
    cr_expect(strstr(why, "other") && strstr(why, "mine"), "%s", why);
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nPsop-Stack: \r\n\r\n", "mine", why), PORT_TAKEN);
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nPsop-Stack: mine\r\n\r\n", "", why), PORT_TAKEN);
}

Test(api_port_guard, strangers_are_refused)
{
    char why[256] = "";
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n", "s", why), PORT_TAKEN);
    cr_expect(strstr(why, "not psop-api"), "%s", why);
    cr_expect_eq(judge("AMQP\x00\x00\x09\x01", "s", why), PORT_TAKEN);
    cr_expect(strstr(why, "HTTP"), "%s", why);
    /* The header in the body, not the head, does not count. */
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nX: y\r\n\r\nPsop-Stack: s\r\n", "s", why), PORT_TAKEN);
    /* A head cut short before the header is a stranger too. */
    cr_expect_eq(judge("HTTP/1.1 200 OK\r\nPsop-St", "s", why), PORT_TAKEN);
}
