-- Each tenant's alert correlator (itsm_core::alert::Correlator) as JSON, the
-- tenant chain position up to which it has observed incident events, and a
-- version bumped by every ingested batch.
CREATE TABLE alert_correlators (
    tenant      TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 0),
    observed    INTEGER NOT NULL CHECK (observed >= 0),
    updated_at  TEXT    NOT NULL
);
