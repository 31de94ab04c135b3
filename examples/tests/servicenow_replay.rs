//! Replays the committed UCI excerpt (150 incidents, CC BY 4.0) and checks
//! the counts: every incident accounted for, every refusal typed.

use itsm_core::DomainConfig;
use itsm_examples::servicenow::replay;

const EXCERPT: &str = include_str!("../fixtures/uci_incident_event_log_excerpt.csv");

#[test]
fn excerpt_replays_with_expected_counts() {
    let r = replay(EXCERPT.as_bytes(), &DomainConfig::default()).expect("replay");
    assert_eq!(r.rows, 1164);
    assert_eq!(r.incidents.len() + r.quarantined_incidents.len(), 150, "every incident accounted for");
    assert_eq!(r.incidents.len(), 150);
    let quarantined_rows: u64 = r.quarantined_rows.values().sum();
    assert_eq!(r.quarantined_rows.get("unknown incident_state `-100`"), Some(&quarantined_rows));
    let accepted: u64 = r.accepted.values().sum();
    let rejected: u64 = r.rejected.values().sum();
    assert_eq!(r.accepted.get("open"), Some(&150));
    assert_eq!((accepted, rejected), (638, 24), "accepted {:?} rejected {:?}", r.accepted, r.rejected);
    // Refused on purpose: a closed incident cannot be reopened (5 in the excerpt),
    // and closing needs a resolution first (3 from New, 1 from Active); the rest
    // follow from those (the log goes on with an incident we kept closed).
    assert_eq!(r.rejected.get("reopen while closed: invalid transition"), Some(&5));
    assert_eq!(r.rejected.get("close while new: invalid transition"), Some(&3));
    assert_eq!(r.rejected.get("close while in_progress: invalid transition"), Some(&1));
    // Six disagree with the log's own reopen_count: the five Closed -> Active
    // reopens we refused, and INC0000135, whose Resolved -> Active the log did
    // not count.
    assert_eq!(r.reopen_disagreements, 6);
    assert_eq!(r.incidents["INC0000135"].state.reopen_count(), 1);
}
