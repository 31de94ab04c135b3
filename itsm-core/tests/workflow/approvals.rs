//! Change approval: every separation-of-duties path (requester and
//! implementer, each directly, through a group they belong to, and through a
//! delegate), group membership (the policy's member list decides when it has
//! one, the claimed groups otherwise, a delegation never), approvers barred
//! from implementing, every quorum rule (Any, All, AtLeast, Percent) reaching
//! and not reaching authorization on a normal change under a custom
//! `DomainConfig.approvals` with listed members, and an emergency change
//! recorded after the fact needing ECAB approval before its review.

use std::collections::BTreeMap;

use itsm_core::change::approval::ApprovalError;
use itsm_core::change::{
    ApprovalPolicy, ApprovalStep, ChangeError, EmergencyChange, EmergencyCommand, EmergencyState, NormalChange,
    NormalCommand, NormalState, Quorum, ReviewVerdict,
};
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, Remediation, Risk};
use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role};

use crate::scripts::{after_the_fact, assessment, window_at};
use crate::support::{Ap, Classify, Kind, aid, canary, gid, spec, tenant_a, text, ts};

fn person(id: &str, roles: &[Role], groups: &[&str]) -> Actor {
    Actor::new(aid(id), tenant_a(), roles.iter().copied()).with_groups(groups.iter().map(|g| gid(g)))
}

fn approver(id: &str, group: &str) -> Actor {
    person(id, &[Role::CabMember, Role::EmergencyCabMember], &[group])
}

/// A configuration whose only approval rules are `steps` for normal and
/// emergency changes of moderate risk, with the given group members.
fn policy(steps: Vec<ApprovalStep>, members: &[(&str, &[&str])]) -> DomainConfig {
    let mut approvals = ApprovalPolicy { rules: BTreeMap::new(), members: BTreeMap::new() };
    approvals.set(ChangeType::Normal, Risk::Moderate, steps.clone());
    approvals.set(ChangeType::Emergency, Risk::Moderate, steps);
    for (group, people) in members {
        approvals.members.insert(gid(group), people.iter().map(|p| aid(p)).collect());
    }
    DomainConfig { approvals, ..DomainConfig::default() }
}

fn step(group: &str, quorum: Quorum) -> ApprovalStep {
    ApprovalStep { group: gid(group), quorum }
}

/// An aggregate driven command by command, a minute apart.
struct Flow<A: Aggregate> {
    config: DomainConfig,
    state: Option<A>,
    events: Vec<A::Event>,
    clock: i64,
}

impl<A: Aggregate> Flow<A>
where
    A::Error: Classify,
{
    fn new(config: DomainConfig) -> Self {
        Flow { config, state: None, events: Vec::new(), clock: 0 }
    }

    /// Decides and applies; a refusal leaves the state untouched.
    fn try_run(&mut self, actor: &Actor, cmd: A::Command) -> Result<Vec<A::Event>, A::Error> {
        self.clock += 60;
        let ctx = Context::new(actor, ts(self.clock), &self.config);
        match A::execute(self.state.clone(), &cmd, &ctx) {
            Ok((next, events)) => {
                self.state = Some(next);
                self.events.extend(events.clone());
                assert_eq!(A::replay(&self.events).unwrap(), self.state, "fold differs from the stepwise state");
                Ok(events)
            }
            Err(itsm_core::ExecuteError::Rejected(e)) => Err(e),
            Err(other) => panic!("{other}"),
        }
    }

    fn run(&mut self, actor: &Actor, cmd: A::Command) -> Vec<A::Event> {
        let name = A::command_name(&cmd);
        self.try_run(actor, cmd).unwrap_or_else(|e| panic!("{name} by {} refused: {e}", actor.id))
    }

    /// Asserts `cmd` is refused with `kind`, records nothing and changes nothing.
    fn refused(&mut self, actor: &Actor, cmd: A::Command, kind: Kind) -> A::Error {
        let before = (self.state.clone(), self.events.len());
        let name = A::command_name(&cmd);
        let err = self.try_run(actor, cmd).expect_err("must be refused");
        assert_eq!(err.kind(), kind, "{name} by {}: {err}", actor.id);
        assert_eq!((self.state.clone(), self.events.len()), before, "a refusal changed the aggregate");
        err
    }

    fn status(&self) -> &'static str {
        self.state.as_ref().expect("created").summary().status
    }
}

fn rita() -> Actor {
    person("rita", &[Role::Requester], &[])
}
fn carl() -> Actor {
    person("carl", &[Role::ChangeManager], &[])
}
fn ivan() -> Actor {
    person("ivan", &[Role::Implementer], &[])
}

/// A normal change requested by rita, assessed at moderate risk with ivan as
/// implementer, collecting approvals under `config`.
fn assessed_normal(config: DomainConfig) -> Flow<NormalChange> {
    let mut flow = Flow::new(config);
    flow.run(&rita(), NormalCommand::Create(spec("CHG-1", canary())));
    flow.run(&rita(), NormalCommand::Submit);
    flow.run(&carl(), NormalCommand::Assess(assessment(Risk::Moderate, "ivan")));
    assert_eq!(flow.status(), "assessed");
    flow
}

fn approve(group: &str) -> NormalCommand {
    NormalCommand::Approve { group: gid(group) }
}

fn self_approval(err: &ChangeError, approver: &str, principal: &str) {
    match err {
        ChangeError::Approval { source: ApprovalError::SelfApproval { approver: a, principal: p }, .. } => {
            assert_eq!((a.as_str(), p.as_str()), (approver, principal), "{err}");
        }
        other => panic!("expected a self-approval refusal, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("approve") && text.contains("CHG-1") && text.contains(approver), "{text}");
}

fn cab_any() -> DomainConfig {
    policy(vec![step("cab", Quorum::Any)], &[("cab", &["anna", "rita", "ivan", "dana", "dave", "paul"])])
}

fn not_in_group(err: &ChangeError, approver: &str, group: &str, state: &str) {
    match err {
        ChangeError::Approval { source: ApprovalError::NotInGroup { approver: a, group: g }, .. } => {
            assert_eq!((a.as_str(), g.as_str()), (approver, group), "{err}");
        }
        other => panic!("expected a membership refusal, got {other:?}"),
    }
    let text = err.to_string();
    for needle in ["approve", "CHG-1", state, approver, group] {
        assert!(text.contains(needle), "`{text}` does not name `{needle}`");
    }
}

/// The requester cannot approve their own normal change: directly (without
/// being in the group), through the group they belong to, or through a
/// delegate acting for them; rejecting is barred the same way.
#[test]
fn requester_never_approves_their_normal_change() {
    let mut flow = assessed_normal(cab_any());
    let direct = person("rita", &[Role::Requester, Role::CabMember], &[]);
    let err = flow.refused(&direct, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "rita", "rita");
    let in_group = person("rita", &[Role::Requester, Role::CabMember], &["cab"]);
    let err = flow.refused(&in_group, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "rita", "rita");
    let delegate = approver("dana", "cab").with_delegations([aid("rita")]);
    let err = flow.refused(&delegate, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "dana", "rita");
    let reject = NormalCommand::Reject { group: gid("cab"), reason: text("mine") };
    flow.refused(&in_group, reject.clone(), Kind::Approval(Ap::SelfApproval));
    flow.refused(&delegate, reject, Kind::Approval(Ap::SelfApproval));
    // A member with no tie to the change approves.
    let events = flow.run(&approver("anna", "cab"), approve("cab"));
    assert_eq!(events.len(), 2, "approved and authorized: {events:?}");
    assert_eq!(flow.status(), "authorized");
}

/// The implementer cannot approve the change they will implement: directly,
/// through their group, or through a delegate.
#[test]
fn implementer_never_approves_their_normal_change() {
    let mut flow = assessed_normal(cab_any());
    let direct = person("ivan", &[Role::Implementer, Role::CabMember], &[]);
    let err = flow.refused(&direct, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "ivan", "ivan");
    let in_group = person("ivan", &[Role::Implementer, Role::CabMember], &["cab"]);
    let err = flow.refused(&in_group, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "ivan", "ivan");
    let delegate = approver("dave", "cab").with_delegations([aid("ivan")]);
    let err = flow.refused(&delegate, approve("cab"), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "dave", "ivan");
    assert_eq!(flow.status(), "assessed");
}

/// Group membership is checked (against the policy's list), and only the
/// change's approver groups count; one vote per actor and group.
#[test]
fn approvals_need_the_group_and_count_once() {
    let config = policy(vec![step("cab", Quorum::AtLeast(2))], &[("cab", &["anna", "bert"])]);
    let mut flow = assessed_normal(config);
    let err = flow.refused(&approver("olga", "security"), approve("cab"), Kind::Approval(Ap::NotInGroup));
    not_in_group(&err, "olga", "cab", "assessed");
    flow.refused(&approver("olga", "security"), approve("security"), Kind::Approval(Ap::NotAnApproverGroup));
    flow.run(&approver("anna", "cab"), approve("cab"));
    flow.refused(&approver("anna", "cab"), approve("cab"), Kind::Approval(Ap::AlreadyApproved));
    assert_eq!(flow.status(), "assessed");
    flow.run(&approver("bert", "cab"), approve("cab"));
    assert_eq!(flow.status(), "authorized");
}

/// When the policy lists a group's members, that list decides: a listed
/// member approves without claiming the group, an actor claiming the group
/// without being listed is `NotInGroup`, and so is the delegate of a listed
/// member (approvals are personal). The same holds for rejections and on an
/// emergency change.
#[test]
fn listed_members_decide_membership() {
    let config = || policy(vec![step("cab", Quorum::AtLeast(2))], &[("cab", &["anna", "bert"])]);
    let mut flow = assessed_normal(config());
    let claims = approver("olga", "cab");
    let err = flow.refused(&claims, approve("cab"), Kind::Approval(Ap::NotInGroup));
    not_in_group(&err, "olga", "cab", "assessed");
    let reject = NormalCommand::Reject { group: gid("cab"), reason: text("not mine to say") };
    let err = flow.refused(&claims, reject, Kind::Approval(Ap::NotInGroup));
    assert!(err.to_string().contains("reject"), "{err}");
    for acting_for in ["anna", "bert"] {
        let deputy = person("dave", &[Role::CabMember], &[]).with_delegations([aid(acting_for)]);
        let err = flow.refused(&deputy, approve("cab"), Kind::Approval(Ap::NotInGroup));
        not_in_group(&err, "dave", "cab", "assessed");
        // Claiming the group does not help the delegate either.
        let deputy = deputy.with_groups([gid("cab")]);
        flow.refused(&deputy, approve("cab"), Kind::Approval(Ap::NotInGroup));
    }
    // Listed, claiming no group at all.
    let anna = person("anna", &[Role::CabMember], &[]);
    assert_eq!(flow.run(&anna, approve("cab")).len(), 1);
    let bert = person("bert", &[Role::CabMember], &["security"]);
    assert_eq!(flow.run(&bert, approve("cab")).len(), 2, "approved and authorized");
    assert_eq!(flow.status(), "authorized");
    let Some(NormalState::Authorized(plan)) = flow.state.as_ref().map(|c| c.state().clone()) else { unreachable!() };
    assert_eq!(plan.approvals[&gid("cab")], [aid("anna"), aid("bert")].into());

    let mut flow = Flow::<EmergencyChange>::new(config());
    flow.run(
        &rita(),
        EmergencyCommand::Submit { spec: spec("CHG-1", canary()), risk: Risk::Moderate, justification: text("down") },
    );
    let approve = || EmergencyCommand::Approve { group: gid("cab") };
    let err = flow.refused(&approver("olga", "cab"), approve(), Kind::Approval(Ap::NotInGroup));
    not_in_group(&err, "olga", "cab", "submitted");
    let deputy = approver("dave", "cab").with_delegations([aid("anna")]);
    flow.refused(&deputy, approve(), Kind::Approval(Ap::NotInGroup));
    flow.run(&person("anna", &[Role::EmergencyCabMember], &[]), approve());
    flow.run(&person("bert", &[Role::EmergencyCabMember], &[]), approve());
    assert_eq!(flow.status(), "authorized");
}

/// When the policy lists no members for a group (no entry, or an empty
/// list), the groups an actor claims decide; a delegate of a member who
/// claims nothing is still not a member.
#[test]
fn unlisted_groups_trust_the_claimed_groups() {
    for listed in [false, true] {
        let config = if listed {
            policy(vec![step("cab", Quorum::AtLeast(2))], &[("cab", &[])])
        } else {
            policy(vec![step("cab", Quorum::AtLeast(2))], &[])
        };
        let mut flow = assessed_normal(config);
        let err =
            flow.refused(&person("anna", &[Role::CabMember], &[]), approve("cab"), Kind::Approval(Ap::NotInGroup));
        not_in_group(&err, "anna", "cab", "assessed");
        let deputy = person("dave", &[Role::CabMember], &["security"]).with_delegations([aid("olga")]);
        flow.refused(&deputy, approve("cab"), Kind::Approval(Ap::NotInGroup));
        flow.run(&approver("olga", "cab"), approve("cab"));
        assert_eq!(flow.status(), "assessed", "empty list: {listed}");
        flow.run(&approver("anna", "cab"), approve("cab"));
        assert_eq!(flow.status(), "authorized", "empty list: {listed}");
    }
}

/// The roster the model tests draw from separates claimed groups from the
/// policy's lists, so the model exercises both ways of deciding membership.
#[test]
fn the_model_roster_claims_differ_from_the_listed_members() {
    use crate::support::{MEMBERS, actor, config};
    let listed = |group: &str, who: &str| config().approvals.members[&gid(group)].contains(&aid(who));
    let claims = |group: &str, who: &str| actor(who).groups.contains(&gid(group));
    for (group, members) in MEMBERS {
        assert_eq!(config().approvals.members[&gid(group)].len(), members.len(), "{group}");
    }
    assert!(listed("cab", "cab4") && !claims("cab", "cab4"));
    for group in ["cab", "ecab", "change-managers"] {
        assert!(claims(group, "claimer") && !listed(group, "claimer"), "{group}");
    }
    assert!(config().approvals.members[&gid("sre")].is_empty() && claims("sre", "claimer"));
    let deputy = actor("deputy");
    assert!(deputy.groups.is_empty() && listed("cab", "cab2") && listed("ecab", "ecab3"));
    assert!(deputy.delegate_for.contains(&aid("cab2")) && deputy.delegate_for.contains(&aid("ecab3")));
}

/// Someone who approved a change may not implement it, on a normal change and
/// on an emergency change; another implementer may.
#[test]
fn an_approver_never_implements_the_change() {
    let both = person("paul", &[Role::Implementer, Role::CabMember, Role::EmergencyCabMember], &["cab"]);
    let mut flow = assessed_normal(cab_any());
    flow.run(&both, approve("cab"));
    flow.run(&carl(), NormalCommand::Schedule { window: window_at(0), override_reason: None });
    let err = flow.refused(&both, NormalCommand::Start, Kind::Invalid);
    assert!(err.to_string().contains("paul approved this change"), "{err}");
    flow.run(&ivan(), NormalCommand::Start);
    assert_eq!(flow.status(), "implementing");

    let mut flow = Flow::<EmergencyChange>::new(cab_any());
    flow.run(
        &rita(),
        EmergencyCommand::Submit { spec: spec("CHG-1", canary()), risk: Risk::Moderate, justification: text("down") },
    );
    flow.run(&both, EmergencyCommand::Approve { group: gid("cab") });
    assert_eq!(flow.status(), "authorized");
    flow.refused(&both, EmergencyCommand::Start, Kind::Invalid);
    flow.run(&ivan(), EmergencyCommand::Start);
}

/// The requester of an emergency change cannot approve it directly, through a
/// group or through a delegate.
#[test]
fn requester_never_approves_their_emergency_change() {
    let mut flow = Flow::<EmergencyChange>::new(cab_any());
    flow.run(
        &rita(),
        EmergencyCommand::Submit { spec: spec("CHG-1", canary()), risk: Risk::Moderate, justification: text("down") },
    );
    let approve = || EmergencyCommand::Approve { group: gid("cab") };
    for (actor, who) in [
        (person("rita", &[Role::Requester, Role::EmergencyCabMember], &[]), "rita"),
        (person("rita", &[Role::Requester, Role::EmergencyCabMember], &["cab"]), "rita"),
        (approver("dana", "cab").with_delegations([aid("rita")]), "dana"),
    ] {
        let err = flow.refused(&actor, approve(), Kind::Approval(Ap::SelfApproval));
        self_approval(&err, who, "rita");
    }
    assert_eq!(flow.status(), "submitted");
}

/// Each quorum rule reaches authorization exactly at its threshold, counting
/// the members listed in the policy minus the requester and the implementer.
#[test]
fn quorum_rules_reach_authorization_at_their_threshold() {
    let members: &[&str] = &["anna", "bert", "cleo", "rita", "ivan"];
    // (rule, approvals needed): 3 eligible members (rita and ivan excluded).
    let cases = [
        (Quorum::Any, 1),
        (Quorum::All, 3),
        (Quorum::AtLeast(2), 2),
        (Quorum::AtLeast(0), 1),
        (Quorum::Percent(34), 2),
        (Quorum::Percent(50), 2),
        (Quorum::Percent(67), 3),
        (Quorum::Percent(100), 3),
        (Quorum::Percent(1), 1),
    ];
    for (quorum, needed) in cases {
        let mut flow = assessed_normal(policy(vec![step("cab", quorum)], &[("cab", members)]));
        for (i, who) in ["anna", "bert", "cleo"].iter().enumerate().take(needed) {
            let events = flow.run(&approver(who, "cab"), approve("cab"));
            let authorized = i + 1 == needed;
            assert_eq!(events.len(), if authorized { 2 } else { 1 }, "{quorum:?} after {} votes: {events:?}", i + 1);
            assert_eq!(
                flow.status(),
                if authorized { "authorized" } else { "assessed" },
                "{quorum:?} after {} votes",
                i + 1
            );
        }
        let Some(NormalState::Authorized(plan)) = flow.state.as_ref().map(|c| c.state().clone()) else {
            panic!("{quorum:?} not authorized")
        };
        assert_eq!(plan.approvals[&gid("cab")].len(), needed, "{quorum:?}");
    }
}

/// Quorum rules that are not met leave the change collecting approvals, and
/// several steps must all be met.
#[test]
fn quorum_rules_not_met_keep_collecting() {
    let members: &[&str] = &["anna", "bert", "cleo", "dora"];
    for quorum in [Quorum::All, Quorum::AtLeast(5), Quorum::Percent(80)] {
        let mut flow = assessed_normal(policy(vec![step("cab", quorum)], &[("cab", members)]));
        for who in ["anna", "bert", "cleo"] {
            flow.run(&approver(who, "cab"), approve("cab"));
        }
        assert_eq!(flow.status(), "assessed", "{quorum:?} met by 3 of 4");
        let Some(NormalState::Assessed(a)) = flow.state.as_ref().map(|c| c.state().clone()) else { unreachable!() };
        assert_eq!(a.votes[&gid("cab")].len(), 3);
    }
    let config = policy(
        vec![step("cab", Quorum::Any), step("security", Quorum::All)],
        &[("cab", &["anna"]), ("security", &["sam", "sue"])],
    );
    let mut flow = assessed_normal(config);
    flow.run(&approver("anna", "cab"), approve("cab"));
    flow.run(&approver("sam", "security"), approve("security"));
    assert_eq!(flow.status(), "assessed", "security needs both members");
    flow.run(&approver("sue", "security"), approve("security"));
    assert_eq!(flow.status(), "authorized");
}

/// A (type, risk) without approval steps needs no approval: assessment
/// authorizes at once.
#[test]
fn no_steps_means_authorized_on_assessment() {
    let mut flow = Flow::<NormalChange>::new(policy(vec![], &[]));
    flow.run(&rita(), NormalCommand::Create(spec("CHG-1", canary())));
    flow.run(&rita(), NormalCommand::Submit);
    let events = flow.run(&carl(), NormalCommand::Assess(assessment(Risk::Moderate, "ivan")));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(flow.status(), "authorized");
}

/// An emergency change recorded after the fact is completed but not
/// authorized: its review is refused until an ECAB member (not the recorder,
/// the implementer or a delegate of theirs) approves; then it is reviewed and
/// closed.
#[test]
fn after_the_fact_emergency_change_needs_ecab_approval_before_review() {
    let config = policy(vec![step("ecab", Quorum::Any)], &[("ecab", &["erin", "ivan", "carl"])]);
    let mut flow = Flow::<EmergencyChange>::new(config);
    let carl = person("carl", &[Role::ChangeManager, Role::EmergencyCabMember], &["ecab"]);
    flow.run(&carl, EmergencyCommand::RecordAfterTheFact(after_the_fact("CHG-1", Risk::Moderate, "ivan")));
    assert_eq!(flow.status(), "completed");
    let change = flow.state.clone().unwrap();
    assert!(!change.authorized());
    assert!(matches!(change.state(), EmergencyState::Completed(done) if done.retroactive));

    let review = || EmergencyCommand::Review { verdict: ReviewVerdict::ObjectivesMet, notes: text("restored") };
    let err = flow.refused(&carl, review(), Kind::Invalid);
    assert!(err.to_string().contains("emergency CAB approval"), "{err}");
    flow.refused(&carl, EmergencyCommand::Close, Kind::InvalidTransition);

    let approve = || EmergencyCommand::Approve { group: gid("ecab") };
    let err = flow.refused(&carl, approve(), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "carl", "carl");
    let ivan_ecab = person("ivan", &[Role::Implementer, Role::EmergencyCabMember], &["ecab"]);
    let err = flow.refused(&ivan_ecab, approve(), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "ivan", "ivan");
    let delegate = approver("dave", "ecab").with_delegations([aid("ivan")]);
    let err = flow.refused(&delegate, approve(), Kind::Approval(Ap::SelfApproval));
    self_approval(&err, "dave", "ivan");

    let events = flow.run(&approver("erin", "ecab"), approve());
    assert_eq!(events.len(), 2, "approved and authorized: {events:?}");
    assert_eq!(flow.status(), "completed");
    assert!(flow.state.as_ref().unwrap().authorized());
    flow.refused(&approver("fred", "ecab"), approve(), Kind::Invalid);

    flow.run(&carl, review());
    assert_eq!(flow.status(), "reviewed");
    flow.run(&carl, EmergencyCommand::Close);
    assert_eq!(flow.status(), "closed");
    let record = flow.state.unwrap().to_record();
    assert_eq!((record.outcome, record.remediation), (Some(ChangeOutcome::Successful), Remediation::None));
}
