//! Integration tests of itsm-store, one binary: a conformance suite run on
//! SQLite always and on PostgreSQL when it is reachable (`ITSM_PG_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; unreachable fails under
//! `CI=true`, else the PostgreSQL tests print a skip message and pass).

mod alerts;
mod common;
mod conformance;
mod contention;
mod domain;
mod due;
mod feed;
mod files;
mod fill;
mod kill;
mod list;
mod metric;
mod outbox;
mod props;
mod read;
mod runner;
mod schedule;
mod search;
mod ticket;
mod tidy;
mod timeliness;
mod topology;
