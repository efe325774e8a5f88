-- 0003_providers.sql - providers, their applications, decisions (approval,
-- rejection), suspensions and price lists.
--
-- Decisions and suspensions are appealable administrative decisions: rows are
-- only ever inserted, never updated or deleted, and keep who (token sub), when
-- and why.

CREATE TABLE psop.providers (
  id              uuid        PRIMARY KEY,
  business_id     text        NOT NULL UNIQUE CHECK (psop.business_id_valid(business_id)),
  name            text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  -- Paid to a Finnish account (Finvoice EPI details).
  iban            text        NOT NULL CHECK (iban LIKE 'FI%' AND psop.iban_valid(iban)),
  email           text        CHECK (length(email) <= 254 AND email ~ '^[^@\s]+@[^@\s]+$'),
  supplier_number text        CHECK (length(btrim(supplier_number)) BETWEEN 1 AND 64),
  registered_by   text,
  version         bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- provider.apply: one row per application (a provider may apply again after a
-- rejection).
CREATE TABLE psop.provider_applications (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  provider_id      uuid        NOT NULL REFERENCES psop.providers (id),
  organiser_id     uuid        NOT NULL REFERENCES psop.organisers (id),
  service_type     text        NOT NULL REFERENCES psop.service_types (code),
  rulebook_version text        NOT NULL CHECK (length(btrim(rulebook_version)) BETWEEN 1 AND 64),
  applied_by       text        NOT NULL,
  applied_at       timestamptz NOT NULL DEFAULT now(),
  command_id       uuid
);

CREATE INDEX provider_applications_by_triple
  ON psop.provider_applications (provider_id, organiser_id, service_type, applied_at DESC);
-- An organiser's pending applications.
CREATE INDEX provider_applications_by_organiser
  ON psop.provider_applications (organiser_id, service_type);

-- provider.decide: approved (in force from valid_from) or rejected (with a
-- reason). The decision in force for a (provider, organiser, service type) is
-- the latest by (decided_at, id).
CREATE TABLE psop.provider_decisions (
  id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  provider_id    uuid        NOT NULL REFERENCES psop.providers (id),
  organiser_id   uuid        NOT NULL REFERENCES psop.organisers (id),
  service_type   text        NOT NULL REFERENCES psop.service_types (code),
  application_id bigint      REFERENCES psop.provider_applications (id),
  decision       text        NOT NULL CHECK (decision IN ('approved', 'rejected')),
  valid_from     date,
  reason         text        CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
  decided_by     text        NOT NULL,
  decided_at     timestamptz NOT NULL DEFAULT now(),
  command_id     uuid,
  -- an approval says from when; a rejection does not, and must say why.
  CONSTRAINT provider_decisions_valid_from_iff_approved
    CHECK ((decision = 'approved') = (valid_from IS NOT NULL)),
  CONSTRAINT provider_decisions_rejection_has_reason
    CHECK (decision = 'approved' OR reason IS NOT NULL)
);

CREATE INDEX provider_decisions_by_triple
  ON psop.provider_decisions (provider_id, organiser_id, service_type, decided_at DESC, id DESC);
-- Public list / voucher provider comparison: who is approved for (organiser, service type).
CREATE INDEX provider_decisions_by_organiser_type
  ON psop.provider_decisions (organiser_id, service_type, provider_id)
  WHERE decision = 'approved';

-- provider.suspend: from from_date on, no new voucher choices and no events
-- dated on/after it. A suspension applies to the approval it follows; a later
-- approval decision (decided_at after the suspension) lifts it.
CREATE TABLE psop.provider_suspensions (
  id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  provider_id  uuid        NOT NULL REFERENCES psop.providers (id),
  organiser_id uuid        NOT NULL REFERENCES psop.organisers (id),
  service_type text        NOT NULL REFERENCES psop.service_types (code),
  from_date    date        NOT NULL,
  reason       text        NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 2000),
  suspended_by text        NOT NULL,
  suspended_at timestamptz NOT NULL DEFAULT now(),
  command_id   uuid
);

CREATE INDEX provider_suspensions_by_triple
  ON psop.provider_suspensions (provider_id, organiser_id, service_type, suspended_at DESC);
CREATE INDEX provider_suspensions_by_organiser_type
  ON psop.provider_suspensions (organiser_id, service_type, provider_id);

-- provider.set_price: VAT-inclusive unit price per (organiser, service type)
-- from valid_from; per-band prices optional (null = use price_cents). The
-- price in force on a date d is the row with the latest valid_from <= d:
--   SELECT ... FROM psop.provider_prices
--    WHERE provider_id = $1 AND organiser_id = $2 AND service_type = $3
--      AND valid_from <= $4
--    ORDER BY valid_from DESC LIMIT 1;     -- served by the unique index
CREATE TABLE psop.provider_prices (
  provider_id          uuid        NOT NULL REFERENCES psop.providers (id),
  organiser_id         uuid        NOT NULL REFERENCES psop.organisers (id),
  service_type         text        NOT NULL REFERENCES psop.service_types (code),
  valid_from           date        NOT NULL,
  price_cents          bigint      NOT NULL CHECK (price_cents >= 0),
  price_evening_cents  bigint      CHECK (price_evening_cents  >= 0),
  price_saturday_cents bigint      CHECK (price_saturday_cents >= 0),
  price_sunday_cents   bigint      CHECK (price_sunday_cents   >= 0),
  set_by               text        NOT NULL,
  set_at               timestamptz NOT NULL DEFAULT now(),
  command_id           uuid,
  CONSTRAINT provider_prices_pk
    PRIMARY KEY (provider_id, organiser_id, service_type, valid_from)
);

-- All providers' prices for an (organiser, service type): public list and
-- the comparison of a voucher's providers.
CREATE INDEX provider_prices_by_organiser_type
  ON psop.provider_prices (organiser_id, service_type, provider_id, valid_from DESC);
