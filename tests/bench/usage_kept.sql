-- The voucher document's usage as lib/views/view_voucher.c builds it now:
-- from psop.voucher_usage, kept by delta (schemas/sql/0013).
\set n random(1, :nv)
SELECT coalesce((SELECT json_object_agg(u.month, json_build_object(
    'used_quantity', round((u.used) / 100.0, 2),
    'remaining_quantity', CASE WHEN v.monthly_quota IS NOT NULL
        THEN round((greatest(0, v.monthly_quota - u.used)) / 100.0, 2) END,
    'voucher_used_cents', u.cents, 'events', u.events) ORDER BY u.month)
  FROM psop.voucher_usage u WHERE u.voucher_id = v.id AND u.all_events > 0), '{}')::text
  FROM psop.vouchers v JOIN psop_bench.usage_vouchers b ON b.voucher_id = v.id WHERE b.n = :n;
