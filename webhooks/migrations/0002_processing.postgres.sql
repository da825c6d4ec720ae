-- Processing state of the inbox: an event whose processing failed for a
-- transient reason stays pending and is retried by the worker with backoff;
-- after too many attempts it is failed, for finance to look at and replay.
ALTER TABLE webhook_events ADD COLUMN status TEXT NOT NULL DEFAULT 'processed';
ALTER TABLE webhook_events ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE webhook_events ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE webhook_events ADD COLUMN next_attempt_at TIMESTAMPTZ;
ALTER TABLE webhook_events ADD COLUMN locked_until TIMESTAMPTZ;
ALTER TABLE webhook_events ADD COLUMN event TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhook_events ADD COLUMN verification TEXT NOT NULL DEFAULT '';
CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at);
CREATE INDEX webhook_events_payment_order ON webhook_events (payment_order, id);
