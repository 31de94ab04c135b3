//! Shared helpers for the example binaries: the simulated quarter, loading
//! metrics records from a store, and the real-data replays, kept here so
//! tests can run them on small inputs.

pub mod records;
pub mod replay_records;
pub mod servicenow;
pub mod simulate;
