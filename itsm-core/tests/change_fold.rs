//! The change folds are strict: the `apply` of the standard, normal and
//! emergency change accepts an event only in the states where `decide` emits
//! it, and refuses every other (state, event) pair with an `ApplyError`
//! naming the kind, the state and the event.
//!
//! Each machine's `RULES` states it by hand, from the documented domain rules
//! (not from the modules' `TRANSITIONS`); the checks in `common` hold `apply`
//! to them for every (state, event) pair, `decide` to emitting each event in
//! exactly the states they allow, and random command histories to replaying
//! as decided. Events are the unit here, not commands: an approval that meets
//! the quorum emits `approved` and then `authorized`, which follows the
//! approval in the state it left.

mod common;
mod rules;

use common::{Machine, Rules, text, ts};
use itsm_core::change::emergency::{AfterTheFact, EmergencyStatus};
use itsm_core::change::normal::NormalStatus;
use itsm_core::change::standard::StandardStatus;
use itsm_core::change::{
    ApprovalStep, Assessment, ChangeSpec, Completion, EmergencyChange, EmergencyCommand, EmergencyEvent, NormalChange,
    NormalCommand, NormalEvent, Quorum, Review, ReviewVerdict, Stage, StandardChange, StandardCommand, StandardEvent,
    Strategy as RollOut, Window,
};
use itsm_core::id::{ActorId, ChangeId, GroupId, ServiceId, TemplateId, TenantId};
use itsm_core::vocabulary::{ChangeOutcome, Remediation, Risk};
use itsm_core::{Actor, Role, Timestamp};
use proptest::prelude::*;
use proptest::sample::select;

fn id(s: &str) -> ActorId {
    ActorId::new(s).unwrap()
}

fn group(s: &str) -> GroupId {
    GroupId::new(s).unwrap()
}

/// Who issues a change command, by its name: the approver `carl` (a member of
/// every approver group, never the requester or the implementer) approves and
/// rejects, the implementer `ivan` starts, advances and completes, and the
/// change manager `rita` does the rest (and so requests every change).
fn actor(command: &str) -> Actor {
    let tenant = TenantId::new("acme").unwrap();
    match command {
        "approve" | "reject" => Actor::new(id("carl"), tenant, [Role::CabMember, Role::EmergencyCabMember])
            .with_groups([group("change-managers"), group("cab"), group("ecab")]),
        "start" | "advance_stage" | "complete" | "fail_stage" => Actor::new(id("ivan"), tenant, [Role::Implementer]),
        _ => Actor::new(id("rita"), tenant, [Role::ChangeManager]),
    }
}

/// A phased roll-out in two stages, so that one stage can be advanced.
fn spec() -> ChangeSpec {
    let stage = |name: &str, percent| Stage { name: name.to_owned(), percent };
    ChangeSpec {
        id: ChangeId::new("CHG-1").unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: text("upgrade the payment gateway"),
        strategy: RollOut::Phased { stages: vec![stage("canary", 10), stage("all", 100)] },
        auto_rollback: true,
    }
}

/// A window a day ahead.
fn window() -> Window {
    Window::new(ts(86_400), ts(90_000)).unwrap()
}

fn completion(at: Timestamp) -> Completion {
    Completion {
        started_at: ts(-600),
        completed_at: at,
        outcome: ChangeOutcome::SuccessfulWithIssues,
        remediation: Remediation::FixedForward,
        automatic: false,
    }
}

fn review(at: Timestamp) -> Review {
    Review { verdict: ReviewVerdict::PartlyMet, notes: text("went in late"), at, by: id("rita") }
}

/// `commands` in order, then each longer prefix: every prefix is a path.
fn prefixes<C: Clone>(commands: &[C]) -> Vec<Vec<C>> {
    (1..=commands.len()).map(|n| commands[..n].to_vec()).collect()
}

/// The events every change type has, from implementation on, as `E`'s
/// variants: the sample events' common part.
macro_rules! implementation_event {
    ($E:ident, $name:expr, $at:expr, $by:expr) => {
        match $name {
            "started" => $E::Started { at: $at, by: id("ivan") },
            "stage_advanced" => $E::StageAdvanced { stages_done: 1, at: $at, by: id("ivan") },
            "completed" => $E::Completed { completion: completion($at), by: id("ivan") },
            "rolled_back_automatically" => $E::RolledBackAutomatically {
                stage: 0,
                reason: text("error rate above 5% on the canary"),
                completion: Completion::rolled_back_automatically(ts(-600), $at, true).unwrap(),
                by: id("ivan"),
            },
            "reviewed" => $E::Reviewed { review: review($at) },
            "closed" => $E::Closed { at: $at, by: $by },
            "cancelled" => $E::Cancelled { reason: text("no longer needed"), at: $at, by: $by },
            other => panic!("unknown event {other}"),
        }
    };
}

/// A change's way from the start of implementation to closure, as `C`'s
/// variants: one stage advanced, a successful first attempt, a review.
macro_rules! implemented {
    ($C:ident) => {
        [
            $C::Start,
            $C::AdvanceStage,
            $C::Complete { outcome: ChangeOutcome::Successful, remediation: Remediation::None },
            $C::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("as planned") },
            $C::Close,
        ]
    };
}

/// The standard change's way from creation to closure, one stage advanced.
fn standard_happy() -> Vec<StandardCommand> {
    use StandardCommand as C;
    [
        C::Create { spec: spec(), template: TemplateId::new("os-patch").unwrap() },
        C::Schedule { window: window(), override_reason: None },
    ]
    .into_iter()
    .chain(implemented!(C))
    .collect()
}

/// The normal change's way from the draft to closure, one stage advanced.
fn normal_happy() -> Vec<NormalCommand> {
    use NormalCommand as C;
    [
        C::Create(spec()),
        C::Submit,
        C::Assess(assessment(Risk::Low)),
        C::Approve { group: group("change-managers") },
        C::Schedule { window: window(), override_reason: None },
    ]
    .into_iter()
    .chain(implemented!(C))
    .collect()
}

/// The emergency change's way from submission to closure, one stage advanced.
fn emergency_happy() -> Vec<EmergencyCommand> {
    use EmergencyCommand as C;
    [submit(), C::Approve { group: group("ecab") }].into_iter().chain(implemented!(C)).collect()
}

struct Standard;

impl Machine for Standard {
    type Agg = StandardChange;
    type Status = StandardStatus;

    const RULES: Rules<StandardStatus> = rules::STANDARD;
    const CREATED: &'static [(&'static str, StandardStatus)] = &[("created", StandardStatus::New)];
    const STATES: &'static [StandardStatus] = StandardStatus::ALL;

    fn status(change: &StandardChange) -> StandardStatus {
        change.status()
    }

    fn sample_event(name: &str, at: Timestamp) -> StandardEvent {
        use StandardEvent as E;
        let by = id("rita");
        match name {
            "created" => E::Created {
                tenant: TenantId::new("acme").unwrap(),
                spec: spec(),
                template: TemplateId::new("os-patch").unwrap(),
                at,
                by,
            },
            "scheduled" => E::Scheduled { window: window(), at, by, overridden: None },
            other => implementation_event!(E, other, at, by),
        }
    }

    fn actor(command: &StandardCommand) -> Actor {
        actor(command.name())
    }

    fn paths() -> Vec<Vec<StandardCommand>> {
        use StandardCommand as C;
        let mut paths = prefixes(&standard_happy());
        paths.push(vec![standard_happy().swap_remove(0), C::Cancel { reason: text("no longer needed") }]);
        paths
    }

    fn probes() -> Vec<StandardCommand> {
        use StandardCommand as C;
        let mut probes = standard_happy();
        probes.extend([
            C::Cancel { reason: text("no longer needed") },
            C::FailStage { reason: text("error rate above 5% on the canary"), restored: true },
        ]);
        probes
    }
}

struct Normal;

impl Machine for Normal {
    type Agg = NormalChange;
    type Status = NormalStatus;

    const RULES: Rules<NormalStatus> = rules::NORMAL;
    const CREATED: &'static [(&'static str, NormalStatus)] = &[("created", NormalStatus::Draft)];
    const STATES: &'static [NormalStatus] = NormalStatus::ALL;

    fn status(change: &NormalChange) -> NormalStatus {
        change.status()
    }

    fn sample_event(name: &str, at: Timestamp) -> NormalEvent {
        use NormalEvent as E;
        let by = id("rita");
        match name {
            "created" => E::Created { tenant: TenantId::new("acme").unwrap(), spec: spec(), at, by },
            "submitted" => E::Submitted { at, by },
            "assessed" => E::Assessed {
                assessment: assessment(Risk::High),
                steps: vec![ApprovalStep { group: group("cab"), quorum: Quorum::AtLeast(2) }],
                at,
                by,
            },
            "approved" => E::Approved { group: group("cab"), at, by: id("carl") },
            "authorized" => E::Authorized { at },
            "rejected" => E::Rejected { group: group("cab"), reason: text("too risky"), at, by: id("carl") },
            "scheduled" => E::Scheduled { window: window(), at, by, overridden: None },
            other => implementation_event!(E, other, at, by),
        }
    }

    fn actor(command: &NormalCommand) -> Actor {
        actor(command.name())
    }

    fn paths() -> Vec<Vec<NormalCommand>> {
        use NormalCommand as C;
        let mut paths = prefixes(&normal_happy());
        let mut rejected = normal_happy()[..3].to_vec();
        rejected.push(C::Reject { group: group("change-managers"), reason: text("too risky") });
        paths.push(rejected);
        paths.push(vec![C::Create(spec()), C::Cancel { reason: text("superseded") }]);
        paths
    }

    fn probes() -> Vec<NormalCommand> {
        use NormalCommand as C;
        let mut probes = normal_happy();
        probes.extend([
            C::Reject { group: group("change-managers"), reason: text("too risky") },
            C::Cancel { reason: text("superseded") },
            C::FailStage { reason: text("error rate above 5% on the canary"), restored: false },
        ]);
        probes
    }
}

fn assessment(risk: Risk) -> Assessment {
    Assessment {
        risk,
        impact: text("payments pause for a minute"),
        backout_plan: text("redeploy the previous release"),
        implementer: id("ivan"),
    }
}

struct Emergency;

impl Machine for Emergency {
    type Agg = EmergencyChange;
    type Status = EmergencyStatus;

    const RULES: Rules<EmergencyStatus> = rules::EMERGENCY;
    const CREATED: &'static [(&'static str, EmergencyStatus)] =
        &[("submitted", EmergencyStatus::Submitted), ("recorded", EmergencyStatus::Completed)];
    const STATES: &'static [EmergencyStatus] = EmergencyStatus::ALL;

    fn status(change: &EmergencyChange) -> EmergencyStatus {
        change.status()
    }

    fn sample_event(name: &str, at: Timestamp) -> EmergencyEvent {
        use EmergencyEvent as E;
        let by = id("rita");
        let tenant = TenantId::new("acme").unwrap();
        let steps = vec![ApprovalStep { group: group("ecab"), quorum: Quorum::Any }];
        match name {
            "submitted" => E::Submitted {
                tenant,
                spec: spec(),
                risk: Risk::High,
                justification: text("payments are down"),
                steps,
                at,
                by,
            },
            "recorded" => E::Recorded { tenant, record: after_the_fact(), steps, at, by },
            "approved" => E::Approved { group: group("ecab"), at, by: id("carl") },
            "authorized" => E::Authorized { at },
            "rejected" => E::Rejected { group: group("ecab"), reason: text("not an emergency"), at, by: id("carl") },
            other => implementation_event!(E, other, at, by),
        }
    }

    fn actor(command: &EmergencyCommand) -> Actor {
        actor(command.name())
    }

    fn paths() -> Vec<Vec<EmergencyCommand>> {
        use EmergencyCommand as C;
        let mut paths = prefixes(&emergency_happy());
        paths.push(vec![submit(), C::Reject { group: group("ecab"), reason: text("not an emergency") }]);
        paths.push(vec![submit(), C::Cancel { reason: text("fixed by a restart") }]);
        paths.push(vec![C::RecordAfterTheFact(after_the_fact())]);
        paths
    }

    fn probes() -> Vec<EmergencyCommand> {
        use EmergencyCommand as C;
        let mut probes = emergency_happy();
        probes.extend([
            C::RecordAfterTheFact(after_the_fact()),
            C::Reject { group: group("ecab"), reason: text("not an emergency") },
            C::Cancel { reason: text("fixed by a restart") },
            C::FailStage { reason: text("error rate above 5% on the canary"), restored: true },
        ]);
        probes
    }
}

fn submit() -> EmergencyCommand {
    EmergencyCommand::Submit { spec: spec(), risk: Risk::High, justification: text("payments are down") }
}

/// A change made an hour before the epoch of [`ts`], recorded afterwards.
fn after_the_fact() -> AfterTheFact {
    AfterTheFact {
        spec: spec(),
        risk: Risk::Moderate,
        justification: text("payments were down"),
        implementer: id("ivan"),
        started_at: ts(-7_200),
        completed_at: ts(-3_600),
        outcome: ChangeOutcome::Failed,
        remediation: Remediation::RolledBack,
    }
}

#[test]
fn the_rules_name_every_event_once() {
    common::check_names::<Standard>(9);
    common::check_names::<Normal>(14);
    common::check_names::<Emergency>(12);
}

#[test]
fn apply_follows_the_rules_for_every_state_and_event() {
    common::check_apply::<Standard>();
    common::check_apply::<Normal>();
    common::check_apply::<Emergency>();
}

#[test]
fn only_the_creating_events_create_a_change() {
    common::check_creation::<Standard>();
    common::check_creation::<Normal>();
    common::check_creation::<Emergency>();
}

#[test]
fn decide_emits_each_event_where_the_rules_allow_it() {
    common::check_decide::<Standard>();
    common::check_decide::<Normal>();
    common::check_decide::<Emergency>();
}

fn outcome() -> impl Strategy<Value = (ChangeOutcome, Remediation)> {
    (select(ChangeOutcome::ALL), select(Remediation::ALL))
}

fn verdict() -> impl Strategy<Value = ReviewVerdict> {
    select(ReviewVerdict::ALL)
}

/// A window starting `0..=3` days ahead, or one that ends before it starts.
fn any_window() -> impl Strategy<Value = Window> {
    (0i64..=3, any::<bool>()).prop_map(|(days, backwards)| {
        let start = ts(86_400 * days);
        let end = ts(86_400 * days + 3_600);
        if backwards { Window { start: end, end: start } } else { Window { start, end } }
    })
}

fn standard_command() -> BoxedStrategy<StandardCommand> {
    use StandardCommand as C;
    prop_oneof![
        1 => select(&["os-patch", "restart-service", "no-such-template"][..])
            .prop_map(|t| C::Create { spec: spec(), template: TemplateId::new(t).unwrap() }),
        3 => any_window().prop_map(|window| C::Schedule { window, override_reason: None }),
        3 => Just(C::Start),
        2 => Just(C::AdvanceStage),
        3 => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }),
        1 => any::<bool>().prop_map(|restored| C::FailStage { reason: text("health check failed"), restored }),
        2 => verdict().prop_map(|verdict| C::Review { verdict, notes: text("reviewed") }),
        2 => Just(C::Close),
        1 => Just(C::Cancel { reason: text("no longer needed") }),
    ]
    .boxed()
}

fn normal_command() -> BoxedStrategy<NormalCommand> {
    use NormalCommand as C;
    let groups = select(&["change-managers", "cab", "ecab"][..]).prop_map(group);
    prop_oneof![
        1 => Just(C::Create(spec())),
        3 => Just(C::Submit),
        3 => select(Risk::ALL).prop_map(|risk| C::Assess(assessment(risk))),
        4 => groups.clone().prop_map(|group| C::Approve { group }),
        1 => groups.prop_map(|group| C::Reject { group, reason: text("too risky") }),
        3 => any_window().prop_map(|window| C::Schedule { window, override_reason: None }),
        3 => Just(C::Start),
        2 => Just(C::AdvanceStage),
        3 => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }),
        1 => any::<bool>().prop_map(|restored| C::FailStage { reason: text("health check failed"), restored }),
        2 => verdict().prop_map(|verdict| C::Review { verdict, notes: text("reviewed") }),
        2 => Just(C::Close),
        1 => Just(C::Cancel { reason: text("superseded") }),
    ]
    .boxed()
}

fn emergency_command() -> BoxedStrategy<EmergencyCommand> {
    use EmergencyCommand as C;
    let groups = select(&["ecab", "cab"][..]).prop_map(group);
    prop_oneof![
        1 => Just(submit()),
        1 => Just(C::RecordAfterTheFact(after_the_fact())),
        4 => groups.clone().prop_map(|group| C::Approve { group }),
        1 => groups.prop_map(|group| C::Reject { group, reason: text("not an emergency") }),
        3 => Just(C::Start),
        2 => Just(C::AdvanceStage),
        3 => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }),
        1 => any::<bool>().prop_map(|restored| C::FailStage { reason: text("health check failed"), restored }),
        2 => verdict().prop_map(|verdict| C::Review { verdict, notes: text("reviewed") }),
        2 => Just(C::Close),
        1 => Just(C::Cancel { reason: text("fixed by a restart") }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Apply never refuses an event that decide emitted, each event leads to
    /// the state the rules give, and the history replays to the same change.
    #[test]
    fn standard_apply_accepts_whatever_decide_emits(
        steps in common::history(standard_command(), standard_happy()[1..].to_vec(), 20),
    ) {
        let commands: Vec<StandardCommand> = standard_happy().into_iter().take(1).chain(steps).collect();
        common::check_history::<Standard>(&commands)?;
    }

    #[test]
    fn normal_apply_accepts_whatever_decide_emits(
        steps in common::history(normal_command(), normal_happy()[1..].to_vec(), 20),
    ) {
        let commands: Vec<NormalCommand> = normal_happy().into_iter().take(1).chain(steps).collect();
        common::check_history::<Normal>(&commands)?;
    }

    #[test]
    fn emergency_apply_accepts_whatever_decide_emits(
        first in prop_oneof![Just(submit()), Just(EmergencyCommand::RecordAfterTheFact(after_the_fact()))],
        steps in common::history(emergency_command(), emergency_happy()[1..].to_vec(), 20),
    ) {
        let commands: Vec<EmergencyCommand> = std::iter::once(first).chain(steps).collect();
        common::check_history::<Emergency>(&commands)?;
    }
}

/// Runs `commands` one minute apart from the epoch of [`ts`] (command `k` at
/// `ts(60 * (k + 1))`) through `execute`.
fn run_commands<A: itsm_core::Aggregate>(commands: &[A::Command]) -> A {
    let config = itsm_core::DomainConfig::default();
    let mut state: Option<A> = None;
    for (k, command) in commands.iter().enumerate() {
        let actor = actor(A::command_name(command));
        let ctx = itsm_core::Context::new(&actor, ts(60 * (k as i64 + 1)), &config);
        state = Some(A::execute(state.take(), command, &ctx).unwrap_or_else(|e| panic!("{e}")).0);
    }
    state.unwrap()
}

#[test]
fn the_record_keeps_when_the_change_was_authorized() {
    // An emergency change: authorized when the ECAB's vote (the second
    // command, at 120 s) met the quorum; none before it.
    let submitted: EmergencyChange = run_commands(&[submit()]);
    assert_eq!(submitted.to_record().authorized_at, None);
    let approved: EmergencyChange = run_commands(&[submit(), EmergencyCommand::Approve { group: group("ecab") }]);
    assert_eq!(approved.to_record().authorized_at, Some(ts(120)));
    // Recorded after the fact and approved afterwards: authorized then, after
    // implementation started.
    let late: EmergencyChange = run_commands(&[
        EmergencyCommand::RecordAfterTheFact(after_the_fact()),
        EmergencyCommand::Approve { group: group("ecab") },
    ]);
    let record = late.to_record();
    assert_eq!(record.authorized_at, Some(ts(120)));
    assert!(record.started_at.unwrap() < ts(120));
    // A normal change: authorized by the approval meeting the quorum (the
    // fourth command), through to closure.
    let normal: NormalChange = run_commands(&normal_happy());
    assert_eq!(normal.to_record().authorized_at, Some(ts(240)));
    // A standard change is pre-authorized by its template: no instant.
    let standard: StandardChange = run_commands(&standard_happy());
    assert_eq!(standard.to_record().authorized_at, None);
}
