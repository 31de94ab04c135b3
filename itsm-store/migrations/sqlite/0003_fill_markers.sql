-- Fill markers (Store::claim_fill, Store::complete_fill): a bulk fill that
-- spans many transactions claims an empty store by writing its marker first
-- and marks it complete last, so a store holding a fill without its
-- completion is recognised as partial.
CREATE TABLE fill_markers (
    name          TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    completed_at  TEXT
);
