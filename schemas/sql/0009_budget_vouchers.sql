-- 0009_budget_vouchers.sql - budget vouchers (rahamääräinen palveluseteli):
-- a voucher worth a sum of money for a period (a pot) instead of a value per
-- unit (docs/domain.md, "Budget vouchers"; docs/vouchers.md).
--
-- The pot: vouchers.budget_cents, and budget_used_cents = the organiser parts
-- of the voucher's non-deleted events plus its credits' (<= 0). The worker
-- keeps budget_used_cents with one UPDATE per charge under the voucher's row
-- lock; the CHECK below makes an overdrawn or negative pot impossible, so a
-- race that slipped past the lock would fail its transaction, never pay a
-- euro twice.

-- ---------------------------------------------------------------------------
-- vouchers
-- ---------------------------------------------------------------------------
ALTER TABLE psop.vouchers DROP CONSTRAINT vouchers_value_basis_check;
ALTER TABLE psop.vouchers
  ADD CONSTRAINT vouchers_value_basis_check
  CHECK (value_basis IN ('flat', 'income', 'budget'));

ALTER TABLE psop.vouchers
  ADD COLUMN budget_cents      bigint CHECK (budget_cents BETWEEN 1 AND 10000000),
  ADD COLUMN budget_used_cents bigint CHECK (budget_used_cents >= 0);

ALTER TABLE psop.vouchers
  -- a budget exactly when the voucher is a budget voucher, with its use
  ADD CONSTRAINT vouchers_budget_iff_basis
    CHECK ((value_basis = 'budget') = (budget_cents IS NOT NULL)
           AND (budget_cents IS NULL) = (budget_used_cents IS NULL)),
  -- never overdrawn
  ADD CONSTRAINT vouchers_budget_within
    CHECK (budget_used_cents <= budget_cents),
  -- a pot is for a period: an end date, and no quota per month
  ADD CONSTRAINT vouchers_budget_period
    CHECK (value_basis <> 'budget' OR (valid_to IS NOT NULL AND monthly_quota IS NULL));

-- voucher.amend of a budget voucher: the new budget (the log; the pot
-- itself is vouchers.budget_cents).
ALTER TABLE psop.voucher_amendments
  ADD COLUMN budget_cents bigint CHECK (budget_cents BETWEEN 1 AND 10000000);
ALTER TABLE psop.voucher_amendments DROP CONSTRAINT voucher_amendments_changes_something;
ALTER TABLE psop.voucher_amendments
  ADD CONSTRAINT voucher_amendments_changes_something
  CHECK (num_nonnulls(unit_value_cents, valid_to, monthly_quota, budget_cents) >= 1);

-- ---------------------------------------------------------------------------
-- service_events: an event of a budget voucher has no value per unit
-- (voucher_value_cents and value_unit_cents are null); instead it keeps what
-- was left of the pot before it was charged, and its organiser part is
-- re-derived from that: min(gross, remaining before).
-- ---------------------------------------------------------------------------
ALTER TABLE psop.service_events
  ADD COLUMN budget_remaining_before_cents bigint
    CHECK (budget_remaining_before_cents > 0);

ALTER TABLE psop.service_events DROP CONSTRAINT service_events_voucher_inputs;
ALTER TABLE psop.service_events
  ADD CONSTRAINT service_events_voucher_inputs
  CHECK (voucher_id IS NULL
         OR (client_fee_cents IS NULL
             AND (band IS NULL) = (band_coefficient IS NULL)
             AND CASE WHEN budget_remaining_before_cents IS NULL
                      THEN voucher_value_cents IS NOT NULL AND value_unit_cents IS NOT NULL
                      ELSE voucher_value_cents IS NULL AND value_unit_cents IS NULL END));
ALTER TABLE psop.service_events
  ADD CONSTRAINT service_events_budget_only_vouchers
  CHECK (budget_remaining_before_cents IS NULL OR voucher_id IS NOT NULL);

ALTER TABLE psop.service_events DROP CONSTRAINT service_events_voucher_part;
ALTER TABLE psop.service_events
  ADD CONSTRAINT service_events_voucher_part
  CHECK (voucher_id IS NULL
         OR CASE WHEN budget_remaining_before_cents IS NULL
                 THEN organiser_part_cents
                      = psop.round_div(least(value_unit_cents, unit_price_cents), quantity, 100)
                 ELSE organiser_part_cents = least(gross_cents, budget_remaining_before_cents) END);

-- ---------------------------------------------------------------------------
-- credits of budget events: organiser part -round(event part x q / Q), never
-- more than the credit's gross (both kept: the event's part and quantity).
-- ---------------------------------------------------------------------------
ALTER TABLE psop.credits
  ADD COLUMN budget_event_part_cents bigint  CHECK (budget_event_part_cents >= 0),
  ADD COLUMN budget_event_quantity   integer CHECK (budget_event_quantity > 0);

ALTER TABLE psop.credits DROP CONSTRAINT credits_inputs;
ALTER TABLE psop.credits
  ADD CONSTRAINT credits_inputs
  CHECK (CASE WHEN is_order
              THEN client_fee_cents IS NOT NULL AND value_unit_cents IS NULL
                   AND budget_event_part_cents IS NULL
              WHEN budget_event_part_cents IS NOT NULL
              THEN value_unit_cents IS NULL AND client_fee_cents IS NULL
                   AND budget_event_quantity IS NOT NULL
              ELSE value_unit_cents IS NOT NULL AND client_fee_cents IS NULL END
         AND (budget_event_part_cents IS NULL) = (budget_event_quantity IS NULL));

ALTER TABLE psop.credits DROP CONSTRAINT credits_voucher_part;
ALTER TABLE psop.credits
  ADD CONSTRAINT credits_voucher_part
  CHECK (is_order
         OR CASE WHEN budget_event_part_cents IS NULL
                 THEN organiser_part_cents
                      = -psop.round_div(least(value_unit_cents, unit_price_cents), quantity, 100)
                 -- capped (partial credits' rounding): never more than the
                 -- share of the draw, never more than the credit's gross
                 ELSE organiser_part_cents BETWEEN gross_cents AND 0
                      AND -organiser_part_cents
                          <= psop.round_div(budget_event_part_cents, quantity,
                                            budget_event_quantity) END);
