-- The double-entry ledger. Accounts carry cached debit and credit totals;
-- entries carry the account's totals after them (a running balance that
-- verify re-derives). Transactions and entries are append-only.
CREATE TABLE ledger_accounts (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    type         TEXT    NOT NULL CHECK (type IN ('asset', 'liability', 'revenue', 'expense', 'equity')),
    no_overdraft BOOLEAN NOT NULL,
    debits       BIGINT  NOT NULL DEFAULT 0 CHECK (debits >= 0),
    credits      BIGINT  NOT NULL DEFAULT 0 CHECK (credits >= 0),
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (name, currency),
    -- A no-overdraft account never goes below zero on its normal side.
    CHECK (NOT no_overdraft
           OR (type IN ('liability', 'revenue', 'equity') AND debits <= credits)
           OR (type IN ('asset', 'expense') AND credits <= debits))
);

CREATE TABLE ledger_transactions (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    fingerprint     TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE ledger_entries (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  BIGINT  NOT NULL REFERENCES ledger_transactions (id),
    account_id      BIGINT  NOT NULL REFERENCES ledger_accounts (id),
    side            TEXT    NOT NULL CHECK (side IN ('D', 'C')),
    amount          BIGINT  NOT NULL CHECK (amount > 0),
    account_debits  BIGINT  NOT NULL,
    account_credits BIGINT  NOT NULL
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % rows are immutable', TG_TABLE_NAME;
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_transactions_immutable BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
