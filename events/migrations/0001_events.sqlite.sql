-- Events: every change the marketplace (or finance) cares about, written in
-- the transaction of the change. position is the commit order: SQLite has
-- one writer, so it is assigned at insert.
CREATE TABLE events (
    id         TEXT    PRIMARY KEY,
    position   INTEGER UNIQUE,
    type       TEXT    NOT NULL,
    resource   TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    audience   TEXT    NOT NULL,
    created_at TIMESTAMP NOT NULL,
    data       TEXT    NOT NULL,
    UNIQUE (resource, sequence)
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_type ON events (type, position);
-- The last sequence number given to each resource's events: kept when old
-- events are pruned, so a resource's sequence never restarts.
CREATE TABLE event_resources (
    resource      TEXT    PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);
