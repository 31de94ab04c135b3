//! The incident fold is strict: `Incident::apply` accepts an event only in the
//! states where `decide` emits it, and refuses every other (state, event) pair
//! with an `ApplyError` naming the kind, the state and the event.
//!
//! [`RULES`] (`rules::INCIDENT`) states the machine by hand (not from
//! `incident::TRANSITIONS`):
//! for each event, the states it may follow and the state it leads to. Three
//! tests hold the code to it:
//!
//! * every (state, event) pair is fed to `apply` and the result checked
//!   against the rules;
//! * one accepted command per event kind, in every state, shows that `decide`
//!   emits each event in exactly the states the rules allow it in;
//! * a property test runs random command sequences through `decide` and then
//!   `apply`: apply never refuses an event decide emitted, each event leads to
//!   the state the rules say, and replaying the whole history gives the same
//!   incident.

mod rules;

use std::collections::BTreeSet;

use itsm_core::alert::{AlertRef, AlertSeverity};
use itsm_core::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use itsm_core::incident::{
    Assignment, Incident, IncidentCommand, IncidentEvent, IncidentStatus, OpenIncident, ResolutionCode,
};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, ResolvedBy, SupportTier, Urgency};
use itsm_core::{Actor, Aggregate, AggregateKind, ApplyError, Context, DomainConfig, Role, Timestamp};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use rules::Rules;

use IncidentStatus as S;

/// The incident machine by hand (shared with the model tests).
const RULES: Rules<S> = rules::INCIDENT;

/// The state `event` leads to from `from`, or `None` when the rules refuse it.
fn rule(event: &str, from: S) -> Option<S> {
    let (_, pairs) = RULES.iter().find(|(name, _)| *name == event).unwrap_or_else(|| panic!("no rule for {event}"));
    pairs.iter().find(|(state, _)| *state == from).map(|(_, to)| *to)
}

/// 2026-03-02T09:00:00Z plus `secs` seconds.
fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("a representable instant")
}

fn text(s: &str) -> Text {
    Text::new(s).expect("valid text")
}

fn actor() -> Actor {
    Actor::new(ActorId::new("ann").unwrap(), TenantId::new("acme").unwrap(), [Role::IncidentManager])
}

fn open_command() -> IncidentCommand {
    IncidentCommand::Open(OpenIncident::new(
        IncidentId::new("INC-1").unwrap(),
        IncidentKind::Production,
        ServiceId::new("payments").unwrap(),
        text("card payments failing"),
        Impact::Medium,
        Urgency::Medium,
        DetectionSource::User,
    ))
}

fn alert(id: &str, fired_at: Timestamp) -> AlertRef {
    AlertRef {
        source: "prometheus".to_owned(),
        alert_id: id.to_owned(),
        fingerprint: "fp-1".to_owned(),
        severity: AlertSeverity::Major,
        fired_at,
    }
}

/// Runs `commands` from nothing, one minute apart from the epoch of [`ts`]:
/// the incident, or a panic naming the refused command.
fn run(commands: &[IncidentCommand]) -> Incident {
    let config = DomainConfig::default();
    let actor = actor();
    let mut state = None;
    for (i, command) in commands.iter().enumerate() {
        let at = ts(60 * i as i64);
        let (next, _) = Incident::execute(state, command, &Context::new(&actor, at, &config))
            .unwrap_or_else(|e| panic!("{} refused: {e}", command.name()));
        state = Some(next);
    }
    state.expect("at least the open command")
}

/// What an incident built by [`incident_built`] carries besides its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prep {
    /// Nothing more.
    Plain,
    /// Proposed as a major incident right after opening (pending).
    Proposed,
    /// Declared major right after opening.
    Major,
    /// Declared major, and reviewed (one action item, open) right after its
    /// resolution where it has one.
    Reviewed,
}

/// The incident a command of `event` needs: a decline a pending proposal, a
/// review a major incident, an action item's completion a review.
fn prep_for(event: &str) -> Prep {
    match event {
        "major_declined" => Prep::Proposed,
        "review_recorded" => Prep::Major,
        "action_completed" => Prep::Reviewed,
        _ => Prep::Plain,
    }
}

/// An incident in `status`, reached without a first response (so that an
/// `Acknowledge` is accepted in it) and at the tier L1, prepared as `prep`
/// says.
fn incident_built(status: S, prep: Prep) -> Incident {
    let hold = IncidentCommand::Hold { reason: HoldReason::AwaitingCaller };
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L1, restored_at: None };
    let assign = IncidentCommand::Assign { group: GroupId::new("service-desk").unwrap(), assignee: None };
    let commands = match status {
        S::New => vec![open_command()],
        S::Assigned => vec![open_command(), assign],
        S::InProgress => vec![open_command(), assign, hold, IncidentCommand::Resume],
        S::OnHold => vec![open_command(), assign, hold],
        S::Resolved => vec![open_command(), assign, resolve],
        S::Closed => vec![open_command(), assign, resolve, IncidentCommand::Close],
        S::Cancelled => vec![open_command(), IncidentCommand::Cancel { reason: text("raised in error") }],
    };
    let mut commands = commands;
    match prep {
        Prep::Plain => {}
        Prep::Proposed => commands.insert(1, IncidentCommand::ProposeMajor { reason: text("checkout down") }),
        Prep::Major | Prep::Reviewed => commands.insert(1, IncidentCommand::DeclareMajor),
    }
    if prep == Prep::Reviewed
        && let Some(at) = commands.iter().position(|c| matches!(c, IncidentCommand::Resolve { .. }))
    {
        let review =
            IncidentCommand::RecordReview { summary: text("a bad config push"), actions: vec![text("add a canary")] };
        commands.insert(at + 1, review);
    }
    let incident = run(&commands);
    assert_eq!(incident.status(), status);
    assert_eq!(incident.major_candidate().is_some(), prep == Prep::Proposed);
    assert_eq!(incident.acknowledged_at(), None);
    incident
}

/// One event of kind `name` at `at`, with data any state could take.
fn sample_event(name: &str, at: Timestamp) -> IncidentEvent {
    use IncidentEvent as E;
    let by = ActorId::new("bob").unwrap();
    let event = match name {
        "opened" => {
            let IncidentCommand::Open(incident) = open_command() else { unreachable!() };
            E::Opened {
                tenant: TenantId::new("acme").unwrap(),
                incident,
                priority: itsm_core::vocabulary::Priority::P3,
                at,
                by,
            }
        }
        "assigned" => E::Assigned {
            assignment: Assignment { group: GroupId::new("network").unwrap(), assignee: Some(by.clone()) },
            at,
            by,
        },
        "acknowledged" => E::Acknowledged { at, by },
        "started" => E::Started { at, by },
        "held" => E::Held { reason: HoldReason::AwaitingVendor, at, by },
        "resumed" => E::Resumed { at, by },
        "resolved" => E::Resolved {
            code: ResolutionCode::Workaround,
            resolved_by: ResolvedBy::L2,
            restored_at: at,
            cascaded_from: None,
            at,
            by,
        },
        "impact_recorded" => E::ImpactRecorded { impact_start: Some(ts(-600)), restored_at: None, at, by },
        "reopened" => E::Reopened { reason: text("broken again"), count: 1, at, by },
        "closed" => E::Closed { at, by },
        "cancelled" => E::Cancelled { reason: text("duplicate"), at, by },
        "reprioritized" => E::Reprioritized {
            impact: Impact::High,
            urgency: Urgency::High,
            priority: itsm_core::vocabulary::Priority::P1,
            at,
            by,
        },
        "tier_escalated" => E::TierEscalated {
            from: SupportTier::L1,
            to: SupportTier::L2,
            group: GroupId::new("network").unwrap(),
            at,
            by,
        },
        "major_proposed" => E::MajorProposed { reason: text("checkout down"), at, by },
        "major_declined" => E::MajorDeclined { reason: text("one customer"), at, by },
        "major_declared" => E::MajorDeclared { at, by },
        "review_recorded" => {
            E::ReviewRecorded { summary: text("a bad config push"), actions: vec![text("add a canary")], at, by }
        }
        "action_completed" => E::ActionCompleted { action: 0, at, by },
        "problem_linked" => E::ProblemLinked { problem: ProblemId::new("PRB-1").unwrap(), at, by },
        "change_linked" => E::ChangeLinked { change: ChangeId::new("CHG-1").unwrap(), at, by },
        "parent_set" => E::ParentSet { parent: IncidentId::new("INC-9").unwrap(), at, by },
        "child_linked" => E::ChildLinked { child: IncidentId::new("INC-8").unwrap(), at, by },
        "note_added" => E::NoteAdded { text: text("looking into it"), public: true, at, by },
        "alert_correlated" => E::AlertCorrelated { alert: alert("a-9", at), at, by },
        other => panic!("unknown event {other}"),
    };
    assert_eq!(event.name(), name);
    event
}

/// One command per event kind that `decide` accepts in an incident built by
/// [`incident_built`] wherever its event is allowed, at `now`.
fn command_for(event: &str, now: Timestamp) -> IncidentCommand {
    use IncidentCommand as C;
    match event {
        "opened" => open_command(),
        "assigned" => C::Assign { group: GroupId::new("network").unwrap(), assignee: None },
        "acknowledged" => C::Acknowledge,
        "started" => C::Start,
        "held" => C::Hold { reason: HoldReason::AwaitingVendor },
        "resumed" => C::Resume,
        "resolved" => C::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L1, restored_at: None },
        "impact_recorded" => C::RecordImpact { impact_start: Some(ts(-600)), restored_at: None },
        "reopened" => C::Reopen { reason: text("broken again") },
        "closed" => C::Close,
        "cancelled" => C::Cancel { reason: text("duplicate") },
        "reprioritized" => C::Reprioritize { impact: Impact::High, urgency: Urgency::High },
        "tier_escalated" => C::EscalateTier { tier: SupportTier::L2, group: GroupId::new("network").unwrap() },
        "major_proposed" => C::ProposeMajor { reason: text("checkout down") },
        "major_declined" => C::DeclineMajor { reason: text("one customer") },
        "major_declared" => C::DeclareMajor,
        "review_recorded" => {
            C::RecordReview { summary: text("a bad config push"), actions: vec![text("add a canary")] }
        }
        "action_completed" => C::CompleteAction { action: 0 },
        "problem_linked" => C::LinkProblem { problem: ProblemId::new("PRB-1").unwrap() },
        "change_linked" => C::LinkChange { change: ChangeId::new("CHG-1").unwrap() },
        "parent_set" => C::SetParent { parent: IncidentId::new("INC-9").unwrap() },
        "child_linked" => C::LinkChild { child: IncidentId::new("INC-8").unwrap() },
        "note_added" => C::AddNote { text: text("looking into it"), public: false },
        "alert_correlated" => C::CorrelateAlert { alert: alert("a-9", now) },
        other => panic!("unknown event {other}"),
    }
}

/// Every state, in order.
const STATES: [S; 7] = [S::New, S::Assigned, S::InProgress, S::OnHold, S::Resolved, S::Closed, S::Cancelled];

#[test]
fn the_rules_name_every_event_once() {
    let names: Vec<&str> = RULES.iter().map(|(name, _)| *name).collect();
    let distinct: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(names.len(), distinct.len(), "an event listed twice");
    assert_eq!(names.len(), 24, "the incident has 24 event kinds");
    for name in names {
        sample_event(name, ts(0));
    }
}

#[test]
fn apply_follows_the_rules_for_every_state_and_event() {
    let at = ts(3_600);
    for from in STATES {
        for (name, _) in RULES {
            let incident = incident_built(from, prep_for(name));
            let event = sample_event(name, at);
            let result = Incident::apply(Some(incident.clone()), &event);
            match (rule(name, from), result) {
                (Some(to), Ok(next)) => assert_eq!(next.status(), to, "{name} from {from}"),
                (None, Err(error)) => assert_eq!(
                    error,
                    ApplyError { kind: AggregateKind::Incident, state: from.as_str(), event: name },
                    "{name} from {from}"
                ),
                (Some(to), Err(error)) => panic!("{name} from {from} should lead to {to}, refused: {error}"),
                (None, Ok(next)) => panic!("{name} from {from} should be refused, led to {}", next.status()),
            }
        }
    }
}

#[test]
fn only_opened_creates_an_incident() {
    for (name, _) in RULES {
        let result = Incident::apply(None, &sample_event(name, ts(0)));
        match (*name, result) {
            ("opened", Ok(incident)) => assert_eq!(incident.status(), S::New),
            ("opened", Err(error)) => panic!("opened refused on an absent incident: {error}"),
            (_, Ok(incident)) => panic!("{name} created an incident in {}", incident.status()),
            (_, Err(error)) => {
                assert_eq!(error, ApplyError { kind: AggregateKind::Incident, state: "absent", event: name });
            }
        }
    }
}

/// Each event is one that `decide` emits in exactly the states the rules
/// allow it in: its command is accepted there and refused everywhere else.
#[test]
fn decide_emits_each_event_where_the_rules_allow_it() {
    let config = DomainConfig::default();
    let actor = actor();
    let now = ts(3_600);
    let ctx = Context::new(&actor, now, &config);
    for (name, _) in RULES {
        let command = command_for(name, now);
        let emitted = Incident::decide(None, &command, &ctx).ok();
        assert_eq!(
            emitted.map(|events| events.iter().map(IncidentEvent::name).collect::<Vec<_>>()),
            (*name == "opened").then(|| vec!["opened"]),
            "{} on an absent incident",
            command.name()
        );
        for from in STATES {
            // A proposal is declined only where one is pending.
            let incident = incident_built(from, prep_for(name));
            let emitted = Incident::decide(Some(&incident), &command, &ctx).ok();
            let expected = rule(name, from).map(|_| vec![*name]);
            assert_eq!(
                emitted.map(|events| events.iter().map(IncidentEvent::name).collect::<Vec<_>>()),
                expected,
                "{} in {from}",
                command.name()
            );
        }
    }
}

fn group() -> impl Strategy<Value = GroupId> {
    select(&["service-desk", "network", "dba"][..]).prop_map(|g| GroupId::new(g).unwrap())
}

fn incident_id() -> impl Strategy<Value = IncidentId> {
    select(&["INC-1", "INC-2", "INC-3"][..]).prop_map(|i| IncidentId::new(i).unwrap())
}

/// Any incident command, its instants within two hours before `clock` (or a
/// little after it, which `decide` refuses).
fn command(clock: i64) -> BoxedStrategy<IncidentCommand> {
    use IncidentCommand as C;
    let instant = move |range: std::ops::RangeInclusive<i64>| range.prop_map(move |s| ts(clock + s));
    prop_oneof![
        1 => Just(open_command()),
        4 => (group(), option::of(select(&["ann", "bob"][..])))
            .prop_map(|(group, who)| C::Assign { group, assignee: who.map(|w| ActorId::new(w).unwrap()) }),
        2 => Just(C::Acknowledge),
        4 => Just(C::Start),
        3 => select(HoldReason::ALL).prop_map(|reason| C::Hold { reason }),
        3 => Just(C::Resume),
        3 => (select(ResolutionCode::ALL), select(ResolvedBy::ALL), option::of(instant(-7_200..=60)))
            .prop_map(|(code, resolved_by, restored_at)| C::Resolve { code, resolved_by, restored_at }),
        2 => (option::of(instant(-7_200..=60)), option::of(instant(-7_200..=60)))
            .prop_map(|(impact_start, restored_at)| C::RecordImpact { impact_start, restored_at }),
        3 => Just(C::Reopen { reason: text("broken again") }),
        2 => Just(C::Close),
        1 => Just(C::Cancel { reason: text("raised in error") }),
        2 => (select(Impact::ALL), select(Urgency::ALL)).prop_map(|(impact, urgency)| C::Reprioritize { impact, urgency }),
        2 => (select(SupportTier::ALL), group()).prop_map(|(tier, group)| C::EscalateTier { tier, group }),
        1 => Just(C::ProposeMajor { reason: text("checkout down") }),
        1 => Just(C::DeclineMajor { reason: text("one customer") }),
        1 => Just(C::DeclareMajor),
        1 => Just(C::RecordReview { summary: text("a bad config push"), actions: vec![text("add a canary"), text("alert on it")] }),
        1 => (0u32..3).prop_map(|action| C::CompleteAction { action }),
        1 => select(&["PRB-1", "PRB-2"][..]).prop_map(|p| C::LinkProblem { problem: ProblemId::new(p).unwrap() }),
        1 => select(&["CHG-1", "CHG-2"][..]).prop_map(|c| C::LinkChange { change: ChangeId::new(c).unwrap() }),
        2 => incident_id().prop_map(|parent| C::SetParent { parent }),
        1 => incident_id().prop_map(|child| C::LinkChild { child }),
        3 => (incident_id(), select(ResolvedBy::ALL))
            .prop_map(|(parent, resolved_by)| C::CascadeResolve { parent, resolved_by }),
        2 => any::<bool>().prop_map(|public| C::AddNote { text: text("an update"), public }),
        3 => (select(&["a-1", "a-2", "a-3"][..]), instant(-7_200..=60))
            .prop_map(|(id, fired_at)| C::CorrelateAlert { alert: alert(id, fired_at) }),
    ]
    .boxed()
}

/// An `Open` with random classification, then up to 60 commands ten minutes
/// apart.
fn history() -> impl Strategy<Value = (IncidentCommand, Vec<IncidentCommand>)> {
    let open = (select(Impact::ALL), select(Urgency::ALL), select(SupportTier::ALL), option::of(-3_600i64..=0))
        .prop_map(|(impact, urgency, tier, start)| {
            let IncidentCommand::Open(mut open) = open_command() else { unreachable!() };
            open.impact = impact;
            open.urgency = urgency;
            open.tier = tier;
            open.impact_start = start.map(ts);
            IncidentCommand::Open(open)
        });
    let steps = (0usize..=60).prop_flat_map(|n| (1..=n).map(|i| command(600 * i as i64)).collect::<Vec<_>>());
    (open, steps)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Apply never refuses an event that decide emitted, each event leads to
    /// the state the rules give, and the history replays to the same incident.
    #[test]
    fn apply_accepts_whatever_decide_emits((open, steps) in history()) {
        let config = DomainConfig::default();
        let actor = actor();
        let mut history = Vec::new();
        let created = Incident::decide(None, &open, &Context::new(&actor, ts(0), &config)).unwrap();
        let mut incident = None;
        for event in &created {
            incident = Some(Incident::apply(incident, event).unwrap());
        }
        history.extend(created);
        let mut incident = incident.unwrap();
        for (i, command) in steps.iter().enumerate() {
            let now = ts(600 * (i as i64 + 1));
            let Ok(events) = Incident::decide(Some(&incident), command, &Context::new(&actor, now, &config)) else {
                continue;
            };
            prop_assert!(!events.is_empty(), "{} accepted with no event", command.name());
            for event in &events {
                let from = incident.status();
                let expected = rule(event.name(), from);
                prop_assert!(expected.is_some(), "decide emitted {} in {from}, which the rules refuse", event.name());
                let next = Incident::apply(Some(incident.clone()), event).map_err(|error| {
                    TestCaseError::fail(format!("apply refused {} emitted by {} in {from}: {error}", event.name(), command.name()))
                })?;
                prop_assert_eq!(Some(next.status()), expected, "{} from {}", event.name(), from);
                incident = next;
            }
            history.extend(events);
        }
        prop_assert_eq!(Incident::replay(&history).unwrap(), Some(incident));
    }
}
