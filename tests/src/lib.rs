//! Cross-crate workflow tests live in `workflow/`; this library is empty.
