//! `changes.csv` of the interchange format: every row through
//! `itsm_metrics::import::changes`.
#![no_main]

use itsm_core::records::ChangeRecord;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rows = itsm_metrics::import::changes("changes.csv", data);
    let records = itsm_fuzz::import_rows(data, rows, |c: &ChangeRecord| {
        if let (Some(start), Some(end)) = (c.started_at, c.completed_at) {
            assert!(end >= start, "completed_at before started_at accepted: {c:?}");
        }
        if let (Some(start), Some(end)) = (c.planned_start, c.planned_end) {
            assert!(end >= start, "planned_end before planned_start accepted: {c:?}");
        }
        if c.outcome.is_some() {
            assert!(c.completed_at.is_some(), "an implemented outcome without completed_at accepted: {c:?}");
        }
    });
    let mut ids: Vec<&str> = records.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "a repeated id was accepted");
});
