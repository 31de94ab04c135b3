-- What a list view shows (the portal back end's query API): the title, who
-- asked for it, when it was opened, and the major flag. Written with the
-- rest of the projection in each command's transaction; rows written before
-- this migration take them from their stored state here (incident and
-- problem: `title`, `opened_at`, the incident's `opened_by` and `major`;
-- changes: `spec.title`, `requester`, `created_at` or `submitted_at`).
ALTER TABLE aggregates
    ADD COLUMN title TEXT,
    ADD COLUMN requester TEXT,
    ADD COLUMN opened_at TIMESTAMPTZ,
    ADD COLUMN major BOOLEAN NOT NULL DEFAULT FALSE,
    -- When the aggregate's first SLA deadline is (or was) breached, kept with
    -- `due_at` from the clock; a row written before this migration gets it at
    -- its next clock-moving write or configuration change.
    ADD COLUMN breach_at TIMESTAMPTZ;

UPDATE aggregates SET
    title = COALESCE(state::jsonb ->> 'title', state::jsonb -> 'spec' ->> 'title'),
    requester = CASE kind
        WHEN 'incident' THEN state::jsonb ->> 'opened_by'
        WHEN 'problem' THEN NULL
        ELSE state::jsonb ->> 'requester' END,
    opened_at = COALESCE(state::jsonb ->> 'opened_at', state::jsonb ->> 'created_at',
                         state::jsonb ->> 'submitted_at')::timestamptz,
    major = (kind = 'incident' AND jsonb_typeof(state::jsonb -> 'major') = 'object');

-- Keyset pages in the default orders (newest first), per kind and overall,
-- and for the filters a portal always sets one of (a group's open queue, a
-- service, a requester's own tickets), each in opening order so a page reads
-- about its own rows (itsm-store/examples/list_bench.rs).
CREATE INDEX aggregates_list_opened ON aggregates (tenant, kind, opened_at, id);
DROP INDEX aggregates_group;
CREATE INDEX aggregates_group ON aggregates (tenant, grp, opened_at, id) WHERE NOT terminal;
CREATE INDEX aggregates_service ON aggregates (tenant, service, opened_at, id);
CREATE INDEX aggregates_requester ON aggregates (tenant, requester, opened_at, id);
CREATE INDEX aggregates_list_updated ON aggregates (tenant, updated_at, kind, id);
CREATE INDEX aggregates_breach ON aggregates (tenant, breach_at) WHERE breach_at IS NOT NULL;
