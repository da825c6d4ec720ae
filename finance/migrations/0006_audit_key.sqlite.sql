-- The API key each finance action was authenticated with: its public id
-- ("" for a static key) and its name (an issued key's name, or the
-- variable of a static key, PAYGATE_FINANCE_KEY). The actor column stays
-- what the caller said (X-Actor, or the name typed at the finance login).
ALTER TABLE audit_log ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN key_name TEXT NOT NULL DEFAULT '';
