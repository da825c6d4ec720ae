-- The provider payment an item is about, as a column: the finance pages and
-- the API read it here instead of parsing it out of the description. Items
-- opened before keep '' except unknown payments, whose description named it
-- as `for payment "REF"`.
ALTER TABLE finance_items ADD COLUMN payment_ref TEXT NOT NULL DEFAULT '';
UPDATE finance_items
SET payment_ref = substr(description, instr(description, 'for payment "') + 13,
    instr(substr(description, instr(description, 'for payment "') + 13), '"') - 1)
WHERE kind = 'unknown_payment' AND instr(description, 'for payment "') > 0
    AND instr(substr(description, instr(description, 'for payment "') + 13), '"') > 1;
