-- The lifecycle: when each order entered its state (timers count from it),
-- how much of it was refunded, and its history.
ALTER TABLE sales_orders ADD COLUMN status_at TIMESTAMPTZ;
ALTER TABLE sales_orders ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0;
UPDATE sales_orders SET status_at = updated_at;
CREATE INDEX sales_orders_status ON sales_orders (status, status_at);

CREATE TABLE sales_order_history (
    id          BIGINT    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number      TEXT      NOT NULL,
    action      TEXT      NOT NULL,
    actor       TEXT      NOT NULL, -- a user id, "finance" or "system" (a timer)
    from_status TEXT      NOT NULL,
    to_status   TEXT      NOT NULL,
    reason      TEXT      NOT NULL,
    description TEXT      NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX sales_order_history_number ON sales_order_history (number, id);
