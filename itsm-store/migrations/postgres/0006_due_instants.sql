-- Due instants kept by the store (store design 2). Every aggregate with SLA
-- clocks keeps its clock's events (`clock`, a JSON array of SlaEvent) and the
-- instant up to which the escalation runner has handled what came due
-- (`due_handled`, the opening until a runner marks more); `due_at` is the
-- earliest deadline, warning threshold or escalation level after it, written
-- in the same transaction as each command.
ALTER TABLE aggregates ADD COLUMN clock TEXT;
ALTER TABLE aggregates ADD COLUMN due_handled TIMESTAMPTZ;

-- Configuration the domain takes, as versioned data with effective dates
-- (itsm_core::versioned): one row per version, never changed; a clock uses
-- the versions in force when its cycle started. `config_heads` counts each
-- tenant's changes, so a cached copy is known to be current.
CREATE TABLE config_versions (
    tenant          TEXT        NOT NULL,
    config          TEXT        NOT NULL,
    version         BIGINT      NOT NULL CHECK (version >= 1),
    effective_from  TIMESTAMPTZ NOT NULL,
    value           TEXT        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, config, version)
);
CREATE TABLE config_heads (
    tenant      TEXT   PRIMARY KEY,
    generation  BIGINT NOT NULL
);
