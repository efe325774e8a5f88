/* Unit tests of api/conn_guard.c: when a connection waiting for a request's
 * headers is past its deadline. */
#include <criterion/criterion.h>

#include "conn_guard.h"

Test(api_conn_guard, a_connection_waiting_past_the_limit_is_overdue)
{
    cr_expect(!conn_guard_overdue(1000, 1000, 35000));
    cr_expect(!conn_guard_overdue(1000, 36000, 35000), "exactly the limit is still in time");
    cr_expect(conn_guard_overdue(1000, 36001, 35000));
}

Test(api_conn_guard, a_connection_whose_headers_are_in_is_never_overdue)
{
    cr_expect(!conn_guard_overdue(0, 1LL << 40, 35000));
}
