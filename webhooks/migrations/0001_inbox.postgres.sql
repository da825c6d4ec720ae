-- The inbox: every verified provider event, stored before it is acknowledged.
CREATE TABLE webhook_events (
    id            BIGINT    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider      TEXT      NOT NULL,
    event_id      TEXT      NOT NULL,
    type          TEXT      NOT NULL,
    provider_type TEXT      NOT NULL,
    payment_ref   TEXT      NOT NULL,
    payment_order TEXT      NOT NULL,
    body          BYTEA      NOT NULL,
    received_at   TIMESTAMPTZ NOT NULL,
    deliveries    INTEGER   NOT NULL DEFAULT 1, -- how many times the provider sent it
    processed_at  TIMESTAMPTZ,
    outcome       TEXT      NOT NULL DEFAULT '',
    UNIQUE (provider, event_id)
);
