-- Every finance action: who, what, when, on what, before and after, why.
-- Append-only (triggers refuse updates and deletes).
CREATE TABLE audit_log (
    id      INTEGER   PRIMARY KEY,
    at      TIMESTAMP NOT NULL,
    actor   TEXT      NOT NULL,
    action  TEXT      NOT NULL,
    subject TEXT      NOT NULL, -- a K- or P-number, a user id, a report
    before  TEXT      NOT NULL,
    after   TEXT      NOT NULL,
    reason  TEXT      NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'finance: the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'finance: the audit log is append-only'); END;
