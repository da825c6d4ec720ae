-- Why an attempt went to its provider (package routing): primary (the
-- route's first), weighted (drawn by the route's weights) or failover (an
-- earlier provider could not take it), and for a failover the provider it
-- came from and why. Attempts made before routes were primary.
ALTER TABLE payment_attempts ADD COLUMN route TEXT NOT NULL DEFAULT 'primary';
ALTER TABLE payment_attempts ADD COLUMN route_from TEXT NOT NULL DEFAULT '';
ALTER TABLE payment_attempts ADD COLUMN route_cause TEXT NOT NULL DEFAULT '';
