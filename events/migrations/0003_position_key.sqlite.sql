-- Fewer trees for every event a commit writes (each is a page more that the
-- commit writes to the WAL). An event's position is given at insert on
-- SQLite (one writer): the table is now keyed by it, its rowid, instead of
-- a rowid and a position index beside it; the type index holds the rowid
-- (the position) already. And no created_at index: the janitor prunes the
-- oldest events by position, while they are older than the retention.
CREATE TABLE events_keyed (
    position       INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    resource       TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    audience       TEXT    NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    data           TEXT    NOT NULL,
    chain_position INTEGER,
    UNIQUE (resource, sequence)
);
INSERT INTO events_keyed (position, id, type, resource, sequence, audience, created_at, data, chain_position)
    SELECT position, id, type, resource, sequence, audience, created_at, data, chain_position FROM events ORDER BY position;
DROP TABLE events;
ALTER TABLE events_keyed RENAME TO events;
CREATE INDEX events_type ON events (type);
CREATE UNIQUE INDEX events_chain ON events (chain_position) WHERE chain_position IS NOT NULL;
