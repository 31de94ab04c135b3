//! Cross-crate workflow tests: model-based property tests of the five state
//! machines, transition-table consistency, serde round trips, approvals and
//! separation of duties, tenancy and permissions.

mod access;
mod approvals;
mod change_model;
mod incident_model;
mod model;
mod problem_model;
mod scripts;
mod serde_roundtrip;
mod support;
mod transition_tables;
