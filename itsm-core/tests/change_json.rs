//! The JSON of the three change machines' commands, events and states is
//! stored (commands in idempotency rows, events in the log, the aggregate in
//! the projection's `state` column), so it must not move: every command, every
//! event and the aggregate in every state, serialised, is compared with
//! `tests/golden/change_json.txt`, and each golden line read back gives the
//! same value and the same text again.
//!
//! The histories are built by hand (not through `decide`), so the file keeps
//! each shape whatever the rules allow. `UPDATE_GOLDEN=1 cargo test -p
//! itsm-core --test change_json` rewrites the file; a diff of it is a change
//! of the stored shapes.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use itsm_core::change::emergency::{AfterTheFact, EmergencyStatus};
use itsm_core::change::normal::NormalStatus;
use itsm_core::change::schedule::{Conflict, ScheduleOverride};
use itsm_core::change::standard::StandardStatus;
use itsm_core::change::{
    ApprovalStep, Assessment, ChangeSpec, Completion, EmergencyChange, EmergencyCommand, EmergencyEvent, NormalChange,
    NormalCommand, NormalEvent, Quorum, Review, ReviewVerdict, Stage, StandardChange, StandardCommand, StandardEvent,
    Strategy, Window,
};
use itsm_core::id::{ActorId, ChangeId, GroupId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::vocabulary::{ChangeOutcome, Remediation, Risk};
use itsm_core::{Aggregate, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("a representable instant")
}

fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

fn id(s: &str) -> ActorId {
    ActorId::new(s).expect("valid id")
}

fn group(s: &str) -> GroupId {
    GroupId::new(s).expect("valid id")
}

fn tenant() -> TenantId {
    TenantId::new("acme").expect("valid id")
}

fn spec(strategy: Strategy) -> ChangeSpec {
    ChangeSpec {
        id: ChangeId::new("CHG-1").expect("valid id"),
        service: ServiceId::new("payments").expect("valid id"),
        title: text("upgrade the payment gateway"),
        strategy,
        auto_rollback: true,
    }
}

fn phased() -> Strategy {
    let stage = |name: &str, percent| Stage { name: name.to_owned(), percent };
    Strategy::Phased { stages: vec![stage("canary", 10), stage("half", 50), stage("all", 100)] }
}

fn window(day: i64) -> Window {
    Window::new(ts(86_400 * day), ts(86_400 * day + 3_600)).expect("a window")
}

fn overridden() -> ScheduleOverride {
    ScheduleOverride {
        reason: text("the fix cannot wait"),
        conflicts: vec![
            Conflict::Overlap { other: ChangeId::new("CHG-2").expect("valid id") },
            Conflict::InBlackout {
                service: ServiceId::new("payments").expect("valid id"),
                reason: "freeze".to_owned(),
            },
        ],
    }
}

fn completion(started: i64, completed: i64, outcome: ChangeOutcome, remediation: Remediation) -> Completion {
    Completion { started_at: ts(started), completed_at: ts(completed), outcome, remediation, automatic: false }
}

fn review(at: i64) -> Review {
    Review { verdict: ReviewVerdict::PartlyMet, notes: text("went in late"), at: ts(at), by: id("rita") }
}

fn assessment() -> Assessment {
    Assessment {
        risk: Risk::High,
        impact: text("payments pause for a minute"),
        backout_plan: text("redeploy the previous release"),
        implementer: id("ivan"),
    }
}

/// Appends `value`'s JSON under `label`, after checking that the JSON reads
/// back to the same value.
fn line<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(out: &mut String, label: &str, value: &T) {
    let json = serde_json::to_string(value).expect("serialises");
    let back: T = serde_json::from_str(&json).expect("reads back");
    assert_eq!(&back, value, "{label}: {json}");
    writeln!(out, "{label} {json}").expect("write to a string");
}

/// Each event of each history and the aggregate after it; the names of the
/// events and of the states seen.
fn fold<A>(
    out: &mut String,
    kind: &str,
    histories: &[Vec<A::Event>],
) -> (BTreeSet<&'static str>, BTreeSet<&'static str>)
where
    A: Aggregate + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    A::Event: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let (mut events, mut states) = (BTreeSet::new(), BTreeSet::new());
    for (n, history) in histories.iter().enumerate() {
        let mut state: Option<A> = None;
        for event in history {
            line(out, &format!("{kind} {n} event"), event);
            let next = A::apply(state, event).unwrap_or_else(|e| panic!("{kind} history {n}: {e}"));
            line(out, &format!("{kind} {n} state"), &next);
            events.insert(A::event_name(event));
            states.insert(next.summary().status);
            state = Some(next);
        }
    }
    (events, states)
}

/// Names `all` as a set.
fn names<T: std::fmt::Display>(all: &[T]) -> BTreeSet<String> {
    all.iter().map(ToString::to_string).collect()
}

/// Checks that the histories met every event and every state.
fn covers(seen: (BTreeSet<&str>, BTreeSet<&str>), events: usize, states: BTreeSet<String>) {
    assert_eq!(seen.0.len(), events, "events: {:?}", seen.0);
    assert_eq!(seen.1.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), states);
}

fn standard(out: &mut String) {
    use StandardEvent as E;
    let created = |strategy| E::Created {
        tenant: tenant(),
        spec: spec(strategy),
        template: TemplateId::new("os-patch").expect("valid id"),
        at: ts(0),
        by: id("rita"),
    };
    let reviewed = vec![
        created(phased()),
        E::Scheduled { window: window(1), at: ts(10), by: id("rita"), overridden: None },
        E::Scheduled { window: window(2), at: ts(20), by: id("rita"), overridden: Some(overridden()) },
        E::Started { at: ts(30), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(40), by: id("ivan") },
        E::StageAdvanced { stages_done: 2, at: ts(50), by: id("ivan") },
        E::Completed {
            completion: completion(30, 60, ChangeOutcome::SuccessfulWithIssues, Remediation::FixedForward),
            by: id("ivan"),
        },
        E::Reviewed { review: review(70) },
        E::Closed { at: ts(80), by: id("rita") },
    ];
    let unreviewed = vec![
        created(Strategy::BigBang),
        E::Scheduled { window: window(1), at: ts(10), by: id("rita"), overridden: None },
        E::Started { at: ts(30), by: id("ivan") },
        E::Completed { completion: completion(30, 60, ChangeOutcome::Successful, Remediation::None), by: id("ivan") },
        E::Closed { at: ts(80), by: id("rita") },
    ];
    let cancelled = vec![
        created(Strategy::Rolling { batch_percent: 25 }),
        E::Cancelled { reason: text("no longer needed"), at: ts(10), by: id("rita") },
    ];
    let rolled_back = vec![
        created(phased()),
        E::Scheduled { window: window(1), at: ts(10), by: id("rita"), overridden: None },
        E::Started { at: ts(30), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(40), by: id("ivan") },
        E::RolledBackAutomatically {
            stage: 1,
            reason: text("5xx rate 7% on the canary"),
            completion: Completion::rolled_back_automatically(ts(30), ts(50), true).expect("valid completion"),
            by: id("ivan"),
        },
    ];
    let seen = fold::<StandardChange>(out, "standard", &[reviewed, unreviewed, cancelled, rolled_back]);
    covers(seen, 9, names(StandardStatus::ALL));
    use StandardCommand as C;
    let commands = [
        C::Create { spec: spec(phased()), template: TemplateId::new("os-patch").expect("valid id") },
        C::Schedule { window: window(1), override_reason: None },
        C::Schedule { window: window(1), override_reason: Some(text("the fix cannot wait")) },
        C::Start,
        C::AdvanceStage,
        C::Complete { outcome: ChangeOutcome::Failed, remediation: Remediation::RolledBack },
        C::FailStage { reason: text("5xx rate 7% on the canary"), restored: true },
        C::Review { verdict: ReviewVerdict::NotMet, notes: text("rolled back") },
        C::Close,
        C::Cancel { reason: text("no longer needed") },
    ];
    for command in &commands {
        line(out, "standard command", command);
    }
}

fn normal(out: &mut String) {
    use NormalEvent as E;
    let created = |strategy| E::Created { tenant: tenant(), spec: spec(strategy), at: ts(0), by: id("rita") };
    let assessed = || E::Assessed {
        assessment: assessment(),
        steps: vec![
            ApprovalStep { group: group("cab"), quorum: Quorum::AtLeast(2) },
            ApprovalStep { group: group("change-managers"), quorum: Quorum::Any },
        ],
        at: ts(20),
        by: id("rita"),
    };
    let closed = vec![
        created(phased()),
        E::Submitted { at: ts(10), by: id("rita") },
        assessed(),
        E::Approved { group: group("cab"), at: ts(30), by: id("carl") },
        E::Approved { group: group("cab"), at: ts(31), by: id("cora") },
        E::Approved { group: group("change-managers"), at: ts(32), by: id("rita") },
        E::Authorized { at: ts(32) },
        E::Scheduled { window: window(1), at: ts(40), by: id("rita"), overridden: None },
        E::Scheduled { window: window(2), at: ts(41), by: id("rita"), overridden: Some(overridden()) },
        E::Started { at: ts(50), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(60), by: id("ivan") },
        E::Completed { completion: completion(50, 70, ChangeOutcome::Failed, Remediation::RolledBack), by: id("ivan") },
        E::Reviewed { review: review(80) },
        E::Closed { at: ts(90), by: id("rita") },
    ];
    let rejected = vec![
        created(Strategy::BlueGreen),
        E::Submitted { at: ts(10), by: id("rita") },
        assessed(),
        E::Rejected { group: group("cab"), reason: text("too risky"), at: ts(30), by: id("carl") },
    ];
    let cancelled = vec![
        created(Strategy::BigBang),
        E::Submitted { at: ts(10), by: id("rita") },
        assessed(),
        E::Approved { group: group("cab"), at: ts(30), by: id("carl") },
        E::Authorized { at: ts(31) },
        E::Scheduled { window: window(1), at: ts(40), by: id("rita"), overridden: None },
        E::Cancelled { reason: text("superseded"), at: ts(50), by: id("rita") },
    ];
    let rolled_back = vec![
        created(phased()),
        E::Submitted { at: ts(10), by: id("rita") },
        assessed(),
        E::Approved { group: group("cab"), at: ts(30), by: id("carl") },
        E::Approved { group: group("cab"), at: ts(31), by: id("cora") },
        E::Approved { group: group("change-managers"), at: ts(32), by: id("rita") },
        E::Authorized { at: ts(32) },
        E::Scheduled { window: window(1), at: ts(40), by: id("rita"), overridden: None },
        E::Started { at: ts(50), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(60), by: id("ivan") },
        E::RolledBackAutomatically {
            stage: 1,
            reason: text("5xx rate 7% on the canary"),
            completion: Completion::rolled_back_automatically(ts(50), ts(70), false).expect("valid completion"),
            by: id("ivan"),
        },
    ];
    let seen = fold::<NormalChange>(out, "normal", &[closed, rejected, cancelled, rolled_back]);
    covers(seen, 14, names(NormalStatus::ALL));
    use NormalCommand as C;
    let commands = [
        C::Create(spec(phased())),
        C::Submit,
        C::Assess(assessment()),
        C::Approve { group: group("cab") },
        C::Reject { group: group("cab"), reason: text("too risky") },
        C::Schedule { window: window(1), override_reason: None },
        C::Schedule { window: window(1), override_reason: Some(text("the fix cannot wait")) },
        C::Start,
        C::AdvanceStage,
        C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None },
        C::FailStage { reason: text("5xx rate 7% on the canary"), restored: false },
        C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("as planned") },
        C::Close,
        C::Cancel { reason: text("superseded") },
    ];
    for command in &commands {
        line(out, "normal command", command);
    }
}

fn after_the_fact() -> AfterTheFact {
    AfterTheFact {
        spec: spec(Strategy::BigBang),
        risk: Risk::Moderate,
        justification: text("payments were down"),
        implementer: id("ivan"),
        started_at: ts(-7_200),
        completed_at: ts(-3_600),
        outcome: ChangeOutcome::Failed,
        remediation: Remediation::RolledBack,
    }
}

fn emergency(out: &mut String) {
    use EmergencyEvent as E;
    let steps = || vec![ApprovalStep { group: group("ecab"), quorum: Quorum::Any }];
    let submitted = |strategy, steps| E::Submitted {
        tenant: tenant(),
        spec: spec(strategy),
        risk: Risk::High,
        justification: text("payments are down"),
        steps,
        at: ts(0),
        by: id("rita"),
    };
    let closed = vec![
        submitted(phased(), steps()),
        E::Approved { group: group("ecab"), at: ts(10), by: id("carl") },
        E::Authorized { at: ts(10) },
        E::Started { at: ts(20), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(30), by: id("ivan") },
        E::Completed {
            completion: completion(20, 40, ChangeOutcome::SuccessfulWithIssues, Remediation::FixedForward),
            by: id("ivan"),
        },
        E::Reviewed { review: review(50) },
        E::Closed { at: ts(60), by: id("rita") },
    ];
    let recorded = vec![
        E::Recorded { tenant: tenant(), record: after_the_fact(), steps: steps(), at: ts(0), by: id("rita") },
        E::Approved { group: group("ecab"), at: ts(10), by: id("carl") },
        E::Authorized { at: ts(10) },
        E::Reviewed { review: review(20) },
        E::Closed { at: ts(30), by: id("rita") },
    ];
    let rejected = vec![
        submitted(Strategy::BigBang, steps()),
        E::Rejected { group: group("ecab"), reason: text("not an emergency"), at: ts(10), by: id("carl") },
    ];
    let cancelled = vec![
        submitted(Strategy::BlueGreen, vec![]),
        E::Cancelled { reason: text("fixed by a restart"), at: ts(10), by: id("rita") },
    ];
    let rolled_back = vec![
        submitted(phased(), steps()),
        E::Approved { group: group("ecab"), at: ts(10), by: id("carl") },
        E::Authorized { at: ts(10) },
        E::Started { at: ts(20), by: id("ivan") },
        E::StageAdvanced { stages_done: 1, at: ts(30), by: id("ivan") },
        E::RolledBackAutomatically {
            stage: 1,
            reason: text("5xx rate 7% on the canary"),
            completion: Completion::rolled_back_automatically(ts(20), ts(40), true).expect("valid completion"),
            by: id("ivan"),
        },
    ];
    let seen = fold::<EmergencyChange>(out, "emergency", &[closed, recorded, rejected, cancelled, rolled_back]);
    covers(seen, 12, names(EmergencyStatus::ALL));
    use EmergencyCommand as C;
    let commands = [
        C::Submit { spec: spec(phased()), risk: Risk::High, justification: text("payments are down") },
        C::RecordAfterTheFact(after_the_fact()),
        C::Approve { group: group("ecab") },
        C::Reject { group: group("ecab"), reason: text("not an emergency") },
        C::Start,
        C::AdvanceStage,
        C::Complete { outcome: ChangeOutcome::Failed, remediation: Remediation::RolledBack },
        C::FailStage { reason: text("5xx rate 7% on the canary"), restored: true },
        C::Review { verdict: ReviewVerdict::PartlyMet, notes: text("late") },
        C::Close,
        C::Cancel { reason: text("fixed by a restart") },
    ];
    for command in &commands {
        line(out, "emergency command", command);
    }
}

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/change_json.txt");

#[test]
fn change_json_matches_the_golden_file() {
    let mut out = String::new();
    standard(&mut out);
    normal(&mut out);
    emergency(&mut out);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &out).expect("write the golden file");
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("read the golden file");
    for (n, (got, want)) in out.lines().zip(golden.lines()).enumerate() {
        assert_eq!(got, want, "line {}", n + 1);
    }
    assert_eq!(out.lines().count(), golden.lines().count(), "line count");
}

/// Reads one golden line's JSON as `T` and writes it again.
fn reread<T: Serialize + DeserializeOwned>(json: &str) -> String {
    let value: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    serde_json::to_string(&value).expect("serialises")
}

#[test]
fn every_golden_line_reads_back_to_the_same_text() {
    let golden = std::fs::read_to_string(GOLDEN).expect("read the golden file");
    let mut kinds = std::collections::BTreeMap::<(&str, &str), usize>::new();
    for row in golden.lines() {
        let mut words = row.splitn(4, ' ');
        let kind = words.next().expect("a kind");
        let second = words.next().expect("a label");
        let (what, json) = if second == "command" {
            (second, row.splitn(3, ' ').nth(2).expect("json"))
        } else {
            (words.next().expect("a label"), words.next().expect("json"))
        };
        let again = match (kind, what) {
            ("standard", "event") => reread::<StandardEvent>(json),
            ("standard", "state") => reread::<StandardChange>(json),
            ("standard", "command") => reread::<StandardCommand>(json),
            ("normal", "event") => reread::<NormalEvent>(json),
            ("normal", "state") => reread::<NormalChange>(json),
            ("normal", "command") => reread::<NormalCommand>(json),
            ("emergency", "event") => reread::<EmergencyEvent>(json),
            ("emergency", "state") => reread::<EmergencyChange>(json),
            ("emergency", "command") => reread::<EmergencyCommand>(json),
            other => panic!("unknown golden row {other:?}"),
        };
        assert_eq!(again, json);
        *kinds.entry((kind, what)).or_default() += 1;
    }
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}
