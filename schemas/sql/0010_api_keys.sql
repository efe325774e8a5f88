-- 0010_api_keys.sql - provider integration keys (docs/domain.md, "Provider
-- integration keys"; issue 17).
--
-- A key's secret is never here: only its SHA-256 (hex), which the api
-- compares in constant time. A key lives at most 365 days; at most 10 keys
-- of a provider are live (not revoked, not expired): the worker counts them
-- under the provider's row lock. last_used_at is written by the api at most
-- once a minute per key and replica, truncated to the minute.

CREATE TABLE psop.api_keys (
  id            uuid        PRIMARY KEY,
  provider_id   uuid        NOT NULL REFERENCES psop.providers (id),
  name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  scope         text        NOT NULL CHECK (scope IN ('read', 'write')),
  secret_hash   text        NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  created_by    text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  revoked_by    text,
  last_used_at  timestamptz,
  CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days'),
  CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

CREATE INDEX api_keys_provider ON psop.api_keys (provider_id, created_at);

COMMENT ON TABLE psop.api_keys IS
  'Provider integration keys: the SHA-256 of the secret, never the secret; revocation and expiry end a key within 5 s on every api replica.';
