-- The key that signs checkout links, made once per database.
CREATE TABLE checkout_secrets (
    id         INTEGER   PRIMARY KEY CHECK (id = 1),
    secret     TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Payment orders (P12345678): one buyer, one currency, one or more sales orders.
CREATE TABLE payment_orders (
    number       TEXT      PRIMARY KEY,
    buyer_id     TEXT      NOT NULL,
    currency     TEXT      NOT NULL,
    amount       BIGINT    NOT NULL CHECK (amount > 0),
    status       TEXT      NOT NULL,
    return_url   TEXT      NOT NULL,
    paid_attempt TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);

-- Each try to pay a payment order with one method at one provider.
CREATE TABLE payment_attempts (
    id             TEXT      PRIMARY KEY,
    payment_order  TEXT      NOT NULL REFERENCES payment_orders (number),
    seq            INTEGER   NOT NULL, -- 1, 2, … per payment order
    method         TEXT      NOT NULL,
    provider       TEXT      NOT NULL,
    amount         BIGINT    NOT NULL,
    currency       TEXT      NOT NULL,
    status         TEXT      NOT NULL,
    provider_ref   TEXT,
    next_action    TEXT      NOT NULL,
    failure_reason TEXT      NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX payment_attempts_provider_ref ON payment_attempts (provider, provider_ref);
CREATE UNIQUE INDEX payment_attempts_order ON payment_attempts (payment_order, seq);
