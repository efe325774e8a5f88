-- The voucher document's usage as it was built before schemas/sql/0013:
-- an aggregate over every event and credit of the voucher, now the view
-- psop.voucher_usage_from_events (the peer of usage_kept.sql;
-- tests/bench/voucher_usage.sh).
\set n random(1, :nv)
SELECT coalesce((SELECT json_object_agg(u.month, json_build_object(
    'used_quantity', round((u.used) / 100.0, 2),
    'remaining_quantity', CASE WHEN v.monthly_quota IS NOT NULL
        THEN round((greatest(0, v.monthly_quota - u.used)) / 100.0, 2) END,
    'voucher_used_cents', u.cents, 'events', u.events) ORDER BY u.month)
  FROM psop.voucher_usage_from_events u WHERE u.voucher_id = v.id), '{}')::text
  FROM psop.vouchers v JOIN psop_bench.usage_vouchers b ON b.voucher_id = v.id WHERE b.n = :n;
