-- Each tenant's alert correlator (itsm_core::alert::Correlator) as JSON, the
-- tenant chain position up to which it has observed incident events, and a
-- version bumped by every ingested batch. Ingestion locks the row.
CREATE TABLE alert_correlators (
    tenant      TEXT        PRIMARY KEY,
    state       TEXT        NOT NULL,
    version     BIGINT      NOT NULL CHECK (version >= 0),
    observed    BIGINT      NOT NULL CHECK (observed >= 0),
    updated_at  TIMESTAMPTZ NOT NULL
);
