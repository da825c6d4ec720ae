-- Responses of POST requests by Idempotency-Key, per caller role.
CREATE TABLE idempotency_requests (
    role          TEXT      NOT NULL,
    key           TEXT      NOT NULL,
    request_hash  TEXT      NOT NULL,
    status        INTEGER,            -- NULL while the first request runs
    content_type  TEXT      NOT NULL DEFAULT '',
    body          BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    locked_until  TIMESTAMPTZ NOT NULL, -- a crashed first request frees the key then
    PRIMARY KEY (role, key)
);
