//! The `sla_clock` example's input (`{"calendar", "policy", "events",
//! "now"}`), parsed into the core types it is made of, then the clocks and
//! the due escalations computed from it.
#![no_main]

use itsm_core::Timestamp;
use itsm_core::alert::GroupingPolicy;
use itsm_core::calendar::Calendar;
use itsm_core::id::IncidentId;
use itsm_core::sla::{SlaEvent, SlaPolicy, clocks, due_escalations};
use serde::Deserialize;

/// The shape `examples/examples/sla_clock.rs` reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    calendar: Calendar,
    #[serde(default)]
    policy: SlaPolicy,
    events: Vec<SlaEvent>,
    now: Timestamp,
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let Ok(input) = itsm_core::json::from_json::<Input>("sla_clock input", text) else { return };
    itsm_fuzz::roundtrip("calendar", &input.calendar);
    itsm_fuzz::roundtrip("policy", &input.policy);
    itsm_fuzz::roundtrip("events", &input.events);
    itsm_fuzz::roundtrip("now", &input.now);
    if let Ok(clocks) = clocks(&input.events, &input.policy, &input.calendar, input.now) {
        itsm_fuzz::roundtrip("clocks", &clocks);
    }
    let Ok(incident) = IncidentId::new("INC-1") else { return };
    let rules = GroupingPolicy::default().escalation_rules();
    if let Ok(due) = due_escalations(&incident, &input.events, &input.policy, &rules, &input.calendar, input.now) {
        itsm_fuzz::roundtrip("due escalations", &due);
    }
});
