-- 0008_idempotency_keys.sql - Idempotency-Key kept durably, and the whole
-- principal of every command (issue 15 section 2, issue 14 item 7).
--
-- Redis is no longer the only memory of an Idempotency-Key. The front derives
-- a keyed request's command ids from (principal, key, request digest), so a
-- retry publishes the same ids and processed_commands de-duplicates it even
-- when Redis is down; the worker records here, in the batch transaction and
-- before the command's savepoint (so a rejected command keeps its key too),
--   (principal, key) -> (first command id, request digest)
-- and rejects a command whose key is already held with another digest as
-- "idempotency_key_reused". Absent claims are '' so the principal can be the
-- primary key. Keys are kept for good: a key names one request for ever
-- (Redis' 24 h is only how long the front can answer a reuse at once).

CREATE TABLE psop.idempotency_keys (
  actor_role       text        NOT NULL CHECK (actor_role IN ('admin', 'organiser', 'provider', 'client')),
  actor_org        text        NOT NULL DEFAULT '',
  actor_provider   text        NOT NULL DEFAULT '',
  actor_client     text        NOT NULL DEFAULT '',
  actor_sub        text        NOT NULL CHECK (actor_sub <> ''),
  idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 128),
  command_id       uuid        NOT NULL,
  request_digest   text        NOT NULL CHECK (request_digest ~ '^[0-9a-f]{64}$'),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (actor_role, actor_org, actor_provider, actor_client, actor_sub, idempotency_key)
);

COMMENT ON TABLE psop.idempotency_keys IS
  'One row per (principal, Idempotency-Key) ever used: the first command id and the request digest; another digest is rejected as idempotency_key_reused.';

-- Retention/ops scans by time; BRIN because rows arrive in time order.
CREATE INDEX idempotency_keys_created_at_brin
  ON psop.idempotency_keys USING brin (created_at);

-- The whole principal of each command, so GET /v1/commands/{id} answers the
-- issuer (role, org, provider, client, sub) and not everyone with its sub.
-- Rows written before this migration have NULL here: their status is
-- answered to admins and to principals without those claims only.
ALTER TABLE psop.processed_commands
  ADD COLUMN actor_org      text,
  ADD COLUMN actor_provider text,
  ADD COLUMN actor_client   text;

CREATE OR REPLACE VIEW psop.command_status AS
  SELECT command_id, type, status, reason, resource_id, actor_sub, actor_role,
         received_at, applied_at, actor_org, actor_provider, actor_client
    FROM psop.processed_commands;
