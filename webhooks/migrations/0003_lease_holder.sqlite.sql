-- Who holds an event's lease: the instance (host and process) whose worker
-- claimed it, until locked_until. Another instance takes the event over once
-- the lease has run out (the holder died); for operators, it tells which
-- instance was working on a stuck event.
ALTER TABLE webhook_events ADD COLUMN locked_by TEXT NOT NULL DEFAULT '';
