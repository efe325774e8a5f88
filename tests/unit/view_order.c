/* Unit tests of the pure answers of lib/views/view_order.h: month usage, expired
 * status, events of a month. */
#include <criterion/criterion.h>

#include "views/view_order.h"

static json_t *doc(const char *valid_to)
{
    json_t *d = json_pack("{s:s, s:s, s:s, s:i, s:f, s:{s:{s:f, s:f, s:i, s:i, s:i}}, s:i}", "id",
                          "o1", "status", "active", "valid_from", "2026-01-01", "client_fee_cents",
                          1250, "monthly_quota", 4.5, "usage", "2026-05", "used_quantity", 4.0,
                          "remaining_quantity", 0.5, "organiser_used_cents", 11900,
                          "client_fee_used_cents", 5000, "events", 2, "version", 3);
    if (valid_to)
        json_object_set_new(d, "valid_to", json_string(valid_to));
    return d;
}

static day_t day(const char *s)
{
    day_t d;
    cr_assert_eq(date_parse(s, &d), 0);
    return d;
}

Test(view_order, month_with_usage)
{
    json_t *d = doc(NULL);
    json_t *a = view_order_answer(d, "2026-05", day("2026-11-27"));
    cr_assert_not_null(a);
    cr_expect_null(json_object_get(a, "usage"));
    cr_expect_str_eq(json_string_value(json_object_get(a, "month")), "2026-05");
    cr_expect_eq(json_integer_value(json_object_get(a, "organiser_used_cents")), 11900);
    cr_expect_eq(json_integer_value(json_object_get(a, "client_fee_used_cents")), 5000);
    cr_expect_str_eq(json_string_value(json_object_get(a, "status")), "active");
    json_decref(a);
    json_decref(d);
}

Test(view_order, month_without_events_is_zero_with_the_whole_quota)
{
    json_t *d = doc(NULL);
    json_t *a = view_order_answer(d, NULL, day("2026-11-27"));
    cr_assert_not_null(a);
    cr_expect_str_eq(json_string_value(json_object_get(a, "month")), "2026-11");
    cr_expect_eq(json_integer_value(json_object_get(a, "events")), 0);
    cr_expect_eq(json_integer_value(json_object_get(a, "organiser_used_cents")), 0);
    cr_expect_float_eq(json_real_value(json_object_get(a, "remaining_quantity")), 4.5, 1e-9);
    json_decref(a);
    json_decref(d);
}

Test(view_order, expired_after_valid_to_and_bad_month)
{
    json_t *d = doc("2026-10-31");
    json_t *a = view_order_answer(d, NULL, day("2026-11-01"));
    cr_expect_str_eq(json_string_value(json_object_get(a, "status")), "expired");
    json_decref(a);
    a = view_order_answer(d, NULL, day("2026-10-31"));
    cr_expect_str_eq(json_string_value(json_object_get(a, "status")), "active");
    json_decref(a);
    cr_expect_null(view_order_answer(d, "2026-13", day("2026-11-01")));
    cr_expect_null(view_order_answer(d, "May", day("2026-11-01")));
    json_decref(d);
}

Test(view_order, events_of_a_month)
{
    json_t *ev =
        json_pack("{s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "order_id", "o1", "contract_id", "c1",
                  "events", "id", "e1", "date", "2026-05-04", "id", "e2", "date", "2026-06-01");
    json_t *m = view_order_events_month(ev, "2026-05");
    cr_assert_not_null(m);
    cr_expect_eq(json_array_size(json_object_get(m, "events")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(m, "contract_id")), "c1");
    json_decref(m);
    m = view_order_events_month(ev, NULL);
    cr_expect_eq(json_array_size(json_object_get(m, "events")), 2);
    json_decref(m);
    cr_expect_null(view_order_events_month(ev, "2026-5"));
    json_decref(ev);
}
