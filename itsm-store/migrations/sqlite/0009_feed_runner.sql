-- The event feed and the escalation runner (portal back end).
--
-- Feed: SQLite has one writer, so `position` (the rowid) is assigned in
-- commit order and a reader's position cursor never skips a row; nothing to
-- add for it.
--
-- Runner: it looks for due aggregates of every tenant, soonest first.
CREATE INDEX aggregates_due_all ON aggregates (due_at) WHERE terminal = 0 AND due_at IS NOT NULL;
