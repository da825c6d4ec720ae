-- The attempt that replaced an attempt (the buyer started another method, or
-- paid from the balance), as a column: the attempt caps read it instead of
-- the failure reason's text. Attempts replaced before are filled from their
-- "replaced by att_…" reason.
ALTER TABLE payment_attempts ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
UPDATE payment_attempts SET replaced_by = substring(failure_reason from 13)
WHERE status = 'canceled' AND failure_reason LIKE 'replaced by %';
