//! Who may read what: the one rule every read path applies (the store's
//! load, history, list, facets, queue and search), always within the actor's
//! tenant.
//!
//! [`ReadPolicy`] is data with a default, like
//! [`Permissions`](crate::Permissions) for commands. It turns an [`Actor`]
//! into a [`ReadScope`]: the kinds the actor reads tenant-wide, the groups
//! and the person whose assigned work it reads, the people whose requests
//! it reads, and whether it reads private work notes. A record is visible
//! when any of these admits it:
//!
//! * its kind is one the actor's roles read tenant-wide (a manager, an
//!   approver, an integration);
//! * the actor holds a team role and the record is assigned to one of the
//!   actor's groups, or to the actor;
//! * the record is in no group yet and its kind is one the actor's roles
//!   triage (the intake: service desk agents read unassigned incidents, so
//!   they can pick up what requesters raise);
//! * the record's requester is the actor or someone the actor acts for.
//!
//! So a requester sees their own tickets, and an agent their groups' and the
//! unassigned incidents. Private
//! work notes are shown only to roles above a requester; a reader without
//! them gets the record's history without its private events
//! ([`Aggregate::is_private`](crate::Aggregate::is_private)).
//!
//! ```
//! use itsm_core::read::ReadPolicy;
//! use itsm_core::id::{ActorId, GroupId, TenantId};
//! use itsm_core::{Actor, AggregateKind, Role};
//!
//! let tenant = TenantId::new("acme").unwrap();
//! let ann = Actor::new(ActorId::new("ann").unwrap(), tenant.clone(), [Role::Requester]);
//! let scope = ReadPolicy::default().scope(&ann);
//! assert!(scope.sees(&tenant, AggregateKind::Incident, None, None, Some("ann")));
//! assert!(!scope.sees(&tenant, AggregateKind::Incident, Some("network"), None, Some("bob")));
//! assert!(!scope.private_notes());
//!
//! let agent = Actor::new(ActorId::new("cy").unwrap(), tenant.clone(), [Role::Agent])
//!     .with_groups([GroupId::new("network").unwrap()]);
//! let scope = ReadPolicy::default().scope(&agent);
//! assert!(scope.sees(&tenant, AggregateKind::Incident, Some("network"), None, Some("bob")));
//! assert!(scope.private_notes());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, AggregateKind, Role};
use crate::aggregate::Summary;
use crate::id::{ActorId, GroupId, TenantId};

/// Which roles read what (see the module docs). Data with a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPolicy {
    /// For each role, the kinds it reads throughout its tenant.
    pub tenant_wide: BTreeMap<Role, BTreeSet<AggregateKind>>,
    /// Roles that read what is assigned to their groups or to themselves.
    pub team: BTreeSet<Role>,
    /// For each role, the kinds whose records in no group yet it reads (the
    /// intake it triages).
    #[serde(default)]
    pub intake: BTreeMap<Role, BTreeSet<AggregateKind>>,
    /// Roles that read private work notes.
    pub private_notes: BTreeSet<Role>,
}

impl Default for ReadPolicy {
    /// Incident and problem managers read incidents and problems
    /// tenant-wide; change managers every change; CAB members the normal,
    /// emergency CAB members the emergency changes they approve; implementers
    /// the emergency changes (one names its implementer only when work
    /// starts); automation everything. Agents, resolvers and implementers read their groups'
    /// work, and agents the unassigned incidents (the intake). Every role
    /// but the requester reads private notes.
    fn default() -> Self {
        use AggregateKind as K;
        use Role as R;
        let changes = [K::StandardChange, K::NormalChange, K::EmergencyChange];
        let all = [K::Incident, K::Problem, K::StandardChange, K::NormalChange, K::EmergencyChange];
        let mut tenant_wide: BTreeMap<Role, BTreeSet<AggregateKind>> = BTreeMap::new();
        tenant_wide.insert(R::IncidentManager, [K::Incident, K::Problem].into());
        tenant_wide.insert(R::ProblemManager, [K::Incident, K::Problem].into());
        tenant_wide.insert(R::ChangeManager, changes.into());
        tenant_wide.insert(R::CabMember, [K::NormalChange].into());
        tenant_wide.insert(R::EmergencyCabMember, [K::EmergencyChange].into());
        // An emergency change names its implementer only when work starts:
        // whoever is on call must read it before.
        tenant_wide.insert(R::Implementer, [K::EmergencyChange].into());
        tenant_wide.insert(R::Automation, all.into());
        let team = [R::Agent, R::Resolver, R::Implementer, R::IncidentManager, R::ProblemManager, R::ChangeManager];
        let private_notes = [
            R::Agent,
            R::Resolver,
            R::IncidentManager,
            R::ProblemManager,
            R::ChangeManager,
            R::CabMember,
            R::EmergencyCabMember,
            R::Implementer,
            R::Automation,
        ];
        let intake = [(R::Agent, [K::Incident].into())].into();
        ReadPolicy { tenant_wide, team: team.into(), intake, private_notes: private_notes.into() }
    }
}

impl ReadPolicy {
    /// What `actor` may read.
    pub fn scope(&self, actor: &Actor) -> ReadScope {
        let kinds: BTreeSet<AggregateKind> =
            actor.roles.iter().filter_map(|r| self.tenant_wide.get(r)).flatten().copied().collect();
        let team = actor.roles.iter().any(|r| self.team.contains(r));
        let mut requesters = actor.delegate_for.clone();
        requesters.insert(actor.id.clone());
        ReadScope {
            tenant: actor.tenant.clone(),
            kinds,
            groups: if team { actor.groups.clone() } else { BTreeSet::new() },
            intake: actor.roles.iter().filter_map(|r| self.intake.get(r)).flatten().copied().collect(),
            assignee: team.then(|| actor.id.clone()),
            requesters,
            private_notes: actor.roles.iter().any(|r| self.private_notes.contains(r)),
        }
    }
}

/// What one actor may read (made by [`ReadPolicy::scope`]); its fields are
/// what a store turns into a query condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadScope {
    /// The actor's tenant: nothing outside it is visible.
    pub tenant: TenantId,
    /// Kinds read throughout the tenant.
    pub kinds: BTreeSet<AggregateKind>,
    /// Groups whose assigned work is visible (empty without a team role).
    pub groups: BTreeSet<GroupId>,
    /// Kinds whose records in no group are visible (the intake).
    pub intake: BTreeSet<AggregateKind>,
    /// The actor, whose assigned work is visible (`None` without a team role).
    pub assignee: Option<ActorId>,
    /// People whose requests are visible: the actor and those it acts for.
    pub requesters: BTreeSet<ActorId>,
    /// Whether private work notes are visible.
    pub private_notes: bool,
}

impl ReadScope {
    /// Whether a record of `kind` in `tenant`, assigned to `group` and
    /// `assignee`, requested by `requester`, is visible.
    pub fn sees(
        &self,
        tenant: &TenantId,
        kind: AggregateKind,
        group: Option<&str>,
        assignee: Option<&str>,
        requester: Option<&str>,
    ) -> bool {
        tenant == &self.tenant
            && (self.kinds.contains(&kind)
                || group.is_some_and(|g| self.groups.iter().any(|m| m.as_str() == g))
                || (group.is_none() && self.intake.contains(&kind))
                || assignee.is_some_and(|a| self.assignee.as_ref().is_some_and(|me| me.as_str() == a))
                || requester.is_some_and(|r| self.requesters.iter().any(|p| p.as_str() == r)))
    }

    /// Whether a record with this summary is visible.
    pub fn sees_summary(&self, tenant: &TenantId, kind: AggregateKind, summary: &Summary) -> bool {
        self.sees(
            tenant,
            kind,
            summary.group.as_ref().map(GroupId::as_str),
            summary.assignee.as_ref().map(ActorId::as_str),
            summary.requester.as_ref().map(ActorId::as_str),
        )
    }

    /// Whether every record of `kind` in the tenant is visible.
    pub fn sees_all(&self, kind: AggregateKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether private work notes are visible.
    pub fn private_notes(&self) -> bool {
        self.private_notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(roles: &[Role]) -> Actor {
        Actor::new(ActorId::new("ann").unwrap(), TenantId::new("t").unwrap(), roles.iter().copied())
    }

    #[test]
    fn another_tenant_is_never_visible_whatever_the_roles() {
        let scope = ReadPolicy::default().scope(&actor(&[Role::Automation]));
        let other = TenantId::new("u").unwrap();
        assert!(!scope.sees(&other, AggregateKind::Incident, None, None, Some("ann")));
        assert!(scope.sees(&TenantId::new("t").unwrap(), AggregateKind::Incident, None, None, None));
    }

    #[test]
    fn a_requester_with_groups_does_not_read_the_groups_work() {
        let a = actor(&[Role::Requester]).with_groups([GroupId::new("db").unwrap()]);
        let scope = ReadPolicy::default().scope(&a);
        let t = TenantId::new("t").unwrap();
        assert!(!scope.sees(&t, AggregateKind::Incident, Some("db"), Some("ann"), Some("bob")));
        assert!(scope.groups.is_empty() && scope.assignee.is_none());
    }

    #[test]
    fn a_delegate_reads_the_requests_of_whom_it_acts_for() {
        let a = actor(&[Role::Requester]).with_delegations([ActorId::new("boss").unwrap()]);
        let scope = ReadPolicy::default().scope(&a);
        let t = TenantId::new("t").unwrap();
        assert!(scope.sees(&t, AggregateKind::NormalChange, None, None, Some("boss")));
        assert!(!scope.sees(&t, AggregateKind::NormalChange, None, None, Some("bob")));
    }
}
