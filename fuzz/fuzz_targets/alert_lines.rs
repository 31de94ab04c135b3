//! Alert JSON lines (as `alert_storm` and a monitoring webhook read them):
//! each line parsed as an `Alert`, then correlated under the default grouping
//! policy, the decided incident commands executed on the incidents and their
//! events observed, as the store's ingestion does. Checks: parsed alerts
//! round-trip, a decided command's events apply, the correlator state
//! round-trips at the end.
#![no_main]

use std::collections::BTreeMap;

use itsm_core::alert::{Alert, Correlator, GroupingPolicy};
use itsm_core::id::IncidentId;
use itsm_core::incident::Incident;
use itsm_core::{Aggregate, Context, ExecuteError};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let policy = GroupingPolicy::default();
    let bot = itsm_fuzz::actor("bot");
    let mut correlator = Correlator::new();
    let mut incidents: BTreeMap<IncidentId, Incident> = BTreeMap::new();
    let mut now = itsm_fuzz::ts(0);
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(32) {
        let Some(alert) = itsm_fuzz::parse::<Alert>("alert", line) else { continue };
        now = now.max(alert.fired_at).max(alert.resolved_at.unwrap_or(alert.fired_at));
        let decision = correlator.decide(&alert, &policy, now);
        itsm_fuzz::roundtrip("decision", &decision);
        let mut ok = true;
        for (id, command) in decision.commands() {
            let ctx = Context::new(bot, now, &itsm_fuzz::CONFIG);
            match Incident::execute(incidents.get(&id).cloned(), &command, &ctx) {
                Ok((next, events)) => {
                    for event in &events {
                        correlator.observe(&id, event);
                    }
                    let _ = Incident::outbox(&next, &events);
                    incidents.insert(id, next);
                }
                Err(ExecuteError::Apply(e)) => panic!("a decided event does not apply: {e}: {command:?}"),
                Err(_) => ok = false,
            }
        }
        if ok {
            correlator.apply(&alert, &policy, &decision);
        }
    }
    itsm_fuzz::roundtrip("correlator", &correlator);
});
