-- An order event's facts as h_service_event.c reads them now
-- (ORDER_FACTS_SQL): the order's and the contract's month from the rows kept
-- by delta (schemas/sql/0014).
\set n random(1, :norders)
SELECT EXISTS (SELECT 1 FROM psop.holidays WHERE date = '2024-03-15'::date),
 coalesce((SELECT used FROM psop.order_usage WHERE order_id = b.order_id AND month = '2024-03'), 0),
 coalesce((SELECT used FROM psop.contract_usage
   WHERE contract_id = '00000000-0000-0000-0000-0000000000d1' AND month = '2024-03'), 0),
 cp.price_cents
FROM psop_bench.orders b LEFT JOIN LATERAL (SELECT * FROM psop.contract_prices
  WHERE contract_id = '00000000-0000-0000-0000-0000000000d1' AND valid_from <= '2024-03-15'
  ORDER BY valid_from DESC LIMIT 1) cp ON true
WHERE b.n = :n;
