//! `incidents.csv` of the interchange format: every row through
//! `itsm_metrics::import::incidents`.
#![no_main]

use itsm_core::records::IncidentRecord;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rows = itsm_metrics::import::incidents("incidents.csv", data);
    let records = itsm_fuzz::import_rows(data, rows, |r: &IncidentRecord| {
        for (name, later) in [("acknowledged_at", r.acknowledged_at), ("resolved_at", r.resolved_at)] {
            assert!(later.is_none_or(|t| t >= r.opened_at), "{name} before opened_at accepted: {r:?}");
        }
        if let (Some(resolved), Some(closed)) = (r.resolved_at, r.closed_at) {
            assert!(closed >= resolved, "closed_at before resolved_at accepted: {r:?}");
        }
        if let Some(restored) = r.restore_instant() {
            assert!(restored >= r.impact_start, "restored before the impact started accepted: {r:?}");
        }
    });
    let mut ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "a repeated id was accepted");
});
