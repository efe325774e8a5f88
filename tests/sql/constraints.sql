-- tests/sql/constraints.sql - run by tests/sql/check.sh on a scratch database
-- holding all migrations. Statements that must succeed run plainly (psql
-- ON_ERROR_STOP stops the script on an error); statements that must fail run
-- through pg_temp.must_fail inside DO blocks, which RAISE EXCEPTION when such a
-- statement succeeds or fails for another reason than the expected constraint.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET search_path = psop, public;

CREATE TEMP TABLE t_results (n serial, label text NOT NULL);

-- Runs stmt; it must fail, on constraint want (name) when given, else with
-- SQLSTATE want_state when given.
CREATE FUNCTION pg_temp.must_fail(label text, stmt text, want text DEFAULT NULL,
                                  want_state text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  st  text;
  cn  text;
  msg text;
BEGIN
  BEGIN
    EXECUTE stmt;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, cn = CONSTRAINT_NAME, msg = MESSAGE_TEXT;
    IF want IS NOT NULL AND cn IS DISTINCT FROM want THEN
      RAISE EXCEPTION 'FAIL [%]: failed on constraint % (% %) instead of %',
        label, coalesce(nullif(cn, ''), '-'), st, msg, want;
    END IF;
    IF want_state IS NOT NULL AND st <> want_state THEN
      RAISE EXCEPTION 'FAIL [%]: failed with % (%) instead of %', label, st, msg, want_state;
    END IF;
    INSERT INTO t_results (label) VALUES ('must fail: ' || label);
    RETURN;
  END;
  RAISE EXCEPTION 'FAIL [%]: statement succeeded but must fail: %', label, stmt;
END
$$;

CREATE FUNCTION pg_temp.expect(label text, ok boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'FAIL [%]: expectation not met', label;
  END IF;
  INSERT INTO t_results (label) VALUES ('expect: ' || label);
END
$$;

-- ===========================================================================
-- helper functions
-- ===========================================================================
DO $$
BEGIN
  PERFORM pg_temp.expect('Y-tunnus valid',        psop.business_id_valid('0737546-2'));
  PERFORM pg_temp.expect('Y-tunnus remainder 0',  psop.business_id_valid('2345678-0'));
  PERFORM pg_temp.expect('Y-tunnus bad check',    NOT psop.business_id_valid('0737546-3'));
  PERFORM pg_temp.expect('Y-tunnus remainder 1',  NOT psop.business_id_valid('3456789-0'));
  PERFORM pg_temp.expect('Y-tunnus bad shape',    NOT psop.business_id_valid('737546-2'));
  PERFORM pg_temp.expect('IBAN FI valid',         psop.iban_valid('FI2112345600000785'));
  PERFORM pg_temp.expect('IBAN DE valid',         psop.iban_valid('DE89370400440532013000'));
  PERFORM pg_temp.expect('IBAN bad check',        NOT psop.iban_valid('FI2112345600000786'));
  PERFORM pg_temp.expect('IBAN FI length',        NOT psop.iban_valid('FI211234560000078'));
  PERFORM pg_temp.expect('IBAN spaces',           NOT psop.iban_valid('FI21 1234 5600 0007 85'));
  PERFORM pg_temp.expect('viite 123 -> 1232',     psop.fi_reference_check_digit('123') = '2');
  PERFORM pg_temp.expect('viite valid',           psop.fi_reference_valid('1232'));
  PERFORM pg_temp.expect('viite bad digit',       NOT psop.fi_reference_valid('1233'));
  PERFORM pg_temp.expect('viite too short',       NOT psop.fi_reference_valid('123'));
  PERFORM pg_temp.expect('viite too long',        NOT psop.fi_reference_valid('123456789012345678901'));
  PERFORM pg_temp.expect('round half up',         psop.round_div(3333, 15, 100) = 500);
  PERFORM pg_temp.expect('round 0.5 -> 1',        psop.round_div(1, 50, 100) = 1);
  PERFORM pg_temp.expect('round 0.49 -> 0',       psop.round_div(1, 49, 100) = 0);
  PERFORM pg_temp.expect('round -0.5 -> -1',      psop.round_div(-1, 50, 100) = -1);
  PERFORM pg_temp.expect('round -2.5 -> -3',      psop.round_div(-5, 50, 100) = -3);
  PERFORM pg_temp.expect('round vat',             psop.round_div(12550, 2550, 12550) = 2550);
END
$$;

-- ===========================================================================
-- processed_commands and outbox
-- ===========================================================================
DO $$
DECLARE
  n bigint;
BEGIN
  INSERT INTO psop.processed_commands (command_id, type, received_at, resource_id, actor_sub,
                                       actor_role, kafka_topic, kafka_partition, kafka_offset)
  VALUES ('c0000000-0000-0000-0000-000000000001', 'voucher.grant', now(), 'x', 'sub-1',
          'organiser', 'psop.commands.voucher', 3, 42)
  ON CONFLICT (command_id) DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM pg_temp.expect('first insert of a command id inserts', n = 1);
  INSERT INTO psop.processed_commands (command_id, type, received_at)
  VALUES ('c0000000-0000-0000-0000-000000000001', 'voucher.grant', now())
  ON CONFLICT (command_id) DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM pg_temp.expect('replayed command id is a duplicate (0 rows)', n = 0);

  UPDATE psop.processed_commands SET status = 'rejected', reason = 'voucher not active'
   WHERE command_id = 'c0000000-0000-0000-0000-000000000001';
  PERFORM pg_temp.expect('command_status view',
    (SELECT status = 'rejected' FROM psop.command_status
      WHERE command_id = 'c0000000-0000-0000-0000-000000000001'));

  PERFORM pg_temp.must_fail('rejected without reason',
    $q$INSERT INTO psop.processed_commands (command_id, type, status, received_at)
       VALUES (gen_random_uuid(), 'voucher.grant', 'rejected', now())$q$,
    'processed_commands_reason_iff_rejected');
  PERFORM pg_temp.must_fail('applied with reason',
    $q$INSERT INTO psop.processed_commands (command_id, type, reason, received_at)
       VALUES (gen_random_uuid(), 'voucher.grant', 'x', now())$q$,
    'processed_commands_reason_iff_rejected');
  PERFORM pg_temp.must_fail('bad command status',
    $q$INSERT INTO psop.processed_commands (command_id, type, status, received_at)
       VALUES (gen_random_uuid(), 'voucher.grant', 'accepted', now())$q$,
    'processed_commands_status_check');
  PERFORM pg_temp.must_fail('kafka position half given',
    $q$INSERT INTO psop.processed_commands (command_id, type, received_at, kafka_topic)
       VALUES (gen_random_uuid(), 'voucher.grant', now(), 'psop.commands.voucher')$q$,
    'processed_commands_kafka_all_or_none');

  INSERT INTO psop.outbox (event_id, topic, key, payload)
  VALUES ('e0000000-0000-0000-0000-000000000001', 'psop.events.voucher', 'k1', '{"type":"voucher.granted"}');
  PERFORM pg_temp.expect('outbox created_txid is the writing transaction',
    (SELECT created_txid = pg_current_xact_id() FROM psop.outbox
      WHERE event_id = 'e0000000-0000-0000-0000-000000000001'));
  PERFORM pg_temp.must_fail('outbox duplicate event id',
    $q$INSERT INTO psop.outbox (event_id, topic, key, payload)
       VALUES ('e0000000-0000-0000-0000-000000000001', 'psop.events.voucher', 'k1', '{}')$q$,
    'outbox_event_id_key');
  PERFORM pg_temp.must_fail('outbox payload not an object',
    $q$INSERT INTO psop.outbox (event_id, topic, key, payload)
       VALUES (gen_random_uuid(), 'psop.events.voucher', 'k1', '[]')$q$,
    'outbox_payload_check');
END
$$;

-- The row above committed with the DO block; the relay query sees it now.
DO $$
BEGIN
  PERFORM pg_temp.expect('relay query returns committed unpublished rows in txid order',
    (SELECT count(*) = 1 FROM (
       SELECT id FROM psop.outbox
        WHERE published_at IS NULL
          AND created_txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY created_txid, id LIMIT 100) r));
  UPDATE psop.outbox SET published_at = now() WHERE event_id = 'e0000000-0000-0000-0000-000000000001';
END
$$;

-- ===========================================================================
-- reference data
-- ===========================================================================
INSERT INTO psop.organisers (id, name, business_id, iban, invoice_prefix, settlement_day, auto_approve_days)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'Testin hyvinvointialue', '0737546-2',
        'FI2112345600000785', 'TESTI', 5, 14),
       ('00000000-0000-0000-0000-0000000000a2', 'Toinen kunta', '1234567-1',
        'FI5542345670000081', 'TK2', 10, 0);

DO $$
BEGIN
  PERFORM pg_temp.must_fail('invoice prefix lower case',
    $q$UPDATE psop.organisers SET invoice_prefix = 'testi' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_invoice_prefix_check');
  PERFORM pg_temp.must_fail('invoice prefix too short',
    $q$UPDATE psop.organisers SET invoice_prefix = 'T' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_invoice_prefix_check');
  PERFORM pg_temp.must_fail('invoice prefix too long',
    $q$UPDATE psop.organisers SET invoice_prefix = 'ABCDEFGHIJK' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_invoice_prefix_check');
  PERFORM pg_temp.must_fail('invoice prefix with dash',
    $q$UPDATE psop.organisers SET invoice_prefix = 'TE-ST' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_invoice_prefix_check');
  PERFORM pg_temp.must_fail('invoice prefix shared by two organisers',
    $q$UPDATE psop.organisers SET invoice_prefix = 'TESTI' WHERE invoice_prefix = 'TK2'$q$,
    'organisers_invoice_prefix_key');
  PERFORM pg_temp.must_fail('settlement day 0',
    $q$UPDATE psop.organisers SET settlement_day = 0 WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_settlement_day_check');
  PERFORM pg_temp.must_fail('settlement day 29',
    $q$UPDATE psop.organisers SET settlement_day = 29 WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_settlement_day_check');
  PERFORM pg_temp.must_fail('auto approve 61 days',
    $q$UPDATE psop.organisers SET auto_approve_days = 61 WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_auto_approve_days_check');
  PERFORM pg_temp.must_fail('organiser Y-tunnus checksum',
    $q$UPDATE psop.organisers SET business_id = '0737546-3' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_business_id_check');
  PERFORM pg_temp.must_fail('organiser IBAN checksum',
    $q$UPDATE psop.organisers SET iban = 'FI2112345600000786' WHERE invoice_prefix = 'TESTI'$q$,
    'organisers_iban_check');
END
$$;

INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed,
                                coef_evening, coef_saturday, coef_sunday,
                                income_max_value_cents, income_min_value_cents, income_divisor,
                                income_extra_person_limit_cents, income_extra_person_pct_bp)
VALUES ('kotihoito', 'Kotihoito', 'hour', 0, true, 115, 130, 200, 3200, 1000, 40, 30000, 100);
INSERT INTO psop.service_type_income_rows (service_type, household_size, limit_cents, pct_bp)
VALUES ('kotihoito', 1, 120000, 3500), ('kotihoito', 2, 200000, 2200);
INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed)
VALUES ('siivous', 'Siivous', 'visit', 2550, true),
       ('maksuton', 'Maksuton palvelu', 'day', 0, false);
INSERT INTO psop.holidays (date, name) VALUES ('2024-03-29', 'Pitkäperjantai');

DO $$
BEGIN
  PERFORM pg_temp.must_fail('unknown unit',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed)
       VALUES ('x1', 'X', 'minute', 0, true)$q$, 'service_types_unit_check');
  PERFORM pg_temp.must_fail('VAT over 100 %',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed)
       VALUES ('x1', 'X', 'hour', 10001, true)$q$, 'service_types_vat_rate_bp_check');
  PERFORM pg_temp.must_fail('band coefficients partly given',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed, coef_evening)
       VALUES ('x1', 'X', 'hour', 0, true, 115)$q$, 'service_types_bands_all_or_none');
  PERFORM pg_temp.must_fail('band coefficients on a visit service',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed,
                                       coef_evening, coef_saturday, coef_sunday)
       VALUES ('x1', 'X', 'visit', 0, true, 115, 130, 200)$q$, 'service_types_bands_hourly_only');
  PERFORM pg_temp.must_fail('band coefficient zero',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed,
                                       coef_evening, coef_saturday, coef_sunday)
       VALUES ('x1', 'X', 'hour', 0, true, 0, 130, 200)$q$, 'service_types_coef_evening_check');
  PERFORM pg_temp.must_fail('income model partly given',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed,
                                       income_max_value_cents)
       VALUES ('x1', 'X', 'hour', 0, true, 3000)$q$, 'service_types_income_all_or_none');
  PERFORM pg_temp.must_fail('income min above max',
    $q$UPDATE psop.service_types SET income_min_value_cents = 5000 WHERE code = 'kotihoito'$q$,
    'service_types_income_min_le_max');
  PERFORM pg_temp.must_fail('income divisor 0',
    $q$UPDATE psop.service_types SET income_divisor = 0 WHERE code = 'kotihoito'$q$,
    'service_types_income_divisor_check');
  PERFORM pg_temp.must_fail('income row pct over 100 %',
    $q$INSERT INTO psop.service_type_income_rows VALUES ('kotihoito', 3, 250000, 10001)$q$,
    'service_type_income_rows_pct_bp_check');
  PERFORM pg_temp.must_fail('income row household 0',
    $q$INSERT INTO psop.service_type_income_rows VALUES ('kotihoito', 0, 250000, 100)$q$,
    'service_type_income_rows_household_size_check');
  PERFORM pg_temp.must_fail('service type code with capitals',
    $q$INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed)
       VALUES ('Kotihoito', 'X', 'hour', 0, true)$q$, 'service_types_code_check');
END
$$;

-- ===========================================================================
-- providers
-- ===========================================================================
INSERT INTO psop.providers (id, business_id, name, iban, email, supplier_number, registered_by)
VALUES ('00000000-0000-0000-0000-0000000000b1', '2345678-0', 'Hoiva Oy', 'FI5779999900000013',
        'laskut@hoiva.example', 'S-1', 'sub-p1'),
       ('00000000-0000-0000-0000-0000000000b2', '4567891-5', 'Siisti Oy', 'FI2112345600000785',
        NULL, NULL, 'sub-p2');

INSERT INTO psop.provider_applications (provider_id, organiser_id, service_type, rulebook_version, applied_by)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito', '2024-1', 'sub-p1');
INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, decision, valid_from, decided_by)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
        'approved', '2024-01-01', 'sub-o1');
INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, decision, reason, decided_by)
VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
        'rejected', 'puutteellinen hakemus', 'sub-o1');
INSERT INTO psop.provider_suspensions (provider_id, organiser_id, service_type, from_date, reason, suspended_by)
VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
        '2024-06-01', 'valvontahavainto', 'sub-o1');
INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, valid_from, price_cents,
                                  price_evening_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
        '2024-01-01', 3000, 3600, 'sub-p1'),
       ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
        '2024-04-01', 3100, 3700, 'sub-p1');

DO $$
BEGIN
  PERFORM pg_temp.expect('price in force = latest valid_from <= date',
    (SELECT price_cents = 3000 FROM psop.provider_prices
      WHERE provider_id = '00000000-0000-0000-0000-0000000000b1'
        AND organiser_id = '00000000-0000-0000-0000-0000000000a1'
        AND service_type = 'kotihoito' AND valid_from <= '2024-03-31'
      ORDER BY valid_from DESC LIMIT 1));
  PERFORM pg_temp.must_fail('provider IBAN not Finnish',
    $q$UPDATE psop.providers SET iban = 'DE89370400440532013000' WHERE business_id = '2345678-0'$q$,
    'providers_iban_check');
  PERFORM pg_temp.must_fail('provider Y-tunnus checksum',
    $q$UPDATE psop.providers SET business_id = '2345678-1' WHERE business_id = '2345678-0'$q$,
    'providers_business_id_check');
  PERFORM pg_temp.must_fail('provider business id registered twice',
    $q$INSERT INTO psop.providers (id, business_id, name, iban)
       VALUES (gen_random_uuid(), '2345678-0', 'Kopio Oy', 'FI5779999900000013')$q$,
    'providers_business_id_key');
  PERFORM pg_temp.must_fail('provider email without @',
    $q$UPDATE psop.providers SET email = 'laskut.hoiva.example' WHERE business_id = '2345678-0'$q$,
    'providers_email_check');
  PERFORM pg_temp.must_fail('approval without valid_from',
    $q$INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, decision, decided_by)
       VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', 'approved', 'sub-o1')$q$,
    'provider_decisions_valid_from_iff_approved');
  PERFORM pg_temp.must_fail('rejection without reason',
    $q$INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, decision, decided_by)
       VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', 'rejected', 'sub-o1')$q$,
    'provider_decisions_rejection_has_reason');
  PERFORM pg_temp.must_fail('unknown decision',
    $q$INSERT INTO psop.provider_decisions (provider_id, organiser_id, service_type, decision, reason, decided_by)
       VALUES ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', 'pending', 'x', 'sub-o1')$q$,
    'provider_decisions_decision_check');
  PERFORM pg_temp.must_fail('suspension without reason',
    $q$INSERT INTO psop.provider_suspensions (provider_id, organiser_id, service_type, from_date, reason, suspended_by)
       VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', '2024-06-01', ' ', 'sub-o1')$q$,
    'provider_suspensions_reason_check');
  PERFORM pg_temp.must_fail('two prices from the same day',
    $q$INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, valid_from, price_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', '2024-01-01', 2900, 'sub-p1')$q$,
    'provider_prices_pk');
  PERFORM pg_temp.must_fail('negative price',
    $q$INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, valid_from, price_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', '2024-05-01', -1, 'sub-p1')$q$,
    'provider_prices_price_cents_check');
  PERFORM pg_temp.must_fail('negative band price',
    $q$INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, valid_from, price_cents,
                                         price_sunday_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
               'kotihoito', '2024-05-01', 3000, -5, 'sub-p1')$q$,
    'provider_prices_price_sunday_cents_check');
  PERFORM pg_temp.must_fail('price for an unknown provider',
    $q$INSERT INTO psop.provider_prices (provider_id, organiser_id, service_type, valid_from, price_cents, set_by)
       VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 'kotihoito', '2024-05-01', 3000, 's')$q$,
    'provider_prices_provider_id_fkey');
END
$$;

-- ===========================================================================
-- vouchers and value history
-- ===========================================================================
-- flat value
INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, decision_number, valid_from,
                           monthly_quota, provider_id, provider_chosen_at, value_basis, granted_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1', 'ASIAKAS-1',
        'kotihoito', 'D-2024-1', '2024-01-01', 2000, '00000000-0000-0000-0000-0000000000b1', now(),
        'flat', 'sub-o1');
INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', daterange('2024-01-01', NULL), 2500, 'sub-o1');

-- income-related: household 1, income 2500.00 EUR, limit 1200.00, 35 %, divisor 40:
-- excess 130000; 130000 * 3500 / 10000 / 40 = 1137.5 -> 1138; value = max(1000, 3200 - 1138) = 2062
INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, decision_number, valid_from, valid_to,
                           value_basis, household_size, monthly_income_cents, income_limit_cents,
                           income_pct_bp, income_excess_cents, income_max_value_cents,
                           income_min_value_cents, income_divisor, income_value_cents, granted_by)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a1', 'ASIAKAS-2',
        'kotihoito', 'D-2024-2', '2024-01-01', '2024-12-31',
        'income', 1, 250000, 120000, 3500, 130000, 3200, 1000, 40, 2062, 'sub-o1');
INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000c2', daterange('2024-01-01', NULL), 2062, 'sub-o1');

-- voucher.amend from 2024-07-01: close the open period, open a new one
UPDATE psop.voucher_values SET effective = daterange(lower(effective), '2024-07-01')
 WHERE voucher_id = '00000000-0000-0000-0000-0000000000c1' AND effective @> date '2024-07-01';
INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', daterange('2024-07-01', NULL), 2700, 'sub-o1');
INSERT INTO psop.voucher_amendments (voucher_id, effective_from, unit_value_cents, amended_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', '2024-07-01', 2700, 'sub-o1');

DO $$
BEGIN
  PERFORM pg_temp.expect('value in force before the amendment',
    (SELECT unit_value_cents = 2500 FROM psop.voucher_values
      WHERE voucher_id = '00000000-0000-0000-0000-0000000000c1' AND effective @> date '2024-06-30'));
  PERFORM pg_temp.expect('value in force from the amendment',
    (SELECT unit_value_cents = 2700 FROM psop.voucher_values
      WHERE voucher_id = '00000000-0000-0000-0000-0000000000c1' AND effective @> date '2024-07-01'));
  PERFORM pg_temp.must_fail('overlapping voucher value periods',
    $q$INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000c1', daterange('2024-06-15', '2024-08-01'), 2600, 's')$q$,
    'voucher_values_no_overlap');
  PERFORM pg_temp.must_fail('second open-ended value period',
    $q$INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000c1', daterange('2025-01-01', NULL), 2600, 's')$q$,
    'voucher_values_no_overlap');
  PERFORM pg_temp.must_fail('empty value period',
    $q$INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000c2', daterange('2023-01-01', '2023-01-01'), 1, 's')$q$,
    'voucher_values_bounded_start');
  PERFORM pg_temp.must_fail('value period without start',
    $q$INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000c2', daterange(NULL, '2023-01-01'), 1, 's')$q$,
    'voucher_values_bounded_start');
  PERFORM pg_temp.must_fail('negative voucher value',
    $q$INSERT INTO psop.voucher_values (voucher_id, effective, unit_value_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000c2', daterange('2020-01-01', '2021-01-01'), -1, 's')$q$,
    'voucher_values_unit_value_cents_check');
  PERFORM pg_temp.must_fail('income value that does not follow from its basis',
    $q$UPDATE psop.vouchers SET income_value_cents = 2063 WHERE id = '00000000-0000-0000-0000-0000000000c2'$q$,
    'vouchers_income_value');
  PERFORM pg_temp.must_fail('income excess that does not follow from income and limit',
    $q$UPDATE psop.vouchers SET income_excess_cents = 1 WHERE id = '00000000-0000-0000-0000-0000000000c2'$q$,
    'vouchers_income_excess');
  PERFORM pg_temp.must_fail('income basis on a flat voucher',
    $q$UPDATE psop.vouchers SET household_size = 2 WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_income_all_or_none');
  PERFORM pg_temp.must_fail('income voucher missing an input',
    $q$UPDATE psop.vouchers SET income_divisor = NULL WHERE id = '00000000-0000-0000-0000-0000000000c2'$q$,
    'vouchers_income_all_or_none');
  PERFORM pg_temp.must_fail('client id over 64 chars',
    $q$UPDATE psop.vouchers SET client_id = repeat('x', 65) WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_client_id_check');
  PERFORM pg_temp.must_fail('client id shaped like a henkilötunnus',
    $q$UPDATE psop.vouchers SET client_id = '010190-123A' WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_client_id_check');
  PERFORM pg_temp.must_fail('valid_to before valid_from',
    $q$UPDATE psop.vouchers SET valid_to = '2023-12-31' WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_valid_range');
  PERFORM pg_temp.must_fail('unknown voucher status',
    $q$UPDATE psop.vouchers SET status = 'expired' WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_status_check');
  PERFORM pg_temp.must_fail('revoked without date and reason',
    $q$UPDATE psop.vouchers SET status = 'revoked', revoked_at = now() WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_revoked_has_date_reason');
  PERFORM pg_temp.must_fail('revoke date on an active voucher',
    $q$UPDATE psop.vouchers SET revoke_date = '2024-05-01', revoke_reason = 'x', revoked_at = now()
        WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_revoked_has_date_reason');
  PERFORM pg_temp.must_fail('refused without time',
    $q$UPDATE psop.vouchers SET status = 'refused' WHERE id = '00000000-0000-0000-0000-0000000000c2'$q$,
    'vouchers_refused_has_time');
  PERFORM pg_temp.must_fail('quota zero',
    $q$UPDATE psop.vouchers SET monthly_quota = 0 WHERE id = '00000000-0000-0000-0000-0000000000c1'$q$,
    'vouchers_monthly_quota_check');
  PERFORM pg_temp.must_fail('amendment changing nothing',
    $q$INSERT INTO psop.voucher_amendments (voucher_id, effective_from, amended_by)
       VALUES ('00000000-0000-0000-0000-0000000000c1', '2024-08-01', 's')$q$,
    'voucher_amendments_changes_something');
END
$$;

-- revoke works with all its fields
UPDATE psop.vouchers SET status = 'revoked', revoke_date = '2024-12-31', revoke_reason = 'muutto',
       revoked_by = 'sub-o1', revoked_at = now()
 WHERE id = '00000000-0000-0000-0000-0000000000c2';

-- ===========================================================================
-- purchased services
-- ===========================================================================
INSERT INTO psop.contracts (id, organiser_id, provider_id, service_type, valid_from, monthly_volume_cap, created_by)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1',
        '00000000-0000-0000-0000-0000000000b2', 'siivous', '2024-01-01', 100000, 'sub-o1');
INSERT INTO psop.contract_prices (contract_id, valid_from, price_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000d1', '2024-01-01', 4000, 'sub-o1');
INSERT INTO psop.orders (id, organiser_id, client_id, contract_id, decision_number, valid_from,
                         monthly_quota, client_fee_cents, created_by)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000a1', 'ASIAKAS-3',
        '00000000-0000-0000-0000-0000000000d1', 'MS-2024-1', '2024-01-01', 1000, 1500, 'sub-o1');

DO $$
BEGIN
  PERFORM pg_temp.must_fail('order under another organiser''s contract',
    $q$INSERT INTO psop.orders (id, organiser_id, client_id, contract_id, decision_number, valid_from,
                                client_fee_cents, created_by)
       VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000a2', 'A', '00000000-0000-0000-0000-0000000000d1',
               'MS-X', '2024-01-01', 0, 's')$q$,
    'orders_contract_same_organiser');
  PERFORM pg_temp.must_fail('negative client fee',
    $q$UPDATE psop.orders SET client_fee_cents = -1 WHERE id = '00000000-0000-0000-0000-0000000000e1'$q$,
    'orders_client_fee_cents_check');
  PERFORM pg_temp.must_fail('order ended without reason',
    $q$UPDATE psop.orders SET status = 'ended', end_date = '2024-06-30', ended_at = now()
        WHERE id = '00000000-0000-0000-0000-0000000000e1'$q$,
    'orders_ended_has_date_reason');
  PERFORM pg_temp.must_fail('contract ends before it starts',
    $q$UPDATE psop.contracts SET valid_to = '2023-01-01' WHERE id = '00000000-0000-0000-0000-0000000000d1'$q$,
    'contracts_valid_range');
  PERFORM pg_temp.must_fail('contract volume cap zero',
    $q$UPDATE psop.contracts SET monthly_volume_cap = 0 WHERE id = '00000000-0000-0000-0000-0000000000d1'$q$,
    'contracts_monthly_volume_cap_check');
  PERFORM pg_temp.must_fail('two contract prices from the same day',
    $q$INSERT INTO psop.contract_prices (contract_id, valid_from, price_cents, set_by)
       VALUES ('00000000-0000-0000-0000-0000000000d1', '2024-01-01', 4100, 's')$q$,
    'contract_prices_pkey');
END
$$;

-- ===========================================================================
-- service events
-- ===========================================================================
-- March 2024: 1st is a Friday; 4th Monday, 5th Tuesday, 6th Wednesday,
-- 9th Saturday, 10th Sunday, 29th Good Friday (holiday).
--
-- f1: weekday, 1.50 h at 30.00, value 25.00: gross 4500, voucher 3750, client 750
-- f2: evening, 1.00 h at 36.00, value round(25.00 * 1.15) = 28.75: 3600 / 2875 / 725
-- f3: saturday, 0.33 h at 30.00, value 32.50 > price: 990 / 990 / 0
-- f4: sunday band on Good Friday, 0.15 h at 33.33: gross round(4.9995) = 500; value 50.00: 500 / 500 / 0
-- f5: order event, 2.00 visits at 40.00, client fee 15.00: gross 8000, client 3000, organiser 5000
INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, service_type, date, quantity,
                                 band, unit_price_cents, voucher_value_cents, band_coefficient,
                                 value_unit_cents, gross_cents, organiser_part_cents, client_share_cents,
                                 recorded_by)
VALUES
 ('00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-0000000000c1',
  '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
  '2024-03-04', 150, 'weekday', 3000, 2500, 100, 2500, 4500, 3750, 750, 'sub-p1'),
 ('00000000-0000-0000-0000-0000000000f2', '00000000-0000-0000-0000-0000000000c1',
  '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
  '2024-03-05', 100, 'evening', 3600, 2500, 115, 2875, 3600, 2875, 725, 'sub-p1'),
 ('00000000-0000-0000-0000-0000000000f3', '00000000-0000-0000-0000-0000000000c1',
  '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
  '2024-03-09', 33, 'saturday', 3000, 2500, 130, 3250, 990, 990, 0, 'sub-p1'),
 ('00000000-0000-0000-0000-0000000000f4', '00000000-0000-0000-0000-0000000000c1',
  '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 'kotihoito',
  '2024-03-29', 15, 'sunday', 3333, 2500, 200, 5000, 500, 500, 0, 'sub-p1');
INSERT INTO psop.service_events (id, order_id, contract_id, provider_id, organiser_id, service_type, date,
                                 quantity, unit_price_cents, client_fee_cents, gross_cents,
                                 organiser_part_cents, client_share_cents, recorded_by)
VALUES ('00000000-0000-0000-0000-0000000000f5', '00000000-0000-0000-0000-0000000000e1',
        '00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000b2',
        '00000000-0000-0000-0000-0000000000a1', 'siivous', '2024-03-06', 200, 4000, 1500, 8000, 5000,
        3000, 'sub-p2');

-- Inserts a copy of event base with the given fields replaced (and a new id).
CREATE FUNCTION pg_temp.ev_copy(base uuid, overrides jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT format(
    'INSERT INTO psop.service_events SELECT (jsonb_populate_record(NULL::psop.service_events, '
    'to_jsonb(e) || %L::jsonb)).* FROM psop.service_events e WHERE e.id = %L',
    jsonb_build_object('id', gen_random_uuid()) || overrides, base)
$$;

DO $$
DECLARE
  v uuid := '00000000-0000-0000-0000-0000000000f1';   -- voucher event template
  o uuid := '00000000-0000-0000-0000-0000000000f5';   -- order event template
BEGIN
  -- positive controls: the copies themselves are valid rows
  EXECUTE pg_temp.ev_copy(v, '{"id": "00000000-0000-0000-0000-0000000001f1"}');
  EXECUTE pg_temp.ev_copy(o, '{"id": "00000000-0000-0000-0000-0000000001f5"}');
  DELETE FROM psop.service_events WHERE id IN ('00000000-0000-0000-0000-0000000001f1',
                                               '00000000-0000-0000-0000-0000000001f5');
  PERFORM pg_temp.expect('event copies are valid (positive control)', true);

  PERFORM pg_temp.must_fail('event with voucher and order',
    pg_temp.ev_copy(v, '{"order_id": "00000000-0000-0000-0000-0000000000e1",
                        "contract_id": "00000000-0000-0000-0000-0000000000d1"}'),
    'service_events_one_parent');
  PERFORM pg_temp.must_fail('event with neither voucher nor order',
    pg_temp.ev_copy(v, '{"voucher_id": null}'), 'service_events_one_parent');
  PERFORM pg_temp.must_fail('quantity zero',
    pg_temp.ev_copy(v, '{"quantity": 0, "gross_cents": 0, "organiser_part_cents": 0, "client_share_cents": 0}'),
    'service_events_quantity_check');
  PERFORM pg_temp.must_fail('quantity over 1000',
    pg_temp.ev_copy(v, '{"quantity": 100001, "gross_cents": 3000030, "organiser_part_cents": 2500025,
                        "client_share_cents": 500005}'), 'service_events_quantity_check');
  PERFORM pg_temp.must_fail('negative client share',
    pg_temp.ev_copy(v, '{"organiser_part_cents": 4600, "client_share_cents": -100}'),
    'service_events_client_share_cents_check');
  PERFORM pg_temp.must_fail('organiser part + client share <> gross',
    pg_temp.ev_copy(v, '{"client_share_cents": 751}'), 'service_events_shares_sum');
  PERFORM pg_temp.must_fail('gross not round(price x quantity)',
    pg_temp.ev_copy(v, '{"gross_cents": 4501, "client_share_cents": 751}'), 'service_events_gross');
  PERFORM pg_temp.must_fail('voucher part not round(min(value, price) x quantity)',
    pg_temp.ev_copy(v, '{"organiser_part_cents": 3700, "client_share_cents": 800}'),
    'service_events_voucher_part');
  PERFORM pg_temp.must_fail('value_unit not round(value x coefficient)',
    pg_temp.ev_copy(v, '{"band": "evening", "date": "2024-03-05", "band_coefficient": 115}'),
    'service_events_value_unit');
  PERFORM pg_temp.must_fail('voucher event without value',
    pg_temp.ev_copy(v, '{"value_unit_cents": null}'), 'service_events_voucher_inputs');
  PERFORM pg_temp.must_fail('band without coefficient on a voucher event',
    pg_temp.ev_copy(v, '{"band_coefficient": null}'), 'service_events_voucher_inputs');
  PERFORM pg_temp.must_fail('order client share not round(min(fee, price) x quantity)',
    pg_temp.ev_copy(o, '{"client_share_cents": 2000, "organiser_part_cents": 6000}'),
    'service_events_order_client_share');
  PERFORM pg_temp.must_fail('order event carrying a voucher value',
    pg_temp.ev_copy(o, '{"value_unit_cents": 100}'), 'service_events_order_inputs');
  PERFORM pg_temp.must_fail('order event without contract',
    pg_temp.ev_copy(o, '{"contract_id": null}'), 'service_events_contract_iff_order');
  PERFORM pg_temp.must_fail('order event by a provider other than the contract''s',
    pg_temp.ev_copy(o, '{"provider_id": "00000000-0000-0000-0000-0000000000b1"}'),
    'service_events_contract_fk');
  PERFORM pg_temp.must_fail('event organiser differs from the voucher''s',
    pg_temp.ev_copy(v, '{"organiser_id": "00000000-0000-0000-0000-0000000000a2"}'),
    'service_events_voucher_fk');
  PERFORM pg_temp.must_fail('event service type differs from the voucher''s',
    pg_temp.ev_copy(v, '{"service_type": "siivous"}'), 'service_events_voucher_fk');
  PERFORM pg_temp.must_fail('event of an unknown voucher',
    pg_temp.ev_copy(v, '{"voucher_id": "00000000-0000-0000-0000-00000000ffff"}'),
    'service_events_voucher_fk');
  PERFORM pg_temp.must_fail('weekday band on a Saturday',
    pg_temp.ev_copy(v, '{"date": "2024-03-09"}'), 'service_events_band_weekday');
  PERFORM pg_temp.must_fail('evening band on a Sunday',
    pg_temp.ev_copy('00000000-0000-0000-0000-0000000000f2', '{"date": "2024-03-10"}'),
    'service_events_band_weekday');
  PERFORM pg_temp.must_fail('saturday band on a Monday',
    pg_temp.ev_copy('00000000-0000-0000-0000-0000000000f3', '{"date": "2024-03-11"}'),
    'service_events_band_saturday');
  PERFORM pg_temp.must_fail('unknown band',
    pg_temp.ev_copy(v, '{"band": "night"}'), 'service_events_band_check');
  PERFORM pg_temp.must_fail('unknown state',
    pg_temp.ev_copy(v, '{"state": "cancelled"}'), 'service_events_state_check');
  PERFORM pg_temp.must_fail('approved without approval time',
    pg_temp.ev_copy(v, '{"state": "approved"}'), 'service_events_approved_has_time');
  PERFORM pg_temp.must_fail('settled without settlement',
    pg_temp.ev_copy(v, '{"state": "settled", "approved_at": "2024-04-01T00:00:00Z"}'),
    'service_events_settlement_iff_settled');
  PERFORM pg_temp.must_fail('recorded with a settlement',
    pg_temp.ev_copy(v, '{"settlement_id": "00000000-0000-0000-0000-00000000ffff"}'),
    'service_events_settlement_iff_settled');
  PERFORM pg_temp.must_fail('deleted without deletion time',
    pg_temp.ev_copy(v, '{"state": "deleted"}'), 'service_events_deleted_has_time');
  PERFORM pg_temp.must_fail('credited quantity on an unsettled event',
    pg_temp.ev_copy(v, '{"credited_quantity": 10}'), 'service_events_credited_only_settled');
  PERFORM pg_temp.must_fail('credited quantity above quantity',
    pg_temp.ev_copy(v, '{"credited_quantity": 151, "state": "settled", "approved_at": "2024-04-01T00:00:00Z",
                        "settlement_id": "00000000-0000-0000-0000-00000000ffff"}'), 'service_events_credited_range');
END
$$;

-- A deleted event does not count; the quota query per voucher and month.
DO $$
BEGIN
  EXECUTE pg_temp.ev_copy('00000000-0000-0000-0000-0000000000f1',
    '{"id": "00000000-0000-0000-0000-0000000002f1", "state": "deleted", "deleted_at": "2024-03-05T10:00:00Z"}');
  PERFORM pg_temp.expect('month usage of voucher c1 = 1.50 + 1.00 + 0.33 + 0.15',
    (SELECT coalesce(sum(quantity - credited_quantity), 0) = 298
       FROM psop.service_events
      WHERE voucher_id = '00000000-0000-0000-0000-0000000000c1'
        AND date >= '2024-03-01' AND date < '2024-04-01' AND state <> 'deleted'));
END
$$;

-- Approval (organiser) of f1, f2, f3 and the order event f5; f4 stays recorded.
UPDATE psop.service_events SET state = 'approved', approved_at = now(), approved_by = 'sub-o1',
       version = version + 1
 WHERE id IN ('00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-0000000000f2',
              '00000000-0000-0000-0000-0000000000f3', '00000000-0000-0000-0000-0000000000f5')
   AND state = 'recorded';

-- ===========================================================================
-- settlement run: the reference set-based implementation (docs/data-model.md)
-- ===========================================================================
CREATE TEMP TABLE run_map (
  provider_id   uuid PRIMARY KEY,
  settlement_id uuid NOT NULL DEFAULT gen_random_uuid()
);
CREATE TEMP TABLE run_tot (
  settlement_id uuid PRIMARY KEY, provider_id uuid, line_count int, gross bigint, org bigint,
  client bigint, credit bigint, events int, credits int
);

CREATE FUNCTION pg_temp.settlement_run(p_run uuid, p_org uuid, p_period date, p_actor text,
                                       p_due_days int DEFAULT 14)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v_end       date := (p_period + interval '1 month')::date;
  v_today     date := (now() AT TIME ZONE 'Europe/Helsinki')::date;
  v_year      int  := extract(year FROM v_today)::int;
  v_prefix    text;
  v_n         int;
  v_last_seq  int;
  v_last_base bigint;
BEGIN
  TRUNCATE run_map, run_tot;
  INSERT INTO psop.settlement_runs (id, organiser_id, period, run_by)
  VALUES (p_run, p_org, p_period, p_actor);

  -- 1. a candidate settlement per provider with approved events in the period
  --    or unsettled credits
  INSERT INTO run_map (provider_id)
  SELECT provider_id FROM psop.service_events
   WHERE organiser_id = p_org AND state = 'approved' AND date >= p_period AND date < v_end
  UNION
  SELECT provider_id FROM psop.credits
   WHERE organiser_id = p_org AND settlement_id IS NULL;

  -- 2. one statement: settle the events and credits (row locks taken here;
  --    a concurrent delete/approval waits and re-checks its state), write the lines
  WITH ev AS (
    UPDATE psop.service_events e
       SET state = 'settled', settlement_id = m.settlement_id, settled_at = now(),
           version = e.version + 1, updated_at = now()
      FROM run_map m
     WHERE e.provider_id = m.provider_id AND e.organiser_id = p_org AND e.state = 'approved'
       AND e.date >= p_period AND e.date < v_end
    RETURNING e.*
  ), cr AS (
    UPDATE psop.credits k
       SET settlement_id = m.settlement_id, settled_at = now()
      FROM run_map m
     WHERE k.provider_id = m.provider_id AND k.organiser_id = p_org AND k.settlement_id IS NULL
    RETURNING k.*
  ), lines AS (
    SELECT ev.settlement_id, 'event' AS kind, ev.voucher_id, ev.order_id, ev.contract_id,
           ev.id AS event_id, NULL::uuid AS credit_id, ev.date, ev.service_type, ev.band,
           ev.quantity, ev.unit_price_cents, ev.gross_cents, ev.organiser_part_cents,
           ev.client_share_cents
      FROM ev
    UNION ALL
    SELECT cr.settlement_id, 'credit', e.voucher_id, e.order_id, e.contract_id,
           e.id, cr.id, e.date, e.service_type, e.band,
           cr.quantity, cr.unit_price_cents, cr.gross_cents, cr.organiser_part_cents,
           cr.client_share_cents
      FROM cr JOIN psop.service_events e ON e.id = cr.event_id
  )
  INSERT INTO psop.settlement_lines (settlement_id, line_no, kind, source, voucher_id, order_id,
                                     contract_id, event_id, credit_id, date, service_type, band,
                                     quantity, unit_price_cents, gross_cents, organiser_part_cents,
                                     client_share_cents, vat_rate_bp)
  SELECT l.settlement_id,
         row_number() OVER (PARTITION BY l.settlement_id
                            ORDER BY l.kind DESC, l.date, l.event_id, l.credit_id),
         l.kind, CASE WHEN l.voucher_id IS NOT NULL THEN 'voucher' ELSE 'order' END,
         l.voucher_id, l.order_id, l.contract_id, l.event_id, l.credit_id, l.date,
         l.service_type, l.band, l.quantity, l.unit_price_cents, l.gross_cents,
         l.organiser_part_cents, l.client_share_cents, st.vat_rate_bp
    FROM lines l JOIN psop.service_types st ON st.code = l.service_type;

  -- 3. totals of the settlements that got lines (a provider whose events went
  --    away meanwhile gets none, and no number)
  INSERT INTO run_tot
  SELECT l.settlement_id, m.provider_id, count(*),
         coalesce(sum(l.gross_cents)          FILTER (WHERE l.kind = 'event'), 0),
         coalesce(sum(l.organiser_part_cents) FILTER (WHERE l.kind = 'event'), 0),
         coalesce(sum(l.client_share_cents)   FILTER (WHERE l.kind = 'event'), 0),
         coalesce(sum(l.organiser_part_cents) FILTER (WHERE l.kind = 'credit'), 0),
         count(*) FILTER (WHERE l.kind = 'event'), count(*) FILTER (WHERE l.kind = 'credit')
    FROM run_map m JOIN psop.settlement_lines l ON l.settlement_id = m.settlement_id
   GROUP BY l.settlement_id, m.provider_id;
  SELECT count(*) INTO v_n FROM run_tot;
  IF v_n = 0 THEN
    RETURN 0;                      -- nothing new: no settlement, no number used
  END IF;

  -- 4. gapless numbers and references: row-locked counters in this transaction
  INSERT INTO psop.settlement_counters (organiser_id, year) VALUES (p_org, v_year)
  ON CONFLICT DO NOTHING;
  UPDATE psop.settlement_counters SET last_seq = last_seq + v_n
   WHERE organiser_id = p_org AND year = v_year
  RETURNING last_seq INTO v_last_seq;
  INSERT INTO psop.settlement_reference_counters (organiser_id) VALUES (p_org)
  ON CONFLICT DO NOTHING;
  UPDATE psop.settlement_reference_counters SET last_base = last_base + v_n
   WHERE organiser_id = p_org
  RETURNING last_base INTO v_last_base;
  SELECT invoice_prefix INTO v_prefix FROM psop.organisers WHERE id = p_org;

  INSERT INTO psop.settlements (id, run_id, organiser_id, provider_id, period, number, year, seq,
                                reference, due_date, line_count, gross_cents, organiser_cents,
                                client_share_cents, credit_cents, payable_cents, created_by)
  SELECT t.settlement_id, p_run, p_org, t.provider_id, p_period,
         v_prefix || '-' || v_year || '-' || lpad((v_last_seq - v_n + t.rn)::text, 6, '0'),
         v_year, v_last_seq - v_n + t.rn,
         (v_last_base - v_n + t.rn)::text
           || psop.fi_reference_check_digit((v_last_base - v_n + t.rn)::text),
         v_today + p_due_days, t.line_count, t.gross, t.org, t.client, t.credit,
         t.org + t.credit, p_actor
    FROM (SELECT run_tot.*, row_number() OVER (ORDER BY p.business_id) AS rn
            FROM run_tot JOIN psop.providers p ON p.id = run_tot.provider_id) t;

  -- 5. VAT of the payable amount per rate, rounded once per rate
  INSERT INTO psop.settlement_vat (settlement_id, rate_bp, amount_cents, vat_cents)
  SELECT l.settlement_id, l.vat_rate_bp, sum(l.organiser_part_cents),
         psop.round_div(sum(l.organiser_part_cents)::bigint, l.vat_rate_bp, 10000 + l.vat_rate_bp)
    FROM run_tot t JOIN psop.settlement_lines l ON l.settlement_id = t.settlement_id
   GROUP BY l.settlement_id, l.vat_rate_bp;

  UPDATE psop.settlement_runs
     SET settlement_count = v_n,
         event_count  = (SELECT sum(events)  FROM run_tot),
         credit_count = (SELECT sum(credits) FROM run_tot)
   WHERE id = p_run;
  RETURN v_n;
END
$$;

DO $$
DECLARE
  n int;
  s record;
  yr text := extract(year FROM (now() AT TIME ZONE 'Europe/Helsinki'))::text;
BEGIN
  n := pg_temp.settlement_run('00000000-0000-0000-0000-00000000aa01', '00000000-0000-0000-0000-0000000000a1',
                              '2024-03-01', 'sub-o1');
  PERFORM pg_temp.expect('first run creates one settlement per provider', n = 2);

  SELECT * INTO s FROM psop.settlements WHERE provider_id = '00000000-0000-0000-0000-0000000000b1';
  PERFORM pg_temp.expect('voucher settlement totals',
    s.line_count = 3 AND s.gross_cents = 9090 AND s.organiser_cents = 7615
    AND s.client_share_cents = 1475 AND s.credit_cents = 0 AND s.payable_cents = 7615);
  PERFORM pg_temp.expect('first number of the year', s.number = 'TESTI-' || yr || '-000001' AND s.seq = 1);
  PERFORM pg_temp.expect('reference has a valid check digit', psop.fi_reference_valid(s.reference));
  PERFORM pg_temp.expect('due date 14 days on', s.due_date = (now() AT TIME ZONE 'Europe/Helsinki')::date + 14);

  SELECT * INTO s FROM psop.settlements WHERE provider_id = '00000000-0000-0000-0000-0000000000b2';
  PERFORM pg_temp.expect('order settlement totals',
    s.gross_cents = 8000 AND s.organiser_cents = 5000 AND s.client_share_cents = 3000
    AND s.payable_cents = 5000 AND s.number = 'TESTI-' || yr || '-000002');
  PERFORM pg_temp.expect('order VAT 25.5 %: round(5000 * 2550 / 12550) = 1016',
    (SELECT vat_cents = 1016 AND amount_cents = 5000 FROM psop.settlement_vat
      WHERE settlement_id = s.id AND rate_bp = 2550));
  PERFORM pg_temp.expect('order line names its source and contract',
    (SELECT source = 'order' AND contract_id = '00000000-0000-0000-0000-0000000000d1'
       FROM psop.settlement_lines WHERE settlement_id = s.id));
  PERFORM pg_temp.expect('settled events point at their settlement',
    (SELECT count(*) = 4 FROM psop.service_events WHERE state = 'settled' AND settlement_id IS NOT NULL));
  PERFORM pg_temp.expect('recorded event was not settled',
    (SELECT state = 'recorded' FROM psop.service_events WHERE id = '00000000-0000-0000-0000-0000000000f4'));

  -- running the same period again with nothing new creates nothing and uses no number
  n := pg_temp.settlement_run('00000000-0000-0000-0000-00000000aa02', '00000000-0000-0000-0000-0000000000a1',
                              '2024-03-01', 'sub-o1');
  PERFORM pg_temp.expect('rerun with nothing new creates nothing', n = 0);
  PERFORM pg_temp.expect('no number consumed by an empty run',
    (SELECT last_seq = 2 FROM psop.settlement_counters
      WHERE organiser_id = '00000000-0000-0000-0000-0000000000a1'));

  -- supplementary settlement after a late approval
  UPDATE psop.service_events SET state = 'approved', approved_at = now(), approved_by = 'auto-approval'
   WHERE id = '00000000-0000-0000-0000-0000000000f4';
  n := pg_temp.settlement_run('00000000-0000-0000-0000-00000000aa03', '00000000-0000-0000-0000-0000000000a1',
                              '2024-03-01', 'sub-o1');
  PERFORM pg_temp.expect('supplementary run', n = 1
    AND (SELECT number = 'TESTI-' || yr || '-000003' FROM psop.settlements
          WHERE run_id = '00000000-0000-0000-0000-00000000aa03'));
END
$$;

-- Every settlement's totals equal its lines, and its VAT rows cover the payable.
DO $$
BEGIN
  PERFORM pg_temp.expect('settlement totals = sum of lines',
    NOT EXISTS (
      SELECT 1 FROM psop.settlements s
        JOIN (SELECT settlement_id, count(*) AS n,
                     coalesce(sum(gross_cents) FILTER (WHERE kind = 'event'), 0) AS g,
                     coalesce(sum(organiser_part_cents) FILTER (WHERE kind = 'event'), 0) AS o,
                     coalesce(sum(organiser_part_cents) FILTER (WHERE kind = 'credit'), 0) AS c
                FROM psop.settlement_lines GROUP BY settlement_id) l ON l.settlement_id = s.id
       WHERE (s.line_count, s.gross_cents, s.organiser_cents, s.credit_cents) <> (l.n, l.g, l.o, l.c)));
  PERFORM pg_temp.expect('VAT amounts add up to payable',
    NOT EXISTS (
      SELECT 1 FROM psop.settlements s
       WHERE s.payable_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM psop.settlement_vat v
                                  WHERE v.settlement_id = s.id)));
  PERFORM pg_temp.expect('lines point at settlements that exist',
    NOT EXISTS (SELECT 1 FROM psop.settlement_lines l
                 WHERE NOT EXISTS (SELECT 1 FROM psop.settlements s WHERE s.id = l.settlement_id)));
END
$$;

-- ===========================================================================
-- credits
-- ===========================================================================
-- 0.50 h of f1 credited: gross -round(30.00 * 0.5) = -1500, voucher part -1250, client -250
INSERT INTO psop.credits (id, event_id, organiser_id, provider_id, is_order, quantity, reason_code,
                          explanation, unit_price_cents, value_unit_cents, gross_cents,
                          organiser_part_cents, client_share_cents, created_by)
VALUES ('00000000-0000-0000-0000-0000000000ab', '00000000-0000-0000-0000-0000000000f1',
        '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1', false, 50,
        'wrong_quantity', 'käynti kesti 1 h', 3000, 2500, -1500, -1250, -250, 'sub-o1');
UPDATE psop.service_events SET credited_quantity = credited_quantity + 50, version = version + 1
 WHERE id = '00000000-0000-0000-0000-0000000000f1' AND credited_quantity + 50 <= quantity;

DO $$
DECLARE
  c text := $q$INSERT INTO psop.credits (id, event_id, organiser_id, provider_id, is_order, quantity,
              reason_code, explanation, unit_price_cents, value_unit_cents, client_fee_cents,
              gross_cents, organiser_part_cents, client_share_cents, created_by)
              VALUES (gen_random_uuid(), '00000000-0000-0000-0000-0000000000f1',
                      '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1',
                      %s, %s, %L, 'x', 3000, %s, %s, %s, %s, %s, 's')$q$;
BEGIN
  PERFORM pg_temp.must_fail('positive credit amount',
    format(c, 'false', 50, 'other', 2500, 'NULL', -1500, -1750, 250), 'credits_client_share_cents_check');
  PERFORM pg_temp.must_fail('credit amounts not rounded like the event',
    format(c, 'false', 50, 'other', 2500, 'NULL', -1501, -1251, -250), 'credits_gross');
  PERFORM pg_temp.must_fail('credit shares do not sum to gross',
    format(c, 'false', 50, 'other', 2500, 'NULL', -1500, -1250, -249), 'credits_shares_sum');
  PERFORM pg_temp.must_fail('credit voucher part wrong',
    format(c, 'false', 50, 'other', 2500, 'NULL', -1500, -1500, 0), 'credits_voucher_part');
  PERFORM pg_temp.must_fail('unknown credit reason code',
    format(c, 'false', 50, 'typo', 2500, 'NULL', -1500, -1250, -250), 'credits_reason_code_check');
  PERFORM pg_temp.must_fail('credit quantity zero',
    format(c, 'false', 0, 'other', 2500, 'NULL', 0, 0, 0), 'credits_quantity_check');
  PERFORM pg_temp.must_fail('voucher credit with a client fee',
    format(c, 'false', 50, 'other', 2500, 1000, -1500, -1250, -250), 'credits_inputs');
  PERFORM pg_temp.must_fail('credit without explanation',
    $q$UPDATE psop.credits SET explanation = '' WHERE id = '00000000-0000-0000-0000-0000000000ab'$q$,
    'credits_explanation_check');
  PERFORM pg_temp.must_fail('crediting more than is left of the event',
    $q$UPDATE psop.service_events SET credited_quantity = credited_quantity + 101
        WHERE id = '00000000-0000-0000-0000-0000000000f1'$q$,
    'service_events_credited_range');
END
$$;

-- The credit goes into the provider's next settlement (April has no events).
DO $$
DECLARE
  n int;
  s record;
BEGIN
  n := pg_temp.settlement_run('00000000-0000-0000-0000-00000000aa04', '00000000-0000-0000-0000-0000000000a1',
                              '2024-04-01', 'sub-o1');
  SELECT * INTO s FROM psop.settlements WHERE run_id = '00000000-0000-0000-0000-00000000aa04';
  PERFORM pg_temp.expect('credit-only settlement', n = 1 AND s.line_count = 1 AND s.gross_cents = 0
    AND s.credit_cents = -1250 AND s.payable_cents = -1250 AND s.seq = 4);
  PERFORM pg_temp.expect('credit settled once',
    (SELECT settlement_id = s.id FROM psop.credits WHERE id = '00000000-0000-0000-0000-0000000000ab'));
  PERFORM pg_temp.expect('negative VAT base on a credit-only settlement',
    (SELECT amount_cents = -1250 AND vat_cents = 0 FROM psop.settlement_vat WHERE settlement_id = s.id));
END
$$;

-- ===========================================================================
-- settlements: constraints
-- ===========================================================================
DO $$
DECLARE
  s1 uuid := (SELECT id FROM psop.settlements WHERE seq = 1);
  s2 uuid := (SELECT id FROM psop.settlements WHERE seq = 2);
  ins text := $q$INSERT INTO psop.settlements (id, run_id, organiser_id, provider_id, period, number,
                   year, seq, reference, due_date, line_count, gross_cents, organiser_cents,
                   client_share_cents, credit_cents, payable_cents, created_by)
                 VALUES (gen_random_uuid(), '00000000-0000-0000-0000-00000000aa01',
                   '00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-0000000000b1',
                   %L, %L, 2024, %s, %L, '2024-04-20', 1, 100, 80, 20, %s, %s, 's')$q$;
BEGIN
  -- positive control for the template
  EXECUTE format(ins, '2024-03-01', 'TESTI-2024-000900', 900, '9000001', 0, 80);
  DELETE FROM psop.settlements WHERE seq = 900;
  PERFORM pg_temp.expect('settlement template is valid (positive control)',
    psop.fi_reference_valid('9000001'));

  PERFORM pg_temp.must_fail('period not a month start',
    format(ins, '2024-03-02', 'TESTI-2024-000900', 900, '9000001', 0, 80), 'settlements_period_check');
  PERFORM pg_temp.must_fail('number does not match year and seq',
    format(ins, '2024-03-01', 'TESTI-2024-000901', 900, '9000001', 0, 80), 'settlements_number_matches');
  PERFORM pg_temp.must_fail('malformed number',
    format(ins, '2024-03-01', 'TESTI-2024-900', 900, '9000001', 0, 80), 'settlements_number_check');
  PERFORM pg_temp.must_fail('number used twice in a year',
    $q$UPDATE psop.settlements SET seq = 1, number = left(number, -6) || '000001' WHERE seq = 2$q$,
    NULL, '23505');
  PERFORM pg_temp.must_fail('bad reference check digit',
    format(ins, '2024-03-01', 'TESTI-2024-000900', 900, '9000002', 0, 80), 'settlements_reference_check');
  PERFORM pg_temp.must_fail('reference used twice by one organiser',
    format(ins, '2024-03-01', 'TESTI-2024-000900', 900, (SELECT reference FROM psop.settlements WHERE id = s1), 0, 80),
    'settlements_reference_unique');
  PERFORM pg_temp.must_fail('positive credit total',
    format(ins, '2024-03-01', 'TESTI-2024-000900', 900, '9000001', 5, 85), 'settlements_credit_cents_check');
  PERFORM pg_temp.must_fail('payable <> organiser + credit',
    format(ins, '2024-03-01', 'TESTI-2024-000900', 900, '9000001', -10, 80), 'settlements_payable');
  PERFORM pg_temp.must_fail('organiser + client share <> gross',
    $q$UPDATE psop.settlements SET client_share_cents = client_share_cents + 1 WHERE seq = 1$q$,
    'settlements_gross_split');
  PERFORM pg_temp.must_fail('unknown settlement state',
    $q$UPDATE psop.settlements SET state = 'sent', confirmed_at = now() WHERE seq = 1$q$, 'settlements_state_check');
  PERFORM pg_temp.must_fail('confirmed without confirmation time',
    $q$UPDATE psop.settlements SET state = 'confirmed' WHERE seq = 1$q$, 'settlements_confirmed_has_time');
  PERFORM pg_temp.must_fail('paid without paid_date',
    $q$UPDATE psop.settlements SET state = 'paid', confirmed_at = now() WHERE seq = 1$q$,
    'settlements_paid_has_date');
  PERFORM pg_temp.must_fail('VAT not rounded from the summed amount',
    format($q$UPDATE psop.settlement_vat SET vat_cents = 1015 WHERE settlement_id = %L$q$, s2),
    'settlement_vat_rounding');
  PERFORM pg_temp.must_fail('event settled twice',
    $q$INSERT INTO psop.settlement_lines (settlement_id, line_no, kind, source, voucher_id, event_id,
         date, service_type, quantity, unit_price_cents, gross_cents, organiser_part_cents,
         client_share_cents, vat_rate_bp)
       VALUES (gen_random_uuid(), 1, 'event', 'voucher', '00000000-0000-0000-0000-0000000000c1',
         '00000000-0000-0000-0000-0000000000f1', '2024-03-04', 'kotihoito', 150, 3000, 4500, 3750, 750, 0)$q$,
    'settlement_lines_event_once');
  PERFORM pg_temp.must_fail('credit settled twice',
    $q$INSERT INTO psop.settlement_lines (settlement_id, line_no, kind, source, voucher_id, event_id, credit_id,
         date, service_type, quantity, unit_price_cents, gross_cents, organiser_part_cents,
         client_share_cents, vat_rate_bp)
       VALUES (gen_random_uuid(), 1, 'credit', 'voucher', '00000000-0000-0000-0000-0000000000c1',
         '00000000-0000-0000-0000-0000000000f1', '00000000-0000-0000-0000-0000000000ab', '2024-03-04',
         'kotihoito', 50, 3000, -1500, -1250, -250, 0)$q$,
    'settlement_lines_credit_once');
  PERFORM pg_temp.must_fail('positive credit line',
    format($q$UPDATE psop.settlement_lines SET gross_cents = 1500, organiser_part_cents = 1250,
              client_share_cents = 250 WHERE kind = 'credit'$q$),
    'settlement_lines_signs');
  PERFORM pg_temp.must_fail('negative event line',
    $q$UPDATE psop.settlement_lines SET gross_cents = -4500, organiser_part_cents = -3750,
         client_share_cents = -750 WHERE event_id = '00000000-0000-0000-0000-0000000000f1' AND kind = 'event'$q$,
    'settlement_lines_signs');
  PERFORM pg_temp.must_fail('line shares do not sum',
    $q$UPDATE psop.settlement_lines SET client_share_cents = 751
        WHERE event_id = '00000000-0000-0000-0000-0000000000f1' AND kind = 'event'$q$,
    'settlement_lines_shares_sum');
  PERFORM pg_temp.must_fail('voucher line carrying an order',
    $q$UPDATE psop.settlement_lines SET order_id = '00000000-0000-0000-0000-0000000000e1'
        WHERE event_id = '00000000-0000-0000-0000-0000000000f1' AND kind = 'event'$q$,
    'settlement_lines_source_ids');
  PERFORM pg_temp.must_fail('order line without contract',
    $q$UPDATE psop.settlement_lines SET contract_id = NULL WHERE source = 'order'$q$,
    'settlement_lines_source_ids');
  PERFORM pg_temp.must_fail('settlement counter beyond six digits',
    $q$UPDATE psop.settlement_counters SET last_seq = 1000000$q$, 'settlement_counters_last_seq_check');
  PERFORM pg_temp.must_fail('settled event back to approved keeping its settlement',
    $q$UPDATE psop.service_events SET state = 'approved' WHERE id = '00000000-0000-0000-0000-0000000000f2'$q$,
    'service_events_settlement_iff_settled');
  PERFORM pg_temp.must_fail('paid event without payment time',
    $q$UPDATE psop.service_events SET state = 'paid' WHERE id = '00000000-0000-0000-0000-0000000000f2'$q$,
    'service_events_paid_has_time');
END
$$;

-- confirm and mark paid: the settlement's events become paid
DO $$
DECLARE
  s1 uuid := (SELECT id FROM psop.settlements WHERE seq = 1);
BEGIN
  UPDATE psop.settlements SET state = 'confirmed', confirmed_at = now(), confirmed_by = 'sub-o1',
         version = version + 1 WHERE id = s1 AND state = 'draft';
  UPDATE psop.settlements SET state = 'paid', paid_date = '2024-04-25', paid_at = now(), paid_by = 'sub-o1',
         version = version + 1 WHERE id = s1 AND state = 'confirmed';
  UPDATE psop.service_events e SET state = 'paid', paid_at = now(), version = e.version + 1
    FROM psop.settlement_lines l
   WHERE l.settlement_id = s1 AND l.kind = 'event' AND e.id = l.event_id AND e.state = 'settled';
  PERFORM pg_temp.expect('paid settlement pays its events',
    (SELECT count(*) = 3 FROM psop.service_events WHERE settlement_id = s1 AND state = 'paid'));
END
$$;

-- ===========================================================================
-- budget vouchers (0009): the pot is never overdrawn nor negative, a budget
-- voucher has valid_to and no quota, a budget event's organiser part is
-- min(gross, what was left before it)
-- ===========================================================================
INSERT INTO psop.vouchers (id, organiser_id, client_id, service_type, decision_number, valid_from,
                           valid_to, provider_id, provider_chosen_at, value_basis, budget_cents,
                           budget_used_cents, granted_by)
VALUES ('00000000-0000-0000-0000-0000000000c9', '00000000-0000-0000-0000-0000000000a1', 'ASIAKAS-9',
        'kotihoito', 'D-2024-9', '2024-01-01', '2024-03-31', '00000000-0000-0000-0000-0000000000b1',
        now(), 'budget', 10000, 0, 'sub-o1');
DO $$
BEGIN
  PERFORM pg_temp.must_fail('budget voucher without valid_to',
    $s$UPDATE psop.vouchers SET valid_to = NULL WHERE id = '00000000-0000-0000-0000-0000000000c9'$s$,
    'vouchers_budget_period');
  PERFORM pg_temp.must_fail('budget voucher with a quota',
    $s$UPDATE psop.vouchers SET monthly_quota = 100 WHERE id = '00000000-0000-0000-0000-0000000000c9'$s$,
    'vouchers_budget_period');
  PERFORM pg_temp.must_fail('pot overdrawn',
    $s$UPDATE psop.vouchers SET budget_used_cents = 10001 WHERE id = '00000000-0000-0000-0000-0000000000c9'$s$,
    'vouchers_budget_within');
  PERFORM pg_temp.must_fail('pot negative',
    $s$UPDATE psop.vouchers SET budget_used_cents = -1 WHERE id = '00000000-0000-0000-0000-0000000000c9'$s$);
  PERFORM pg_temp.must_fail('budget on a flat voucher',
    $s$UPDATE psop.vouchers SET budget_cents = 100, budget_used_cents = 0 WHERE id = '00000000-0000-0000-0000-0000000000c1'$s$,
    'vouchers_budget_iff_basis');
  -- 4 h x 34.90 = 139.60 with 100.00 left: organiser 100.00, client 39.60
  INSERT INTO psop.service_events (id, voucher_id, provider_id, organiser_id, service_type, date,
                                   quantity, unit_price_cents, gross_cents, organiser_part_cents,
                                   client_share_cents, budget_remaining_before_cents, recorded_by)
  VALUES ('00000000-0000-0000-0000-0000000009e1', '00000000-0000-0000-0000-0000000000c9',
          '00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
          'kotihoito', '2024-01-02', 400, 3490, 13960, 10000, 3960, 10000, 'sub-p1');
  PERFORM pg_temp.must_fail('budget event part not min(gross, remaining)',
    $s$UPDATE psop.service_events SET organiser_part_cents = 9000, client_share_cents = 4960
       WHERE id = '00000000-0000-0000-0000-0000000009e1'$s$, 'service_events_voucher_part');
  PERFORM pg_temp.must_fail('budget event with a value per unit',
    $s$UPDATE psop.service_events SET voucher_value_cents = 3000, value_unit_cents = 3000
       WHERE id = '00000000-0000-0000-0000-0000000009e1'$s$, 'service_events_voucher_inputs');
  PERFORM pg_temp.expect('budget event stored', (SELECT organiser_part_cents = 10000
    FROM psop.service_events WHERE id = '00000000-0000-0000-0000-0000000009e1'));
END
$$;

-- Order events moving every way the order and contract usage (0014) must
-- follow: recorded, edited, moved to another month, deleted, removed, and a
-- credit of the settled f5 (0.50 visits: gross -2000, client fee first -750,
-- organiser -1250).
DO $$
DECLARE
  o uuid := '00000000-0000-0000-0000-0000000000f5';
  fresh text := '"state": "recorded", "settlement_id": null, "settled_at": null, '
                '"approved_at": null, "approved_by": null, "credited_quantity": 0, '
                '"quantity": 100, "gross_cents": 4000, "client_share_cents": 1500, '
                '"organiser_part_cents": 2500';
BEGIN
  EXECUTE pg_temp.ev_copy(o, ('{"id": "00000000-0000-0000-0000-0000000003f1", "date": "2024-03-07", '
                              || fresh || '}')::jsonb);
  EXECUTE pg_temp.ev_copy(o, ('{"id": "00000000-0000-0000-0000-0000000003f2", "date": "2024-04-03", '
                              || fresh || '}')::jsonb);
  EXECUTE pg_temp.ev_copy(o, ('{"id": "00000000-0000-0000-0000-0000000003f3", "date": "2024-05-03", '
                              || fresh || ', "state": "deleted", "deleted_at": "2024-05-04T10:00:00Z"}')::jsonb);
  PERFORM pg_temp.expect('order e1 March usage kept = 2.00 + 1.00',
    (SELECT used = 300 AND events = 2 FROM psop.order_usage
      WHERE order_id = '00000000-0000-0000-0000-0000000000e1' AND month = '2024-03'));
  UPDATE psop.service_events SET quantity = 150, gross_cents = 6000, client_share_cents = 2250,
         organiser_part_cents = 3750 WHERE id = '00000000-0000-0000-0000-0000000003f1';
  UPDATE psop.service_events SET date = '2024-03-20' WHERE id = '00000000-0000-0000-0000-0000000003f2';
  PERFORM pg_temp.expect('contract d1 March usage kept = 2.00 + 1.50 + 1.00',
    (SELECT used = 450 FROM psop.contract_usage
      WHERE contract_id = '00000000-0000-0000-0000-0000000000d1' AND month = '2024-03'));
  UPDATE psop.service_events SET state = 'deleted', deleted_at = now(), deleted_by = 'sub-p2'
   WHERE id = '00000000-0000-0000-0000-0000000003f1';
  DELETE FROM psop.service_events WHERE id = '00000000-0000-0000-0000-0000000003f3';
  INSERT INTO psop.credits (id, event_id, organiser_id, provider_id, is_order, quantity, reason_code,
                            explanation, unit_price_cents, client_fee_cents, gross_cents,
                            organiser_part_cents, client_share_cents, created_by)
  VALUES ('00000000-0000-0000-0000-0000000003ab', o, '00000000-0000-0000-0000-0000000000a1',
          '00000000-0000-0000-0000-0000000000b2', true, 50, 'wrong_quantity', 'puoli käyntiä',
          4000, 1500, -2000, -1250, -750, 'sub-o1');
  UPDATE psop.service_events SET credited_quantity = credited_quantity + 50, version = version + 1
   WHERE id = o;
  PERFORM pg_temp.expect('order e1 March usage kept after all that = 1.50 + 1.00, credits counted',
    (SELECT used = 250 AND events = 2 AND all_events = 3 FROM psop.order_usage
      WHERE order_id = '00000000-0000-0000-0000-0000000000e1' AND month = '2024-03'));
  PERFORM pg_temp.expect('order e1 May: its one event removed, no events left',
    (SELECT all_events = 0 FROM psop.order_usage
      WHERE order_id = '00000000-0000-0000-0000-0000000000e1' AND month = '2024-05'));
END
$$;

-- psop.order_usage and psop.contract_usage (0014), kept by triggers through
-- every change above, equal the aggregates over the events.
DO $$
BEGIN
  PERFORM pg_temp.expect('order usage kept by delta = the events aggregate', (
    WITH kept AS (SELECT order_id, month, used, op_cents, cs_cents, events, all_events
                    FROM psop.order_usage WHERE all_events > 0),
    agg AS (SELECT order_id, month, used, op_cents, cs_cents, events, all_events
              FROM psop.order_usage_from_events)
    SELECT NOT EXISTS ((TABLE kept EXCEPT TABLE agg) UNION ALL (TABLE agg EXCEPT TABLE kept))));
  PERFORM pg_temp.expect('contract usage kept by delta = the events aggregate', (
    WITH kept AS (SELECT contract_id, month, used FROM psop.contract_usage WHERE used <> 0),
    agg AS (SELECT contract_id, month, used FROM psop.contract_usage_from_events WHERE used <> 0)
    SELECT NOT EXISTS ((TABLE kept EXCEPT TABLE agg) UNION ALL (TABLE agg EXCEPT TABLE kept))));
END
$$;

-- psop.voucher_usage (0013), kept by triggers through every insert, update,
-- deletion and credit above, equals the aggregate over the events.
DO $$
BEGIN
  PERFORM pg_temp.expect('voucher usage kept by delta has rows',
    (SELECT count(*) > 0 FROM psop.voucher_usage WHERE all_events > 0));
  PERFORM pg_temp.expect('voucher usage kept by delta = the events aggregate', (
    WITH kept AS (
      SELECT voucher_id, month, used, cents, events FROM psop.voucher_usage WHERE all_events > 0),
    agg AS (
      SELECT voucher_id, month, used, cents, events FROM psop.voucher_usage_from_events)
    SELECT NOT EXISTS ((TABLE kept EXCEPT TABLE agg) UNION ALL (TABLE agg EXCEPT TABLE kept))));
END
$$;

SELECT count(*) AS checks_passed FROM t_results \gset
\echo constraints.sql: :checks_passed checks passed
