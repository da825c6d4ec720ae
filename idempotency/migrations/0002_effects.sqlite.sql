-- What a money-moving request did, written in the same transaction as the
-- move (RecordEffect): a request retried after a crash between that commit
-- and its stored response (idempotency_requests) finds it here and answers
-- with the original result instead of moving money again. The key is the
-- role-qualified Idempotency-Key ("finance:abc") or a finance form's key
-- ("financeui:…"); result names what was made (refund ids, a payout id…).
CREATE TABLE idempotency_effects (
    key        TEXT      PRIMARY KEY,
    result     TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL
);
