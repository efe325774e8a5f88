-- 0007_settlements.sql - settlement runs, settlements (tilitys) with lines and
-- VAT breakdown, and the counters behind gapless numbers and creditor
-- references (viitenumero).
--
-- A run settles up to 1 000 000 events set-based in one transaction
-- (INSERT ... SELECT lines, UPDATE events). The bulk paths therefore carry no
-- per-row triggers and no foreign keys whose check would fire per row: the
-- line -> settlement/event/credit and event/credit -> settlement references
-- are guarded instead by the unique indexes below (an event or credit is on at
-- most one line) and by the run writing all of them in one statement set.
-- Measured on PostgreSQL 15: an FK on 1 000 000 inserted lines costs ~+6 s,
-- on 1 000 000 updated events ~+7 s.

-- One row per applied settlement.run, including runs that found nothing
-- (so "already run for this period" is answerable without settlements).
CREATE TABLE psop.settlement_runs (
  id               uuid        PRIMARY KEY,     -- the settlement.run command id
  organiser_id     uuid        NOT NULL REFERENCES psop.organisers (id),
  period           date        NOT NULL CHECK (extract(day FROM period) = 1),  -- first day of YYYY-MM
  run_by           text        NOT NULL,
  run_at           timestamptz NOT NULL DEFAULT now(),
  settlement_count integer     NOT NULL DEFAULT 0 CHECK (settlement_count >= 0),
  event_count      integer     NOT NULL DEFAULT 0 CHECK (event_count >= 0),
  credit_count     integer     NOT NULL DEFAULT 0 CHECK (credit_count >= 0)
);

CREATE INDEX settlement_runs_by_period ON psop.settlement_runs (organiser_id, period);

CREATE TABLE psop.settlements (
  id                 uuid        PRIMARY KEY,
  run_id             uuid        NOT NULL REFERENCES psop.settlement_runs (id),
  organiser_id       uuid        NOT NULL REFERENCES psop.organisers (id),
  provider_id        uuid        NOT NULL REFERENCES psop.providers (id),
  period             date        NOT NULL CHECK (extract(day FROM period) = 1),
  -- PREFIX-YYYY-NNNNNN, gapless per (organiser, year) via settlement_counters.
  number             text        NOT NULL UNIQUE
                                 CHECK (number ~ '^[A-Z0-9]{2,10}-[0-9]{4}-[0-9]{6}$'),
  year               integer     NOT NULL CHECK (year BETWEEN 2000 AND 9999),
  seq                integer     NOT NULL CHECK (seq BETWEEN 1 AND 999999),
  reference          text        NOT NULL CHECK (psop.fi_reference_valid(reference)),
  due_date           date        NOT NULL,
  state              text        NOT NULL DEFAULT 'draft'
                                 CHECK (state IN ('draft', 'confirmed', 'paid')),
  line_count         integer     NOT NULL CHECK (line_count >= 1),
  gross_cents        bigint      NOT NULL CHECK (gross_cents >= 0),
  organiser_cents    bigint      NOT NULL CHECK (organiser_cents >= 0),
  client_share_cents bigint      NOT NULL CHECK (client_share_cents >= 0),
  credit_cents       bigint      NOT NULL CHECK (credit_cents <= 0),
  payable_cents      bigint      NOT NULL,   -- may be < 0 when credits exceed the events
  created_by         text        NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  confirmed_by       text,
  confirmed_at       timestamptz,
  paid_date          date,
  paid_by            text,
  paid_at            timestamptz,
  version            bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT settlements_seq_unique UNIQUE (organiser_id, year, seq),
  CONSTRAINT settlements_reference_unique UNIQUE (organiser_id, reference),
  CONSTRAINT settlements_number_matches
    CHECK (right(number, 11) = year::text || '-' || lpad(seq::text, 6, '0')),
  CONSTRAINT settlements_gross_split
    CHECK (organiser_cents + client_share_cents = gross_cents),
  CONSTRAINT settlements_payable
    CHECK (payable_cents = organiser_cents + credit_cents),
  CONSTRAINT settlements_confirmed_has_time
    CHECK (state = 'draft' OR confirmed_at IS NOT NULL),
  CONSTRAINT settlements_paid_has_date
    CHECK ((state = 'paid') = (paid_date IS NOT NULL))
);

-- GET /v1/settlements?organiser_id=&period=&provider_id= and the run's
-- "already settled" checks.
CREATE INDEX settlements_by_organiser ON psop.settlements (organiser_id, period, provider_id);
-- A provider's own settlements.
CREATE INDEX settlements_by_provider  ON psop.settlements (provider_id, period);

-- VAT breakdown of the payable amount per rate (prices are VAT inclusive):
-- amount = sum of organiser parts of the event and credit lines at that rate,
-- vat = round(amount * rate_bp / (10000 + rate_bp)) over the summed amount.
CREATE TABLE psop.settlement_vat (
  settlement_id uuid    NOT NULL REFERENCES psop.settlements (id),
  rate_bp       integer NOT NULL CHECK (rate_bp BETWEEN 0 AND 10000),
  amount_cents  bigint  NOT NULL,
  vat_cents     bigint  NOT NULL,
  PRIMARY KEY (settlement_id, rate_bp),
  CONSTRAINT settlement_vat_rounding
    CHECK (vat_cents = psop.round_div(amount_cents, rate_bp, 10000 + rate_bp))
);

-- One line per settled event and per settled credit.
CREATE TABLE psop.settlement_lines (
  settlement_id        uuid    NOT NULL,   -- no FK: bulk insert (see top)
  line_no              integer NOT NULL CHECK (line_no >= 1),
  kind                 text    NOT NULL CHECK (kind IN ('event', 'credit')),
  source               text    NOT NULL CHECK (source IN ('voucher', 'order')),
  voucher_id           uuid,
  order_id             uuid,
  contract_id          uuid,
  event_id             uuid    NOT NULL,   -- the event, or the credited event
  credit_id            uuid,
  date                 date    NOT NULL,   -- the event's service date
  service_type         text    NOT NULL,
  band                 text    CHECK (band IN ('weekday', 'evening', 'saturday', 'sunday')),
  quantity             integer NOT NULL CHECK (quantity > 0 AND quantity <= 100000),  -- credited quantity for credits
  unit_price_cents     bigint  NOT NULL CHECK (unit_price_cents >= 0),
  gross_cents          bigint  NOT NULL,
  organiser_part_cents bigint  NOT NULL,
  client_share_cents   bigint  NOT NULL,
  vat_rate_bp          integer NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
  PRIMARY KEY (settlement_id, line_no),
  CONSTRAINT settlement_lines_source_ids
    CHECK (CASE source
             WHEN 'voucher' THEN voucher_id IS NOT NULL AND order_id IS NULL AND contract_id IS NULL
             ELSE order_id IS NOT NULL AND contract_id IS NOT NULL AND voucher_id IS NULL
           END),
  CONSTRAINT settlement_lines_kind_credit_id
    CHECK ((kind = 'credit') = (credit_id IS NOT NULL)),
  -- event lines are non-negative, credit lines non-positive
  CONSTRAINT settlement_lines_signs
    CHECK (CASE kind
             WHEN 'event'  THEN gross_cents >= 0 AND organiser_part_cents >= 0 AND client_share_cents >= 0
             ELSE               gross_cents <= 0 AND organiser_part_cents <= 0 AND client_share_cents <= 0
           END),
  CONSTRAINT settlement_lines_shares_sum
    CHECK (organiser_part_cents + client_share_cents = gross_cents)
);

-- An event is settled at most once, a credit at most once: the database's own
-- guard against paying anything twice.
CREATE UNIQUE INDEX settlement_lines_event_once
  ON psop.settlement_lines (event_id) WHERE kind = 'event';
CREATE UNIQUE INDEX settlement_lines_credit_once
  ON psop.settlement_lines (credit_id) WHERE kind = 'credit';

-- Gapless settlement numbers per (organiser, year). In the run's transaction:
--   INSERT INTO psop.settlement_counters (organiser_id, year) VALUES ($1, $2)
--     ON CONFLICT DO NOTHING;
--   UPDATE psop.settlement_counters SET last_seq = last_seq + $n
--    WHERE organiser_id = $1 AND year = $2 RETURNING last_seq;  -- numbers last_seq-n+1 .. last_seq
-- The UPDATE locks the row until COMMIT, so concurrent runs of one organiser
-- queue; a rollback undoes the increment, so no number is ever lost (a
-- sequence would leave gaps).
CREATE TABLE psop.settlement_counters (
  organiser_id uuid    NOT NULL REFERENCES psop.organisers (id),
  year         integer NOT NULL CHECK (year BETWEEN 2000 AND 9999),
  last_seq     integer NOT NULL DEFAULT 0 CHECK (last_seq BETWEEN 0 AND 999999),
  PRIMARY KEY (organiser_id, year)
);

-- Creditor reference bases per organiser (unique per organiser, need not be
-- gapless; a counter row instead of a sequence because sequences cannot be
-- per organiser without DDL at run time). Reference = base || check digit:
--   UPDATE psop.settlement_reference_counters SET last_base = last_base + $n
--    WHERE organiser_id = $1 RETURNING last_base;
--   reference = b::text || psop.fi_reference_check_digit(b::text)
CREATE TABLE psop.settlement_reference_counters (
  organiser_id uuid   PRIMARY KEY REFERENCES psop.organisers (id),
  last_base    bigint NOT NULL DEFAULT 1000
                      CHECK (last_base BETWEEN 100 AND 999999999999999999)
);
