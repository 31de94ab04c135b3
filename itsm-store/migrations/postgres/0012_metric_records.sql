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
    version          BIGINT  NOT NULL,
    kind             TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    category         TEXT,
    priority         TEXT    NOT NULL,
    detected_by      TEXT    NOT NULL,
    opened_at        BIGINT NOT NULL,
    acknowledged_at  BIGINT,
    impact_start     BIGINT NOT NULL,
    restored_at      BIGINT,
    resolved_at      BIGINT,
    closed_at        BIGINT,
    resolved_by      TEXT,
    major            BOOLEAN NOT NULL,
    reopen_count     BIGINT  NOT NULL,
    caused_by_change TEXT,
    problem_id       TEXT,
    failure_class    TEXT    NOT NULL,
    outage           BOOLEAN NOT NULL,
    resolution       TEXT    CHECK (resolution IN ('met', 'missed', 'open')),
    PRIMARY KEY (tenant, id)
);
-- The scan order the accumulator wants: incidents by opening.
CREATE INDEX metric_incidents_opened ON metric_incidents (tenant, opened_at, id);

CREATE TABLE metric_changes (
    tenant        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    change_type   TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    requested_at  BIGINT,
    planned_start BIGINT,
    planned_end   BIGINT,
    started_at    BIGINT,
    completed_at  BIGINT,
    outcome       TEXT,
    remediation   TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);

-- Which tenants' read models are behind the record definition: a scan of a
-- tenant listed with a `definition` older than the library's refuses until
-- `Store::rebuild_metric_records` has run. Tenants holding records when
-- this migration ran are listed as 0 (never built); a tenant without a row
-- has been written with the read model from its first command.
CREATE TABLE metric_models (
    tenant     TEXT    PRIMARY KEY,
    definition BIGINT  NOT NULL,
    built_at   TIMESTAMPTZ
);
INSERT INTO metric_models (tenant, definition)
SELECT DISTINCT tenant, 0 FROM aggregates
WHERE kind IN ('incident', 'standard_change', 'normal_change', 'emergency_change');
