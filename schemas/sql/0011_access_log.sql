-- 0011_access_log.sql - who saw which client's data (docs/domain.md,
-- "Access log and representation"; issue 18).
--
-- One row per access record of psop.audit, written by the audit worker
-- (psop-worker --role audit), keyed (at, id) so a replayed record is a no-op.
-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE for every role,
-- the application's included; retention removes whole months by dropping
-- their partitions (psop.access_log_drop_before), which no row trigger sees.
-- Partitioned by month of `at`; psop.access_log_partition(at) creates a
-- month on first use.

CREATE TABLE psop.access_log (
  id            uuid        NOT NULL,
  at            timestamptz NOT NULL,
  actor_sub     text        NOT NULL,
  actor_role    text        NOT NULL CHECK (actor_role IN ('admin', 'organiser', 'provider', 'client')),
  actor_org     uuid,
  actor_provider uuid,
  actor_client  text,
  actor_key_id  uuid,
  on_behalf_of  text,
  action        text        NOT NULL CHECK (action IN ('read', 'command')),
  resource_type text        NOT NULL CHECK (length(resource_type) BETWEEN 1 AND 40),
  resource_id   text,
  organiser_id  uuid,
  client_ids    text[]      NOT NULL DEFAULT '{}',
  status        int         NOT NULL CHECK (status BETWEEN 100 AND 599),
  ip            text,
  traceparent   text,
  written_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (at, id)
) PARTITION BY RANGE (at);

CREATE INDEX access_log_org_at ON psop.access_log (organiser_id, at DESC, id DESC);
CREATE INDEX access_log_clients ON psop.access_log USING gin (client_ids);
CREATE INDEX access_log_trace ON psop.access_log (traceparent);

CREATE FUNCTION psop.access_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'psop.access_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON psop.access_log
  FOR EACH ROW EXECUTE FUNCTION psop.access_log_refuse();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON psop.access_log
  FOR EACH STATEMENT EXECUTE FUNCTION psop.access_log_refuse();

-- The month partition holding `at`, created when missing. Row and statement
-- triggers of the parent apply to every partition (PostgreSQL 13+).
CREATE FUNCTION psop.access_log_partition(p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m date := date_trunc('month', p_at AT TIME ZONE 'UTC')::date;
  name text := format('access_log_%s', to_char(m, 'YYYYMM'));
BEGIN
  IF to_regclass('psop.' || name) IS NULL THEN
    EXECUTE format('CREATE TABLE IF NOT EXISTS psop.%I PARTITION OF psop.access_log '
                   'FOR VALUES FROM (%L) TO (%L)', name,
                   (m::timestamp AT TIME ZONE 'UTC'),
                   ((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
  END IF;
END $$;

-- Retention: drops every month partition that ends before p_before; returns
-- how many. Whole months only, so a record is kept at least as long as asked.
CREATE FUNCTION psop.access_log_drop_before(p_before timestamptz) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  r record;
  n int := 0;
BEGIN
  FOR r IN SELECT c.relname,
                  to_date(substr(c.relname, 12), 'YYYYMM') AS m
             FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent
             JOIN pg_namespace ns ON ns.oid = p.relnamespace
            WHERE ns.nspname = 'psop' AND p.relname = 'access_log'
  LOOP
    IF ((r.m + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= p_before THEN
      EXECUTE format('ALTER TABLE psop.access_log DETACH PARTITION psop.%I', r.relname);
      EXECUTE format('DROP TABLE psop.%I', r.relname);
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;

COMMENT ON TABLE psop.access_log IS
  'Access records (psop.audit): who read or changed which client''s data, when, through what. Append-only; retention drops whole months.';
