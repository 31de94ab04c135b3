//! Cross-crate workflow tests: commands decided by `itsm-core`, recorded by
//! `itsm-store` (embedded SQLite in a temporary directory), measured by
//! `itsm-metrics`. The tests of `itsm-core` alone live in `itsm-core/tests/`.

mod scorecard;
