-- Items for finance staff: money that arrived but did not fit (a late or
-- second payment credited to the buyer, another amount held in suspense, an
-- event for a payment paygate never made).
CREATE TABLE finance_items (
    id            INTEGER   PRIMARY KEY,
    kind          TEXT      NOT NULL,
    reference     TEXT      NOT NULL, -- what the item is about, unique per kind (an attempt id, provider:event id)
    payment_order TEXT      NOT NULL,
    attempt       TEXT      NOT NULL,
    provider      TEXT      NOT NULL,
    amount        BIGINT    NOT NULL,
    currency      TEXT      NOT NULL,
    description   TEXT      NOT NULL,
    status        TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    UNIQUE (kind, reference)
);
CREATE INDEX finance_items_status ON finance_items (status, id);
