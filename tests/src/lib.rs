//! Cross-crate workflow tests live in `workflow/`; this library is empty. The
//! tests of `itsm-core` alone live in `itsm-core/tests/`.
