-- Each read model row also holds its record as one JSON array (`record`),
-- written by the same statement as the plain columns: a scan concatenates
-- these texts (`group_concat`) instead of building JSON from twenty
-- columns per row, which cost SQLite most of a scan's time. The plain
-- columns stay for SQL reports; `Store::verify_metric_records` checks both
-- forms against the event log. An incident's SLA verdict is not in the
-- array: it keeps its own column and update rule (`resolution`).
--
-- The arrays' element order is `itsm_store::metric`'s `IncidentRow` and
-- `ChangeRow` (flags as 0 or 1); rows written before this migration get
-- theirs from their plain columns here.
ALTER TABLE metric_incidents ADD COLUMN record TEXT;
ALTER TABLE metric_changes ADD COLUMN record TEXT;
UPDATE metric_incidents SET record = json_array(id, kind, service, category, priority, detected_by, opened_at,
    acknowledged_at, impact_start, restored_at, resolved_at, closed_at, resolved_by, major, reopen_count,
    caused_by_change, problem_id, failure_class, outage);
UPDATE metric_changes SET record = json_array(kind, id, change_type, service, requested_at, planned_start,
    planned_end, started_at, completed_at, outcome, remediation);
