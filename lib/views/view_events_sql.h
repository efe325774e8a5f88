/*
 * views/view_events_sql.h - SQL pieces of the events documents of vouchers
 * and orders, shared by the whole-document builds (view_voucher.c,
 * view_order.c) and the events a batch changed (view_events_delta.c), so both
 * write the same event object. Private to lib/views.
 */
#ifndef PSOP_VIEW_VOUCHER_SQL_H
#define PSOP_VIEW_VOUCHER_SQL_H

/* Instants as RFC 3339 UTC with microseconds, whatever the session's TimeZone. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* Hundredths as a JSON number with two decimals (numeric keeps the scale). */
#define QTY(col) "round((" col ") / 100.0, 2)"

/* An event's place in an events document (a voucher's or an order's), as text whose byte order is
 * ORDER BY e.date, e.recorded_at, e.id (fixed-width ISO date, instant with
 * microseconds in UTC, lower-case uuid): the sort key of its item
 * (store/rds_items.h). */
#define VIEW_EVENT_SORT                                                                            \
    "to_char(e.date, 'YYYY-MM-DD') || ' ' || " TS("e.recorded_at") " || ' ' || e.id::text"

/* The lifecycle fields and the credits of a service event e, the same in a
 * voucher's and an order's events document (the end of their objects). */
/* clang-format off */
#define VIEW_EVENT_LIFECYCLE_JSON                                                                  \
    "    'recorded_by', e.recorded_by, 'recorded_at', " TS("e.recorded_at") "," \
    "    'updated_at', " TS("e.updated_at") ", 'approved_by', e.approved_by," \
    "    'approved_at', " TS("e.approved_at") ", 'deleted_by', e.deleted_by," \
    "    'deleted_at', " TS("e.deleted_at") ", 'settlement_id', e.settlement_id," \
    "    'settled_at', " TS("e.settled_at") ", 'paid_at', " TS("e.paid_at") "," \
    "    'credited_quantity', " QTY("e.credited_quantity") ", 'version', e.version," \
    "    'credits', coalesce((SELECT json_agg(json_build_object(" \
    "        'id', c.id, 'quantity', " QTY("c.quantity") ", 'reason_code', c.reason_code," \
    "        'explanation', c.explanation, 'gross_cents', c.gross_cents," \
    "        'organiser_part_cents', c.organiser_part_cents," \
    "        'client_share_cents', c.client_share_cents, 'created_by', c.created_by," \
    "        'created_at', " TS("c.created_at") ", 'settlement_id', c.settlement_id)" \
    "        ORDER BY c.created_at, c.id) FROM psop.credits c WHERE c.event_id = e.id), '[]')"
/* clang-format on */

/* One service event of a voucher's events document, from psop.service_events
 * e (and its credits): the same object for the whole document and for the
 * events a batch changed (views/view_events_delta.c). */
/* clang-format off */
#define VIEW_VOUCHER_EVENT_JSON                                                                    \
    "json_strip_nulls(json_build_object("                                                         \
    "    'id', e.id, 'provider_id', e.provider_id, 'date', e.date," \
    "    'quantity', " QTY("e.quantity") ", 'band', e.band," \
    "    'band_coefficient', " QTY("e.band_coefficient") "," \
    "    'unit_price_cents', e.unit_price_cents, 'voucher_value_cents', e.voucher_value_cents," \
    "    'value_unit_cents', e.value_unit_cents, 'gross_cents', e.gross_cents," \
    "    'organiser_part_cents', e.organiser_part_cents," \
    "    'budget_remaining_before_cents', e.budget_remaining_before_cents," \
    "    'client_share_cents', e.client_share_cents, 'state', e.state, 'note', e.note," \
    VIEW_EVENT_LIFECYCLE_JSON "))"
/* clang-format on */

/* One service event of an order's events document: the voucher's fields
 * with contract_id and client_fee_cents in place of the voucher value
 * columns. */
/* clang-format off */
#define VIEW_ORDER_EVENT_JSON                                                                      \
    "json_strip_nulls(json_build_object("                                                         \
    "    'id', e.id, 'provider_id', e.provider_id, 'contract_id', e.contract_id," \
    "    'date', e.date, 'quantity', " QTY("e.quantity") ", 'band', e.band," \
    "    'unit_price_cents', e.unit_price_cents, 'client_fee_cents', e.client_fee_cents," \
    "    'gross_cents', e.gross_cents, 'organiser_part_cents', e.organiser_part_cents," \
    "    'client_share_cents', e.client_share_cents, 'state', e.state, 'note', e.note," \
    VIEW_EVENT_LIFECYCLE_JSON "))"
/* clang-format on */

#endif
