//! Serde round trips and hostile JSON. Every command, event and state type of
//! the five machines, and the aggregates themselves, go to JSON and back
//! through `itsm_core::json::from_json` unchanged: over random histories
//! (property tests driven by the model generators) and over scripted histories
//! that produce every event and state variant. Malformed, truncated, oversized
//! and deeply nested JSON gives the matching typed `JsonError`, never a panic.

use std::collections::BTreeSet;
use std::fmt::Debug;

use itsm_core::change::{
    ApprovalPolicy, EmergencyChange, EmergencyCommand, EmergencyEvent, EmergencyState, NormalChange, NormalCommand,
    NormalEvent, NormalState, Quorum, StandardChange, StandardCommand, StandardEvent, StandardState,
};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, IncidentState};
use itsm_core::json::{JsonError, MAX_JSON_LEN, from_json};
use itsm_core::problem::{Problem, ProblemCommand, ProblemEvent, ProblemState};
use itsm_core::{Aggregate, Context, DomainConfig};
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::change_model::{EmergencyMachine, NormalMachine, StandardMachine};
use crate::incident_model::IncidentMachine;
use crate::model::{Machine, Ref, SEQUENCE, proptest_config};
use crate::problem_model::ProblemMachine;
use crate::scripts::{Scripted, reachable};
use crate::support::{ROSTER, config, ts};

/// Asserts that `value` survives compact and pretty JSON unchanged.
fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(what: &'static str, value: &T) {
    let compact = serde_json::to_string(value).unwrap_or_else(|e| panic!("{what} does not serialize: {e}"));
    let back: T = from_json(what, &compact).unwrap_or_else(|e| panic!("{e}\n{compact}"));
    assert_eq!(&back, value, "{what} changes through JSON: {compact}");
    let pretty = serde_json::to_string_pretty(value).expect("serializes");
    let back: T = from_json(what, &pretty).unwrap_or_else(|e| panic!("{e}\n{pretty}"));
    assert_eq!(&back, value, "{what} changes through pretty JSON");
    assert_eq!(serde_json::to_string(&back).expect("serializes"), compact, "{what}: JSON is not stable");
}

/// An aggregate whose state type is round-tripped on its own too.
trait WithState: Aggregate {
    /// The state enum.
    type State: Serialize + DeserializeOwned + PartialEq + Debug;
    /// The current state.
    fn state_of(&self) -> &Self::State;
}

impl WithState for Incident {
    type State = IncidentState;
    fn state_of(&self) -> &IncidentState {
        self.state()
    }
}

impl WithState for Problem {
    type State = ProblemState;
    fn state_of(&self) -> &ProblemState {
        self.state()
    }
}

impl WithState for StandardChange {
    type State = StandardState;
    fn state_of(&self) -> &StandardState {
        self.state()
    }
}

impl WithState for NormalChange {
    type State = NormalState;
    fn state_of(&self) -> &NormalState {
        self.state()
    }
}

impl WithState for EmergencyChange {
    type State = EmergencyState;
    fn state_of(&self) -> &EmergencyState {
        self.state()
    }
}

/// Runs generated steps against the aggregate (whatever the outcome) and
/// round-trips every command, event, state and aggregate met.
fn roundtrip_history<M: Machine>(steps: &[crate::model::Step<crate::model::Cmd<M>>])
where
    M::Agg: WithState,
{
    let mut state: Option<M::Agg> = None;
    let mut clock = 0;
    for step in steps {
        clock += step.dt;
        roundtrip("command", &step.cmd);
        let ctx = Context::new(&ROSTER[step.actor], ts(clock), config());
        if let Ok((next, events)) = M::Agg::execute(state.clone(), &step.cmd, &ctx) {
            for event in &events {
                roundtrip("event", event);
            }
            roundtrip("state", next.state_of());
            roundtrip("aggregate", &next);
            state = Some(next);
        }
    }
}

fn histories<M: Machine>() -> impl Strategy<Value = Vec<crate::model::Step<crate::model::Cmd<M>>>> {
    Ref::<M>::sequential_strategy(SEQUENCE).prop_map(|(_, steps, _)| steps)
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Incident commands, events, states and aggregates survive JSON.
    #[test]
    fn incident_types_roundtrip(steps in histories::<IncidentMachine>()) {
        roundtrip_history::<IncidentMachine>(&steps);
    }

    /// Problem commands, events, states and aggregates survive JSON.
    #[test]
    fn problem_types_roundtrip(steps in histories::<ProblemMachine>()) {
        roundtrip_history::<ProblemMachine>(&steps);
    }

    /// Standard-change commands, events, states and aggregates survive JSON.
    #[test]
    fn standard_change_types_roundtrip(steps in histories::<StandardMachine>()) {
        roundtrip_history::<StandardMachine>(&steps);
    }

    /// Normal-change commands, events, states and aggregates survive JSON.
    #[test]
    fn normal_change_types_roundtrip(steps in histories::<NormalMachine>()) {
        roundtrip_history::<NormalMachine>(&steps);
    }

    /// Emergency-change commands, events, states and aggregates survive JSON.
    #[test]
    fn emergency_change_types_roundtrip(steps in histories::<EmergencyMachine>()) {
        roundtrip_history::<EmergencyMachine>(&steps);
    }
}

/// Round-trips every scripted state, its history and every candidate command,
/// and checks that the scripts produce every event variant.
fn roundtrip_scripts<M: Scripted>(all_events: &[&str])
where
    M::Agg: WithState,
{
    let mut names = BTreeSet::new();
    for reached in reachable::<M>() {
        roundtrip("aggregate", &reached.agg);
        roundtrip("state", reached.agg.state_of());
        roundtrip("history", &reached.events);
        for event in &reached.events {
            roundtrip("event", event);
            names.insert(M::Agg::event_name(event));
        }
        for &name in M::NAMES {
            for (_, cmd) in M::candidates(&reached.agg, name) {
                roundtrip("command", &cmd);
            }
        }
    }
    let expected: BTreeSet<&str> = all_events.iter().copied().collect();
    assert_eq!(names, expected, "{}: event variants produced by the scripts", M::Agg::KIND);
}

/// Every event and state variant of every machine survives JSON.
#[test]
fn every_variant_roundtrips() {
    roundtrip_scripts::<IncidentMachine>(&[
        "opened",
        "assigned",
        "acknowledged",
        "started",
        "held",
        "resumed",
        "resolved",
        "reopened",
        "closed",
        "cancelled",
        "problem_linked",
        "parent_set",
        "major_proposed",
        "major_declared",
        "review_recorded",
        "action_completed",
    ]);
    roundtrip_scripts::<ProblemMachine>(&[
        "opened",
        "assessed",
        "analysis_started",
        "known_error_recorded",
        "fix_started",
        "resolved",
        "reanalyzed",
        "closed",
    ]);
    roundtrip_scripts::<StandardMachine>(&[
        "created",
        "scheduled",
        "started",
        "stage_advanced",
        "completed",
        "reviewed",
        "closed",
        "cancelled",
    ]);
    roundtrip_scripts::<NormalMachine>(&[
        "created",
        "submitted",
        "assessed",
        "approved",
        "authorized",
        "rejected",
        "scheduled",
        "started",
        "stage_advanced",
        "completed",
        "reviewed",
        "closed",
        "cancelled",
    ]);
    roundtrip_scripts::<EmergencyMachine>(&[
        "submitted",
        "recorded",
        "approved",
        "authorized",
        "rejected",
        "started",
        "stage_advanced",
        "completed",
        "reviewed",
        "closed",
        "cancelled",
    ]);
}

/// Events the scripts do not produce, accepted from the candidates of every
/// scripted state, also round-trip (incident links, notes, priority, tiers).
#[test]
fn every_accepted_candidate_event_roundtrips() {
    fn go<M: Scripted>() -> BTreeSet<&'static str> {
        let mut names = BTreeSet::new();
        for reached in reachable::<M>() {
            for &name in M::NAMES {
                for (who, cmd) in M::candidates(&reached.agg, name) {
                    let ctx = Context::new(crate::support::actor(who), ts(reached.next), config());
                    if let Ok(events) = M::Agg::decide(Some(&reached.agg), &cmd, &ctx) {
                        for event in &events {
                            roundtrip("event", event);
                            names.insert(M::Agg::event_name(event));
                        }
                    }
                }
            }
        }
        names
    }
    let incident = go::<IncidentMachine>();
    for name in [
        "reprioritized",
        "tier_escalated",
        "major_declared",
        "change_linked",
        "child_linked",
        "note_added",
        "alert_correlated",
    ] {
        assert!(incident.contains(name), "no {name} event among {incident:?}");
    }
    assert!(go::<ProblemMachine>().contains("incident_linked"));
    go::<StandardMachine>();
    go::<NormalMachine>();
    go::<EmergencyMachine>();
}

/// Configuration, actors and quorum rules survive JSON.
#[test]
fn configuration_and_actors_roundtrip() {
    roundtrip("config", config());
    roundtrip("default config", &DomainConfig::default());
    roundtrip("policy", &ApprovalPolicy::default());
    for quorum in [Quorum::Any, Quorum::All, Quorum::AtLeast(3), Quorum::Percent(60)] {
        roundtrip("quorum", &quorum);
    }
    for actor in ROSTER.iter() {
        roundtrip("actor", actor);
    }
}

// ---------------------------------------------------------------- hostile JSON

/// Checks the typed errors of malformed documents for one type.
/// `empty_ok`: `{}` is a valid document of the type (every field defaults).
fn malformed<T: DeserializeOwned + Debug>(what: &'static str, tag: &str, empty_ok: bool) {
    let is = |text: &str, ok: fn(&JsonError) -> bool| {
        let err = from_json::<T>(what, text).expect_err("malformed JSON must be refused");
        assert!(ok(&err), "{what}: `{}` gave {err:?}", &text[..text.len().min(60)]);
        assert!(err.to_string().contains(what), "`{err}` does not say what was parsed");
    };
    is("", |e| matches!(e, JsonError::Truncated { .. }));
    is("{", |e| matches!(e, JsonError::Truncated { .. }));
    is(&format!(r#"{{"{tag}":"#), |e| matches!(e, JsonError::Truncated { .. }));
    is("{]", |e| matches!(e, JsonError::Syntax { .. }));
    is("nul", |e| matches!(e, JsonError::Syntax { .. } | JsonError::Truncated { .. }));
    // One leading BOM is skipped (as the CSV reader skips it): what follows decides; a second one is a syntax error.
    is("\u{feff}\u{feff}{}", |e| matches!(e, JsonError::Syntax { .. }));
    is("\u{feff}42", |e| matches!(e, JsonError::Data { .. }));
    is("{} {}", |e| matches!(e, JsonError::Syntax { .. } | JsonError::Data { .. }));
    is("42", |e| matches!(e, JsonError::Data { .. }));
    if !empty_ok {
        is("{}", |e| matches!(e, JsonError::Data { .. }));
    }
    is(&format!(r#"{{"{tag}":"explode"}}"#), |e| matches!(e, JsonError::Data { .. }));
    is(&format!(r#"{{"{tag}":17}}"#), |e| matches!(e, JsonError::Data { .. }));
    // Deep nesting: serde_json's recursion limit refuses it, at any depth
    // past the limit, in arrays, objects, and inside a field, without a stack
    // overflow. The error is the first one the parser meets: too deep, or a
    // wrong shape nearer the top (a type that is no array, a tag or a field
    // of the wrong type, missing fields after an unknown one is skipped).
    let deep_or_shape = |e: &JsonError| matches!(e, JsonError::TooDeep { .. } | JsonError::Data { .. });
    for depth in [128, 129, 1_000, 100_000] {
        is(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)), deep_or_shape);
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        if empty_ok {
            // Every field defaults, and serde_json skips the unknown field
            // `a` without recursing, at any depth: the document is `{}`.
            assert!(from_json::<T>(what, &objects).is_ok(), "{what}: a skipped field at depth {depth}");
        } else {
            is(&objects, deep_or_shape);
        }
        is(&format!(r#"{{"{tag}":"x","f":{}{}}}"#, "[".repeat(depth), "]".repeat(depth)), deep_or_shape);
        // Internally tagged types buffer an object's fields until they meet
        // the tag, so nothing comes before the depth limit.
        if ["command", "event", "status"].contains(&tag) {
            is(&format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth)), |e| {
                matches!(e, JsonError::TooDeep { .. })
            });
        }
    }
    // Unbalanced brackets deep inside a string do not count as nesting.
    is(&format!(r#"{{"{tag}":"{}"}}"#, "[".repeat(100_000)), |e| matches!(e, JsonError::Data { .. }));
    is(&format!("\"{}\"", "x".repeat(MAX_JSON_LEN)), |e| matches!(e, JsonError::TooLarge { .. }));
}

/// Malformed, truncated, oversized and deeply nested JSON give typed errors
/// for every command, event, state and aggregate type.
#[test]
fn malformed_json_is_a_typed_error_for_every_type() {
    malformed::<IncidentCommand>("incident command", "command", false);
    malformed::<IncidentEvent>("incident event", "event", false);
    malformed::<IncidentState>("incident state", "status", false);
    malformed::<Incident>("incident", "id", false);
    malformed::<ProblemCommand>("problem command", "command", false);
    malformed::<ProblemEvent>("problem event", "event", false);
    malformed::<ProblemState>("problem state", "status", false);
    malformed::<Problem>("problem", "id", false);
    malformed::<StandardCommand>("standard command", "command", false);
    malformed::<StandardEvent>("standard event", "event", false);
    malformed::<StandardState>("standard state", "status", false);
    malformed::<StandardChange>("standard change", "spec", false);
    malformed::<NormalCommand>("normal command", "command", false);
    malformed::<NormalEvent>("normal event", "event", false);
    malformed::<NormalState>("normal state", "status", false);
    malformed::<NormalChange>("normal change", "spec", false);
    malformed::<EmergencyCommand>("emergency command", "command", false);
    malformed::<EmergencyEvent>("emergency event", "event", false);
    malformed::<EmergencyState>("emergency state", "status", false);
    malformed::<EmergencyChange>("emergency change", "spec", false);
    malformed::<DomainConfig>("config", "approvals", true);
}

/// Values the types refuse are `Data` errors naming the offending value.
#[test]
fn invalid_values_are_data_errors() {
    let data = |text: &str, needle: &str| match from_json::<IncidentCommand>("incident command", text) {
        Err(JsonError::Data { message, .. }) => assert!(message.contains(needle), "{message}"),
        other => panic!("`{text}` gave {other:?}"),
    };
    data(r#"{"command":"hold","reason":"awaiting_godot"}"#, "awaiting_godot");
    data(r#"{"command":"link_problem","problem":""}"#, "empty");
    data(r#"{"command":"add_note","text":"a\u0000b","public":true}"#, "NUL");
    data(r#"{"command":"reprioritize","impact":"4","urgency":"1"}"#, "4");
    data(r#"{"command":"resolve","code":"fixed","resolved_by":"l1","restored_at":"yesterday"}"#, "");
    let long = "x".repeat(256);
    data(&format!(r#"{{"command":"set_parent","parent":"{long}"}}"#), "256");
    data(r#"{"command":"assign","group":"a\tb"}"#, "control");
}

/// Valid documents: scripted normal changes, their histories, and incidents.
static SAMPLES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut out = Vec::new();
    for reached in reachable::<NormalMachine>() {
        out.push(serde_json::to_string(&reached.agg).unwrap());
        out.push(serde_json::to_string(&reached.events).unwrap());
    }
    for reached in reachable::<IncidentMachine>() {
        out.push(serde_json::to_string(&reached.agg).unwrap());
    }
    out
});

/// Every strict prefix of a valid document is `Truncated`; trailing content
/// after a valid document is a `Syntax` error.
#[test]
fn truncated_documents_are_truncated_errors() {
    for text in SAMPLES.iter() {
        for cut in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let what = "truncated";
            match from_json::<serde_json::Value>(what, &text[..cut]) {
                Err(JsonError::Truncated { .. }) => {}
                other => panic!("prefix of {cut} bytes of `{text}` gave {other:?}"),
            }
        }
    }
    for text in SAMPLES.iter() {
        match from_json::<serde_json::Value>("trailing", &format!("{text} x")) {
            Err(JsonError::Syntax { .. }) => {}
            other => panic!("trailing content gave {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    /// Arbitrary text, and valid documents with one byte changed, never make
    /// the parser panic: the answer is a value or a typed error.
    #[test]
    fn arbitrary_text_never_panics(noise in "\\PC{0,64}", index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let _ = from_json::<IncidentCommand>("incident command", &noise);
        let _ = from_json::<NormalChange>("normal change", &noise);
        let doc = index.get(&SAMPLES);
        let mut bytes = doc.clone().into_bytes();
        let at = index.index(bytes.len());
        bytes[at] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = from_json::<NormalChange>("normal change", &text);
            let _ = from_json::<Vec<NormalEvent>>("normal events", &text);
            let _ = from_json::<Incident>("incident", &text);
        }
    }
}
