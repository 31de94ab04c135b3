//! Shared helpers for the example binaries: the simulated quarter, loading
//! metrics records from a store, replaying imported records, and the real-data
//! replays, kept here so tests can run them on small inputs.

pub mod bpic2014;
pub mod records;
pub mod replay_records;
pub mod servicenow;
pub mod simulate;

/// The repository README; its embedding example runs as a doctest.
#[doc = include_str!("../README.md")]
pub mod readme {}
