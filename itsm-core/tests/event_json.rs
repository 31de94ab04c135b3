//! The JSON of every incident and problem event is stored in the event log,
//! so it must not move: one event of each kind, serialised, is compared with
//! `tests/golden/event_json.txt`, each golden line read back gives the same
//! value and the same text again, and each event's `name` is its JSON tag.
//!
//! The events are built by hand (not through `decide`), so the file keeps each
//! shape whatever the rules allow. `UPDATE_GOLDEN=1 cargo test -p itsm-core
//! --test event_json` rewrites the file; a diff of it is a change of the
//! stored shapes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use itsm_core::Timestamp;
use itsm_core::alert::AlertRef;
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::{Assignment, IncidentEvent, OpenIncident};
use itsm_core::problem::{KnownErrorRecord, ProblemEvent};
use itsm_core::vocabulary::{Impact, Priority, SupportTier, Urgency};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("a representable instant")
}

fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

fn by() -> ActorId {
    ActorId::new("ana").expect("valid id")
}

/// A vocabulary value from its stable text.
fn word<T: DeserializeOwned>(s: &str) -> T {
    serde_json::from_str(&format!("\"{s}\"")).expect("a known word")
}

fn incident_id(s: &str) -> IncidentId {
    IncidentId::new(s).expect("valid id")
}

fn incident_events() -> Vec<IncidentEvent> {
    use IncidentEvent as E;
    let incident: OpenIncident = serde_json::from_str(
        r#"{"id":"INC-1","kind":"production","service":"payments","title":"card payments fail",
            "category":"gateway","impact":"1","urgency":"1","source":"monitoring","tier":"l2",
            "impact_start":"2026-03-02T09:00:00Z","failure_class":"cd","outage":true,"caused_by_change":"CHG-7"}"#,
    )
    .expect("an open incident");
    let at = |n: i64| ts(60 * n);
    vec![
        E::Opened {
            tenant: TenantId::new("acme").expect("valid id"),
            incident,
            priority: Priority::P1,
            at: at(0),
            by: by(),
        },
        E::Assigned {
            assignment: Assignment {
                group: GroupId::new("l2-apps").expect("valid id"),
                assignee: Some(ActorId::new("ivan").expect("valid id")),
            },
            at: at(1),
            by: by(),
        },
        E::Acknowledged { at: at(2), by: by() },
        E::Started { at: at(3), by: by() },
        E::Held { reason: word("awaiting_caller"), at: at(4), by: by() },
        E::Resumed { at: at(5), by: by() },
        E::Resolved {
            code: word("workaround"),
            resolved_by: word("l2"),
            restored_at: at(6),
            cascaded_from: Some(incident_id("INC-0")),
            at: at(7),
            by: by(),
        },
        E::ImpactRecorded { impact_start: Some(at(-30)), restored_at: None, at: at(8), by: by() },
        E::Reopened { reason: text("failed again"), count: 1, at: at(9), by: by() },
        E::Closed { at: at(10), by: by() },
        E::Cancelled { reason: text("duplicate"), at: at(11), by: by() },
        E::Reprioritized {
            impact: Impact::Medium,
            urgency: Urgency::Low,
            priority: Priority::P4,
            at: at(12),
            by: by(),
        },
        E::TierEscalated {
            from: SupportTier::L1,
            to: SupportTier::L3,
            group: GroupId::new("l3-platform").expect("valid id"),
            at: at(13),
            by: by(),
        },
        E::MajorDeclared { at: at(14), by: by() },
        E::ProblemLinked { problem: ProblemId::new("PRB-1").expect("valid id"), at: at(15), by: by() },
        E::ChangeLinked { change: ChangeId::new("CHG-7").expect("valid id"), at: at(16), by: by() },
        E::ParentSet { parent: incident_id("INC-0"), at: at(17), by: by() },
        E::ChildLinked { child: incident_id("INC-2"), at: at(18), by: by() },
        E::NoteAdded { text: text("a note for the caller"), public: true, at: at(19), by: by() },
        E::AlertCorrelated {
            alert: AlertRef {
                source: "prometheus".to_owned(),
                alert_id: "a-1".to_owned(),
                fingerprint: "payments/5xx".to_owned(),
                severity: word("critical"),
                fired_at: at(-1),
            },
            at: at(20),
            by: by(),
        },
    ]
}

fn problem_events() -> Vec<ProblemEvent> {
    use ProblemEvent as E;
    let at = |n: i64| ts(3600 * n);
    vec![
        E::Opened {
            tenant: TenantId::new("acme").expect("valid id"),
            id: ProblemId::new("PRB-1").expect("valid id"),
            service: ServiceId::new("payments").expect("valid id"),
            title: text("card payments fail after deploys"),
            incidents: BTreeSet::from([incident_id("INC-1"), incident_id("INC-2")]),
            at: at(0),
            by: by(),
        },
        E::Assessed { priority: Priority::P2, at: at(1), by: by() },
        E::AnalysisStarted { at: at(2), by: by() },
        E::KnownErrorRecorded {
            known_error: KnownErrorRecord {
                symptom: text("5xx on card payments"),
                root_cause: text("connection pool too small"),
                workaround: text("restart the gateway"),
            },
            at: at(3),
            by: by(),
        },
        E::FixStarted { change: ChangeId::new("CHG-9").expect("valid id"), at: at(4), by: by() },
        E::Resolved { closure: word("fix_applied"), at: at(5), by: by() },
        E::Reanalyzed { reason: text("it came back"), at: at(6), by: by() },
        E::Closed { at: at(7), by: by() },
        E::IncidentLinked { incident: incident_id("INC-3"), at: at(8), by: by() },
    ]
}

/// Appends `value` as one golden line, after checking that the line reads
/// back to the same value and the same text, and that its tag is `name`.
fn line<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(out: &mut String, name: &str, value: &T) {
    let json = serde_json::to_string(value).expect("encodes");
    let back: T = serde_json::from_str(&json).expect("decodes its own JSON");
    assert_eq!(&back, value, "{json} reads back to another value");
    assert_eq!(serde_json::to_string(&back).expect("encodes"), json, "{json} does not re-encode to itself");
    let tag: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(tag["event"], name, "{json}: name() is not the JSON tag");
    writeln!(out, "{json}").expect("writes to a String");
}

#[test]
fn incident_and_problem_event_json_is_unchanged() {
    let mut out = String::new();
    let incident = incident_events();
    let names: BTreeSet<&str> = incident.iter().map(IncidentEvent::name).collect();
    assert_eq!(names.len(), 20, "one event of each of the 20 incident kinds");
    for event in &incident {
        assert_eq!(*event.by(), by());
        line(&mut out, event.name(), event);
    }
    let problem = problem_events();
    let names: BTreeSet<&str> = problem.iter().map(ProblemEvent::name).collect();
    assert_eq!(names.len(), 9, "one event of each of the 9 problem kinds");
    for event in &problem {
        line(&mut out, event.name(), event);
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/event_json.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &out).expect("writes the golden file");
        return;
    }
    let golden = std::fs::read_to_string(path).expect("the golden file exists");
    for (n, (got, want)) in out.lines().zip(golden.lines()).enumerate() {
        assert_eq!(got, want, "line {} of {path} differs", n + 1);
    }
    assert_eq!(out.lines().count(), golden.lines().count(), "{path} has another number of lines");
}
