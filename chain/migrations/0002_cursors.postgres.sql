-- The hasher no longer writes a position into every journal row it seals
-- (an UPDATE of each row after its commit: a second version of the row, its
-- indexes and WAL, on the writers' tables). A block records instead how far
-- it sealed each table: its cursors. It seals the rows between the block
-- before's cursors and its own, in this order: ledger transactions by
-- (chain_xid, id), audit entries by (chain_xid, id), events by their
-- position; a row's place in the chain is its block's first position plus
-- its rank there. The blocks sealed before keep their rows' chain_position
-- (NULL cursors); rows sealed by cursor keep a NULL chain_position.
ALTER TABLE chain_blocks
    ADD COLUMN ledger_xid      BIGINT,
    ADD COLUMN ledger_id       BIGINT,
    ADD COLUMN audit_xid       BIGINT,
    ADD COLUMN audit_id        BIGINT,
    ADD COLUMN events_position BIGINT;

-- chain_xid is the writing transaction's id: every transaction with a
-- smaller one has ended once it is below pg_snapshot_xmin, so the rows
-- ordered by it are sealed in an order no running transaction can still
-- precede (an id taken earlier can commit later; a transaction id below the
-- horizon cannot). Writers set it by default and never wait for it.
ALTER TABLE ledger_transactions ADD COLUMN chain_xid BIGINT NOT NULL DEFAULT pg_current_xact_id()::text::bigint;
ALTER TABLE audit_log ADD COLUMN chain_xid BIGINT NOT NULL DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX ledger_transactions_chain_xid ON ledger_transactions (chain_xid, id);
CREATE INDEX audit_log_chain_xid ON audit_log (chain_xid, id);

-- Every new row now keeps a NULL chain_position: index only the old
-- blocks' positions, and drop the indexes of unsealed rows.
DROP INDEX ledger_transactions_unsealed;
DROP INDEX audit_log_unsealed;
DROP INDEX events_unsealed;
DROP INDEX ledger_transactions_chain;
DROP INDEX audit_log_chain;
DROP INDEX events_chain;
CREATE UNIQUE INDEX ledger_transactions_chain ON ledger_transactions (chain_position) WHERE chain_position IS NOT NULL;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_position) WHERE chain_position IS NOT NULL;
CREATE UNIQUE INDEX events_chain ON events (chain_position) WHERE chain_position IS NOT NULL;

-- Nothing updates a journal row any more: chain_position is frozen too.
DROP TRIGGER ledger_transactions_unchanged ON ledger_transactions;
CREATE TRIGGER ledger_transactions_unchanged BEFORE UPDATE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
DROP TRIGGER audit_log_unchanged ON audit_log;
CREATE TRIGGER audit_log_unchanged BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
