//! Shared fixtures for the workflow tests: instants, ids, the actor roster
//! (roles, groups, delegations, a second tenant), the domain configuration the
//! machines run under, a typed classification of rejections, and the checks
//! every rejection's `Display` text must pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::sync::LazyLock;

use itsm_core::change::approval::ApprovalError;
use itsm_core::change::{ApprovalStep, ChangeError, ChangeSpec, Quorum, Stage, Strategy as Rollout};
use itsm_core::id::{ActorId, ChangeId, GroupId, ServiceId, TenantId, Text};
use itsm_core::incident::IncidentError;
use itsm_core::problem::ProblemError;
use itsm_core::vocabulary::{ChangeType, Risk};
use itsm_core::{Actor, DomainConfig, Role, Timestamp};
use proptest::prelude::*;

/// 2026-03-02T09:00:00Z: every test instant is an offset in seconds from it.
pub const BASE: i64 = 1_772_442_000;

/// The instant `secs` seconds after [`BASE`].
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(BASE + secs).expect("test instants are representable")
}

/// Seconds after [`BASE`] of `at`.
pub fn secs(at: Timestamp) -> i64 {
    at.unix_secs() - BASE
}

/// The tenant every aggregate under test belongs to.
pub fn tenant_a() -> TenantId {
    TenantId::new("acme").unwrap()
}

/// The other tenant.
pub fn tenant_b() -> TenantId {
    TenantId::new("globex").unwrap()
}

/// An actor id.
pub fn aid(name: &str) -> ActorId {
    ActorId::new(name).unwrap()
}

/// A group id.
pub fn gid(name: &str) -> GroupId {
    GroupId::new(name).unwrap()
}

/// A free text.
pub fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

/// A change spec with the given id and strategy, rolling back by itself.
pub fn spec(id: &str, strategy: Rollout) -> ChangeSpec {
    ChangeSpec {
        id: ChangeId::new(id).unwrap(),
        service: ServiceId::new("payments").unwrap(),
        title: text("upgrade the card gateway"),
        strategy,
        // Rolls back by itself, so that `fail_stage` is allowed where the
        // tables say (the model tests draw `auto_rollback` themselves).
        auto_rollback: true,
    }
}

/// A valid two-stage canary roll-out.
pub fn canary() -> Rollout {
    Rollout::Phased {
        stages: vec![Stage { name: "canary".into(), percent: 10 }, Stage { name: "all".into(), percent: 100 }],
    }
}

/// Every actor the model tests draw from. All are in tenant `acme` except
/// `mallory` (tenant `globex`, every role and group).
///
/// - `req`: requester who is also a CAB / ECAB member (separation of duties via a group);
/// - `cab3`: CAB member acting as `req`'s delegate;
/// - `cab4`: CAB member listed in the policy who claims no group (the list decides);
/// - `ecab2`: ECAB member acting as `impl`'s delegate;
/// - `impl2`: implementer who also sits on the CAB and the ECAB;
/// - `claimer`: holds the approver roles and claims every group but is listed
///   in none (refused where the policy lists members, counted for `sre`);
/// - `deputy`: holds the approver roles, claims no group, and acts for the
///   listed members `cab2` and `ecab3` (a delegate of a member is no member).
///
/// `ecab1`, `ecab3` and `claimer` claim `sre`, whose member list is empty.
pub static ROSTER: LazyLock<Vec<Actor>> = LazyLock::new(|| {
    use Role as R;
    let a = |id: &str, roles: &[Role], groups: &[&str], delegate_for: &[&str]| {
        Actor::new(aid(id), tenant_a(), roles.iter().copied())
            .with_groups(groups.iter().map(|g| gid(g)))
            .with_delegations(delegate_for.iter().map(|d| aid(d)))
    };
    let all_roles: Vec<Role> = Role::ALL.to_vec();
    vec![
        a("req", &[R::Requester, R::CabMember, R::EmergencyCabMember], &["cab", "ecab", "change-managers"], &[]),
        a("agent", &[R::Agent], &[], &[]),
        a("resolver", &[R::Resolver], &[], &[]),
        a("im", &[R::IncidentManager], &[], &[]),
        a("pm", &[R::ProblemManager], &[], &[]),
        a("cm", &[R::ChangeManager], &[], &[]),
        a("cab1", &[R::CabMember], &["cab", "change-managers"], &[]),
        a("cab2", &[R::CabMember], &["cab"], &[]),
        a("cab3", &[R::CabMember], &["cab"], &["req"]),
        a("cab4", &[R::CabMember], &[], &[]),
        a("ecab1", &[R::EmergencyCabMember], &["ecab", "sre"], &[]),
        a("ecab2", &[R::EmergencyCabMember], &["ecab"], &["impl"]),
        a("ecab3", &[R::EmergencyCabMember], &["ecab", "sre"], &[]),
        a("claimer", &[R::CabMember, R::EmergencyCabMember], &["cab", "ecab", "change-managers", "sre"], &[]),
        a("deputy", &[R::CabMember, R::EmergencyCabMember], &[], &["cab2", "ecab3"]),
        a("impl", &[R::Implementer], &[], &[]),
        a("impl2", &[R::Implementer, R::CabMember, R::EmergencyCabMember], &["cab", "ecab"], &[]),
        a("bot", &[R::Automation], &[], &[]),
        a("nobody", &[], &[], &[]),
        Actor::new(aid("mallory"), tenant_b(), all_roles)
            .with_groups(["cab", "ecab", "change-managers", "sre"].map(gid))
            .with_delegations([aid("req"), aid("impl")]),
    ]
});

/// The roster actor called `name`.
pub fn actor(name: &str) -> &'static Actor {
    ROSTER.iter().find(|a| a.id.as_str() == name).unwrap_or_else(|| panic!("no actor {name} in the roster"))
}

/// The configuration the model and table tests run under: the default
/// permissions, priority matrix and catalogue, and an approval policy that
/// exercises every quorum rule and both ways of deciding membership.
///
/// Approvals: normal low -> nothing (authorized on assessment); normal
/// moderate -> cab AtLeast(2); normal high -> cab Percent(60) and
/// change-managers All; emergency low -> nothing (authorized on submission);
/// emergency moderate -> sre Any; emergency high -> ecab Percent(50).
///
/// Members ([`MEMBERS`]) are listed for cab, change-managers and ecab, and
/// that list decides membership whatever an actor claims (`claimer` claims
/// them all and is in none; `cab4` claims nothing and is in cab); sre's list
/// is empty, so the groups an actor claims decide.
pub static CONFIG: LazyLock<DomainConfig> = LazyLock::new(|| {
    let mut config = DomainConfig::default();
    let step = |g: &str, quorum| ApprovalStep { group: gid(g), quorum };
    let mut policy = itsm_core::change::ApprovalPolicy { rules: BTreeMap::new(), members: BTreeMap::new() };
    policy.set(ChangeType::Normal, Risk::Moderate, vec![step("cab", Quorum::AtLeast(2))]);
    policy.set(
        ChangeType::Normal,
        Risk::High,
        vec![step("cab", Quorum::Percent(60)), step("change-managers", Quorum::All)],
    );
    policy.set(ChangeType::Emergency, Risk::Moderate, vec![step("sre", Quorum::Any)]);
    policy.set(ChangeType::Emergency, Risk::High, vec![step("ecab", Quorum::Percent(50))]);
    for (group, members) in MEMBERS {
        policy.members.insert(gid(group), members.iter().map(|m| aid(m)).collect::<BTreeSet<ActorId>>());
    }
    config.approvals = policy;
    config
});

/// The approver groups' members as listed in [`CONFIG`]'s policy.
pub const MEMBERS: &[(&str, &[&str])] = &[
    ("cab", &["req", "cab1", "cab2", "cab3", "cab4", "impl2"]),
    ("change-managers", &["req", "cab1"]),
    ("ecab", &["req", "ecab1", "ecab2", "ecab3", "impl2"]),
    ("sre", &[]),
];

/// The shared configuration.
pub fn config() -> &'static DomainConfig {
    &CONFIG
}

/// Which approval refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ap {
    /// Requester or implementer (or their delegate).
    SelfApproval,
    /// The group is not one of the change's steps.
    NotAnApproverGroup,
    /// The actor is not in the group.
    NotInGroup,
    /// Second vote for the same group.
    AlreadyApproved,
}

/// The kind of a rejection, across the three error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No transition for (state, command).
    InvalidTransition,
    /// A data-dependent guard refused.
    Invalid,
    /// Separation of duties / group membership refused an approval.
    Approval(Ap),
    /// No role permits the command.
    Forbidden,
    /// Missing, or another tenant's.
    NotFound,
    /// A creation command on an existing aggregate.
    AlreadyExists,
    /// A service's schedule refused the window or asked for an override.
    Schedule,
}

impl Kind {
    /// Whether a guard (not the table) refused.
    pub fn is_guard(&self) -> bool {
        matches!(self, Kind::Invalid | Kind::Approval(_))
    }
}

/// Maps an error type onto [`Kind`].
pub trait Classify: std::error::Error {
    /// The kind of this rejection.
    fn kind(&self) -> Kind;
}

impl Classify for IncidentError {
    fn kind(&self) -> Kind {
        match self {
            IncidentError::InvalidTransition { .. } => Kind::InvalidTransition,
            IncidentError::Invalid { .. } => Kind::Invalid,
            IncidentError::Forbidden { .. } => Kind::Forbidden,
            IncidentError::NotFound { .. } => Kind::NotFound,
            IncidentError::AlreadyExists { .. } => Kind::AlreadyExists,
        }
    }
}

impl Classify for ProblemError {
    fn kind(&self) -> Kind {
        match self {
            ProblemError::InvalidTransition { .. } => Kind::InvalidTransition,
            ProblemError::Invalid { .. } => Kind::Invalid,
            ProblemError::Forbidden { .. } => Kind::Forbidden,
            ProblemError::NotFound { .. } => Kind::NotFound,
            ProblemError::AlreadyExists { .. } => Kind::AlreadyExists,
        }
    }
}

impl Classify for ChangeError {
    fn kind(&self) -> Kind {
        match self {
            ChangeError::InvalidTransition { .. } => Kind::InvalidTransition,
            ChangeError::Invalid { .. } => Kind::Invalid,
            ChangeError::Approval { source, .. } => Kind::Approval(match source {
                ApprovalError::SelfApproval { .. } => Ap::SelfApproval,
                ApprovalError::NotInGroup { .. } => Ap::NotInGroup,
                ApprovalError::NotAnApproverGroup { .. } => Ap::NotAnApproverGroup,
                ApprovalError::AlreadyApproved { .. } => Ap::AlreadyApproved,
            }),
            ChangeError::Forbidden { .. } => Kind::Forbidden,
            ChangeError::NotFound { .. } => Kind::NotFound,
            ChangeError::AlreadyExists { .. } => Kind::AlreadyExists,
            ChangeError::Schedule { .. } => Kind::Schedule,
        }
    }
}

/// Checks what a rejection's text names. `existing` is the aggregate's (id,
/// status) when it exists (for the actor's tenant): a `Forbidden` text names
/// the state (`absent` before creation), an `AlreadyExists` text names the
/// refused creation command and the state.
pub fn check_display<E: Classify + Display>(err: &E, existing: Option<(&str, &str)>, command: &str, actor: &Actor) {
    let text = err.to_string();
    let names = |needle: &str| assert!(text.contains(needle), "`{text}` ({:?}) does not name `{needle}`", err.kind());
    match err.kind() {
        Kind::InvalidTransition | Kind::Invalid | Kind::Approval(_) | Kind::Schedule => {
            names(command);
            if let Some((id, status)) = existing {
                names(id);
                names(status);
            }
        }
        Kind::Forbidden => {
            names(command);
            names(actor.id.as_str());
            match existing {
                Some((id, status)) => {
                    names(id);
                    names(&format!("({status})"));
                }
                None => names("(absent)"),
            }
        }
        Kind::NotFound => {
            names(command);
            // Another tenant's aggregate must be indistinguishable from a missing one.
            if let Some((id, _)) = existing {
                assert!(!text.contains(id), "`{text}` leaks the id of another tenant's {id}");
            }
        }
        Kind::AlreadyExists => {
            let (id, status) = existing.expect("AlreadyExists only for an existing aggregate");
            names(id);
            names(&format!("({status})"));
            // The refused creation command, as a word of its own (`submit`
            // must not be found inside the state `submitted`).
            let words: Vec<&str> = text.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
            assert!(words.contains(&command), "`{text}` does not name the creation command `{command}`");
        }
    }
}

/// Free text, sometimes empty or blank (guards that need content refuse those).
pub fn text_strategy() -> BoxedStrategy<Text> {
    prop_oneof![
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        6 => "[a-zA-Z0-9 ]{1,12}",
        1 => Just("<b>☃</b> ' OR 1=1--".to_owned()),
    ]
    .prop_map(|s| Text::new(s).unwrap())
    .boxed()
}

/// A roll-out strategy, valid most of the time.
pub fn strategy_strategy() -> BoxedStrategy<Rollout> {
    let stage = (0u8..=110).prop_map(|p| Stage { name: format!("s{p}"), percent: p });
    prop_oneof![
        3 => Just(Rollout::BigBang),
        2 => Just(Rollout::BlueGreen),
        2 => (0u8..=110).prop_map(|batch_percent| Rollout::Rolling { batch_percent }),
        3 => Just(canary()),
        2 => Just(Rollout::Phased {
            stages: vec![
                Stage { name: "1%".into(), percent: 1 },
                Stage { name: "25%".into(), percent: 25 },
                Stage { name: "all".into(), percent: 100 },
            ],
        }),
        2 => proptest::collection::vec(stage, 0..4).prop_map(|stages| Rollout::Phased { stages }),
    ]
    .boxed()
}

/// The model's own reading of a strategy's validity.
pub fn strategy_ok(strategy: &Rollout) -> bool {
    match strategy {
        Rollout::BigBang | Rollout::BlueGreen => true,
        Rollout::Rolling { batch_percent } => (1..=100).contains(batch_percent),
        Rollout::Phased { stages } => {
            !stages.is_empty()
                && stages[0].percent >= 1
                && stages.windows(2).all(|w| w[0].percent < w[1].percent)
                && stages.last().is_some_and(|s| s.percent == 100)
        }
    }
}

/// The model's stage count.
pub fn stage_count(strategy: &Rollout) -> usize {
    match strategy {
        Rollout::Phased { stages } => stages.len(),
        Rollout::BigBang | Rollout::BlueGreen | Rollout::Rolling { .. } => 1,
    }
}
