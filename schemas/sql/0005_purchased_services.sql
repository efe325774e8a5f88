-- 0005_purchased_services.sql - purchased services (ostopalvelu): procurement
-- contracts, their price history, and orders (maksusitoumus) under them.
-- Comes before service events, which reference orders and contracts.

CREATE TABLE psop.contracts (
  id                 uuid        PRIMARY KEY,       -- chosen by the organiser
  organiser_id       uuid        NOT NULL REFERENCES psop.organisers (id),
  provider_id        uuid        NOT NULL REFERENCES psop.providers (id),
  service_type       text        NOT NULL REFERENCES psop.service_types (code),
  valid_from         date        NOT NULL,
  valid_to           date,                          -- inclusive; null = open-ended
  monthly_volume_cap integer     CHECK (monthly_volume_cap > 0),  -- hundredths, over all orders
  version            bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_by         text        NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT contracts_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

CREATE INDEX contracts_by_organiser ON psop.contracts (organiser_id, service_type);
CREATE INDEX contracts_by_provider  ON psop.contracts (provider_id);

-- Price history, like provider_prices: the price in force on d is the row
-- with the latest valid_from <= d (PK index, backwards). Each contract.upsert
-- writes the row for its valid_from (the same valid_from replaces it).
CREATE TABLE psop.contract_prices (
  contract_id          uuid        NOT NULL REFERENCES psop.contracts (id),
  valid_from           date        NOT NULL,
  price_cents          bigint      NOT NULL CHECK (price_cents >= 0),
  price_evening_cents  bigint      CHECK (price_evening_cents  >= 0),
  price_saturday_cents bigint      CHECK (price_saturday_cents >= 0),
  price_sunday_cents   bigint      CHECK (price_sunday_cents   >= 0),
  set_by               text        NOT NULL,
  set_at               timestamptz NOT NULL DEFAULT now(),
  command_id           uuid,
  PRIMARY KEY (contract_id, valid_from)
);

CREATE TABLE psop.orders (
  id               uuid        PRIMARY KEY,
  organiser_id     uuid        NOT NULL REFERENCES psop.organisers (id),
  client_id        text        NOT NULL
                               CHECK (length(client_id) BETWEEN 1 AND 64
                                      AND client_id !~* '^[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]$'),
  contract_id      uuid        NOT NULL REFERENCES psop.contracts (id),
  decision_number  text        NOT NULL CHECK (length(btrim(decision_number)) BETWEEN 1 AND 64),
  valid_from       date        NOT NULL,
  valid_to         date,
  monthly_quota    integer     CHECK (monthly_quota > 0),      -- hundredths
  client_fee_cents bigint      NOT NULL CHECK (client_fee_cents >= 0),  -- per unit, 0 = free
  status           text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
  end_date         date,                                       -- no events after this date
  end_reason       text        CHECK (length(btrim(end_reason)) BETWEEN 1 AND 2000),
  ended_by         text,
  ended_at         timestamptz,
  created_by       text        NOT NULL,
  version          bigint      NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from),
  CONSTRAINT orders_ended_has_date_reason
    CHECK ((status = 'ended') = (end_date IS NOT NULL AND end_reason IS NOT NULL
                                 AND ended_at IS NOT NULL))
);

CREATE INDEX orders_by_client   ON psop.orders (organiser_id, client_id);
CREATE INDEX orders_by_contract ON psop.orders (contract_id);
