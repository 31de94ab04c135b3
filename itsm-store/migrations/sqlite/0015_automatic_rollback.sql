-- A change's metric record says whether its first attempt ended by an
-- automatic rollback (`rolled_back_automatically`, Table 8 level 4): a plain
-- column, and a twelfth element of the `record` array (`metric::ChangeRow`).
-- No change could roll back by itself before this migration, so every
-- existing row holds 0 and the record definition does not move; the arrays
-- are written again from the plain columns so both forms still agree.
ALTER TABLE metric_changes ADD COLUMN automatic_rollback INTEGER NOT NULL DEFAULT 0
    CHECK (automatic_rollback IN (0, 1));
UPDATE metric_changes SET record = json_array(kind, id, change_type, service, requested_at, planned_start,
    planned_end, started_at, completed_at, outcome, remediation, automatic_rollback);
