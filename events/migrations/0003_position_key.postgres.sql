-- No created_at index: the janitor prunes the oldest events by position,
-- while they are older than the retention. One index less for every event
-- written and for the sequencer's rewrite of it.
DROP INDEX events_created;
