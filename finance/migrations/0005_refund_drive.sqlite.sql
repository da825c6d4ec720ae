-- The janitor drives every refund to source that left paygate's
-- transaction to a final state (finance.Refunds.Drive): next_check_at is
-- when it next looks at the refund (asks the provider again, or polls a
-- pending one); NULL once the refund is final or handed to finance staff.
-- A janitor claims a refund by moving next_check_at forward (a lease), so
-- that several instances never drive one refund at once.
ALTER TABLE source_refunds ADD COLUMN next_check_at TIMESTAMP;
UPDATE source_refunds SET next_check_at = updated_at WHERE status IN ('requested', 'pending');
-- The reason sent to the provider, kept so that asking again sends the same
-- request (Stripe refuses an idempotency key reused with other parameters).
ALTER TABLE source_refunds ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE INDEX source_refunds_next_check ON source_refunds (next_check_at);

-- One row per user whose balance is being refunded to source: a refund
-- locks it first, so that concurrent refunds of one user take their turns
-- (on PostgreSQL they would otherwise both pick the same payment).
CREATE TABLE refund_locks (
    user_id   TEXT      PRIMARY KEY,
    locked_at TIMESTAMP NOT NULL
);
