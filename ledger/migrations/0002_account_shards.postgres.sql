-- Hot accounts. An account without an overdraft guard (a provider's clearing
-- account, bank:settlement, the platform's suspense, commission, fees and
-- equity) keeps its cached totals in shards, one row per shard in
-- ledger_account_shards. A posting adds to one shard, chosen per database
-- transaction, so concurrent postings through such an account mostly lock
-- different rows instead of queueing on one. The account's totals are the sum
-- of its shards; its row in ledger_accounts keeps zero totals. An account with
-- an overdraft guard (a user balance, an escrow) keeps its totals in its
-- ledger_accounts row, as before: the guard needs them in one row.
--
-- Each entry names the shard it was added to (0 for a guarded account), and
-- its account_debits and account_credits are that shard's totals after it.
CREATE TABLE ledger_account_shards (
    account_id BIGINT   NOT NULL REFERENCES ledger_accounts (id),
    shard      SMALLINT NOT NULL CHECK (shard >= 0),
    debits     BIGINT   NOT NULL CHECK (debits >= 0),
    credits    BIGINT   NOT NULL CHECK (credits >= 0),
    PRIMARY KEY (account_id, shard)
);

-- Existing totals of the accounts that are sharded from now on become their
-- shard 0, and every existing entry is in shard 0: before this migration an
-- account had one set of totals, so its entries' running totals are those of
-- its only shard.
INSERT INTO ledger_account_shards (account_id, shard, debits, credits)
    SELECT id, 0, debits, credits FROM ledger_accounts WHERE NOT no_overdraft;
UPDATE ledger_accounts SET debits = 0, credits = 0 WHERE NOT no_overdraft;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_sharded_totals
    CHECK (no_overdraft OR (debits = 0 AND credits = 0));

ALTER TABLE ledger_entries ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0 CHECK (shard >= 0);
-- Statements and verify read an account's entries shard by shard, in id order.
DROP INDEX ledger_entries_account;
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, shard, id);

-- Every account with its totals: its row's plus its shards'. Other packages
-- read balances here, never from ledger_accounts.
CREATE VIEW ledger_account_totals AS
SELECT a.id, a.name, a.currency, a.type, a.no_overdraft, a.created_at,
    CAST(a.debits + COALESCE((SELECT SUM(s.debits) FROM ledger_account_shards s WHERE s.account_id = a.id), 0) AS BIGINT) AS debits,
    CAST(a.credits + COALESCE((SELECT SUM(s.credits) FROM ledger_account_shards s WHERE s.account_id = a.id), 0) AS BIGINT) AS credits
FROM ledger_accounts a;
