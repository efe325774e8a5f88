-- 0012_mandates.sql - representation: who may act for a client (docs/domain.md,
-- "Access log and representation"; issue 18).
--
-- The organiser registers that proxy_client_id may act for client_id (both
-- the organiser's client references) from valid_from to valid_to (NULL:
-- open-ended); a revocation sets revoked_from, the first day the mandate is
-- no longer in force. In force on day d:
--   valid_from <= d AND (valid_to IS NULL OR d <= valid_to)
--   AND (revoked_from IS NULL OR d < revoked_from)
-- (psop.mandate_in_force). Rows are never deleted: a past mandate is part of
-- the record of who could see a client's data.

CREATE TABLE psop.mandates (
  id              uuid        PRIMARY KEY,
  organiser_id    uuid        NOT NULL REFERENCES psop.organisers (id),
  client_id       text        NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
  proxy_client_id text        NOT NULL CHECK (length(proxy_client_id) BETWEEN 1 AND 64),
  kind            text        NOT NULL CHECK (kind IN ('guardian', 'trustee', 'authorised')),
  valid_from      date        NOT NULL,
  valid_to        date,
  revoked_from    date,
  granted_by      text        NOT NULL,
  granted_at      timestamptz NOT NULL DEFAULT now(),
  revoked_by      text,
  revoked_at      timestamptz,
  CONSTRAINT mandates_not_self CHECK (client_id <> proxy_client_id),
  CONSTRAINT mandates_valid_range CHECK (valid_to IS NULL OR valid_to >= valid_from),
  CHECK ((revoked_from IS NULL) = (revoked_by IS NULL) AND (revoked_by IS NULL) = (revoked_at IS NULL))
);

CREATE INDEX mandates_proxy ON psop.mandates (organiser_id, proxy_client_id, client_id);
CREATE INDEX mandates_client ON psop.mandates (organiser_id, client_id);

-- Whether a mandate lets p_proxy act for p_client at p_org on p_day.
CREATE FUNCTION psop.mandate_in_force(p_org uuid, p_proxy text, p_client text, p_day date)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM psop.mandates m
                  WHERE m.organiser_id = p_org AND m.proxy_client_id = p_proxy
                    AND m.client_id = p_client AND m.valid_from <= p_day
                    AND (m.valid_to IS NULL OR p_day <= m.valid_to)
                    AND (m.revoked_from IS NULL OR p_day < m.revoked_from))
$$;

COMMENT ON TABLE psop.mandates IS
  'Mandates (guardianship, trusteeship, written authorisation): proxy_client_id may read and act for client_id at organiser_id while in force.';
