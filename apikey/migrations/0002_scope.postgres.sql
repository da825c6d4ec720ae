-- What an issued key may do within its role: read (GET only), payments
-- (read, create payment orders, start attempts; no balance payments), or
-- full (everything its role may do, as every key could before).
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
