-- Full-text search over titles and notes (the portal back end's search,
-- Store::search). One document per aggregate, written in each command's
-- transaction: its title, and its public and private notes appended as they
-- are added (Aggregate::note). The FTS5 index is an external-content table
-- over `search_docs`, kept by the triggers below; a reader without private
-- notes matches the title and public notes columns only.
--
-- Tokenizer: unicode61 without diacritic folding, the same words PostgreSQL's
-- `simple` configuration makes, so both backends find the same documents.
CREATE TABLE search_docs (
    tenant         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    id             TEXT NOT NULL,
    title          TEXT NOT NULL,
    public_notes   TEXT NOT NULL DEFAULT '',
    private_notes  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, kind, id)
);

CREATE VIRTUAL TABLE search_fts USING fts5(
    title, public_notes, private_notes,
    content = 'search_docs', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 0'
);

CREATE TRIGGER search_docs_insert AFTER INSERT ON search_docs BEGIN
    INSERT INTO search_fts (rowid, title, public_notes, private_notes)
    VALUES (new.rowid, new.title, new.public_notes, new.private_notes);
END;

CREATE TRIGGER search_docs_update AFTER UPDATE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, public_notes, private_notes)
    VALUES ('delete', old.rowid, old.title, old.public_notes, old.private_notes);
    INSERT INTO search_fts (rowid, title, public_notes, private_notes)
    VALUES (new.rowid, new.title, new.public_notes, new.private_notes);
END;

CREATE TRIGGER search_docs_delete AFTER DELETE ON search_docs BEGIN
    INSERT INTO search_fts (search_fts, rowid, title, public_notes, private_notes)
    VALUES ('delete', old.rowid, old.title, old.public_notes, old.private_notes);
END;

-- Rows written before this migration: titles from the projection, notes
-- from the incidents' `note_added` events.
INSERT INTO search_docs (tenant, kind, id, title, public_notes, private_notes)
SELECT a.tenant, a.kind, a.id, COALESCE(a.title, ''),
       COALESCE((SELECT group_concat(json_extract(e.payload, '$.text'), char(10)) FROM events e
                 WHERE e.tenant = a.tenant AND e.aggregate_kind = a.kind AND e.aggregate_id = a.id
                   AND e.event_name = 'note_added' AND json_extract(e.payload, '$.public') = 1), ''),
       COALESCE((SELECT group_concat(json_extract(e.payload, '$.text'), char(10)) FROM events e
                 WHERE e.tenant = a.tenant AND e.aggregate_kind = a.kind AND e.aggregate_id = a.id
                   AND e.event_name = 'note_added' AND json_extract(e.payload, '$.public') = 0), '')
FROM aggregates a;
