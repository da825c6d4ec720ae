-- ready marks the head of each stream (the pending deliveries of one
-- endpoint and resource): the pending delivery of lowest sequence, the only
-- one a worker may send. The claim reads the small index of due heads
-- instead of examining the whole backlog. At most one pending delivery of a
-- stream is ready (a unique index says so). SQLite's writers take turns, so
-- it needs no webhook_streams locks as PostgreSQL does.
ALTER TABLE webhook_deliveries ADD COLUMN ready BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE webhook_deliveries SET ready = TRUE WHERE id IN (
    SELECT (SELECT h.id FROM webhook_deliveries h
            WHERE h.endpoint_id = s.endpoint_id AND h.resource = s.resource AND h.status = 'pending'
            ORDER BY h.sequence LIMIT 1)
    FROM (SELECT DISTINCT endpoint_id, resource FROM webhook_deliveries WHERE status = 'pending') s);
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending' AND ready;
CREATE UNIQUE INDEX webhook_deliveries_head ON webhook_deliveries (endpoint_id, resource) WHERE status = 'pending' AND ready;
DROP INDEX webhook_deliveries_due;
