//! Model-based property tests of the five state machines (the reference
//! models predict from the hand-written rules of `../rules`, and each
//! machine's `TRANSITIONS` is checked against them), transition-table
//! consistency, serde round trips, approvals and separation of duties,
//! tenancy and permissions. Core only: the cross-crate workflow tests (store,
//! metrics) live in the workspace's `tests/` crate.

mod access;
mod approvals;
mod change_model;
mod incident_model;
mod model;
mod problem_model;
#[path = "../rules/mod.rs"]
mod rules;
mod scripts;
mod serde_roundtrip;
mod support;
mod transition_tables;
