//! The alert grouping policy (JSON; deserializing validates): a parsed policy
//! validates and its acceptance escalation rules do too.
#![no_main]

use itsm_core::alert::GroupingPolicy;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = itsm_fuzz::text(data) else { return };
    let Some(policy) = itsm_fuzz::parse::<GroupingPolicy>("grouping policy", text) else { return };
    if let Err(e) = policy.validate() {
        panic!("a parsed policy does not validate: {e}");
    }
    let rules = policy.escalation_rules();
    if let Err(e) = rules.validate() {
        panic!("acceptance rules of a valid policy do not validate: {e}");
    }
});
