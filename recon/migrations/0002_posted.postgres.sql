-- The report lines whose fee was posted to the ledger: a line's fee is
-- posted once however often, and in whichever report, the line comes.
CREATE TABLE recon_fees (
    provider TEXT   NOT NULL,
    line_id  TEXT   NOT NULL,
    amount   BIGINT NOT NULL,
    currency TEXT   NOT NULL,
    PRIMARY KEY (provider, line_id)
);
