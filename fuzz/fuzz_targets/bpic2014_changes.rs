//! The BPIC 2014 `Detail_Change.csv` reader
//! (`examples/bpic2014.rs`, `read_changes`): one record per change id, each
//! round-tripping through JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(import) = itsm_fuzz::bpic2014::read_changes("Detail_Change.csv", data) else { return };
    assert!(import.blank_rows <= import.rows, "more blank rows than rows");
    let mut ids: Vec<&str> = import.records.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    assert!(ids.windows(2).all(|w| w[0] != w[1]), "two records for one change id");
    for record in &import.records {
        itsm_fuzz::roundtrip("record", record);
    }
});
