/* lib/views/view_voucher_delta.c: the events document patched with the
 * events a batch changed equals the document built whole (same order, same
 * objects, the new version). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#include "views/view_voucher_delta.h"

static json_t *ev(const char *id, const char *date, const char *recorded_at, const char *state)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:f}", "id", id, "date", date, "recorded_at",
                     recorded_at, "state", state, "quantity", 1.5);
}

static json_t *doc_of(json_t *events, long long version)
{
    return json_pack("{s:s, s:I, s:o}", "voucher_id", "0195d000-0000-7000-8000-000000000201",
                     "version", (json_int_t)version, "events", events);
}

static const char *id_at(const json_t *doc, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "events"), i), "id"));
}

#define A "0195d000-0000-7000-8000-00000000030a"
#define B "0195d000-0000-7000-8000-00000000030b"
#define C "0195d000-0000-7000-8000-00000000030c"
#define T1 "2026-11-02T08:00:00.000001Z"
#define T2 "2026-11-02T09:00:00.000000Z"

Test(view_voucher_delta, a_new_event_takes_its_place_by_date_recording_and_id)
{
    json_t *doc = doc_of(json_pack("[o, o]", ev(A, "2026-11-02", T1, "recorded"),
                                   ev(C, "2026-11-05", T1, "recorded")),
                         7);
    json_t *changed = json_pack("[o]", ev(B, "2026-11-02", T2, "recorded"));
    cr_assert_eq(view_voucher_events_patch(doc, changed, 8), 0);
    json_t *want =
        doc_of(json_pack("[o, o, o]", ev(A, "2026-11-02", T1, "recorded"),
                         ev(B, "2026-11-02", T2, "recorded"), ev(C, "2026-11-05", T1, "recorded")),
               8);
    cr_expect(json_equal(doc, want), "%s", json_dumps(doc, JSON_COMPACT));
    json_decref(want);
    /* the same date and recording instant: by id */
    json_t *same =
        json_pack("[o]", ev("0195d000-0000-7000-8000-000000000300", "2026-11-02", T1, "recorded"));
    cr_assert_eq(view_voucher_events_patch(doc, same, 9), 0);
    cr_expect_str_eq(id_at(doc, 0), "0195d000-0000-7000-8000-000000000300");
    cr_expect_str_eq(id_at(doc, 1), A);
    json_decref(same);
    json_decref(changed);
    json_decref(doc);
}

Test(view_voucher_delta, a_changed_event_replaces_its_old_self_and_moves_with_its_date)
{
    json_t *doc =
        doc_of(json_pack("[o, o, o]", ev(A, "2026-11-02", T1, "recorded"),
                         ev(B, "2026-11-03", T1, "recorded"), ev(C, "2026-11-05", T1, "recorded")),
               3);
    /* A edited to the 4th, C deleted (kept, state deleted) */
    json_t *changed = json_pack("[o, o]", ev(A, "2026-11-04", T1, "recorded"),
                                ev(C, "2026-11-05", T1, "deleted"));
    cr_assert_eq(view_voucher_events_patch(doc, changed, 5), 0);
    const json_t *events = json_object_get(doc, "events");
    cr_assert_eq(json_array_size(events), 3, "no event added or lost");
    cr_expect_str_eq(id_at(doc, 0), B);
    cr_expect_str_eq(id_at(doc, 1), A);
    cr_expect_str_eq(id_at(doc, 2), C);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(events, 1), "date")),
                     "2026-11-04");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(events, 2), "state")),
                     "deleted");
    cr_expect_eq(json_integer_value(json_object_get(doc, "version")), 5);
    json_decref(changed);
    json_decref(doc);
}

Test(view_voucher_delta, what_is_not_an_events_document_is_left_alone)
{
    json_t *doc = json_pack("{s:s}", "voucher_id", "x");
    json_t *changed = json_pack("[o]", ev(A, "2026-11-02", T1, "recorded"));
    cr_expect_eq(view_voucher_events_patch(doc, changed, 2), -1);
    json_decref(doc);
    doc = doc_of(json_pack("[o]", ev(A, "2026-11-02", T1, "recorded")), 1);
    json_t *before = json_deep_copy(doc);
    json_t *no_id = json_pack("[{s:s}]", "date", "2026-11-03");
    cr_expect_eq(view_voucher_events_patch(doc, no_id, 2), -1);
    cr_expect(json_equal(doc, before), "untouched");
    json_decref(no_id);
    json_decref(before);
    json_decref(changed);
    json_decref(doc);
}
