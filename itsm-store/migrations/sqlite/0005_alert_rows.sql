-- Alert correlation state as keyed rows (store design 2, issue 13), replacing
-- the per-tenant JSON document of `alert_correlators`, which a batch no longer
-- rewrites. A tenant's document is converted into rows by its first ingestion
-- after this migration, and blanked; its row stays as the tenant's ingestion
-- lock (PostgreSQL).
--
-- One row per group (itsm_core::alert::Group as JSON), updated in place;
-- `incident` is the group's current incident and `incident_version` the
-- version of that incident whose events the row has observed. Groups are
-- never deleted (they number their incidents).
CREATE TABLE alert_groups (
    tenant            TEXT    NOT NULL,
    group_key         TEXT    NOT NULL,
    incident          TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    incident_version  INTEGER NOT NULL CHECK (incident_version >= 0),
    updated_at        TEXT    NOT NULL,
    PRIMARY KEY (tenant, group_key)
);
CREATE INDEX alert_groups_incident ON alert_groups (tenant, incident);

-- One row per alert seen (itsm_core::alert::Seen as JSON), keyed by its
-- clear key. A recovered alert's row carries the instant after which it may
-- be deleted (GroupingPolicy::seen_expires_at); the others never expire.
CREATE TABLE alert_seen (
    tenant      TEXT NOT NULL,
    alert_key   TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  TEXT,
    PRIMARY KEY (tenant, alert_key)
);
CREATE INDEX alert_seen_expiry ON alert_seen (tenant, expires_at) WHERE expires_at IS NOT NULL;
