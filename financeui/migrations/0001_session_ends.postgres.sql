-- Finance page sessions ended by logging out before they expired. A session
-- is a signed cookie; this table lists the ended ones (by the SHA-256 of the
-- cookie, never the cookie) until the time they would have expired anyway.
CREATE TABLE finance_session_ends (
    token_hash  BYTEA     PRIMARY KEY,  -- SHA-256 of the session cookie
    expires_at  TIMESTAMPTZ NOT NULL    -- when the session would have ended
);
