-- Alert correlation over the service model and maintenance windows
-- (maturity model Table 4).
--
-- `root_service`: the group's service while its current incident may still
-- be open (open, or resolved: a person may reopen it without the row
-- knowing until the next ingestion catches up), NULL once it is closed or
-- cancelled. An alert's first firing loads the groups of the items upstream
-- of its object through this column, to join a root-cause incident.
ALTER TABLE alert_groups ADD COLUMN root_service TEXT;
UPDATE alert_groups SET root_service = json_extract(state, '$.service')
 WHERE json_extract(state, '$.status.status') IN ('open', 'resolved');
CREATE INDEX alert_groups_root_service ON alert_groups (tenant, root_service) WHERE root_service IS NOT NULL;

-- Alerts suppressed by a maintenance window: recorded, not dropped. One row
-- per alert (its clear key); `change_id` is the change whose window
-- suppressed it, `recorded_at` the ingestion that did.
CREATE TABLE alert_suppressed (
    tenant       TEXT NOT NULL,
    alert_key    TEXT NOT NULL,
    source       TEXT NOT NULL,
    alert_id     TEXT NOT NULL,
    object       TEXT NOT NULL,
    fired_at     TEXT NOT NULL,
    change_id    TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, alert_key)
);
CREATE INDEX alert_suppressed_fired ON alert_suppressed (tenant, fired_at);

-- The maintenance windows an alert batch may fall in: those not yet ended
-- at its earliest firing, found by their end.
CREATE INDEX aggregates_window_end ON aggregates (tenant, window_end) WHERE window_end IS NOT NULL;
