-- Refunds of buyers' balances to their original payment methods, through
-- the providers' refund APIs; and manual bank payouts where a method has no
-- refunds (Stripe's Boleto).
CREATE TABLE source_refunds (
    id              TEXT      PRIMARY KEY,
    user_id         TEXT      NOT NULL,
    attempt         TEXT      NOT NULL, -- the payment refunded
    provider        TEXT      NOT NULL,
    payment_ref     TEXT      NOT NULL,
    amount          BIGINT    NOT NULL CHECK (amount > 0),
    currency        TEXT      NOT NULL,
    status          TEXT      NOT NULL, -- requested, pending, succeeded, failed
    provider_refund TEXT      NOT NULL DEFAULT '',
    failure_reason  TEXT      NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX source_refunds_user ON source_refunds (user_id, created_at);
CREATE INDEX source_refunds_attempt ON source_refunds (attempt);

CREATE TABLE manual_payouts (
    id             TEXT      PRIMARY KEY,
    user_id        TEXT      NOT NULL,
    amount         BIGINT    NOT NULL CHECK (amount > 0),
    currency       TEXT      NOT NULL,
    beneficiary    TEXT      NOT NULL,
    bank_reference TEXT      NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
