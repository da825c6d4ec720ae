-- Events: every change the marketplace (or finance) cares about, written in
-- the transaction of the change. position is the commit order, assigned
-- after commit by the sequencer (see events.Store.Sequence): a number taken
-- inside a transaction can become visible after a larger one.
CREATE TABLE events (
    id         TEXT        PRIMARY KEY,
    written    BIGINT      GENERATED ALWAYS AS IDENTITY,
    position   BIGINT      UNIQUE,
    type       TEXT        NOT NULL,
    resource   TEXT        NOT NULL,
    sequence   BIGINT      NOT NULL,
    audience   TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    data       TEXT        NOT NULL,
    UNIQUE (resource, sequence)
);
CREATE INDEX events_unsequenced ON events (written) WHERE position IS NULL;
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_type ON events (type, position);
CREATE TABLE event_resources (
    resource      TEXT   PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);
