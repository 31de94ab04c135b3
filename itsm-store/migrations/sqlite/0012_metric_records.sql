-- The metrics read model: each incident's and change's metric record (the
-- `IncidentRecord` / `ChangeRecord` of itsm-core's `records`) as plain
-- columns, written in the same transaction as the command that changed it,
-- so a scorecard reads one row per aggregate instead of folding the event
-- log. The event log stays the source of truth: `Store::rebuild_metric_records`
-- writes these rows again from it, `Store::verify_metric_records` compares.
--
-- Instants are whole microseconds since 1970-01-01T00:00:00Z (BIGINT):
-- what a scan reads a million times decodes without parsing text. `version`
-- is the aggregate version the row was written from (a rebuild never
-- overwrites a newer row). `resolution` is the SLA verdict of the
-- last resolution clock: 'met', 'missed' or 'open' (not ended, or no SLA).
CREATE TABLE metric_incidents (
    tenant           TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    kind             TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    category         TEXT,
    priority         TEXT    NOT NULL,
    detected_by      TEXT    NOT NULL,
    opened_at        INTEGER    NOT NULL,
    acknowledged_at  INTEGER,
    impact_start     INTEGER    NOT NULL,
    restored_at      INTEGER,
    resolved_at      INTEGER,
    closed_at        INTEGER,
    resolved_by      TEXT,
    major            INTEGER NOT NULL CHECK (major IN (0, 1)),
    reopen_count     INTEGER NOT NULL,
    caused_by_change TEXT,
    problem_id       TEXT,
    failure_class    TEXT    NOT NULL,
    outage           INTEGER NOT NULL CHECK (outage IN (0, 1)),
    resolution       TEXT    CHECK (resolution IN ('met', 'missed', 'open')),
    -- Stored in the scan order the accumulator wants (incidents by
    -- opening): a scan reads the table front to back.
    PRIMARY KEY (tenant, opened_at, id),
    UNIQUE (tenant, id)
) WITHOUT ROWID;

CREATE TABLE metric_changes (
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    change_type   TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    requested_at  INTEGER,
    planned_start INTEGER,
    planned_end   INTEGER,
    started_at    INTEGER,
    completed_at  INTEGER,
    outcome       TEXT,
    remediation   TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;

-- Which tenants' read models are behind the record definition: a scan of a
-- tenant listed with a `definition` older than the library's refuses until
-- `Store::rebuild_metric_records` has run. Tenants holding records when
-- this migration ran are listed as 0 (never built); a tenant without a row
-- has been written with the read model from its first command.
CREATE TABLE metric_models (
    tenant     TEXT    PRIMARY KEY,
    definition INTEGER NOT NULL,
    built_at   TEXT
);
INSERT INTO metric_models (tenant, definition)
SELECT DISTINCT tenant, 0 FROM aggregates
WHERE kind IN ('incident', 'standard_change', 'normal_change', 'emergency_change');
