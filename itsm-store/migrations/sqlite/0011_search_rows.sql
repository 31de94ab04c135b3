-- Search rows: one per title and one per note, appended, instead of one
-- growing document per aggregate (0008). A note used to rewrite its
-- aggregate's whole document in the full-text index (delete and insert), so
-- a busy incident's writes grew with its notes. Now a note inserts one row.
--
-- A search matches an aggregate when every word is in one of its rows the
-- reader may see (`part` 'private' only for readers of private notes), and
-- ranks it by the sum of its matching rows' bm25 scores, a title's weighed
-- five times a note's. The FTS5 index is an external-content table over
-- `search_rows`, kept by the triggers below. Tokenizer as in 0008.
DROP TRIGGER search_docs_insert;
DROP TRIGGER search_docs_update;
DROP TRIGGER search_docs_delete;
DROP TABLE search_fts;
DROP TABLE search_docs;

CREATE TABLE search_rows (
    seq     INTEGER PRIMARY KEY,
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    part    TEXT NOT NULL CHECK (part IN ('title', 'public', 'private')),
    body    TEXT NOT NULL
);
-- A search ranks the candidates' rows: every row of each candidate aggregate.
CREATE INDEX search_rows_aggregate ON search_rows (tenant, kind, id);

CREATE VIRTUAL TABLE search_fts USING fts5(
    body,
    content = 'search_rows', content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER search_rows_insert AFTER INSERT ON search_rows BEGIN
    INSERT INTO search_fts (rowid, body) VALUES (new.seq, new.body);
END;

CREATE TRIGGER search_rows_delete AFTER DELETE ON search_rows BEGIN
    INSERT INTO search_fts (search_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;

-- Rows written before this migration: titles from the projection, notes
-- from the `note_added` events, one row each.
INSERT INTO search_rows (tenant, kind, id, part, body)
SELECT a.tenant, a.kind, a.id, 'title', COALESCE(a.title, '') FROM aggregates a
UNION ALL
SELECT e.tenant, e.aggregate_kind, e.aggregate_id,
       CASE WHEN json_extract(e.payload, '$.public') = 1 THEN 'public' ELSE 'private' END,
       COALESCE(json_extract(e.payload, '$.text'), '')
FROM events e WHERE e.event_name = 'note_added';
