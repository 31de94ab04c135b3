//! Changes: standard, normal and emergency, each its own state machine, with
//! the approval policy, implementation strategies, windows and conflicts.

pub mod approval;

pub use approval::{ApprovalError, ApprovalPolicy, ApprovalStep, Quorum};
