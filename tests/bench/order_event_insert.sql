-- One order event recorded (what service_event.record inserts), on a random
-- order of the contract: run with the usage triggers of schemas/sql/0014 on
-- and off (tests/bench/order_facts.sh) to see what keeping them costs.
\set n random(1, :norders)
\set d random(1, 28)
INSERT INTO psop.service_events (id, order_id, contract_id, provider_id, organiser_id, service_type,
                                 date, quantity, unit_price_cents, client_fee_cents, gross_cents,
                                 organiser_part_cents, client_share_cents, recorded_by)
SELECT gen_random_uuid(), b.order_id, '00000000-0000-0000-0000-0000000000d1',
       '00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1', 'siivous',
       make_date(2024, 4, :d), 100, 4000, 1500, 4000, 2500, 1500, 'bench'
  FROM psop_bench.orders b WHERE b.n = :n;
