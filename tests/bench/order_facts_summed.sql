-- An order event's facts as h_service_event.c read them before
-- schemas/sql/0014: the order's and the contract's month summed over their
-- events (the peer of order_facts_kept.sql; tests/bench/order_facts.sh).
\set n random(1, :norders)
SELECT EXISTS (SELECT 1 FROM psop.holidays WHERE date = '2024-03-15'::date),
 (SELECT coalesce(sum(quantity - credited_quantity), 0) FROM psop.service_events
   WHERE order_id = b.order_id AND state <> 'deleted'
     AND date >= '2024-03-01' AND date < '2024-04-01'),
 (SELECT coalesce(sum(quantity - credited_quantity), 0) FROM psop.service_events
   WHERE contract_id = '00000000-0000-0000-0000-0000000000d1' AND state <> 'deleted'
     AND date >= '2024-03-01' AND date < '2024-04-01'),
 cp.price_cents
FROM psop_bench.orders b LEFT JOIN LATERAL (SELECT * FROM psop.contract_prices
  WHERE contract_id = '00000000-0000-0000-0000-0000000000d1' AND valid_from <= '2024-03-15'
  ORDER BY valid_from DESC LIMIT 1) cp ON true
WHERE b.n = :n;
