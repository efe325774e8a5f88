-- 0002_reference.sql - reference data maintained by admin commands:
-- organisers, service types (with band coefficients and income model), holidays.

-- ---------------------------------------------------------------------------
-- organisers (palvelunjärjestäjä): municipalities and wellbeing services counties.
-- ---------------------------------------------------------------------------
CREATE TABLE psop.organisers (
  id                uuid        PRIMARY KEY,
  name              text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  business_id       text        NOT NULL UNIQUE
                                CHECK (psop.business_id_valid(business_id)),
  iban              text        NOT NULL CHECK (psop.iban_valid(iban)),
  -- Unique: it starts every settlement number PREFIX-YYYY-NNNNNN, which is
  -- unique across the system.
  invoice_prefix    text        NOT NULL UNIQUE
                                CHECK (invoice_prefix ~ '^[A-Z0-9]{2,10}$'),
  settlement_day    smallint    NOT NULL CHECK (settlement_day BETWEEN 1 AND 28),
  auto_approve_days smallint    NOT NULL CHECK (auto_approve_days BETWEEN 0 AND 60),
  version           bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

COMMENT ON COLUMN psop.organisers.auto_approve_days IS
  '0 = no auto-approval; else recorded events older than this many days are approved by the nightly batch.';

-- ---------------------------------------------------------------------------
-- service_types: what can be bought with a voucher or under a contract.
-- Coefficients are integer hundredths (1.15 -> 115); weekday is always 1.00.
-- The income model's scalars are columns, its table is rows of
-- service_type_income_rows.
-- ---------------------------------------------------------------------------
CREATE TABLE psop.service_types (
  code                 text        PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_-]{0,63}$'),
  name                 text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  unit                 text        NOT NULL
                                   CHECK (unit IN ('hour', 'visit', 'day', 'week', 'month')),
  vat_rate_bp          integer     NOT NULL CHECK (vat_rate_bp BETWEEN 0 AND 10000),
  client_share_allowed boolean     NOT NULL,
  coef_evening         integer     CHECK (coef_evening  BETWEEN 1 AND 100000),
  coef_saturday        integer     CHECK (coef_saturday BETWEEN 1 AND 100000),
  coef_sunday          integer     CHECK (coef_sunday   BETWEEN 1 AND 100000),
  -- Income model (null = none): value = max(min, max - round(excess * pct_bp / 10000 / divisor)).
  income_max_value_cents          bigint  CHECK (income_max_value_cents >= 0),
  income_min_value_cents          bigint  CHECK (income_min_value_cents >= 0),
  income_divisor                  integer CHECK (income_divisor >= 1),
  income_extra_person_limit_cents bigint  CHECK (income_extra_person_limit_cents >= 0),
  income_extra_person_pct_bp      integer CHECK (income_extra_person_pct_bp BETWEEN 0 AND 10000),
  version              bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  -- band_coefficients is one object {evening, saturday, sunday}: all or none,
  -- and only on hourly services (time bands are hours of the day/week).
  CONSTRAINT service_types_bands_all_or_none
    CHECK (num_nulls(coef_evening, coef_saturday, coef_sunday) IN (0, 3)),
  CONSTRAINT service_types_bands_hourly_only
    CHECK (coef_evening IS NULL OR unit = 'hour'),
  CONSTRAINT service_types_income_all_or_none
    CHECK (num_nulls(income_max_value_cents, income_min_value_cents, income_divisor,
                     income_extra_person_limit_cents, income_extra_person_pct_bp) IN (0, 5)),
  CONSTRAINT service_types_income_min_le_max
    CHECK (income_min_value_cents <= income_max_value_cents)
);

COMMENT ON COLUMN psop.service_types.vat_rate_bp IS 'basis points: 0 exempt, 2550 = 25.5 %';

-- The income model's table by household size (sizes 1..n; beyond n the
-- extra_person_* columns of service_types apply).
CREATE TABLE psop.service_type_income_rows (
  service_type   text    NOT NULL REFERENCES psop.service_types (code) ON DELETE CASCADE,
  household_size integer NOT NULL CHECK (household_size BETWEEN 1 AND 100),
  limit_cents    bigint  NOT NULL CHECK (limit_cents >= 0),
  pct_bp         integer NOT NULL CHECK (pct_bp BETWEEN 0 AND 10000),
  PRIMARY KEY (service_type, household_size)
);

-- ---------------------------------------------------------------------------
-- holidays: dates that count as Sunday for time bands.
-- ---------------------------------------------------------------------------
CREATE TABLE psop.holidays (
  date       date        PRIMARY KEY,
  name       text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  updated_at timestamptz NOT NULL DEFAULT now()
);
