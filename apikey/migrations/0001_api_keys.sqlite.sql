-- API keys issued with `paygate keys create`. Only the SHA-256 of a key's
-- secret part is kept; the key itself is shown once, when it is created.
CREATE TABLE api_keys (
    id           TEXT      PRIMARY KEY,  -- the key's public id, part of the key
    role         TEXT      NOT NULL CHECK (role IN ('marketplace', 'finance')),
    name         TEXT      NOT NULL,
    secret_hash  BLOB      NOT NULL,     -- SHA-256 of the secret part
    created_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    last_used_at TIMESTAMP               -- at most a minute stale
);
