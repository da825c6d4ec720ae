-- Sales orders: one seller, one buyer, one amount, paid by a payment order.
CREATE TABLE sales_orders (
    number        TEXT      PRIMARY KEY,
    payment_order TEXT      NOT NULL,
    position      INTEGER   NOT NULL, -- the item's place in its payment order
    buyer_id      TEXT      NOT NULL,
    seller_id     TEXT      NOT NULL,
    amount        BIGINT    NOT NULL CHECK (amount > 0),
    currency      TEXT      NOT NULL,
    description   TEXT      NOT NULL,
    status        TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX sales_orders_payment_order ON sales_orders (payment_order, position);
