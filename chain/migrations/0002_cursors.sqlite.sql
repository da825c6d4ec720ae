-- The hasher no longer writes a position into every journal row it seals
-- (an UPDATE of each row after its commit, under the one writer's lock). A
-- block records instead how far it sealed each table: its cursors. It
-- seals the rows between the block before's cursors and its own, in this
-- order: ledger transactions by id, audit entries by id, events by their
-- position (SQLite has one writer: ids are taken in commit order); a row's
-- place in the chain is its block's first position plus its rank there.
-- The blocks sealed before keep their rows' chain_position (NULL cursors);
-- rows sealed by cursor keep a NULL chain_position. The xid columns are 0
-- here (they order PostgreSQL's rows by writing transaction).
ALTER TABLE chain_blocks ADD COLUMN ledger_xid INTEGER;
ALTER TABLE chain_blocks ADD COLUMN ledger_id INTEGER;
ALTER TABLE chain_blocks ADD COLUMN audit_xid INTEGER;
ALTER TABLE chain_blocks ADD COLUMN audit_id INTEGER;
ALTER TABLE chain_blocks ADD COLUMN events_position INTEGER;

-- Every new row now keeps a NULL chain_position: index only the old
-- blocks' positions, and drop the indexes of unsealed rows (the events'
-- only if there: on a new database events' 0003 has rebuilt the table
-- before this runs, with neither).
DROP INDEX ledger_transactions_unsealed;
DROP INDEX audit_log_unsealed;
DROP INDEX IF EXISTS events_unsealed;
DROP INDEX ledger_transactions_chain;
DROP INDEX audit_log_chain;
DROP INDEX IF EXISTS events_chain;
CREATE UNIQUE INDEX ledger_transactions_chain ON ledger_transactions (chain_position) WHERE chain_position IS NOT NULL;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_position) WHERE chain_position IS NOT NULL;
CREATE UNIQUE INDEX events_chain ON events (chain_position) WHERE chain_position IS NOT NULL;

-- Nothing updates a journal row any more: chain_position is frozen too
-- (the triggers keep their names).
DROP TRIGGER ledger_transactions_sealed_once;
CREATE TRIGGER ledger_transactions_sealed_once BEFORE UPDATE OF chain_position ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger: transactions are immutable'); END;
DROP TRIGGER audit_log_sealed_once;
CREATE TRIGGER audit_log_sealed_once BEFORE UPDATE OF chain_position ON audit_log
BEGIN SELECT RAISE(ABORT, 'finance: the audit log is append-only'); END;
