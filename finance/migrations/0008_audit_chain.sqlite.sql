-- The journal's hash chain (package chain) gives each audit entry its place
-- after commit: chain_position, NULL until the background hasher seals it
-- into a block. Writers never set it and never wait for it.
ALTER TABLE audit_log ADD COLUMN chain_position INTEGER;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_position);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE chain_position IS NULL;

-- The log stays append-only but for that one column, which is set once: the
-- update trigger names every other column (a column added later must be
-- added here too).
DROP TRIGGER audit_log_no_update;
CREATE TRIGGER audit_log_no_update
    BEFORE UPDATE OF id, at, actor, action, subject, before, after, reason, key_id, key_name ON audit_log
BEGIN SELECT RAISE(ABORT, 'finance: the audit log is append-only'); END;
CREATE TRIGGER audit_log_sealed_once
    BEFORE UPDATE OF chain_position ON audit_log WHEN OLD.chain_position IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'finance: an audit entry''s chain position is set once'); END;
