//! `outages.csv` of the interchange format: every row through
//! `itsm_metrics::import::outages`.
#![no_main]

use itsm_core::records::OutageRecord;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let rows = itsm_metrics::import::outages("outages.csv", data);
    let _records = itsm_fuzz::import_rows(data, rows, |o: &OutageRecord| {
        assert!(o.end > o.start, "an outage that does not end after it starts accepted: {o:?}");
    });
});
