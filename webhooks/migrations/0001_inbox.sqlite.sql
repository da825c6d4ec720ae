-- The inbox: every verified provider event, stored before it is acknowledged.
CREATE TABLE webhook_events (
    id            INTEGER   PRIMARY KEY,
    provider      TEXT      NOT NULL,
    event_id      TEXT      NOT NULL,
    type          TEXT      NOT NULL,
    provider_type TEXT      NOT NULL,
    payment_ref   TEXT      NOT NULL,
    payment_order TEXT      NOT NULL,
    body          BLOB      NOT NULL,
    received_at   TIMESTAMP NOT NULL,
    deliveries    INTEGER   NOT NULL DEFAULT 1, -- how many times the provider sent it
    processed_at  TIMESTAMP,
    outcome       TEXT      NOT NULL DEFAULT '',
    UNIQUE (provider, event_id)
);
