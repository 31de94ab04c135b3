-- Search rows: one per title and one per note, appended, instead of one
-- growing document per aggregate (0008). A note used to rewrite its
-- aggregate's whole document (the TOASTed text and both generated vectors),
-- so a busy incident's writes grew with its notes: writers fell to a sixth
-- of their rate. Now a note inserts one small row.
--
-- A search matches an aggregate when every word is in one of its rows the
-- reader may see (`part` 'private' only for readers of private notes), and
-- ranks it by the sum of its matching rows' ts_rank (titles weigh A, notes B).
-- Configuration `simple`, as in 0008.
CREATE TABLE search_rows (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    part    TEXT NOT NULL CHECK (part IN ('title', 'public', 'private')),
    body    TEXT NOT NULL,
    tsv     TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, body),
                  CASE WHEN part = 'title' THEN 'A'::"char" ELSE 'B'::"char" END)) STORED
);
CREATE INDEX search_rows_tsv ON search_rows USING GIN (tsv);
-- A search ranks the candidates' rows: every row of each candidate aggregate.
CREATE INDEX search_rows_aggregate ON search_rows (tenant, kind, id);

-- Rows written before this migration: titles from the projection, notes
-- from the `note_added` events, one row each.
INSERT INTO search_rows (tenant, kind, id, part, body)
SELECT a.tenant, a.kind, a.id, 'title', COALESCE(a.title, '') FROM aggregates a
UNION ALL
SELECT e.tenant, e.aggregate_kind, e.aggregate_id,
       CASE WHEN (e.payload::jsonb ->> 'public')::boolean THEN 'public' ELSE 'private' END,
       COALESCE(e.payload::jsonb ->> 'text', '')
FROM events e WHERE e.event_name = 'note_added';

DROP TABLE search_docs;
