//! The UCI ServiceNow event log reader (`examples/servicenow.rs`, `replay`):
//! every replayed incident equals the fold of its recorded events.
#![no_main]

use itsm_core::incident::Incident;
use itsm_core::{Aggregate, DomainConfig};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(replay) = itsm_fuzz::servicenow::replay(data, &DomainConfig::default()) else { return };
    for (number, replayed) in &replay.incidents {
        let folded = Incident::replay(&replayed.events).unwrap_or_else(|e| panic!("{number}: {e}"));
        assert_eq!(folded.as_ref(), Some(&replayed.state), "{number}: state differs from its events");
        assert!(replayed.commands.windows(2).all(|w| w[0].0 <= w[1].0), "{number}: commands out of order");
    }
});
