-- Every finance action: who, what, when, on what, before and after, why.
-- Append-only (a trigger refuses updates and deletes).
CREATE TABLE audit_log (
    id      BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT        NOT NULL,
    action  TEXT        NOT NULL,
    subject TEXT        NOT NULL,
    before  TEXT        NOT NULL,
    after   TEXT        NOT NULL,
    reason  TEXT        NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'finance: the audit log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
