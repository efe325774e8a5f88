-- 0006_service_events.sql - service events (palvelutapahtuma) of vouchers and
-- orders, and credits (hyvitys) against settled events.
--
-- Amounts are computed by the worker when an event is recorded or edited and
-- stored; the CHECKs below re-derive them from the stored inputs, so a row
-- whose money does not add up cannot exist. They are plain per-row expressions
-- (no triggers): the settlement run updates up to 1 000 000 rows set-based.

-- Composite keys the events' foreign keys point at, so the organiser, service
-- type, contract and provider copied onto an event must match its voucher or
-- order (checked only on insert or when those columns change, never by the
-- settlement run's UPDATE of state/settlement_id).
ALTER TABLE psop.vouchers
  ADD CONSTRAINT vouchers_id_organiser_type_key UNIQUE (id, organiser_id, service_type);
ALTER TABLE psop.orders
  ADD CONSTRAINT orders_id_organiser_contract_key UNIQUE (id, organiser_id, contract_id);
ALTER TABLE psop.contracts
  ADD CONSTRAINT contracts_id_organiser_key UNIQUE (id, organiser_id);
ALTER TABLE psop.contracts
  ADD CONSTRAINT contracts_id_provider_type_key UNIQUE (id, provider_id, service_type);
-- An order's organiser is its contract's organiser.
ALTER TABLE psop.orders
  ADD CONSTRAINT orders_contract_same_organiser
  FOREIGN KEY (contract_id, organiser_id) REFERENCES psop.contracts (id, organiser_id);

CREATE TABLE psop.service_events (
  id                  uuid        PRIMARY KEY,
  voucher_id          uuid,
  order_id            uuid,
  contract_id         uuid,        -- copied from the order; null for voucher events
  provider_id         uuid        NOT NULL REFERENCES psop.providers (id),
  organiser_id        uuid        NOT NULL REFERENCES psop.organisers (id),
  service_type        text        NOT NULL REFERENCES psop.service_types (code),
  date                date        NOT NULL,
  quantity            integer     NOT NULL CHECK (quantity > 0 AND quantity <= 100000),  -- hundredths
  band                text        CHECK (band IN ('weekday', 'evening', 'saturday', 'sunday')),
  unit_price_cents    bigint      NOT NULL CHECK (unit_price_cents >= 0),
  -- voucher events: the voucher's unit value in force on the date, the band
  -- coefficient (hundredths; null = no band) and value_unit = round(value * coef).
  voucher_value_cents bigint      CHECK (voucher_value_cents >= 0),
  band_coefficient    integer     CHECK (band_coefficient BETWEEN 1 AND 100000),
  value_unit_cents    bigint      CHECK (value_unit_cents >= 0),
  -- order events: the order's client fee per unit.
  client_fee_cents    bigint      CHECK (client_fee_cents >= 0),
  gross_cents          bigint     NOT NULL CHECK (gross_cents >= 0),
  organiser_part_cents bigint     NOT NULL CHECK (organiser_part_cents >= 0),
  client_share_cents   bigint     NOT NULL CHECK (client_share_cents >= 0),
  state               text        NOT NULL DEFAULT 'recorded'
                                  CHECK (state IN ('recorded', 'approved', 'settled', 'paid', 'deleted')),
  note                text        CHECK (length(note) <= 2000),
  recorded_by         text        NOT NULL,
  recorded_at         timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  approved_by         text,        -- a token sub, or 'auto-approval'
  approved_at         timestamptz,
  deleted_by          text,
  deleted_at          timestamptz,
  settlement_id       uuid,        -- no FK: see docs/data-model.md (bulk settlement)
  settled_at          timestamptz,
  paid_at             timestamptz,
  credited_quantity   integer     NOT NULL DEFAULT 0,
  version             bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),

  -- exactly one parent
  CONSTRAINT service_events_one_parent CHECK (num_nonnulls(voucher_id, order_id) = 1),
  CONSTRAINT service_events_contract_iff_order CHECK ((order_id IS NULL) = (contract_id IS NULL)),
  CONSTRAINT service_events_voucher_fk
    FOREIGN KEY (voucher_id, organiser_id, service_type)
    REFERENCES psop.vouchers (id, organiser_id, service_type),
  CONSTRAINT service_events_order_fk
    FOREIGN KEY (order_id, organiser_id, contract_id)
    REFERENCES psop.orders (id, organiser_id, contract_id),
  -- the recording provider of an order event is the contract's
  CONSTRAINT service_events_contract_fk
    FOREIGN KEY (contract_id, provider_id, service_type)
    REFERENCES psop.contracts (id, provider_id, service_type),

  -- bands by calendar: weekday/evening never on Saturday or Sunday, saturday
  -- only on a Saturday. (sunday on a holiday needs psop.holidays: worker.)
  CONSTRAINT service_events_band_weekday
    CHECK (band NOT IN ('weekday', 'evening') OR extract(isodow FROM date) < 6),
  CONSTRAINT service_events_band_saturday
    CHECK (band <> 'saturday' OR extract(isodow FROM date) = 6),

  -- money: per-parent inputs present, amounts re-derived (round half away from zero)
  CONSTRAINT service_events_voucher_inputs
    CHECK (voucher_id IS NULL
           OR (voucher_value_cents IS NOT NULL AND value_unit_cents IS NOT NULL
               AND client_fee_cents IS NULL
               AND (band IS NULL) = (band_coefficient IS NULL))),
  CONSTRAINT service_events_order_inputs
    CHECK (order_id IS NULL
           OR (client_fee_cents IS NOT NULL AND voucher_value_cents IS NULL
               AND value_unit_cents IS NULL AND band_coefficient IS NULL)),
  CONSTRAINT service_events_value_unit
    CHECK (value_unit_cents = psop.round_div(voucher_value_cents, coalesce(band_coefficient, 100), 100)),
  CONSTRAINT service_events_gross
    CHECK (gross_cents = psop.round_div(unit_price_cents, quantity, 100)),
  CONSTRAINT service_events_shares_sum
    CHECK (organiser_part_cents + client_share_cents = gross_cents),
  CONSTRAINT service_events_voucher_part
    CHECK (voucher_id IS NULL
           OR organiser_part_cents = psop.round_div(least(value_unit_cents, unit_price_cents), quantity, 100)),
  CONSTRAINT service_events_order_client_share
    CHECK (order_id IS NULL
           OR client_share_cents = psop.round_div(least(client_fee_cents, unit_price_cents), quantity, 100)),

  -- lifecycle: recorded -> approved -> settled -> paid; deleted from recorded/approved
  CONSTRAINT service_events_approved_has_time
    CHECK (state NOT IN ('approved', 'settled', 'paid') OR approved_at IS NOT NULL),
  CONSTRAINT service_events_recorded_not_approved
    CHECK (state <> 'recorded' OR approved_at IS NULL),
  CONSTRAINT service_events_settlement_iff_settled
    CHECK ((state IN ('settled', 'paid')) = (settlement_id IS NOT NULL)),
  CONSTRAINT service_events_deleted_has_time
    CHECK ((state = 'deleted') = (deleted_at IS NOT NULL)),
  CONSTRAINT service_events_paid_has_time
    CHECK (state <> 'paid' OR paid_at IS NOT NULL),
  -- credits only after settlement, never more than the event's quantity
  CONSTRAINT service_events_credited_range
    CHECK (credited_quantity >= 0 AND credited_quantity <= quantity),
  CONSTRAINT service_events_credited_only_settled
    CHECK (credited_quantity = 0 OR state IN ('settled', 'paid'))
);

-- Quota and listing per voucher and month:
--   SELECT coalesce(sum(quantity - credited_quantity), 0) FROM psop.service_events
--    WHERE voucher_id = $1 AND date >= $month_start AND date < $next_month_start
--      AND state <> 'deleted';
-- INCLUDE makes it an index-only scan; the same index lists a voucher's
-- events for a month (GET .../service-events?month=).
CREATE INDEX service_events_voucher_month
  ON psop.service_events (voucher_id, date)
  INCLUDE (state, quantity, credited_quantity)
  WHERE voucher_id IS NOT NULL;
CREATE INDEX service_events_order_month
  ON psop.service_events (order_id, date)
  INCLUDE (state, quantity, credited_quantity)
  WHERE order_id IS NOT NULL;
-- The contract's monthly volume cap over all its orders.
CREATE INDEX service_events_contract_month
  ON psop.service_events (contract_id, date)
  INCLUDE (state, quantity, credited_quantity)
  WHERE contract_id IS NOT NULL;

-- Settlement run selection: an organiser's approved events in the period,
-- grouped by provider. Partial: holds only approved (= unsettled) events.
CREATE INDEX service_events_settlement_selection
  ON psop.service_events (organiser_id, date, provider_id)
  WHERE state = 'approved';

-- Auto-approval: an organiser's recorded events older than auto_approve_days.
CREATE INDEX service_events_auto_approval
  ON psop.service_events (organiser_id, recorded_at)
  WHERE state = 'recorded';

-- No index on settlement_id: every index on this table is maintained for
-- each of the up to 1 000 000 rows a settlement run updates. "The events of a
-- settlement" (settlement.mark_paid, settlement reads) go through
-- settlement_lines' primary key (settlement_id, line_no) and event_id -> id.

-- ---------------------------------------------------------------------------
-- credits (hyvitys): a negative correction of a settled event, settled in the
-- provider's next settlement. Amounts are the event's amounts for the credited
-- quantity, negated, rounded the same way (re-derived by CHECKs from the unit
-- amounts copied from the event).
-- ---------------------------------------------------------------------------
CREATE TABLE psop.credits (
  id                   uuid        PRIMARY KEY,
  event_id             uuid        NOT NULL REFERENCES psop.service_events (id),
  organiser_id         uuid        NOT NULL REFERENCES psop.organisers (id),   -- copied from the event
  provider_id          uuid        NOT NULL REFERENCES psop.providers (id),    -- copied from the event
  is_order             boolean     NOT NULL,   -- the event's parent is an order (else a voucher)
  quantity             integer     NOT NULL CHECK (quantity > 0 AND quantity <= 100000),
  reason_code          text        NOT NULL
                                   CHECK (reason_code IN ('wrong_quantity', 'not_delivered',
                                                          'duplicate', 'price_error', 'other')),
  explanation          text        NOT NULL CHECK (length(btrim(explanation)) BETWEEN 1 AND 2000),
  unit_price_cents     bigint      NOT NULL CHECK (unit_price_cents >= 0),
  value_unit_cents     bigint      CHECK (value_unit_cents >= 0),
  client_fee_cents     bigint      CHECK (client_fee_cents >= 0),
  gross_cents          bigint      NOT NULL CHECK (gross_cents <= 0),
  organiser_part_cents bigint      NOT NULL CHECK (organiser_part_cents <= 0),
  client_share_cents   bigint      NOT NULL CHECK (client_share_cents <= 0),
  created_by           text        NOT NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  settlement_id        uuid,       -- null until settled; no FK (bulk settlement)
  settled_at           timestamptz,
  CONSTRAINT credits_inputs
    CHECK (CASE WHEN is_order THEN client_fee_cents IS NOT NULL AND value_unit_cents IS NULL
                ELSE value_unit_cents IS NOT NULL AND client_fee_cents IS NULL END),
  CONSTRAINT credits_gross
    CHECK (gross_cents = -psop.round_div(unit_price_cents, quantity, 100)),
  CONSTRAINT credits_shares_sum
    CHECK (organiser_part_cents + client_share_cents = gross_cents),
  CONSTRAINT credits_voucher_part
    CHECK (is_order
           OR organiser_part_cents = -psop.round_div(least(value_unit_cents, unit_price_cents), quantity, 100)),
  CONSTRAINT credits_order_client_share
    CHECK (NOT is_order
           OR client_share_cents = -psop.round_div(least(client_fee_cents, unit_price_cents), quantity, 100)),
  CONSTRAINT credits_settled_time
    CHECK ((settlement_id IS NULL) = (settled_at IS NULL))
);

CREATE INDEX credits_by_event ON psop.credits (event_id);
-- Settlement run: an organiser's unsettled credits, by provider.
CREATE INDEX credits_unsettled
  ON psop.credits (organiser_id, provider_id)
  WHERE settlement_id IS NULL;
CREATE INDEX credits_by_settlement
  ON psop.credits (settlement_id)
  WHERE settlement_id IS NOT NULL;
