-- 0001_core.sql - schema, shared helper functions, command idempotency, outbox.
--
-- Applied by `psopctl migrate` in its own transaction (no BEGIN/COMMIT here).
-- Released files never change; later changes are new files (expand, migrate,
-- contract). See docs/data-model.md.

CREATE SCHEMA IF NOT EXISTS psop;

COMMENT ON SCHEMA psop IS
  'PSOP: service vouchers (palveluseteli) and purchased services (ostopalvelu). Source of truth.';

-- ---------------------------------------------------------------------------
-- Helper functions used by CHECK constraints. IMMUTABLE and pure, so CHECKs
-- stay per-row expressions (no triggers). They mirror lib/domain/fi.h: the
-- front and the workers validate first; these are the database's backstop.
-- ---------------------------------------------------------------------------

-- Y-tunnus "NNNNNNN-C": weights 7,9,10,5,8,4,2; remainder 0 -> C = 0,
-- remainder 1 -> never valid, else C = 11 - remainder.
CREATE FUNCTION psop.business_id_valid(v text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  w int[] := ARRAY[7, 9, 10, 5, 8, 4, 2];
  s int := 0;
  r int;
BEGIN
  IF v !~ '^[0-9]{7}-[0-9]$' THEN
    RETURN false;
  END IF;
  FOR i IN 1..7 LOOP
    s := s + w[i] * (ascii(substr(v, i, 1)) - 48);
  END LOOP;
  r := s % 11;
  IF r = 1 THEN
    RETURN false;
  END IF;
  RETURN (ascii(substr(v, 9, 1)) - 48) = CASE WHEN r = 0 THEN 0 ELSE 11 - r END;
END
$$;

-- IBAN in electronic format (no spaces, upper case): ISO 13616 mod 97 = 1,
-- and the Finnish length (18) when the country is FI.
CREATE FUNCTION psop.iban_valid(v text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  t text;
  c int;
  rem int := 0;
BEGIN
  IF v !~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$' THEN
    RETURN false;
  END IF;
  IF left(v, 2) = 'FI' AND length(v) <> 18 THEN
    RETURN false;
  END IF;
  t := substr(v, 5) || left(v, 4);
  FOR i IN 1..length(t) LOOP
    c := ascii(substr(t, i, 1));
    IF c BETWEEN 48 AND 57 THEN
      rem := (rem * 10 + (c - 48)) % 97;
    ELSE
      rem := (rem * 100 + (c - 55)) % 97;   -- A = 10 .. Z = 35
    END IF;
  END LOOP;
  RETURN rem = 1;
END
$$;

-- Check digit of a Finnish creditor reference (viitenumero) for a base of
-- 3..19 digits: weights 7,3,1,7,3,1,... from the right; digit = (10 - sum % 10) % 10.
CREATE FUNCTION psop.fi_reference_check_digit(base text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  w int[] := ARRAY[7, 3, 1];
  s int := 0;
  n int;
BEGIN
  IF base !~ '^[0-9]{3,19}$' THEN
    RAISE EXCEPTION 'reference base must be 3..19 digits: %', base
      USING ERRCODE = '22023';
  END IF;
  n := length(base);
  FOR i IN 0..n - 1 LOOP
    s := s + w[(i % 3) + 1] * (ascii(substr(base, n - i, 1)) - 48);
  END LOOP;
  RETURN ((10 - s % 10) % 10)::text;
END
$$;

-- A complete reference: 4..20 digits, the last the 7-3-1 check digit.
CREATE FUNCTION psop.fi_reference_valid(v text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE
    WHEN v ~ '^[0-9]{4,20}$'
      THEN right(v, 1) = psop.fi_reference_check_digit(left(v, -1))
    ELSE false
  END
$$;

-- round(a * b / d), half away from zero, in exact bigint arithmetic; d > 0.
-- A plain SQL expression so the planner inlines it into CHECK constraints
-- (no function call per row). Callers keep a * b well inside bigint: cents up
-- to 10^10 times hundredths or basis points up to 10^5.
CREATE FUNCTION psop.round_div(a bigint, b bigint, d bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT sign(a * b) * ((abs(a * b) * 2 + d) / (2 * d))
$$;

-- ---------------------------------------------------------------------------
-- processed_commands: the idempotency table. The worker's FIRST statement for
-- each command of a batch (inside the batch transaction) is
--   INSERT INTO psop.processed_commands (command_id, type, received_at, ...)
--   VALUES (...) ON CONFLICT (command_id) DO NOTHING;
-- 0 rows = duplicate (replay, rebalance, crash before offsets were stored):
-- skip it. The row commits atomically with the command's effects, so a
-- command is applied at most once and, with offsets stored after COMMIT, at
-- least once. A business rejection is a result: the same row is updated to
-- status 'rejected' with its reason (effects rolled back to a savepoint).
-- ---------------------------------------------------------------------------
CREATE TABLE psop.processed_commands (
  command_id      uuid        PRIMARY KEY,
  type            text        NOT NULL CHECK (type ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
  status          text        NOT NULL DEFAULT 'applied'
                              CHECK (status IN ('applied', 'rejected')),
  reason          text,
  -- id of the created or targeted aggregate: a uuid, a service type code or a
  -- holiday date, hence text.
  resource_id     text,
  actor_sub       text,
  actor_role      text        CHECK (actor_role IN ('admin', 'organiser', 'provider', 'client')),
  received_at     timestamptz NOT NULL,
  applied_at      timestamptz NOT NULL DEFAULT now(),
  kafka_topic     text,
  kafka_partition integer     CHECK (kafka_partition >= 0),
  kafka_offset    bigint      CHECK (kafka_offset >= 0),
  CONSTRAINT processed_commands_reason_iff_rejected
    CHECK ((status = 'rejected') = (reason IS NOT NULL)),
  CONSTRAINT processed_commands_kafka_all_or_none
    CHECK (num_nulls(kafka_topic, kafka_partition, kafka_offset) IN (0, 3))
);

COMMENT ON TABLE psop.processed_commands IS
  'One row per command ever applied or rejected; INSERT ... ON CONFLICT DO NOTHING is the idempotency gate.';

-- Retention/ops scans by time; BRIN because rows arrive in time order.
CREATE INDEX processed_commands_applied_at_brin
  ON psop.processed_commands USING brin (applied_at);

-- GET /v1/commands/{id} falls back to PostgreSQL through this view when the
-- Redis read model is missing. 'accepted' (published, not yet applied) is
-- known only to the front, i.e. a missing row.
CREATE VIEW psop.command_status AS
  SELECT command_id, type, status, reason, resource_id, actor_sub, actor_role,
         received_at, applied_at
    FROM psop.processed_commands;

-- ---------------------------------------------------------------------------
-- outbox: domain events written in the same transaction as the change, and
-- published to Kafka after COMMIT (the worker publishes its batch's rows and
-- sets published_at; a relay republishes what a crash left behind).
--
-- Why the relay orders by created_txid and not by id: a bigserial value is
-- taken when the row is inserted, long before the transaction commits, and
-- transactions commit in any order. With ids, row 6 can be visible while row 5
-- (an older, still running transaction) is not: a relay that orders or pages
-- by id would publish 6 before 5, or skip 5 for good. created_txid is the
-- writing transaction's id (xid8, never wraps). The relay reads only rows
-- below the oldest transaction still running,
--   WHERE published_at IS NULL
--     AND created_txid < pg_snapshot_xmin(pg_current_snapshot())
--   ORDER BY created_txid, id
-- so every transaction in that range has finished and no row can appear
-- behind it later; within one transaction, id keeps insert order. One
-- aggregate's commands come from one Kafka partition, applied batch after
-- batch, each batch's transaction starting after the previous one committed,
-- so (created_txid, id) is also the aggregate's change order.
-- ---------------------------------------------------------------------------
CREATE TABLE psop.outbox (
  id           bigserial   PRIMARY KEY,
  event_id     uuid        NOT NULL UNIQUE,
  topic        text        NOT NULL CHECK (topic ~ '^psop\.[a-z0-9_.-]+$'),
  key          text        NOT NULL,
  payload      jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  created_txid xid8        NOT NULL DEFAULT pg_current_xact_id(),
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);

COMMENT ON TABLE psop.outbox IS
  'Transactional outbox of CloudEvents; relay order is (created_txid, id), never id alone.';
COMMENT ON COLUMN psop.outbox.created_txid IS
  'pg_current_xact_id() of the writing transaction; relay reads rows with created_txid < pg_snapshot_xmin(pg_current_snapshot()).';

-- The relay's query: unpublished rows in transaction order. Partial, so it
-- holds only the (normally tiny) backlog.
CREATE INDEX outbox_unpublished_by_txid
  ON psop.outbox (created_txid, id)
  WHERE published_at IS NULL;

-- Purging published rows after the retention period.
CREATE INDEX outbox_created_at_brin ON psop.outbox USING brin (created_at);
