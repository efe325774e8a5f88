-- 0004_vouchers.sql - service vouchers (palveluseteli), their value history
-- and amendment log.

-- btree_gist gives uuid "=" a GiST operator class, for the EXCLUDE below.
-- Installed into psop explicitly (the migrator created psop, so it may create
-- there; the default would depend on the connection's search_path). It is a
-- trusted extension (PostgreSQL 13+): the database owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA psop;

CREATE TABLE psop.vouchers (
  id                uuid        PRIMARY KEY,
  organiser_id      uuid        NOT NULL REFERENCES psop.organisers (id),
  -- Opaque reference from the organiser's client system, never a personal
  -- identity code (henkilötunnus). The pattern rejects the obvious shape of one.
  client_id         text        NOT NULL
                                CHECK (length(client_id) BETWEEN 1 AND 64
                                       AND client_id !~* '^[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]$'),
  service_type      text        NOT NULL REFERENCES psop.service_types (code),
  decision_number   text        NOT NULL CHECK (length(btrim(decision_number)) BETWEEN 1 AND 64),
  valid_from        date        NOT NULL,
  valid_to          date,                      -- inclusive; null = until further notice
  monthly_quota     integer     CHECK (monthly_quota > 0),   -- hundredths of a unit per calendar month
  provider_id       uuid        REFERENCES psop.providers (id),
  provider_chosen_at timestamptz,
  provider_chosen_by text,
  status            text        NOT NULL DEFAULT 'active'
                                CHECK (status IN ('active', 'revoked', 'refused')),
  revoke_date       date,                      -- no events after this date
  revoke_reason     text        CHECK (length(btrim(revoke_reason)) BETWEEN 1 AND 2000),
  revoked_by        text,
  revoked_at        timestamptz,
  refuse_reason     text        CHECK (length(refuse_reason) <= 2000),
  refused_by        text,
  refused_at        timestamptz,
  -- How the value was decided. 'income': the basis is kept here, because the
  -- decision must show it even after the service type's model changes.
  value_basis       text        NOT NULL CHECK (value_basis IN ('flat', 'income')),
  household_size        integer CHECK (household_size BETWEEN 1 AND 100),
  monthly_income_cents  bigint  CHECK (monthly_income_cents >= 0),
  income_limit_cents    bigint  CHECK (income_limit_cents >= 0),
  income_pct_bp         integer CHECK (income_pct_bp BETWEEN 0 AND 10000),
  income_excess_cents   bigint  CHECK (income_excess_cents >= 0),
  income_max_value_cents bigint CHECK (income_max_value_cents >= 0),
  income_min_value_cents bigint CHECK (income_min_value_cents >= 0),
  income_divisor        integer CHECK (income_divisor >= 1),
  income_value_cents    bigint  CHECK (income_value_cents >= 0),  -- the computed value
  granted_by        text        NOT NULL,
  version           bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT vouchers_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from),
  CONSTRAINT vouchers_chosen_with_provider
    CHECK (provider_id IS NOT NULL OR provider_chosen_at IS NULL),
  CONSTRAINT vouchers_revoked_has_date_reason
    CHECK ((status = 'revoked') = (revoke_date IS NOT NULL AND revoke_reason IS NOT NULL
                                   AND revoked_at IS NOT NULL)),
  CONSTRAINT vouchers_refused_has_time
    CHECK ((status = 'refused') = (refused_at IS NOT NULL)),
  -- income basis: all inputs present exactly when the value is income-related,
  -- and the stored value follows from them (the decision's arithmetic).
  CONSTRAINT vouchers_income_all_or_none
    CHECK (num_nulls(household_size, monthly_income_cents, income_limit_cents, income_pct_bp,
                     income_excess_cents, income_max_value_cents, income_min_value_cents,
                     income_divisor, income_value_cents)
           = CASE value_basis WHEN 'income' THEN 0 ELSE 9 END),
  CONSTRAINT vouchers_income_excess
    CHECK (income_excess_cents = greatest(0, monthly_income_cents - income_limit_cents)),
  CONSTRAINT vouchers_income_value
    CHECK (income_value_cents = greatest(income_min_value_cents,
             income_max_value_cents
             - psop.round_div(income_excess_cents, income_pct_bp, 10000::bigint * income_divisor)))
);

-- GET /v1/vouchers?client_id=... (organiser: own org; client: org + client claims).
CREATE INDEX vouchers_by_client ON psop.vouchers (organiser_id, client_id);
-- A provider's vouchers (ownership checks, provider views, cache rebuild).
CREATE INDEX vouchers_by_provider ON psop.vouchers (provider_id) WHERE provider_id IS NOT NULL;

-- Value history. Periods are half-open dateranges [effective_from, next
-- effective_from); the last one is open-ended. The EXCLUDE constraint makes
-- two periods of one voucher overlapping impossible, so "the value in force on
-- a date" is always at most one row:
--   SELECT unit_value_cents FROM psop.voucher_values
--    WHERE voucher_id = $1 AND effective @> $2::date;   -- served by the GiST index
-- voucher.amend from d: UPDATE the row containing d to end at d, DELETE rows
-- starting after d, INSERT [d, upper of the old row) ... in one transaction.
-- DEFERRABLE so a worker rewriting several periods may SET CONSTRAINTS
-- voucher_values_no_overlap DEFERRED; by default it is checked per statement.
CREATE TABLE psop.voucher_values (
  voucher_id       uuid        NOT NULL REFERENCES psop.vouchers (id),
  effective        daterange   NOT NULL,
  unit_value_cents bigint      NOT NULL CHECK (unit_value_cents >= 0),
  set_by           text        NOT NULL,
  set_at           timestamptz NOT NULL DEFAULT now(),
  command_id       uuid,
  CONSTRAINT voucher_values_bounded_start
    CHECK (NOT isempty(effective) AND lower(effective) IS NOT NULL AND lower_inc(effective)),
  CONSTRAINT voucher_values_no_overlap
    EXCLUDE USING gist (voucher_id WITH =, effective WITH &&) DEFERRABLE INITIALLY IMMEDIATE
);

-- Voucher amendments as decided (audit trail of voucher.amend; the value
-- history itself is voucher_values, the current valid_to/monthly_quota are on
-- the voucher).
CREATE TABLE psop.voucher_amendments (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  voucher_id       uuid        NOT NULL REFERENCES psop.vouchers (id),
  effective_from   date        NOT NULL,
  unit_value_cents bigint      CHECK (unit_value_cents >= 0),
  valid_to         date,
  monthly_quota    integer     CHECK (monthly_quota > 0),
  amended_by       text        NOT NULL,
  amended_at       timestamptz NOT NULL DEFAULT now(),
  command_id       uuid,
  CONSTRAINT voucher_amendments_changes_something
    CHECK (num_nonnulls(unit_value_cents, valid_to, monthly_quota) >= 1)
);

CREATE INDEX voucher_amendments_by_voucher
  ON psop.voucher_amendments (voucher_id, effective_from);
