//! The BPIC 2014 `Detail_Incident.csv` reader
//! (`examples/bpic2014.rs`, `read_incidents`): every replayed incident equals
//! the fold of its recorded events and converts to a metrics record.
#![no_main]

use itsm_core::incident::Incident;
use itsm_core::{Aggregate, DomainConfig};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = DomainConfig::default();
    let Ok(import) = itsm_fuzz::bpic2014::read_incidents("Detail_Incident.csv", data, &config) else { return };
    assert!(import.blank_rows <= import.rows, "more blank rows than rows");
    for (id, replayed) in &import.incidents {
        let folded = Incident::replay(&replayed.events).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(folded.as_ref(), Some(&replayed.state), "{id}: state differs from its events");
        itsm_fuzz::roundtrip("record", &replayed.state.to_record());
    }
});
