-- The Idempotency-Key of the request that created a payment order: a retry
-- after a crash between the creation and the stored response finds the
-- order instead of creating a second one.
ALTER TABLE payment_orders ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX payment_orders_request_key ON payment_orders (request_key);
