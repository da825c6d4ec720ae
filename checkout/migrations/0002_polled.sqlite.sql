-- When the janitor last asked the provider about an attempt.
ALTER TABLE payment_attempts ADD COLUMN polled_at TIMESTAMP;
CREATE INDEX payment_attempts_status ON payment_attempts (status, created_at);
