//! Cross-crate workflow tests.
