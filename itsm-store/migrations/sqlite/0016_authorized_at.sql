-- A change's metric record keeps when it was authorized (`authorized_at`,
-- microseconds; Table 9's "emergency CAB convened in time"): a plain column
-- and a thirteenth element of the `record` array (`metric::ChangeRow`).
-- The instant is in the event log, not in the rows written before this
-- migration: record definition 2 says so, and every tenant holding a normal
-- or an emergency change is listed at definition 1, so its scans refuse
-- until `Store::rebuild_metric_records` has written the rows again. The
-- arrays get the new element (null) here so both forms still agree.
ALTER TABLE metric_changes ADD COLUMN authorized_at INTEGER;
UPDATE metric_changes SET record = json_array(kind, id, change_type, service, requested_at, planned_start,
    planned_end, started_at, completed_at, outcome, remediation, automatic_rollback, authorized_at);
INSERT INTO metric_models (tenant, definition)
SELECT DISTINCT tenant, 1 FROM aggregates WHERE kind IN ('normal_change', 'emergency_change')
ON CONFLICT (tenant) DO UPDATE SET definition = MIN(metric_models.definition, 1);
