-- The journal's hash chain (package chain) gives each audit entry its place
-- after commit: chain_position, NULL until the background hasher seals it
-- into a block. Writers never set it and never wait for it.
ALTER TABLE audit_log ADD COLUMN chain_position BIGINT;
CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_position);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE chain_position IS NULL;

-- The log stays append-only but for that one column, which is set once.
DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_unchanged BEFORE UPDATE ON audit_log
    FOR EACH ROW WHEN (OLD.chain_position IS NOT NULL
        OR (to_jsonb(OLD) - 'chain_position') IS DISTINCT FROM (to_jsonb(NEW) - 'chain_position'))
    EXECUTE FUNCTION audit_log_append_only();
