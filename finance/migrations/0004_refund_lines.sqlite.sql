-- The settlement report lines that account for a refund to source:
-- report_line is the provider's line that paid it out, return_line the
-- line that gave it back when it failed (Stripe's refund_failure).
-- Reconciliation claims a refund for one line only, so a refund line
-- listed twice, in one report or two, matches once.
ALTER TABLE source_refunds ADD COLUMN report_line TEXT NOT NULL DEFAULT '';
ALTER TABLE source_refunds ADD COLUMN return_line TEXT NOT NULL DEFAULT '';
CREATE INDEX source_refunds_payment ON source_refunds (provider, payment_ref);
