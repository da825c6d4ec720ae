-- The journal's hash chain (see the package doc). A block seals the rows
-- given positions first_position to last_position (every position in between
-- holds exactly one row: a ledger transaction with its entries, an audit
-- entry or an event); its hash is SHA-256 of the block before's hash and
-- the rows' canonical encoding. Blocks are append-only.
CREATE TABLE chain_blocks (
    number         BIGINT      PRIMARY KEY CHECK (number >= 1),
    first_position BIGINT      NOT NULL,
    last_position  BIGINT      NOT NULL,
    row_count      BIGINT      NOT NULL,
    hash           TEXT        NOT NULL UNIQUE,
    sealed_at      TIMESTAMPTZ NOT NULL,
    CHECK (last_position >= first_position)
);
-- The digest of every sealed event, so that a block whose events the
-- janitor pruned (past their retention) still verifies. Append-only.
CREATE TABLE chain_rows (
    position BIGINT      PRIMARY KEY,
    block    BIGINT      NOT NULL REFERENCES chain_blocks (number),
    kind     TEXT        NOT NULL,
    row_id   TEXT        NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    digest   TEXT        NOT NULL
);
CREATE FUNCTION chain_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'chain: % rows are immutable', TG_TABLE_NAME;
END $$;
CREATE TRIGGER chain_blocks_immutable BEFORE UPDATE OR DELETE ON chain_blocks
    FOR EACH ROW EXECUTE FUNCTION chain_immutable();
CREATE TRIGGER chain_rows_immutable BEFORE UPDATE OR DELETE ON chain_rows
    FOR EACH ROW EXECUTE FUNCTION chain_immutable();
