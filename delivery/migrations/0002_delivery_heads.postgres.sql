-- ready marks the head of each stream (the pending deliveries of one
-- endpoint and resource): the pending delivery of lowest sequence, the only
-- one a worker may send. The claim reads the small index of due heads
-- instead of examining the whole backlog. At most one pending delivery of a
-- stream is ready (a unique index says so).
ALTER TABLE webhook_deliveries ADD COLUMN ready BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE webhook_deliveries SET ready = TRUE WHERE id IN (
    SELECT (SELECT h.id FROM webhook_deliveries h
            WHERE h.endpoint_id = s.endpoint_id AND h.resource = s.resource AND h.status = 'pending'
            ORDER BY h.sequence LIMIT 1)
    FROM (SELECT DISTINCT endpoint_id, resource FROM webhook_deliveries WHERE status = 'pending') s);
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending' AND ready;
CREATE UNIQUE INDEX webhook_deliveries_head ON webhook_deliveries (endpoint_id, resource) WHERE status = 'pending' AND ready;
DROP INDEX webhook_deliveries_due;
-- One row per stream, locked (FOR UPDATE) by each transaction that changes
-- which delivery of the stream is its head: the dispatcher adding
-- deliveries, a worker finishing the head, a redelivery. Under READ
-- COMMITTED two of them deciding at once could each miss the other's
-- uncommitted rows and leave a stream without a head; the lock makes the
-- second see the first's. Rows of streams without pending deliveries are
-- pruned. (SQLite needs none: its writers take turns.)
CREATE TABLE webhook_streams (
    endpoint_id TEXT NOT NULL,
    resource    TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, resource)
);
