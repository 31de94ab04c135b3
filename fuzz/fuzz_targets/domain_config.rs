//! The domain configuration (permissions, priority matrix, change approval
//! policy, standard-change catalogue) and change schedules (JSON).
#![no_main]

use itsm_core::DomainConfig;
use itsm_core::change::schedule::ServiceSchedule;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let _ = itsm_fuzz::parse::<DomainConfig>("domain config", text);
    let _ = itsm_fuzz::parse::<Vec<ServiceSchedule>>("change schedules", text);
});
