-- itsm-store schema, version 1 (PostgreSQL).
-- Instants are TIMESTAMPTZ (microseconds). Event payloads and states are TEXT,
-- not JSONB, so the bytes hashed by the audit chain are the bytes stored.

CREATE TABLE events (
    position        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant          TEXT        NOT NULL,
    aggregate_kind  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    version         BIGINT      NOT NULL CHECK (version >= 1),
    event_name      TEXT        NOT NULL,
    payload         TEXT        NOT NULL,
    actor           TEXT        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    chain_position  BIGINT      NOT NULL CHECK (chain_position >= 1),
    hash            TEXT        NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (tenant, aggregate_kind, aggregate_id, version),
    CONSTRAINT events_chain UNIQUE (tenant, chain_position)
);

CREATE FUNCTION itsm_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION itsm_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION itsm_events_append_only();

CREATE TABLE chain_heads (
    tenant    TEXT   PRIMARY KEY,
    position  BIGINT NOT NULL,
    hash      TEXT   NOT NULL
);

CREATE TABLE aggregates (
    tenant        TEXT        NOT NULL,
    kind          TEXT        NOT NULL,
    id            TEXT        NOT NULL,
    version       BIGINT      NOT NULL,
    status        TEXT        NOT NULL,
    terminal      BOOLEAN     NOT NULL,
    service       TEXT,
    priority      TEXT,
    assignee      TEXT,
    grp           TEXT,
    window_start  TIMESTAMPTZ,
    window_end    TIMESTAMPTZ,
    due_at        TIMESTAMPTZ,
    state         TEXT        NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX aggregates_assignee ON aggregates (tenant, assignee) WHERE NOT terminal;
CREATE INDEX aggregates_group ON aggregates (tenant, grp) WHERE NOT terminal;
CREATE INDEX aggregates_due ON aggregates (tenant, due_at) WHERE NOT terminal AND due_at IS NOT NULL;
CREATE INDEX aggregates_window ON aggregates (tenant, service, window_start) WHERE window_start IS NOT NULL;

CREATE TABLE idempotency (
    tenant          TEXT        NOT NULL,
    key             TEXT        NOT NULL,
    request_hash    TEXT        NOT NULL,
    aggregate_kind  TEXT        NOT NULL,
    aggregate_id    TEXT        NOT NULL,
    result          TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant        TEXT        NOT NULL,
    topic         TEXT        NOT NULL,
    dedup_key     TEXT        NOT NULL,
    payload       TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    lease_owner   TEXT,
    lease_until   TIMESTAMPTZ,
    delivered_at  TIMESTAMPTZ,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    CONSTRAINT outbox_dedup UNIQUE (tenant, topic, dedup_key)
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE executed_escalations (
    tenant         TEXT        NOT NULL,
    escalation_id  TEXT        NOT NULL,
    payload        TEXT        NOT NULL,
    executed_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, escalation_id)
);
