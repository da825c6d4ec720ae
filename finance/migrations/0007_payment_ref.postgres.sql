-- The provider payment an item is about, as a column: the finance pages and
-- the API read it here instead of parsing it out of the description. Items
-- opened before keep '' except unknown payments, whose description named it
-- as `for payment "REF"`.
ALTER TABLE finance_items ADD COLUMN payment_ref TEXT NOT NULL DEFAULT '';
UPDATE finance_items
SET payment_ref = substring(description from 'for payment "([^"]+)"')
WHERE kind = 'unknown_payment' AND description ~ 'for payment "[^"]+"';
