-- The journal's hash chain (see the package doc). A block seals the rows
-- given positions first_position to last_position (every position in between
-- holds exactly one row: a ledger transaction with its entries, an audit
-- entry or an event); its hash is SHA-256 of the block before's hash and
-- the rows' canonical encoding. Blocks are append-only.
CREATE TABLE chain_blocks (
    number         INTEGER PRIMARY KEY CHECK (number >= 1),
    first_position INTEGER   NOT NULL,
    last_position  INTEGER   NOT NULL,
    row_count      INTEGER   NOT NULL,
    hash           TEXT      NOT NULL UNIQUE,
    sealed_at      TIMESTAMP NOT NULL,
    CHECK (last_position >= first_position)
);
-- The digest of every sealed event, so that a block whose events the
-- janitor pruned (past their retention) still verifies. Append-only.
CREATE TABLE chain_rows (
    position INTEGER   PRIMARY KEY,
    block    INTEGER   NOT NULL REFERENCES chain_blocks (number),
    kind     TEXT      NOT NULL,
    row_id   TEXT      NOT NULL,
    at       TIMESTAMP NOT NULL,
    digest   TEXT      NOT NULL
);
CREATE TRIGGER chain_blocks_no_update BEFORE UPDATE ON chain_blocks
BEGIN SELECT RAISE(ABORT, 'chain: blocks are immutable'); END;
CREATE TRIGGER chain_blocks_no_delete BEFORE DELETE ON chain_blocks
BEGIN SELECT RAISE(ABORT, 'chain: blocks are immutable'); END;
CREATE TRIGGER chain_rows_no_update BEFORE UPDATE ON chain_rows
BEGIN SELECT RAISE(ABORT, 'chain: rows are immutable'); END;
CREATE TRIGGER chain_rows_no_delete BEFORE DELETE ON chain_rows
BEGIN SELECT RAISE(ABORT, 'chain: rows are immutable'); END;
