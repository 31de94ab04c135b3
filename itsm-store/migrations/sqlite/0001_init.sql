-- itsm-store schema, version 1 (SQLite).
-- Instants are RFC 3339 UTC text with microseconds (fixed width, so text order
-- is time order); booleans are 0/1; JSON is text.

-- Append-only event log. `position` is the global position; `chain_position`
-- and `hash` form the per-tenant audit chain.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    aggregate_kind  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    event_name      TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    actor           TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL,
    chain_position  INTEGER NOT NULL CHECK (chain_position >= 1),
    hash            TEXT    NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (tenant, aggregate_kind, aggregate_id, version),
    CONSTRAINT events_chain UNIQUE (tenant, chain_position)
);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- Head of each tenant's audit chain: the last chain position and its hash.
CREATE TABLE chain_heads (
    tenant    TEXT    PRIMARY KEY,
    position  INTEGER NOT NULL,
    hash      TEXT    NOT NULL
);

-- Current state of every aggregate, for queries. `due_at` is filled by the
-- caller (`Store::set_due`); every other column derives from the state.
CREATE TABLE aggregates (
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    terminal      INTEGER NOT NULL CHECK (terminal IN (0, 1)),
    service       TEXT,
    priority      TEXT,
    assignee      TEXT,
    grp           TEXT,
    window_start  TEXT,
    window_end    TEXT,
    due_at        TEXT,
    state         TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX aggregates_assignee ON aggregates (tenant, assignee) WHERE terminal = 0;
CREATE INDEX aggregates_group ON aggregates (tenant, grp) WHERE terminal = 0;
CREATE INDEX aggregates_due ON aggregates (tenant, due_at) WHERE terminal = 0 AND due_at IS NOT NULL;
CREATE INDEX aggregates_window ON aggregates (tenant, service, window_start) WHERE window_start IS NOT NULL;

-- Idempotency keys: the first result of a keyed command.
CREATE TABLE idempotency (
    tenant          TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    aggregate_kind  TEXT NOT NULL,
    aggregate_id    TEXT NOT NULL,
    result          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);

-- Transactional outbox, claimed with a lease and acknowledged once.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    tenant        TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    dedup_key     TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    lease_owner   TEXT,
    lease_until   TEXT,
    delivered_at  TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT outbox_dedup UNIQUE (tenant, topic, dedup_key)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

-- Escalations executed, each exactly once.
CREATE TABLE executed_escalations (
    tenant         TEXT NOT NULL,
    escalation_id  TEXT NOT NULL,
    payload        TEXT NOT NULL,
    executed_at    TEXT NOT NULL,
    PRIMARY KEY (tenant, escalation_id)
);
