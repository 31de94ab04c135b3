-- Audit evidence per aggregate (store design 2): each event's hash links to
-- the previous event of the same aggregate, so writers of one tenant no longer
-- serialize on a tenant chain head. Events written before this migration keep
-- their tenant chain (`chain_position`, verified against `chain_heads`, which
-- is no longer written); new events have no chain position.
ALTER TABLE events ALTER COLUMN chain_position DROP NOT NULL;
-- The tenant chain positions stay unique; new events (no position) cost the
-- index nothing.
ALTER TABLE events DROP CONSTRAINT events_chain;
CREATE UNIQUE INDEX events_chain ON events (tenant, chain_position) WHERE chain_position IS NOT NULL;

-- Each aggregate's chain head (the hash of its last event), and what the
-- last tenant checkpoint recorded of it.
ALTER TABLE aggregates ADD COLUMN chain_hash TEXT;
ALTER TABLE aggregates ADD COLUMN checkpointed_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE aggregates ADD COLUMN checkpointed_hash TEXT;
UPDATE aggregates SET chain_hash = (SELECT e.hash FROM events e WHERE e.tenant = aggregates.tenant
    AND e.aggregate_kind = aggregates.kind AND e.aggregate_id = aggregates.id AND e.version = aggregates.version);
CREATE INDEX aggregates_uncheckpointed ON aggregates (tenant) WHERE version > checkpointed_version;

-- Tenant checkpoints: a Merkle root over every aggregate's chain head at the
-- checkpoint, chained checkpoint to checkpoint. `checkpoint_heads` holds the
-- heads that changed since the previous checkpoint (the leaves are the latest
-- head of each aggregate up to a checkpoint). Both are append-only.
CREATE TABLE checkpoints (
    tenant      TEXT        NOT NULL,
    seq         BIGINT      NOT NULL CHECK (seq >= 1),
    taken_at    TIMESTAMPTZ NOT NULL,
    aggregates  BIGINT      NOT NULL,
    events      BIGINT      NOT NULL,
    root        TEXT        NOT NULL,
    prev_hash   TEXT        NOT NULL,
    hash        TEXT        NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE TABLE checkpoint_heads (
    tenant   TEXT   NOT NULL,
    seq      BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    id       TEXT   NOT NULL,
    version  BIGINT NOT NULL CHECK (version >= 1),
    hash     TEXT   NOT NULL,
    PRIMARY KEY (tenant, seq, kind, id)
);
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION itsm_events_append_only();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION itsm_events_append_only();
CREATE TRIGGER checkpoint_heads_append_only BEFORE UPDATE OR DELETE ON checkpoint_heads
    FOR EACH ROW EXECUTE FUNCTION itsm_events_append_only();
CREATE TRIGGER checkpoint_heads_no_truncate BEFORE TRUNCATE ON checkpoint_heads
    FOR EACH STATEMENT EXECUTE FUNCTION itsm_events_append_only();

-- The alert correlators' catch-up mark moves from the tenant chain position
-- to the global log position of the same event.
UPDATE alert_correlators SET observed = COALESCE((SELECT e.position FROM events e
    WHERE e.tenant = alert_correlators.tenant AND e.chain_position = alert_correlators.observed), 0);
