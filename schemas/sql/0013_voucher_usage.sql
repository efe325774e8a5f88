-- A voucher's usage per month, kept by delta (issue 19): what the voucher
-- document's `usage` shows, so building that document no longer reads every
-- event of the voucher's history (1.3 ms of PostgreSQL per command at 200
-- events, and growing).
--
-- Derived data, maintained by the triggers below in the transaction that
-- changes an event or a credit, whichever code (or release) writes it: a
-- rolling upgrade needs no step, and the aggregate cannot drift from the
-- events. The rules are those of the former aggregate over the events:
--   used       sum(quantity - credited_quantity) of the events not deleted (hundredths)
--   cents      sum(organiser_part_cents + the credits' organiser_part_cents) of those
--   events     how many are not deleted
--   all_events how many events the month has at all, deleted included; a month
--              is shown while it has one (a month whose events were all deleted
--              shows zeros; one whose only event moved away is gone)
-- That aggregate is the view psop.voucher_usage_from_events (end of file);
-- tests/integration/worker_voucher.c and tests/sql/constraints.sql compare with it.

CREATE TABLE psop.voucher_usage (
  voucher_id uuid   NOT NULL,  -- no FK: derived, written per event change
  month      text   NOT NULL CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
  used       bigint NOT NULL,
  cents      numeric NOT NULL,
  -- No CHECK on the counts: an upsert's row of deltas (negative for a
  -- removal) is checked before the conflict makes it an UPDATE.
  events     bigint NOT NULL,
  all_events bigint NOT NULL,
  PRIMARY KEY (voucher_id, month)
);

COMMENT ON TABLE psop.voucher_usage IS
  'Per voucher and month (YYYY-MM): used quantity, organiser cents and event counts of its service events, kept by triggers on psop.service_events and psop.credits.';

-- Adds the deltas to (v, m). PL/pgSQL, not SQL: its plan is kept for the
-- session, where a SQL function called from a trigger is planned per call.
CREATE FUNCTION psop.voucher_usage_add(v uuid, m text, d_used bigint, d_cents numeric,
                                       d_events bigint, d_all bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO psop.voucher_usage AS u (voucher_id, month, used, cents, events, all_events)
  VALUES (v, m, d_used, d_cents, d_events, d_all)
  ON CONFLICT (voucher_id, month) DO UPDATE
    SET used = u.used + EXCLUDED.used, cents = u.cents + EXCLUDED.cents,
        events = u.events + EXCLUDED.events, all_events = u.all_events + EXCLUDED.all_events;
END $$;

-- An event's share of its month, sign * (its usage), its credits included.
CREATE FUNCTION psop.voucher_usage_event(e psop.service_events, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  credited numeric := 0;
BEGIN
  IF e.state = 'deleted' THEN
    PERFORM psop.voucher_usage_add(e.voucher_id, to_char(e.date, 'YYYY-MM'), 0, 0, 0, sign);
    RETURN;
  END IF;
  SELECT coalesce(sum(c.organiser_part_cents), 0) INTO credited
    FROM psop.credits c WHERE c.event_id = e.id;
  PERFORM psop.voucher_usage_add(e.voucher_id, to_char(e.date, 'YYYY-MM'),
                                 sign * (e.quantity - e.credited_quantity)::bigint,
                                 sign * (e.organiser_part_cents + credited), sign, sign);
END $$;

-- A new event: its share in (no credits yet). The one statement inline: the
-- path every service_event.record takes.
CREATE FUNCTION psop.voucher_usage_event_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live integer := CASE WHEN NEW.state <> 'deleted' THEN 1 ELSE 0 END;
BEGIN
  INSERT INTO psop.voucher_usage AS u (voucher_id, month, used, cents, events, all_events)
  VALUES (NEW.voucher_id, to_char(NEW.date, 'YYYY-MM'),
          live * (NEW.quantity - NEW.credited_quantity)::bigint,
          live * NEW.organiser_part_cents, live, 1)
  ON CONFLICT (voucher_id, month) DO UPDATE
    SET used = u.used + EXCLUDED.used, cents = u.cents + EXCLUDED.cents,
        events = u.events + EXCLUDED.events, all_events = u.all_events + EXCLUDED.all_events;
  RETURN NULL;
END $$;

-- A changed or removed event: its old share out, its new share in. Both are
-- taken with the credits as they are now, so a credit's own cents (added by
-- its trigger) cancel out unless the event's deletion changed.
CREATE FUNCTION psop.voucher_usage_event_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.voucher_id IS NOT NULL THEN
    PERFORM psop.voucher_usage_event(OLD, -1);
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.voucher_id IS NOT NULL THEN
    PERFORM psop.voucher_usage_event(NEW, 1);
  END IF;
  RETURN NULL;
END $$;

-- A credit's cents go to its event's month while the event is not deleted.
CREATE FUNCTION psop.voucher_usage_credit_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  e psop.service_events;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    SELECT * INTO e FROM psop.service_events WHERE id = OLD.event_id;
    IF e.voucher_id IS NOT NULL AND e.state <> 'deleted' THEN
      PERFORM psop.voucher_usage_add(e.voucher_id, to_char(e.date, 'YYYY-MM'), 0,
                                     -OLD.organiser_part_cents, 0, 0);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    SELECT * INTO e FROM psop.service_events WHERE id = NEW.event_id;
    IF e.voucher_id IS NOT NULL AND e.state <> 'deleted' THEN
      PERFORM psop.voucher_usage_add(e.voucher_id, to_char(e.date, 'YYYY-MM'), 0,
                                     NEW.organiser_part_cents, 0, 0);
    END IF;
  END IF;
  RETURN NULL;
END $$;

-- Row by row: for the one event a command inserts, cheaper than a
-- statement trigger's transition table (measured: docs/benchmarks.md).
CREATE TRIGGER voucher_usage_ins AFTER INSERT ON psop.service_events
  FOR EACH ROW WHEN (NEW.voucher_id IS NOT NULL)
  EXECUTE FUNCTION psop.voucher_usage_event_inserted();

-- Only the changes that move the usage: a settlement run's UPDATE of a
-- million events (state approved -> settled) calls nothing.
CREATE TRIGGER voucher_usage_upd AFTER UPDATE ON psop.service_events
  FOR EACH ROW
  WHEN ((OLD.voucher_id IS NOT NULL OR NEW.voucher_id IS NOT NULL)
        AND (OLD.voucher_id IS DISTINCT FROM NEW.voucher_id OR OLD.date <> NEW.date
             OR OLD.quantity <> NEW.quantity OR OLD.credited_quantity <> NEW.credited_quantity
             OR OLD.organiser_part_cents <> NEW.organiser_part_cents
             OR (OLD.state = 'deleted') <> (NEW.state = 'deleted')))
  EXECUTE FUNCTION psop.voucher_usage_event_changed();

CREATE TRIGGER voucher_usage_del AFTER DELETE ON psop.service_events
  FOR EACH ROW WHEN (OLD.voucher_id IS NOT NULL)
  EXECUTE FUNCTION psop.voucher_usage_event_changed();

CREATE TRIGGER voucher_usage_credit AFTER INSERT OR DELETE ON psop.credits
  FOR EACH ROW EXECUTE FUNCTION psop.voucher_usage_credit_changed();

CREATE TRIGGER voucher_usage_credit_upd AFTER UPDATE ON psop.credits
  FOR EACH ROW
  WHEN (OLD.event_id <> NEW.event_id OR OLD.organiser_part_cents <> NEW.organiser_part_cents)
  EXECUTE FUNCTION psop.voucher_usage_credit_changed();

-- The same figures aggregated from the events themselves: the rule the
-- triggers keep by delta, in one place. It fills the table below, and the
-- tests and the benchmark compare with it (a `WHERE voucher_id = ...` on it is
-- pushed below the GROUP BY: it reads that voucher's events only).
CREATE VIEW psop.voucher_usage_from_events AS
SELECT e.voucher_id, to_char(e.date, 'YYYY-MM') AS month,
       coalesce(sum(e.quantity - e.credited_quantity) FILTER (WHERE e.state <> 'deleted'), 0)
         AS used,
       coalesce(sum(e.organiser_part_cents + coalesce(cr.op, 0))
                FILTER (WHERE e.state <> 'deleted'), 0) AS cents,
       count(*) FILTER (WHERE e.state <> 'deleted') AS events,
       count(*) AS all_events
  FROM psop.service_events e
  LEFT JOIN LATERAL (SELECT sum(c.organiser_part_cents) AS op FROM psop.credits c
                      WHERE c.event_id = e.id) cr ON true
 WHERE e.voucher_id IS NOT NULL
 GROUP BY 1, 2;

COMMENT ON VIEW psop.voucher_usage_from_events IS
  'psop.voucher_usage recomputed from the events and credits (the reference the triggers keep; slow: reads every event).';

-- What is there already (the triggers above hold the table's lock from here
-- to the commit: no change slips between).
INSERT INTO psop.voucher_usage (voucher_id, month, used, cents, events, all_events)
SELECT voucher_id, month, used, cents, events, all_events FROM psop.voucher_usage_from_events;
