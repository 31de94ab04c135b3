//! Actors, roles, tenants and the role -> permitted-commands table.
//!
//! Every command carries an [`Actor`]. The actor's tenant scopes everything it
//! may see or reference; its roles decide which commands it may issue
//! ([`Permissions`], data with a default); its groups and delegations feed the
//! separation-of-duties rules of change approval.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, GroupId, TenantId};
use crate::vocabulary::text_enum;

text_enum!(
    /// What an actor is allowed to do, by job.
    Role {
        /// An end user: may raise incidents and change requests, and answer holds.
        Requester => "requester",
        /// Service desk / first line agent.
        Agent => "agent",
        /// Second or third line resolver.
        Resolver => "resolver",
        /// Incident manager: declares major incidents, manages parents and children.
        IncidentManager => "incident_manager",
        /// Problem manager.
        ProblemManager => "problem_manager",
        /// Change manager: assesses, schedules, reviews and closes changes.
        ChangeManager => "change_manager",
        /// Change advisory board member (approves normal changes).
        CabMember => "cab_member",
        /// Emergency CAB member (approves emergency changes).
        EmergencyCabMember => "emergency_cab_member",
        /// Implements changes.
        Implementer => "implementer",
        /// A monitoring or automation integration.
        Automation => "automation",
    }
);

/// Who issues a command: an identity in one tenant, with roles, group
/// memberships, and the actors it may act for as a delegate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's identity.
    pub id: ActorId,
    /// The one tenant the actor belongs to.
    pub tenant: TenantId,
    /// Roles held in that tenant.
    #[serde(default)]
    pub roles: BTreeSet<Role>,
    /// Groups the actor is a member of.
    #[serde(default)]
    pub groups: BTreeSet<GroupId>,
    /// Actors this actor may act for (it is their delegate).
    #[serde(default)]
    pub delegate_for: BTreeSet<ActorId>,
}

impl Actor {
    /// An actor with the given roles, no groups and no delegations.
    pub fn new(id: ActorId, tenant: TenantId, roles: impl IntoIterator<Item = Role>) -> Self {
        Actor { id, tenant, roles: roles.into_iter().collect(), groups: BTreeSet::new(), delegate_for: BTreeSet::new() }
    }

    /// Adds group memberships.
    pub fn with_groups(mut self, groups: impl IntoIterator<Item = GroupId>) -> Self {
        self.groups.extend(groups);
        self
    }

    /// Adds delegations: this actor may act for each of `principals`.
    pub fn with_delegations(mut self, principals: impl IntoIterator<Item = ActorId>) -> Self {
        self.delegate_for.extend(principals);
        self
    }

    /// Whether the actor is `person` or acts for `person` as a delegate.
    pub fn is_or_acts_for(&self, person: &ActorId) -> bool {
        &self.id == person || self.delegate_for.contains(person)
    }
}

/// The aggregate kinds, used to name commands in the permission table and in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// [`crate::incident::Incident`].
    Incident,
    /// [`crate::problem::Problem`].
    Problem,
    /// [`crate::change::StandardChange`].
    StandardChange,
    /// [`crate::change::NormalChange`].
    NormalChange,
    /// [`crate::change::EmergencyChange`].
    EmergencyChange,
}

impl AggregateKind {
    /// Every kind.
    pub const ALL: &'static [AggregateKind] = &[
        AggregateKind::Incident,
        AggregateKind::Problem,
        AggregateKind::StandardChange,
        AggregateKind::NormalChange,
        AggregateKind::EmergencyChange,
    ];

    /// Stable lower-case name (database column, error text).
    pub fn as_str(&self) -> &'static str {
        match self {
            AggregateKind::Incident => "incident",
            AggregateKind::Problem => "problem",
            AggregateKind::StandardChange => "standard_change",
            AggregateKind::NormalChange => "normal_change",
            AggregateKind::EmergencyChange => "emergency_change",
        }
    }

    /// Parses [`AggregateKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        AggregateKind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for AggregateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role -> permitted-commands table, as data.
///
/// Keys are `(aggregate kind, command name)`, the command names being each
/// command enum's `name()`. A command is permitted when any of the actor's roles
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// For each role, the commands it may issue.
    pub grants: BTreeMap<Role, BTreeSet<(AggregateKind, String)>>,
}

impl Permissions {
    /// Whether any role of `actor` may issue `command` on an aggregate of `kind`.
    pub fn permits(&self, actor: &Actor, kind: AggregateKind, command: &str) -> bool {
        // One key for every role (the set's keys are owned strings).
        let key = (kind, command.to_owned());
        actor.roles.iter().any(|role| self.grants.get(role).is_some_and(|set| set.contains(&key)))
    }

    fn grant(&mut self, role: Role, kind: AggregateKind, commands: &[&str]) {
        let set = self.grants.entry(role).or_default();
        set.extend(commands.iter().map(|c| (kind, (*c).to_owned())));
    }
}

impl Default for Permissions {
    fn default() -> Self {
        use AggregateKind as K;
        use Role as R;
        let mut p = Permissions { grants: BTreeMap::new() };
        let incident_work = [
            "open",
            "assign",
            "start",
            "hold",
            "resume",
            "resolve",
            "reopen",
            "close",
            "cancel",
            "acknowledge",
            "record_impact",
            "reprioritize",
            "escalate_tier",
            "link_problem",
            "link_change",
            "set_parent",
            "link_child",
            "cascade_resolve",
            "add_note",
            "correlate_alert",
            "propose_major",
            "complete_action",
        ];
        p.grant(R::Requester, K::Incident, &["open", "resume", "reopen", "close"]);
        p.grant(R::Agent, K::Incident, &incident_work);
        p.grant(R::Resolver, K::Incident, &incident_work);
        p.grant(R::IncidentManager, K::Incident, &incident_work);
        // Anyone working incidents proposes a major incident; the incident
        // manager declares it or declines the proposal (automation may
        // declare too: imports replay recorded declarations).
        p.grant(R::IncidentManager, K::Incident, &["declare_major", "decline_major", "record_review"]);
        p.grant(R::Automation, K::Incident, &incident_work);
        p.grant(R::Automation, K::Incident, &["declare_major", "record_review"]);
        let problem_work = [
            "open",
            "assess",
            "start_analysis",
            "record_known_error",
            "start_fix",
            "resolve",
            "reanalyze",
            "close",
            "link_incident",
        ];
        p.grant(R::ProblemManager, K::Problem, &problem_work);
        p.grant(R::Resolver, K::Problem, &["open", "link_incident"]);
        p.grant(R::Automation, K::Problem, &["open", "link_incident"]);
        p.grant(R::IncidentManager, K::Problem, &["open", "link_incident"]);
        for kind in [K::StandardChange, K::NormalChange, K::EmergencyChange] {
            p.grant(R::Requester, kind, &["create", "submit", "cancel"]);
            p.grant(R::Implementer, kind, &["create", "submit", "start", "complete", "advance_stage", "fail_stage"]);
            p.grant(R::Automation, kind, &["create", "submit", "start", "complete", "advance_stage", "fail_stage"]);
            p.grant(
                R::ChangeManager,
                kind,
                &["create", "submit", "assess", "schedule", "cancel", "review", "close", "record_after_the_fact"],
            );
        }
        p.grant(R::CabMember, K::NormalChange, &["approve", "reject"]);
        p.grant(R::EmergencyCabMember, K::EmergencyChange, &["approve", "reject"]);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor::new(ActorId::new("a").unwrap(), TenantId::new("t").unwrap(), roles.iter().copied())
    }

    #[test]
    fn default_table_grants_by_role() {
        let p = Permissions::default();
        assert!(p.permits(&actor(&[Role::CabMember]), AggregateKind::NormalChange, "approve"));
        assert!(!p.permits(&actor(&[Role::CabMember]), AggregateKind::EmergencyChange, "approve"));
        assert!(!p.permits(&actor(&[Role::Requester]), AggregateKind::Incident, "declare_major"));
        assert!(p.permits(&actor(&[Role::Requester, Role::IncidentManager]), AggregateKind::Incident, "declare_major"));
        assert!(!p.permits(&actor(&[]), AggregateKind::Incident, "open"));
    }

    #[test]
    fn delegation_counts_as_the_principal() {
        let a = actor(&[]).with_delegations([ActorId::new("boss").unwrap()]);
        assert!(a.is_or_acts_for(&ActorId::new("boss").unwrap()));
        assert!(a.is_or_acts_for(&ActorId::new("a").unwrap()));
        assert!(!a.is_or_acts_for(&ActorId::new("other").unwrap()));
    }
}
