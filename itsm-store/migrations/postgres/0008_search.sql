-- Full-text search over titles and notes (the portal back end's search,
-- Store::search). One document per aggregate, written in each command's
-- transaction: its title, and its public and private notes appended as they
-- are added (Aggregate::note). Two generated vectors, each with a GIN index:
-- `public_tsv` (title weighted A, public notes B) for readers without
-- private notes, `all_tsv` (with the private notes, B) for the others.
--
-- Configuration `simple` (no stemming, no stop words): the same words
-- SQLite's unicode61 tokenizer makes, so both backends find the same
-- documents.
CREATE TABLE search_docs (
    tenant         TEXT NOT NULL,
    kind           TEXT NOT NULL,
    id             TEXT NOT NULL,
    title          TEXT NOT NULL,
    public_notes   TEXT NOT NULL DEFAULT '',
    private_notes  TEXT NOT NULL DEFAULT '',
    public_tsv     TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, public_notes), 'B')) STORED,
    all_tsv        TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, public_notes), 'B')
        || setweight(to_tsvector('simple'::regconfig, private_notes), 'B')) STORED,
    PRIMARY KEY (tenant, kind, id)
);
CREATE INDEX search_docs_public ON search_docs USING GIN (public_tsv);
CREATE INDEX search_docs_all ON search_docs USING GIN (all_tsv);

-- Rows written before this migration: titles from the projection, notes
-- from the incidents' `note_added` events.
INSERT INTO search_docs (tenant, kind, id, title, public_notes, private_notes)
SELECT a.tenant, a.kind, a.id, COALESCE(a.title, ''),
       COALESCE((SELECT string_agg(e.payload::jsonb ->> 'text', E'\n' ORDER BY e.version) FROM events e
                 WHERE e.tenant = a.tenant AND e.aggregate_kind = a.kind AND e.aggregate_id = a.id
                   AND e.event_name = 'note_added' AND (e.payload::jsonb ->> 'public')::boolean), ''),
       COALESCE((SELECT string_agg(e.payload::jsonb ->> 'text', E'\n' ORDER BY e.version) FROM events e
                 WHERE e.tenant = a.tenant AND e.aggregate_kind = a.kind AND e.aggregate_id = a.id
                   AND e.event_name = 'note_added' AND NOT (e.payload::jsonb ->> 'public')::boolean), '')
FROM aggregates a;
