//! SLA policy and escalation rules definitions (JSON; deserializing validates).
#![no_main]

use itsm_core::sla::{EscalationRules, SlaPolicy};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    if let Some(policy) = itsm_fuzz::parse::<SlaPolicy>("SLA policy", text)
        && let Err(e) = policy.validate()
    {
        panic!("a parsed policy does not validate: {e}");
    }
    if let Some(rules) = itsm_fuzz::parse::<EscalationRules>("escalation rules", text)
        && let Err(e) = rules.validate()
    {
        panic!("parsed rules do not validate: {e}");
    }
});
