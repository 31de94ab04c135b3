-- What a list view shows (the portal back end's query API): the title, who
-- asked for it, when it was opened, and the major flag. Written with the
-- rest of the projection in each command's transaction; rows written before
-- this migration take them from their stored state here (incident and
-- problem: `title`, `opened_at`, the incident's `opened_by` and `major`;
-- changes: `spec.title`, `requester`, `created_at` or `submitted_at`).
ALTER TABLE aggregates ADD COLUMN title TEXT;
ALTER TABLE aggregates ADD COLUMN requester TEXT;
ALTER TABLE aggregates ADD COLUMN opened_at TEXT;
ALTER TABLE aggregates ADD COLUMN major INTEGER NOT NULL DEFAULT 0 CHECK (major IN (0, 1));
-- When the aggregate's first SLA deadline is (or was) breached, kept with
-- `due_at` from the clock; a row written before this migration gets it at
-- its next clock-moving write or configuration change.
ALTER TABLE aggregates ADD COLUMN breach_at TEXT;

UPDATE aggregates SET
    title = COALESCE(json_extract(state, '$.title'), json_extract(state, '$.spec.title')),
    requester = CASE kind
        WHEN 'incident' THEN json_extract(state, '$.opened_by')
        WHEN 'problem' THEN NULL
        ELSE json_extract(state, '$.requester') END,
    opened_at = COALESCE(json_extract(state, '$.opened_at'), json_extract(state, '$.created_at'),
                         json_extract(state, '$.submitted_at')),
    major = CASE WHEN kind = 'incident' AND json_type(state, '$.major') = 'object' THEN 1 ELSE 0 END
WHERE json_valid(state);

-- Keyset pages in the default orders (newest first), per kind and overall,
-- and for the filters a portal always sets one of (a group's open queue, a
-- service, a requester's own tickets), each in opening order so a page reads
-- about its own rows (itsm-store/examples/list_bench.rs).
CREATE INDEX aggregates_list_opened ON aggregates (tenant, kind, opened_at, id);
DROP INDEX aggregates_group;
CREATE INDEX aggregates_group ON aggregates (tenant, grp, opened_at, id) WHERE terminal = 0;
CREATE INDEX aggregates_service ON aggregates (tenant, service, opened_at, id);
CREATE INDEX aggregates_requester ON aggregates (tenant, requester, opened_at, id);
CREATE INDEX aggregates_list_updated ON aggregates (tenant, updated_at, kind, id);
CREATE INDEX aggregates_breach ON aggregates (tenant, breach_at) WHERE breach_at IS NOT NULL;
