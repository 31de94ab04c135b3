-- The projection's assignment group column gets the name of what it holds:
-- `grp` becomes `assignment_group`. The database carries the rename into the
-- indexes over it (`aggregates_group` keeps its name); no row is rewritten.
ALTER TABLE aggregates RENAME COLUMN grp TO assignment_group;
