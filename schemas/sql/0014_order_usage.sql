-- An order's and a contract's usage per month, kept by delta (issue 19), as
-- 0013 keeps a voucher's: an order event's facts (the order's quota, the
-- contract's monthly volume cap over all its orders) and the order document's
-- `usage` no longer sum every event of the month or of the order's history,
-- which grew with the contract's volume (a contract with thousands of events
-- a month summed them all for each new one).
--
-- Derived data, maintained by the triggers below in the transaction that
-- changes an event or a credit, whichever code (or release) writes it: a
-- rolling upgrade needs no step, and the aggregates cannot drift from the
-- events. The rules are those of the former aggregates over the events
-- (the views at the end of this file):
--   order_usage (order, month):
--     used       sum(quantity - credited_quantity) of the events not deleted (hundredths)
--     op_cents   sum(organiser_part_cents + the credits' organiser_part_cents) of those
--     cs_cents   sum(client_share_cents + the credits' client_share_cents) of those
--     events     how many are not deleted
--     all_events how many events the month has at all, deleted included (the
--                document shows a month while it has one)
--   contract_usage (contract, month):
--     used       sum(quantity - credited_quantity) of its orders' events not deleted
-- An event of an order carries its order_id and contract_id (0006's CHECKs).
-- Writers serialise on the order row and the contract row (the worker locks
-- both first), so the rows below are not contended by anything else.

CREATE TABLE psop.order_usage (
  order_id   uuid    NOT NULL,  -- no FK: derived, written per event change
  month      text    NOT NULL CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
  used       bigint  NOT NULL,
  op_cents   numeric NOT NULL,
  cs_cents   numeric NOT NULL,
  -- No CHECK on the counts: an upsert's row of deltas (negative for a
  -- removal) is checked before the conflict makes it an UPDATE.
  events     bigint  NOT NULL,
  all_events bigint  NOT NULL,
  PRIMARY KEY (order_id, month)
);

COMMENT ON TABLE psop.order_usage IS
  'Per order and month (YYYY-MM): used quantity, organiser and client cents and event counts of its service events, kept by triggers on psop.service_events and psop.credits.';

CREATE TABLE psop.contract_usage (
  contract_id uuid   NOT NULL,
  month       text   NOT NULL CHECK (month ~ '^[0-9]{4}-[0-9]{2}$'),
  used        bigint NOT NULL,
  PRIMARY KEY (contract_id, month)
);

COMMENT ON TABLE psop.contract_usage IS
  'Per contract and month (YYYY-MM): used quantity of its orders'' service events (the monthly volume cap''s measure), kept by triggers on psop.service_events.';

-- Adds the deltas to (o, m) and the used quantity to (c, m).
CREATE FUNCTION psop.order_usage_add(o uuid, c uuid, m text, d_used bigint, d_op numeric,
                                     d_cs numeric, d_events bigint, d_all bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO psop.order_usage AS u (order_id, month, used, op_cents, cs_cents, events, all_events)
  VALUES (o, m, d_used, d_op, d_cs, d_events, d_all)
  ON CONFLICT (order_id, month) DO UPDATE
    SET used = u.used + EXCLUDED.used, op_cents = u.op_cents + EXCLUDED.op_cents,
        cs_cents = u.cs_cents + EXCLUDED.cs_cents, events = u.events + EXCLUDED.events,
        all_events = u.all_events + EXCLUDED.all_events;
  IF d_used <> 0 THEN
    INSERT INTO psop.contract_usage AS u (contract_id, month, used) VALUES (c, m, d_used)
    ON CONFLICT (contract_id, month) DO UPDATE SET used = u.used + EXCLUDED.used;
  END IF;
END $$;

-- An event's share of its month, sign * (its usage), its credits included.
CREATE FUNCTION psop.order_usage_event(e psop.service_events, sign integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  op numeric := 0;
  cs numeric := 0;
BEGIN
  IF e.state = 'deleted' THEN
    PERFORM psop.order_usage_add(e.order_id, e.contract_id, to_char(e.date, 'YYYY-MM'),
                                 0, 0, 0, 0, sign);
    RETURN;
  END IF;
  SELECT coalesce(sum(c.organiser_part_cents), 0), coalesce(sum(c.client_share_cents), 0)
    INTO op, cs FROM psop.credits c WHERE c.event_id = e.id;
  PERFORM psop.order_usage_add(e.order_id, e.contract_id, to_char(e.date, 'YYYY-MM'),
                               sign * (e.quantity - e.credited_quantity)::bigint,
                               sign * (e.organiser_part_cents + op),
                               sign * (e.client_share_cents + cs), sign, sign);
END $$;

-- A new event: its share in (no credits yet), the two upserts inline: the
-- path every order's service_event.record takes.
CREATE FUNCTION psop.order_usage_event_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  live integer := CASE WHEN NEW.state <> 'deleted' THEN 1 ELSE 0 END;
  m text := to_char(NEW.date, 'YYYY-MM');
  q bigint := live * (NEW.quantity - NEW.credited_quantity)::bigint;
BEGIN
  INSERT INTO psop.order_usage AS u (order_id, month, used, op_cents, cs_cents, events, all_events)
  VALUES (NEW.order_id, m, q, live * NEW.organiser_part_cents, live * NEW.client_share_cents,
          live, 1)
  ON CONFLICT (order_id, month) DO UPDATE
    SET used = u.used + EXCLUDED.used, op_cents = u.op_cents + EXCLUDED.op_cents,
        cs_cents = u.cs_cents + EXCLUDED.cs_cents, events = u.events + EXCLUDED.events,
        all_events = u.all_events + EXCLUDED.all_events;
  IF q <> 0 THEN
    INSERT INTO psop.contract_usage AS u (contract_id, month, used) VALUES (NEW.contract_id, m, q)
    ON CONFLICT (contract_id, month) DO UPDATE SET used = u.used + EXCLUDED.used;
  END IF;
  RETURN NULL;
END $$;

-- A changed or removed event: its old share out, its new share in, both
-- with the credits as they are now (a credit's own cents, added by its
-- trigger, cancel out unless the event's deletion changed).
CREATE FUNCTION psop.order_usage_event_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.order_id IS NOT NULL THEN
    PERFORM psop.order_usage_event(OLD, -1);
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.order_id IS NOT NULL THEN
    PERFORM psop.order_usage_event(NEW, 1);
  END IF;
  RETURN NULL;
END $$;

-- A credit's cents go to its event's month while the event is not deleted
-- (its quantity arrives as the event's credited_quantity, an UPDATE above).
CREATE FUNCTION psop.order_usage_credit_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  e psop.service_events;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    SELECT * INTO e FROM psop.service_events WHERE id = OLD.event_id;
    IF e.order_id IS NOT NULL AND e.state <> 'deleted' THEN
      PERFORM psop.order_usage_add(e.order_id, e.contract_id, to_char(e.date, 'YYYY-MM'), 0,
                                   -OLD.organiser_part_cents, -OLD.client_share_cents, 0, 0);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    SELECT * INTO e FROM psop.service_events WHERE id = NEW.event_id;
    IF e.order_id IS NOT NULL AND e.state <> 'deleted' THEN
      PERFORM psop.order_usage_add(e.order_id, e.contract_id, to_char(e.date, 'YYYY-MM'), 0,
                                   NEW.organiser_part_cents, NEW.client_share_cents, 0, 0);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER order_usage_ins AFTER INSERT ON psop.service_events
  FOR EACH ROW WHEN (NEW.order_id IS NOT NULL)
  EXECUTE FUNCTION psop.order_usage_event_inserted();

-- Only the changes that move the usage: a settlement run's UPDATE of a
-- million events (state approved -> settled) calls nothing.
CREATE TRIGGER order_usage_upd AFTER UPDATE ON psop.service_events
  FOR EACH ROW
  WHEN ((OLD.order_id IS NOT NULL OR NEW.order_id IS NOT NULL)
        AND (OLD.order_id IS DISTINCT FROM NEW.order_id
             OR OLD.contract_id IS DISTINCT FROM NEW.contract_id OR OLD.date <> NEW.date
             OR OLD.quantity <> NEW.quantity OR OLD.credited_quantity <> NEW.credited_quantity
             OR OLD.organiser_part_cents <> NEW.organiser_part_cents
             OR OLD.client_share_cents <> NEW.client_share_cents
             OR (OLD.state = 'deleted') <> (NEW.state = 'deleted')))
  EXECUTE FUNCTION psop.order_usage_event_changed();

CREATE TRIGGER order_usage_del AFTER DELETE ON psop.service_events
  FOR EACH ROW WHEN (OLD.order_id IS NOT NULL)
  EXECUTE FUNCTION psop.order_usage_event_changed();

CREATE TRIGGER order_usage_credit AFTER INSERT OR DELETE ON psop.credits
  FOR EACH ROW EXECUTE FUNCTION psop.order_usage_credit_changed();

CREATE TRIGGER order_usage_credit_upd AFTER UPDATE ON psop.credits
  FOR EACH ROW
  WHEN (OLD.event_id <> NEW.event_id OR OLD.organiser_part_cents <> NEW.organiser_part_cents
        OR OLD.client_share_cents <> NEW.client_share_cents)
  EXECUTE FUNCTION psop.order_usage_credit_changed();

-- The same figures aggregated from the events themselves: the rules the
-- triggers keep by delta, in one place. They fill the tables below, and the
-- tests compare with them.
CREATE VIEW psop.order_usage_from_events AS
SELECT e.order_id, to_char(e.date, 'YYYY-MM') AS month,
       coalesce(sum(e.quantity - e.credited_quantity) FILTER (WHERE e.state <> 'deleted'), 0)
         AS used,
       coalesce(sum(e.organiser_part_cents + coalesce(cr.op, 0))
                FILTER (WHERE e.state <> 'deleted'), 0) AS op_cents,
       coalesce(sum(e.client_share_cents + coalesce(cr.cs, 0))
                FILTER (WHERE e.state <> 'deleted'), 0) AS cs_cents,
       count(*) FILTER (WHERE e.state <> 'deleted') AS events,
       count(*) AS all_events
  FROM psop.service_events e
  LEFT JOIN LATERAL (SELECT sum(c.organiser_part_cents) AS op, sum(c.client_share_cents) AS cs
                       FROM psop.credits c WHERE c.event_id = e.id) cr ON true
 WHERE e.order_id IS NOT NULL
 GROUP BY 1, 2;

COMMENT ON VIEW psop.order_usage_from_events IS
  'psop.order_usage recomputed from the events and credits (the reference the triggers keep; slow: reads every event).';

CREATE VIEW psop.contract_usage_from_events AS
SELECT e.contract_id, to_char(e.date, 'YYYY-MM') AS month,
       sum(e.quantity - e.credited_quantity)::bigint AS used
  FROM psop.service_events e
 WHERE e.order_id IS NOT NULL AND e.state <> 'deleted'
 GROUP BY 1, 2;

COMMENT ON VIEW psop.contract_usage_from_events IS
  'psop.contract_usage recomputed from the events (the reference the triggers keep; slow).';

-- What is there already (creating the triggers locked service_events and
-- credits against writes until the commit: no change slips between).
INSERT INTO psop.order_usage (order_id, month, used, op_cents, cs_cents, events, all_events)
SELECT order_id, month, used, op_cents, cs_cents, events, all_events
  FROM psop.order_usage_from_events;
INSERT INTO psop.contract_usage (contract_id, month, used)
SELECT contract_id, month, used FROM psop.contract_usage_from_events;
