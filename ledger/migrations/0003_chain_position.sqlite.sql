-- The journal's hash chain (package chain) gives each ledger transaction its
-- place after commit: chain_position, NULL until the background hasher seals
-- it into a block (with its entries). Writers never set it and never wait for
-- it. The unsealed rows are found through a partial index; a sealed
-- position is found through the unique index.
ALTER TABLE ledger_transactions ADD COLUMN chain_position INTEGER;
CREATE UNIQUE INDEX ledger_transactions_chain ON ledger_transactions (chain_position);
CREATE INDEX ledger_transactions_unsealed ON ledger_transactions (id) WHERE chain_position IS NULL;

-- Transactions stay immutable but for that one column, which is set once:
-- the update trigger names every other column (a column added later must be
-- added here too).
DROP TRIGGER ledger_transactions_no_update;
CREATE TRIGGER ledger_transactions_no_update
    BEFORE UPDATE OF id, idempotency_key, fingerprint, description, created_at ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger: transactions are immutable'); END;
CREATE TRIGGER ledger_transactions_sealed_once
    BEFORE UPDATE OF chain_position ON ledger_transactions WHEN OLD.chain_position IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'ledger: a transaction''s chain position is set once'); END;
