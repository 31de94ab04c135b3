//! Shared helpers for the example binaries: the real-data replays live here so
//! that tests can run them on committed fixtures.

pub mod servicenow;
