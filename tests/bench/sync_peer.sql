-- tests/bench/sync_peer.sql - the synchronous peer of the pipeline (issue 19):
-- what a REST service without Kafka would run for one service_event.record,
-- each command in its own transaction, with the statements psop's voucher
-- worker runs for it (copied from its PostgreSQL log): the duplicate check on
-- processed_commands, the voucher locked with its service type, the event id
-- check, the provider's decision, the facts of the date (value in force,
-- holiday, the month's usage as psop.voucher_usage keeps it, the price), the
-- event insert, the version bump, the verdict and the outbox row. The amounts are those the worker computes
-- for 1.50 h on a weekday at 35.00 €/h with a 30.00 € voucher (4 500 + 750).
-- The outbox row is written as already published (published_at): the same
-- insert, but the stack's relay does not send the peer's events to Kafka.
-- Run by tests/bench/sync_peer.sh with pgbench; :nv is the number of rows of
-- psop_bench.peer_vouchers (the vouchers of a psop-bench-seed run).
\set n random(1, :nv)
SELECT voucher_id, provider_id, organiser_id, service_type, day,
       gen_random_uuid() AS cmd, gen_random_uuid() AS ev, gen_random_uuid() AS evt
  FROM psop_bench.peer_vouchers WHERE n = :n \gset
BEGIN;
SELECT command_id::text FROM psop.processed_commands WHERE command_id = ANY (ARRAY[:cmd]::uuid[]);
SELECT v.id, v.organiser_id, v.client_id, v.service_type, v.provider_id, v.status, v.valid_from,
       v.valid_to, v.revoke_date, v.monthly_quota, v.version, st.client_share_allowed,
       st.coef_evening, st.coef_saturday, st.coef_sunday, v.budget_cents, v.budget_used_cents
  FROM psop.vouchers v JOIN psop.service_types st ON st.code = v.service_type
 WHERE v.id = :voucher_id::uuid FOR UPDATE OF v;
SELECT 1 FROM psop.service_events WHERE id = :ev::uuid;
SELECT EXISTS (SELECT 1 FROM psop.providers WHERE id = :provider_id::uuid), d.decision, d.valid_from,
       (SELECT min(s.from_date) FROM psop.provider_suspensions s
         WHERE s.provider_id = :provider_id::uuid AND s.organiser_id = :organiser_id::uuid
           AND s.service_type = :service_type AND s.suspended_at > d.decided_at
           AND s.from_date <= :day::date)
  FROM (SELECT 1) one LEFT JOIN LATERAL (
       SELECT decision, valid_from, decided_at FROM psop.provider_decisions
        WHERE provider_id = :provider_id::uuid AND organiser_id = :organiser_id::uuid
          AND service_type = :service_type
        ORDER BY decided_at DESC, id DESC LIMIT 1) d ON true;
SELECT (SELECT unit_value_cents FROM psop.voucher_values
         WHERE voucher_id = :voucher_id::uuid AND effective @> :day::date),
       EXISTS (SELECT 1 FROM psop.holidays WHERE date = :day::date),
       coalesce((SELECT used FROM psop.voucher_usage
         WHERE voucher_id = :voucher_id::uuid AND month = to_char(:day::date, 'YYYY-MM')), 0)
       - coalesce((SELECT quantity - credited_quantity FROM psop.service_events
         WHERE id = NULL::uuid AND voucher_id = :voucher_id::uuid AND state <> 'deleted'
           AND to_char(date, 'YYYY-MM') = to_char(:day::date, 'YYYY-MM')), 0),
       pp.price_cents, pp.price_evening_cents, pp.price_saturday_cents, pp.price_sunday_cents
  FROM (SELECT 1) one LEFT JOIN LATERAL (
       SELECT * FROM psop.provider_prices
        WHERE provider_id = :provider_id::uuid AND organiser_id = :organiser_id::uuid
          AND service_type = :service_type AND valid_from <= :day::date
        ORDER BY valid_from DESC LIMIT 1) pp ON true;
INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, service_type, date,
       quantity, band, unit_price_cents, voucher_value_cents, band_coefficient, value_unit_cents,
       gross_cents, organiser_part_cents, client_share_cents, note, recorded_by, order_id,
       contract_id, client_fee_cents, budget_remaining_before_cents, recorded_at, updated_at)
VALUES (:ev, :voucher_id, :provider_id, :organiser_id, :service_type, :day, 150,
        'weekday', 3500, 3000, 100, 3000, 5250, 4500, 750, NULL, 'sync-peer', NULL, NULL, NULL,
        NULL, clock_timestamp(), clock_timestamp())
RETURNING version;
UPDATE psop.vouchers SET version = version + 1, updated_at = now() WHERE id = :voucher_id::uuid
RETURNING version;
INSERT INTO psop.processed_commands (command_id, type, status, reason, resource_id, actor_sub,
       actor_role, actor_org, actor_provider, actor_client, received_at, kafka_topic,
       kafka_partition, kafka_offset)
VALUES (:cmd, 'service_event.record', 'applied', NULL, :ev, 'sync-peer', 'provider', NULL,
        :provider_id, NULL, now(), 'sync-peer', 0, 0)
ON CONFLICT (command_id) DO NOTHING RETURNING 1;
INSERT INTO psop.outbox (event_id, topic, key, published_at, payload)
VALUES (:evt, 'psop.events.voucher', :voucher_id, now(), jsonb_build_object(
        'id', :evt::text, 'type', 'service_event.recorded', 'source', 'sync-peer',
        'subject', :voucher_id::text, 'specversion', '1.0', 'time', now(),
        'data', jsonb_build_object('id', :ev::text, 'voucher_id', :voucher_id::text,
          'provider_id', :provider_id::text, 'organiser_id', :organiser_id::text,
          'service_type', :service_type::text, 'date', :day::text, 'quantity', 1.5, 'band', 'weekday',
          'band_coefficient', 1.0, 'unit_price_cents', 3500, 'voucher_value_cents', 3000,
          'value_unit_cents', 3000, 'gross_cents', 5250, 'organiser_part_cents', 4500,
          'client_share_cents', 750, 'state', 'recorded', 'version', 1)));
COMMIT;
