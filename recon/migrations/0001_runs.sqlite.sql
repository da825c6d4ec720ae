-- Reconciliation runs, with their totals and unmatched lines, for finance
-- to read again.
CREATE TABLE recon_runs (
    id         TEXT      PRIMARY KEY,
    provider   TEXT      NOT NULL,
    lines      BIGINT    NOT NULL,
    unmatched  BIGINT    NOT NULL,
    posted     BIGINT    NOT NULL,
    report     TEXT      NOT NULL, -- the run as JSON (ReportJSON)
    created_at TIMESTAMP NOT NULL
);
