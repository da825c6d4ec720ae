-- Webhook endpoints: where a role (marketplace, finance) wants its events
-- pushed. last_position is the events position up to which the dispatcher has made
-- the endpoint's deliveries; it starts at the position of its creation, so
-- older events are not sent to it. previous_secret signs beside secret
-- until previous_secret_until (a rotation's overlap).
CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,
    role                  TEXT    NOT NULL,
    url                   TEXT    NOT NULL,
    events                TEXT    NOT NULL,
    description           TEXT    NOT NULL DEFAULT '',
    secret                TEXT    NOT NULL,
    previous_secret       TEXT    NOT NULL DEFAULT '',
    previous_secret_until TIMESTAMPTZ,
    disabled              BOOLEAN NOT NULL DEFAULT FALSE,
    disabled_reason       TEXT    NOT NULL DEFAULT '',
    last_position         BIGINT  NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_role ON webhook_endpoints (role, created_at);
-- One event to send to one endpoint. status: pending (to send, or to retry
-- at next_attempt_at), delivered (a 2xx), failed (given up after the last
-- retry). generation grows with each redelivery, so that an attempt in
-- flight when the event was requeued does not mark the requeued one done.
CREATE TABLE webhook_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    resource         TEXT    NOT NULL,
    sequence         BIGINT  NOT NULL,
    event_created_at TIMESTAMPTZ NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    generation       INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ,
    locked_by        TEXT    NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, resource, sequence) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (created_at) WHERE status <> 'pending';
-- Every attempt to send a delivery: when, the answer's status (0 without
-- one), how long it took, the first KiB of the answer, the error.
CREATE TABLE webhook_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    endpoint_id  TEXT    NOT NULL,
    event_id     TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    result       TEXT    NOT NULL,
    status_code  INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    error        TEXT    NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
