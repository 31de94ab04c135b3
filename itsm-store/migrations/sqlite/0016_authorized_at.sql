-- A change's metric record keeps when it was authorized (`authorized_at`,
-- microseconds; Table 9's "emergency CAB convened in time"): a plain column
-- and a thirteenth element of the `record` array (`metric::ChangeRow`).
-- The instant is in the event log, not in the rows written before this
-- migration: record definition 2 says so, and every tenant holding a normal
-- or an emergency change is listed at definition 1, so its scans refuse
-- until `Store::rebuild_metric_records` has written the rows again; a
-- tenant built at definition 1 without such changes has nothing to learn
-- and moves to 2. The arrays get the new element (null) here so both forms
-- still agree.
ALTER TABLE metric_changes ADD COLUMN authorized_at INTEGER;
UPDATE metric_changes SET record = json_array(kind, id, change_type, service, requested_at, planned_start,
    planned_end, started_at, completed_at, outcome, remediation, automatic_rollback, authorized_at);
UPDATE metric_models SET definition = 2 WHERE definition = 1 AND tenant NOT IN (
    SELECT tenant FROM aggregates WHERE kind IN ('normal_change', 'emergency_change'));
INSERT INTO metric_models (tenant, definition)
SELECT DISTINCT tenant, 1 FROM aggregates WHERE kind IN ('normal_change', 'emergency_change')
ON CONFLICT (tenant) DO UPDATE SET definition = MIN(metric_models.definition, 1);

-- The aggregates' stored states learn the instant too (the store loads a
-- change from its state, not from its events): the last `authorized`
-- event's instant (an emergency change that needed no approval step has
-- none, and keeps none).
UPDATE aggregates SET state = json_set(state, '$.authorized_at', (
    SELECT json_extract(e.payload, '$.at') FROM events e
    WHERE e.tenant = aggregates.tenant AND e.aggregate_kind = aggregates.kind AND e.aggregate_id = aggregates.id
      AND e.event_name = 'authorized'
    ORDER BY e.version DESC LIMIT 1))
WHERE kind IN ('normal_change', 'emergency_change') AND EXISTS (
    SELECT 1 FROM events e
    WHERE e.tenant = aggregates.tenant AND e.aggregate_kind = aggregates.kind AND e.aggregate_id = aggregates.id
      AND e.event_name = 'authorized');
