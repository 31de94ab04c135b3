-- The event feed and the escalation runner (portal back end).
--
-- Feed: positions come from an identity sequence when a row is inserted, but
-- transactions commit in another order, so a reader following positions
-- alone could pass a position whose transaction commits later and skip it.
-- Each event therefore keeps the id of the transaction that wrote it
-- (`txid`). The feed is ordered by (txid, position) and a reader only takes
-- rows whose transaction is older than the oldest one still running (the
-- snapshot's xmin): those are final, and every row that commits later sorts
-- after them. Rows written before this migration have txid 0 and come first,
-- in position order. Writers take no extra lock.
ALTER TABLE events ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_feed ON events (tenant, txid, position);

-- Runner: it looks for due aggregates of every tenant, soonest first.
CREATE INDEX aggregates_due_all ON aggregates (due_at) WHERE NOT terminal AND due_at IS NOT NULL;
