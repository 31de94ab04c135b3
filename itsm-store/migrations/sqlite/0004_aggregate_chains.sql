-- Audit evidence per aggregate (store design 2): each event's hash links to
-- the previous event of the same aggregate, so writers of one tenant no longer
-- serialize on a tenant chain head. Events written before this migration keep
-- their tenant chain (`chain_position`, verified against `chain_heads`, which
-- is no longer written); new events have no chain position.
--
-- SQLite cannot drop a NOT NULL constraint: the log is rebuilt (positions,
-- rows and bytes unchanged). DROP TABLE removes the append-only triggers
-- before its implicit delete, so they do not fire.
CREATE TABLE events_v4 (
    position        INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    aggregate_kind  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_name      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    chain_position  INTEGER CHECK (chain_position >= 1),
    hash            TEXT    NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (tenant, aggregate_kind, aggregate_id, version)
);
INSERT INTO events_v4 SELECT position, tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor,
    recorded_at, chain_position, hash FROM events;
DROP TABLE events;
ALTER TABLE events_v4 RENAME TO events;
-- The tenant chain positions stay unique; new events (no position) cost the
-- index nothing.
CREATE UNIQUE INDEX events_chain ON events (tenant, chain_position) WHERE chain_position IS NOT NULL;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- Each aggregate's chain head (the hash of its last event), and what the
-- last tenant checkpoint recorded of it.
ALTER TABLE aggregates ADD COLUMN chain_hash TEXT;
ALTER TABLE aggregates ADD COLUMN checkpointed_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aggregates ADD COLUMN checkpointed_hash TEXT;
UPDATE aggregates SET chain_hash = (SELECT e.hash FROM events e WHERE e.tenant = aggregates.tenant
    AND e.aggregate_kind = aggregates.kind AND e.aggregate_id = aggregates.id AND e.version = aggregates.version);
CREATE INDEX aggregates_uncheckpointed ON aggregates (tenant) WHERE version > checkpointed_version;

-- Tenant checkpoints: a Merkle root over every aggregate's chain head at the
-- checkpoint, chained checkpoint to checkpoint. `checkpoint_heads` holds the
-- heads that changed since the previous checkpoint (the leaves are the latest
-- head of each aggregate up to a checkpoint). Both are append-only.
CREATE TABLE checkpoints (
    tenant      TEXT    NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    taken_at    TEXT    NOT NULL,
    aggregates  INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    root        TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE TABLE checkpoint_heads (
    tenant   TEXT    NOT NULL,
    seq      INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    id       TEXT    NOT NULL,
    version  INTEGER NOT NULL CHECK (version >= 1),
    hash     TEXT    NOT NULL,
    PRIMARY KEY (tenant, seq, kind, id)
);
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER checkpoint_heads_no_update BEFORE UPDATE ON checkpoint_heads
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
CREATE TRIGGER checkpoint_heads_no_delete BEFORE DELETE ON checkpoint_heads
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;

-- The alert correlators' catch-up mark moves from the tenant chain position
-- to the global log position of the same event.
UPDATE alert_correlators SET observed = COALESCE((SELECT e.position FROM events e
    WHERE e.tenant = alert_correlators.tenant AND e.chain_position = alert_correlators.observed), 0);
