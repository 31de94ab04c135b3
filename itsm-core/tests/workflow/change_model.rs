//! Model-based property tests of the three change machines (standard, normal,
//! emergency): random command sequences against reference models built from
//! the hand-written rules (`rules::{STANDARD, NORMAL, EMERGENCY}`) plus the guards (catalogue templates, roll-out
//! strategies, windows, stages, outcome vs remediation, backout plan) and the
//! approval rules modelled independently: separation of duties (requester,
//! implementer, their delegates), approver groups, membership decided by the
//! policy's member list when it has one (else by the groups the actor claims;
//! never through a delegation), one vote per group and actor, the quorum rules
//! Any / All / AtLeast / Percent over the policy's eligible members, a normal
//! change authorized on assessment when its risk needs no approval, approvers
//! barred from implementing, and an after-the-fact emergency change needing
//! ECAB approval before review.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use itsm_core::change::emergency::{AfterTheFact, EmergencyStatus, TRANSITIONS as EMERGENCY};
use itsm_core::change::normal::{NormalStatus, TRANSITIONS as NORMAL};
use itsm_core::change::standard::{StandardStatus, TRANSITIONS as STANDARD};
use itsm_core::change::{
    ApprovalStep, Assessment, ChangeError, ChangeSpec, EmergencyChange, EmergencyCommand, EmergencyState, NormalChange,
    NormalCommand, NormalState, Quorum, ReviewVerdict, StandardChange, StandardCommand, StandardState, Window,
};
use itsm_core::id::{ActorId, GroupId, TemplateId};
use itsm_core::machine::Transition;
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, Remediation, Risk};
use itsm_core::{Actor, Aggregate};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::prop_state_machine;

use crate::model::{Cmd, Machine, Runner, SEQUENCE, proptest_config};
use crate::rules;
use crate::support::{
    Ap, Kind, aid, config, secs, spec, stage_count, strategy_ok, strategy_strategy, text_strategy, ts,
};

fn change_spec() -> BoxedStrategy<ChangeSpec> {
    (select(&["CHG-1", "CHG-1", "CHG-2"][..]), strategy_strategy(), any::<bool>())
        .prop_map(|(id, strategy, auto_rollback)| ChangeSpec { auto_rollback, ..spec(id, strategy) })
        .boxed()
}

fn window(clock: i64) -> BoxedStrategy<Window> {
    prop_oneof![
        4 => (0i64..86_400, 1i64..7_200).prop_map(move |(a, len)| Window { start: ts(clock + a), end: ts(clock + a + len) }),
        1 => (-600i64..86_400, -600i64..86_400).prop_map(move |(a, b)| Window { start: ts(clock + a), end: ts(clock + b) }),
    ]
    .boxed()
}

/// An approver group, mostly one of `steps`.
fn group_among(steps: &[ApprovalStep]) -> BoxedStrategy<GroupId> {
    let groups: Vec<GroupId> = steps.iter().map(|s| s.group.clone()).collect();
    if groups.is_empty() {
        approver_group().boxed()
    } else {
        prop_oneof![4 => select(groups), 1 => approver_group()].boxed()
    }
}

fn outcome() -> impl Strategy<Value = (ChangeOutcome, Remediation)> {
    (select(ChangeOutcome::ALL), select(Remediation::ALL))
}

fn approver_group() -> impl Strategy<Value = GroupId> {
    select(&["cab", "cab", "change-managers", "ecab", "ecab", "sre", "bogus"][..]).prop_map(crate::support::gid)
}

fn review() -> impl Strategy<Value = (ReviewVerdict, itsm_core::id::Text)> {
    (select(ReviewVerdict::ALL), text_strategy())
}

/// Whether the completion guard accepts an outcome and remediation.
fn completion_ok(outcome: ChangeOutcome, remediation: Remediation) -> bool {
    !(outcome == ChangeOutcome::Successful && remediation != Remediation::None)
}

/// The model's approval check: separation of duties first (requester, then
/// implementer, each directly or through a delegation), then the group, then
/// membership, then one vote per actor and group.
///
/// Membership: when the policy lists members for the group (a non-empty
/// list), the actor must be on it and the groups it claims do not matter;
/// otherwise the groups it claims decide. Acting for a member (a delegation)
/// never makes an actor a member.
fn vote_check(
    actor: &Actor,
    group: &GroupId,
    steps: &[ApprovalStep],
    requester: &ActorId,
    implementer: Option<&ActorId>,
    votes: &BTreeMap<GroupId, BTreeSet<ActorId>>,
) -> Result<(), Kind> {
    for principal in std::iter::once(requester).chain(implementer) {
        if actor.id == *principal || actor.delegate_for.contains(principal) {
            return Err(Kind::Approval(Ap::SelfApproval));
        }
    }
    if !steps.iter().any(|s| s.group == *group) {
        return Err(Kind::Approval(Ap::NotAnApproverGroup));
    }
    let member = match config().approvals.members.get(group) {
        Some(listed) if !listed.is_empty() => listed.contains(&actor.id),
        Some(_) | None => actor.groups.contains(group),
    };
    if !member {
        return Err(Kind::Approval(Ap::NotInGroup));
    }
    if votes.get(group).is_some_and(|v| v.contains(&actor.id)) {
        return Err(Kind::Approval(Ap::AlreadyApproved));
    }
    Ok(())
}

/// The model's quorum: every step has at least the needed votes, where the
/// needed count derives from the members listed in the policy minus the
/// requester and the implementer.
fn quorum(
    steps: &[ApprovalStep],
    votes: &BTreeMap<GroupId, BTreeSet<ActorId>>,
    requester: &ActorId,
    implementer: Option<&ActorId>,
) -> bool {
    steps.iter().all(|step| {
        let got = votes.get(&step.group).map_or(0, BTreeSet::len) as u64;
        let eligible = config()
            .approvals
            .members
            .get(&step.group)
            .map_or(0, |m| m.iter().filter(|a| *a != requester && Some(*a) != implementer).count())
            as u64;
        let needed = match step.quorum {
            Quorum::Any => 1,
            Quorum::All => eligible.max(1),
            Quorum::AtLeast(n) => u64::from(n).max(1),
            Quorum::Percent(p) => (eligible * u64::from(p.clamp(1, 100))).div_ceil(100).max(1),
        };
        got >= needed
    })
}

fn steps_for(change_type: ChangeType, risk: Risk) -> Vec<ApprovalStep> {
    config().approvals.steps(change_type, risk).to_vec()
}

fn refuse(bad: bool) -> Result<(), Kind> {
    if bad { Err(Kind::Invalid) } else { Ok(()) }
}

// ---------------------------------------------------------------- standard

/// The standard change's reference model.
pub struct StandardMachine;

/// Model data of a standard change.
#[derive(Debug, Clone)]
pub struct Std {
    stages: usize,
    stages_done: usize,
    implementer: Option<ActorId>,
    /// Whether the spec rolls back by itself (`fail_stage` is allowed).
    auto_rollback: bool,
}

/// Every standard-change command name.
pub const STANDARD_NAMES: &[&str] =
    &["create", "schedule", "start", "advance_stage", "complete", "fail_stage", "review", "close", "cancel"];

/// A strategy for standard-change commands of kind `name`.
pub fn standard_command(name: &'static str, clock: i64) -> BoxedStrategy<StandardCommand> {
    use StandardCommand as C;
    match name {
        "create" => (change_spec(), select(&["restart-service", "os-patch", "cert-renewal", "reboot-the-world"][..]))
            .prop_map(|(spec, t)| C::Create { spec, template: TemplateId::new(t).unwrap() })
            .boxed(),
        "schedule" => window(clock).prop_map(|window| C::Schedule { window, override_reason: None }).boxed(),
        "start" => Just(C::Start).boxed(),
        "advance_stage" => Just(C::AdvanceStage).boxed(),
        "complete" => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }).boxed(),
        "fail_stage" => {
            (text_strategy(), any::<bool>()).prop_map(|(reason, restored)| C::FailStage { reason, restored }).boxed()
        }
        "review" => review().prop_map(|(verdict, notes)| C::Review { verdict, notes }).boxed(),
        "close" => Just(C::Close).boxed(),
        "cancel" => text_strategy().prop_map(|reason| C::Cancel { reason }).boxed(),
        other => panic!("unknown standard command {other}"),
    }
}

impl Machine for StandardMachine {
    type Agg = StandardChange;
    type Err = ChangeError;
    type Extra = Std;
    fn table() -> &'static [Transition] {
        static TABLE: LazyLock<Vec<Transition>> = LazyLock::new(|| {
            rules::table(rules::STANDARD, rules::STANDARD_COMMANDS, StandardStatus::ALL, StandardStatus::as_str)
        });
        &TABLE
    }
    const TRANSITIONS: &'static [Transition] = STANDARD;
    const CREATE: &'static [&'static str] = &["create"];
    const NAMES: &'static [&'static str] = STANDARD_NAMES;
    const RARE: &'static [&'static str] = &["cancel"];

    fn command(name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        standard_command(name, clock)
    }

    fn create(cmd: &StandardCommand, _: &Actor, _: i64) -> Result<(String, &'static str, Std), Kind> {
        let StandardCommand::Create { spec, template } = cmd else { unreachable!("only create creates") };
        refuse(!config().standard_catalog.templates.contains_key(template) || !strategy_ok(&spec.strategy))?;
        Ok((
            spec.id.as_str().to_owned(),
            "new",
            Std {
                stages: stage_count(&spec.strategy),
                stages_done: 0,
                implementer: None,
                auto_rollback: spec.auto_rollback,
            },
        ))
    }

    fn step(
        x: &mut Std,
        _: &'static str,
        _: &str,
        cmd: &StandardCommand,
        actor: &Actor,
        _: i64,
    ) -> Result<Option<&'static str>, Kind> {
        use StandardCommand as C;
        match cmd {
            C::Create { .. } => unreachable!("creation is handled by the harness"),
            C::Schedule { window, .. } => refuse(window.end <= window.start)?,
            C::Start => {
                x.implementer = Some(actor.id.clone());
                x.stages_done = 0;
            }
            C::AdvanceStage => {
                refuse(x.stages_done + 1 >= x.stages)?;
                x.stages_done += 1;
            }
            C::Complete { outcome, remediation } => refuse(!completion_ok(*outcome, *remediation))?,
            C::FailStage { .. } => refuse(!x.auto_rollback)?,
            C::Review { .. } | C::Close | C::Cancel { .. } => {}
        }
        Ok(None)
    }

    fn check(agg: &StandardChange, x: &Std, _: &BTreeMap<&'static str, u32>) {
        if let StandardState::Implementing { stages_done, implementer, .. } = agg.state() {
            assert_eq!(*stages_done, x.stages_done);
            assert_eq!(Some(implementer), x.implementer.as_ref());
        }
        assert_eq!(
            agg.summary().assignee.is_some(),
            matches!(agg.status().as_str(), "implementing" | "completed" | "reviewed" | "closed")
        );
    }
}

// ---------------------------------------------------------------- normal

/// The normal change's reference model.
pub struct NormalMachine;

/// Model data of a normal change.
#[derive(Debug, Clone)]
pub struct Nrm {
    requester: ActorId,
    implementer: Option<ActorId>,
    steps: Vec<ApprovalStep>,
    votes: BTreeMap<GroupId, BTreeSet<ActorId>>,
    stages: usize,
    stages_done: usize,
    /// Whether the spec rolls back by itself (`fail_stage` is allowed).
    auto_rollback: bool,
}

/// Every normal-change command name.
pub const NORMAL_NAMES: &[&str] = &[
    "create",
    "submit",
    "assess",
    "approve",
    "reject",
    "schedule",
    "start",
    "advance_stage",
    "complete",
    "fail_stage",
    "review",
    "close",
    "cancel",
];

/// A strategy for normal-change commands of kind `name`.
pub fn normal_command(name: &'static str, clock: i64) -> BoxedStrategy<NormalCommand> {
    use NormalCommand as C;
    match name {
        "create" => change_spec().prop_map(C::Create).boxed(),
        "submit" => Just(C::Submit).boxed(),
        "assess" => {
            (select(Risk::ALL), text_strategy(), text_strategy(), select(&["impl", "impl", "impl2", "req", "cab1"][..]))
                .prop_map(|(risk, impact, backout_plan, implementer)| {
                    C::Assess(Assessment { risk, impact, backout_plan, implementer: aid(implementer) })
                })
                .boxed()
        }
        "approve" => approver_group().prop_map(|group| C::Approve { group }).boxed(),
        "reject" => (approver_group(), text_strategy()).prop_map(|(group, reason)| C::Reject { group, reason }).boxed(),
        "schedule" => window(clock).prop_map(|window| C::Schedule { window, override_reason: None }).boxed(),
        "start" => Just(C::Start).boxed(),
        "advance_stage" => Just(C::AdvanceStage).boxed(),
        "complete" => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }).boxed(),
        "fail_stage" => {
            (text_strategy(), any::<bool>()).prop_map(|(reason, restored)| C::FailStage { reason, restored }).boxed()
        }
        "review" => review().prop_map(|(verdict, notes)| C::Review { verdict, notes }).boxed(),
        "close" => Just(C::Close).boxed(),
        "cancel" => text_strategy().prop_map(|reason| C::Cancel { reason }).boxed(),
        other => panic!("unknown normal command {other}"),
    }
}

impl Machine for NormalMachine {
    type Agg = NormalChange;
    type Err = ChangeError;
    type Extra = Nrm;
    fn table() -> &'static [Transition] {
        static TABLE: LazyLock<Vec<Transition>> = LazyLock::new(|| {
            rules::table(rules::NORMAL, rules::NORMAL_COMMANDS, NormalStatus::ALL, NormalStatus::as_str)
        });
        &TABLE
    }
    const TRANSITIONS: &'static [Transition] = NORMAL;
    const CREATE: &'static [&'static str] = &["create"];
    const NAMES: &'static [&'static str] = NORMAL_NAMES;
    const RARE: &'static [&'static str] = &["cancel", "reject"];

    fn command(name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        normal_command(name, clock)
    }

    fn command_for(x: Option<&Nrm>, name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        match (x, name) {
            (Some(x), "approve") => group_among(&x.steps).prop_map(|group| NormalCommand::Approve { group }).boxed(),
            _ => normal_command(name, clock),
        }
    }

    fn create(cmd: &NormalCommand, actor: &Actor, _: i64) -> Result<(String, &'static str, Nrm), Kind> {
        let NormalCommand::Create(spec) = cmd else { unreachable!("only create creates") };
        refuse(!strategy_ok(&spec.strategy))?;
        let x = Nrm {
            requester: actor.id.clone(),
            implementer: None,
            steps: Vec::new(),
            votes: BTreeMap::new(),
            stages: stage_count(&spec.strategy),
            auto_rollback: spec.auto_rollback,
            stages_done: 0,
        };
        Ok((spec.id.as_str().to_owned(), "draft", x))
    }

    fn step(
        x: &mut Nrm,
        _: &'static str,
        _: &str,
        cmd: &NormalCommand,
        actor: &Actor,
        _: i64,
    ) -> Result<Option<&'static str>, Kind> {
        use NormalCommand as C;
        match cmd {
            C::Create(_) => unreachable!("creation is handled by the harness"),
            C::Assess(assessment) => {
                refuse(assessment.backout_plan.as_str().trim().is_empty())?;
                x.steps = steps_for(ChangeType::Normal, assessment.risk);
                x.implementer = Some(assessment.implementer.clone());
                // No approval step for this risk: nothing to collect, the
                // assessment authorizes at once.
                return Ok(Some(if x.steps.is_empty() { "authorized" } else { "assessed" }));
            }
            C::Approve { group } => {
                vote_check(actor, group, &x.steps, &x.requester, x.implementer.as_ref(), &x.votes)?;
                x.votes.entry(group.clone()).or_default().insert(actor.id.clone());
                let met = quorum(&x.steps, &x.votes, &x.requester, x.implementer.as_ref());
                return Ok(Some(if met { "authorized" } else { "assessed" }));
            }
            C::Reject { group, .. } => {
                vote_check(actor, group, &x.steps, &x.requester, x.implementer.as_ref(), &x.votes)?;
                x.implementer = None;
            }
            C::Schedule { window, .. } => refuse(window.end <= window.start)?,
            C::Start => {
                refuse(x.votes.values().any(|v| v.contains(&actor.id)))?;
                x.stages_done = 0;
            }
            C::AdvanceStage => {
                refuse(x.stages_done + 1 >= x.stages)?;
                x.stages_done += 1;
            }
            C::Complete { outcome, remediation } => refuse(!completion_ok(*outcome, *remediation))?,
            C::FailStage { .. } => refuse(!x.auto_rollback)?,
            C::Cancel { .. } => x.implementer = None,
            C::Submit | C::Review { .. } | C::Close => {}
        }
        Ok(None)
    }

    fn check(agg: &NormalChange, x: &Nrm, _: &BTreeMap<&'static str, u32>) {
        assert_eq!(agg.requester(), &x.requester);
        assert_eq!(agg.implementer(), x.implementer.as_ref(), "implementer in {}", agg.status());
        match agg.state() {
            NormalState::Assessed(a) => {
                assert_eq!(a.votes, x.votes);
                assert_eq!(a.steps, x.steps);
            }
            NormalState::Authorized(p) | NormalState::Scheduled(p) => assert_eq!(p.approvals, x.votes),
            NormalState::Implementing(i) => assert_eq!(i.stages_done, x.stages_done),
            NormalState::Draft
            | NormalState::Submitted
            | NormalState::Rejected(_)
            | NormalState::Completed(_)
            | NormalState::Reviewed(_)
            | NormalState::Closed(_)
            | NormalState::Cancelled(_) => {}
        }
    }
}

// ---------------------------------------------------------------- emergency

/// The emergency change's reference model.
pub struct EmergencyMachine;

/// Model data of an emergency change.
#[derive(Debug, Clone)]
pub struct Emg {
    requester: ActorId,
    implementer: Option<ActorId>,
    steps: Vec<ApprovalStep>,
    votes: BTreeMap<GroupId, BTreeSet<ActorId>>,
    authorized: bool,
    retroactive: bool,
    stages: usize,
    stages_done: usize,
    /// Whether the spec rolls back by itself (`fail_stage` is allowed).
    auto_rollback: bool,
}

/// Every emergency-change command name.
pub const EMERGENCY_NAMES: &[&str] = &[
    "submit",
    "record_after_the_fact",
    "approve",
    "reject",
    "start",
    "advance_stage",
    "complete",
    "fail_stage",
    "review",
    "close",
    "cancel",
];

/// A strategy for emergency-change commands of kind `name`.
pub fn emergency_command(name: &'static str, clock: i64) -> BoxedStrategy<EmergencyCommand> {
    use EmergencyCommand as C;
    match name {
        "submit" => (change_spec(), select(Risk::ALL), text_strategy())
            .prop_map(|(spec, risk, justification)| C::Submit { spec, risk, justification })
            .boxed(),
        "record_after_the_fact" => (
            change_spec(),
            select(Risk::ALL),
            text_strategy(),
            select(&["impl", "impl2", "req", "ecab1"][..]),
            -7_200i64..=300,
            -7_200i64..=300,
            outcome(),
        )
            .prop_map(move |(spec, risk, justification, implementer, start, end, (outcome, remediation))| {
                C::RecordAfterTheFact(AfterTheFact {
                    spec,
                    risk,
                    justification,
                    implementer: aid(implementer),
                    started_at: ts(clock + start),
                    completed_at: ts(clock + end),
                    outcome,
                    remediation,
                })
            })
            .boxed(),
        "approve" => approver_group().prop_map(|group| C::Approve { group }).boxed(),
        "reject" => (approver_group(), text_strategy()).prop_map(|(group, reason)| C::Reject { group, reason }).boxed(),
        "start" => Just(C::Start).boxed(),
        "advance_stage" => Just(C::AdvanceStage).boxed(),
        "complete" => outcome().prop_map(|(outcome, remediation)| C::Complete { outcome, remediation }).boxed(),
        "fail_stage" => {
            (text_strategy(), any::<bool>()).prop_map(|(reason, restored)| C::FailStage { reason, restored }).boxed()
        }
        "review" => review().prop_map(|(verdict, notes)| C::Review { verdict, notes }).boxed(),
        "close" => Just(C::Close).boxed(),
        "cancel" => text_strategy().prop_map(|reason| C::Cancel { reason }).boxed(),
        other => panic!("unknown emergency command {other}"),
    }
}

impl Machine for EmergencyMachine {
    type Agg = EmergencyChange;
    type Err = ChangeError;
    type Extra = Emg;
    fn table() -> &'static [Transition] {
        static TABLE: LazyLock<Vec<Transition>> = LazyLock::new(|| {
            rules::table(rules::EMERGENCY, rules::EMERGENCY_COMMANDS, EmergencyStatus::ALL, EmergencyStatus::as_str)
        });
        &TABLE
    }
    const TRANSITIONS: &'static [Transition] = EMERGENCY;
    const CREATE: &'static [&'static str] = &["submit", "record_after_the_fact"];
    const NAMES: &'static [&'static str] = EMERGENCY_NAMES;
    const RARE: &'static [&'static str] = &["cancel", "reject"];

    fn command(name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        emergency_command(name, clock)
    }

    fn command_for(x: Option<&Emg>, name: &'static str, clock: i64) -> BoxedStrategy<Cmd<Self>> {
        match (x, name) {
            (Some(x), "approve") => group_among(&x.steps).prop_map(|group| EmergencyCommand::Approve { group }).boxed(),
            _ => emergency_command(name, clock),
        }
    }

    fn create(cmd: &EmergencyCommand, actor: &Actor, now: i64) -> Result<(String, &'static str, Emg), Kind> {
        let (spec, risk) = match cmd {
            EmergencyCommand::Submit { spec, risk, .. } => (spec, *risk),
            EmergencyCommand::RecordAfterTheFact(r) => (&r.spec, r.risk),
            other => unreachable!("{} does not create", other.name()),
        };
        refuse(!strategy_ok(&spec.strategy))?;
        let steps = steps_for(ChangeType::Emergency, risk);
        let mut x = Emg {
            requester: actor.id.clone(),
            implementer: None,
            authorized: steps.is_empty(),
            steps,
            votes: BTreeMap::new(),
            retroactive: false,
            stages: stage_count(&spec.strategy),
            auto_rollback: spec.auto_rollback,
            stages_done: 0,
        };
        let status = match cmd {
            EmergencyCommand::RecordAfterTheFact(r) => {
                let (started, completed) = (secs(r.started_at), secs(r.completed_at));
                refuse(completed < started || !completion_ok(r.outcome, r.remediation) || completed > now)?;
                x.implementer = Some(r.implementer.clone());
                x.retroactive = true;
                "completed"
            }
            _ if x.authorized => "authorized",
            _ => "submitted",
        };
        Ok((spec.id.as_str().to_owned(), status, x))
    }

    fn step(
        x: &mut Emg,
        status: &'static str,
        _: &str,
        cmd: &EmergencyCommand,
        actor: &Actor,
        _: i64,
    ) -> Result<Option<&'static str>, Kind> {
        use EmergencyCommand as C;
        match cmd {
            C::Submit { .. } | C::RecordAfterTheFact(_) => unreachable!("creation is handled by the harness"),
            C::Approve { group } => {
                refuse(x.authorized)?;
                vote_check(actor, group, &x.steps, &x.requester, x.implementer.as_ref(), &x.votes)?;
                x.votes.entry(group.clone()).or_default().insert(actor.id.clone());
                if quorum(&x.steps, &x.votes, &x.requester, x.implementer.as_ref()) {
                    x.authorized = true;
                    return Ok(Some(if status == "submitted" { "authorized" } else { status }));
                }
                return Ok(Some(status));
            }
            C::Reject { group, .. } => {
                vote_check(actor, group, &x.steps, &x.requester, x.implementer.as_ref(), &x.votes)?
            }
            C::Start => {
                refuse(x.votes.values().any(|v| v.contains(&actor.id)))?;
                x.implementer = Some(actor.id.clone());
                x.stages_done = 0;
            }
            C::AdvanceStage => {
                refuse(x.stages_done + 1 >= x.stages)?;
                x.stages_done += 1;
            }
            C::Complete { outcome, remediation } => refuse(!completion_ok(*outcome, *remediation))?,
            C::FailStage { .. } => refuse(!x.auto_rollback)?,
            C::Review { .. } => refuse(!x.authorized)?,
            C::Close | C::Cancel { .. } => {}
        }
        Ok(None)
    }

    fn check(agg: &EmergencyChange, x: &Emg, _: &BTreeMap<&'static str, u32>) {
        assert_eq!(agg.authorized(), x.authorized, "authorization flag in {}", agg.status());
        match agg.state() {
            EmergencyState::Implementing { stages_done, implementer, .. } => {
                assert_eq!(*stages_done, x.stages_done);
                assert_eq!(Some(implementer), x.implementer.as_ref());
            }
            EmergencyState::Completed(done)
            | EmergencyState::Reviewed { done, .. }
            | EmergencyState::Closed { done, .. } => {
                assert_eq!(done.retroactive, x.retroactive);
                assert_eq!(Some(&done.implementer), x.implementer.as_ref());
            }
            EmergencyState::Submitted
            | EmergencyState::Authorized
            | EmergencyState::Rejected(_)
            | EmergencyState::Cancelled(_) => {}
        }
        if matches!(agg.status().as_str(), "reviewed" | "closed") {
            assert!(agg.authorized(), "reviewed without emergency CAB authorization");
        }
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config())]

    /// Random standard-change histories agree with the reference model.
    #[test]
    fn standard_change_follows_its_reference_model(sequential SEQUENCE => Runner<StandardMachine>);

    /// Random normal-change histories agree with the reference model.
    #[test]
    fn normal_change_follows_its_reference_model(sequential SEQUENCE => Runner<NormalMachine>);

    /// Random emergency-change histories agree with the reference model.
    #[test]
    fn emergency_change_follows_its_reference_model(sequential SEQUENCE => Runner<EmergencyMachine>);
}

/// The generator reaches every row of the standard-change table.
#[test]
fn standard_generator_covers_the_table() {
    crate::model::assert_generator_covers_table::<StandardMachine>(256);
}

/// The generator reaches every row of the normal-change table.
#[test]
fn normal_generator_covers_the_table() {
    crate::model::assert_generator_covers_table::<NormalMachine>(256);
}

/// The generator reaches every row of the emergency-change table.
#[test]
fn emergency_generator_covers_the_table() {
    crate::model::assert_generator_covers_table::<EmergencyMachine>(256);
}
