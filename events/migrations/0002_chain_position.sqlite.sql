-- The journal's hash chain (package chain) gives each event its place after
-- commit: chain_position, NULL until the background hasher seals it into a
-- block. It is not the events API's position (which orders events alone):
-- the chain numbers ledger transactions, audit entries and events together.
-- The janitor prunes only sealed events; the chain keeps their digests.
ALTER TABLE events ADD COLUMN chain_position INTEGER;
CREATE UNIQUE INDEX events_chain ON events (chain_position);
CREATE INDEX events_unsealed ON events (position) WHERE chain_position IS NULL;
