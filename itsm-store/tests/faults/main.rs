//! Fault injection (issue 12): PostgreSQL backends terminated mid-transaction,
//! the server restarted under load, statement timeouts; SQLite on a full disk,
//! a read-only file, and a database locked by another process.
//!
//! Each test runs the workload of [`harness`] through the fault, lifts it,
//! and prints four figures (commands attempted, acknowledged, found after
//! recovery, duplicates), asserting found == acknowledged and no duplicate.
//!
//! A separate binary (restarting PostgreSQL would break the store tests
//! running in parallel in `tests/it`), and `test = false`: `cargo test
//! --workspace` leaves it out (it restarts the shared server and takes about
//! a minute); `.ci/run` runs it with
//! `cargo test -p itsm-store --features postgres --test faults -- --nocapture --test-threads=1`.
//! The tests serialize themselves anyway. PostgreSQL tests skip with a message
//! when the server (`ITSM_PG_URL`) is unreachable and tests needing root
//! (mounts, `pg_ctlcluster`) skip when not root, unless `CI=true`.
//! `ITSM_PG_CLUSTER` ("15 main") names the cluster to restart when it is not
//! the first version under `/etc/postgresql` with cluster `main`.

#[allow(dead_code)]
#[path = "../it/common.rs"]
mod common;
mod harness;
mod postgres;
mod sqlite;
#[allow(dead_code)]
#[path = "../it/ticket.rs"]
mod ticket;
