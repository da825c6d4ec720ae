-- The journal's hash chain (package chain) gives each ledger transaction its
-- place after commit: chain_position, NULL until the background hasher seals
-- it into a block (with its entries). Writers never set it and never wait for
-- it. The unsealed rows are found through a partial index; a sealed
-- position is found through the unique index.
ALTER TABLE ledger_transactions ADD COLUMN chain_position BIGINT;
CREATE UNIQUE INDEX ledger_transactions_chain ON ledger_transactions (chain_position);
CREATE INDEX ledger_transactions_unsealed ON ledger_transactions (id) WHERE chain_position IS NULL;

-- Transactions stay immutable but for that one column, which is set once.
DROP TRIGGER ledger_transactions_immutable ON ledger_transactions;
CREATE TRIGGER ledger_transactions_immutable BEFORE DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_transactions_unchanged BEFORE UPDATE ON ledger_transactions
    FOR EACH ROW WHEN (OLD.chain_position IS NOT NULL
        OR (to_jsonb(OLD) - 'chain_position') IS DISTINCT FROM (to_jsonb(NEW) - 'chain_position'))
    EXECUTE FUNCTION ledger_immutable();
