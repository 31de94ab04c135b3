//! Maturity threshold tables (`Thresholds::from_json`).
#![no_main]

use itsm_metrics::Thresholds;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let Ok(thresholds) = Thresholds::from_json(text) else { return };
    let json = serde_json::to_string(&thresholds).unwrap_or_else(|e| panic!("thresholds do not serialize: {e}"));
    assert_eq!(Thresholds::from_json(&json).ok(), Some(thresholds), "thresholds change through JSON");
});
