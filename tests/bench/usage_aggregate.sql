-- The voucher document's usage as it was built before schemas/sql/0013:
-- an aggregate over every event and credit of the voucher (the peer of
-- usage_kept.sql; tests/bench/voucher_usage.sh).
\set n random(1, :nv)
SELECT coalesce((SELECT json_object_agg(u.m, json_build_object(
    'used_quantity', round((u.used) / 100.0, 2),
    'remaining_quantity', CASE WHEN v.monthly_quota IS NOT NULL
        THEN round((greatest(0, v.monthly_quota - u.used)) / 100.0, 2) END,
    'voucher_used_cents', u.cents, 'events', u.n) ORDER BY u.m)
  FROM (SELECT to_char(e.date, 'YYYY-MM') AS m,
          coalesce(sum(e.quantity - e.credited_quantity)
                   FILTER (WHERE e.state <> 'deleted'), 0) AS used,
          coalesce(sum(e.organiser_part_cents + coalesce(cr.op, 0))
                   FILTER (WHERE e.state <> 'deleted'), 0) AS cents,
          count(*) FILTER (WHERE e.state <> 'deleted') AS n
     FROM psop.service_events e
     LEFT JOIN LATERAL (SELECT sum(c.organiser_part_cents) AS op FROM psop.credits c
                         WHERE c.event_id = e.id) cr ON true
    WHERE e.voucher_id = v.id GROUP BY 1) u), '{}')::text
  FROM psop.vouchers v JOIN psop_bench.usage_vouchers b ON b.voucher_id = v.id WHERE b.n = :n;
