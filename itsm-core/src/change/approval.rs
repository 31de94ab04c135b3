//! Change approval policy as data, quorum rules and separation of duties.
//!
//! The policy maps (change type, risk) to approval steps; each step names an
//! approver group and a quorum. An approval is cast by an actor for one group;
//! it counts only when the actor is a member of that group and neither the
//! actor nor anyone it acts for (as a delegate) is the change's requester or
//! implementer. Approvals are personal: acting as the delegate of a member
//! does not make an actor a member. When the policy lists a group's members,
//! that list decides membership (the actor's own claimed groups are not
//! trusted); otherwise the actor's groups do.
//!
//! Known limit: `All` and `Percent` count the listed members minus the
//! requester and the implementer; a listed member who is the *delegate* of the
//! requester or implementer is refused when voting but still counted in the
//! denominator (the policy does not know delegations), so such a group needs
//! `AtLeast(n)` instead. Likewise `All` and `Percent` on a group whose members
//! the policy does not list have no group size to count, so one approval
//! meets them: list the members of every group used with those rules.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::id::{ActorId, GroupId};
use crate::vocabulary::{ChangeType, Risk};

/// How many approvals a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", content = "value", rename_all = "snake_case")]
pub enum Quorum {
    /// One approval from the group.
    Any,
    /// Every member of the group (as listed in the policy's membership).
    All,
    /// At least N approvals.
    AtLeast(u32),
    /// At least this percentage (1..=100) of the group's members, rounded up.
    Percent(u8),
}

impl Quorum {
    /// Approvals needed from a group of `members` eligible people.
    ///
    /// `members` counts the group's members who are allowed to approve this
    /// change (the requester and implementer excluded), so a rule that cannot
    /// be met is visible as `needed > members`.
    pub fn needed(&self, members: u32) -> u32 {
        match *self {
            Quorum::Any => 1,
            Quorum::All => members.max(1),
            Quorum::AtLeast(n) => n.max(1),
            Quorum::Percent(p) => {
                let p = u64::from(p.clamp(1, 100));
                let needed = (u64::from(members) * p).div_ceil(100);
                u32::try_from(needed.max(1)).unwrap_or(u32::MAX)
            }
        }
    }
}

/// One approval step: a group and its quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalStep {
    /// The approving group.
    pub group: GroupId,
    /// How many of its members must approve.
    pub quorum: Quorum,
}

/// Change type x risk -> approval steps, plus group memberships for quorum
/// rules that depend on group size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Steps per (type, risk). A missing entry means no approval is needed.
    pub rules: BTreeMap<String, Vec<ApprovalStep>>,
    /// Members of each approver group (used by `All` and `Percent`).
    #[serde(default)]
    pub members: BTreeMap<GroupId, BTreeSet<ActorId>>,
}

impl ApprovalPolicy {
    fn key(change_type: ChangeType, risk: Risk) -> String {
        format!("{}/{}", change_type.as_str(), risk.as_str())
    }

    /// Sets the steps for a (type, risk).
    pub fn set(&mut self, change_type: ChangeType, risk: Risk, steps: Vec<ApprovalStep>) {
        self.rules.insert(Self::key(change_type, risk), steps);
    }

    /// The steps required for a (type, risk).
    pub fn steps(&self, change_type: ChangeType, risk: Risk) -> &[ApprovalStep] {
        self.rules.get(&Self::key(change_type, risk)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Eligible member count of `group` for a change with these requester and implementer.
    pub fn eligible_members(&self, group: &GroupId, requester: &ActorId, implementer: Option<&ActorId>) -> u32 {
        let count = self
            .members
            .get(group)
            .map(|m| m.iter().filter(|a| *a != requester && Some(*a) != implementer).count())
            .unwrap_or(0);
        u32::try_from(count).unwrap_or(u32::MAX)
    }
}

impl Default for ApprovalPolicy {
    /// ServiceNow-like defaults: normal low risk -> change managers (any);
    /// normal moderate / high -> CAB (any / 50%); emergency -> emergency CAB (any).
    fn default() -> Self {
        let group = |name: &str| GroupId::new(name).expect("static group names are valid");
        let step = |name: &str, quorum| ApprovalStep { group: group(name), quorum };
        let mut p = ApprovalPolicy { rules: BTreeMap::new(), members: BTreeMap::new() };
        p.set(ChangeType::Normal, Risk::Low, vec![step("change-managers", Quorum::Any)]);
        p.set(ChangeType::Normal, Risk::Moderate, vec![step("cab", Quorum::Any)]);
        p.set(ChangeType::Normal, Risk::High, vec![step("cab", Quorum::AtLeast(2))]);
        for risk in Risk::ALL {
            p.set(ChangeType::Emergency, *risk, vec![step("ecab", Quorum::Any)]);
        }
        p
    }
}

/// Why an approval was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// The approver is the requester or implementer, or acts for one of them.
    #[error("{approver} may not approve a change they requested or implement (acting for {principal})")]
    SelfApproval {
        /// Who tried to approve.
        approver: ActorId,
        /// The requester or implementer it is, or acts for.
        principal: ActorId,
    },
    /// The approver is not a member of the group it approves for.
    #[error("{approver} is not a member of approver group {group}")]
    NotInGroup {
        /// Who tried to approve.
        approver: ActorId,
        /// The group.
        group: GroupId,
    },
    /// The group is not one of this change's approval steps.
    #[error("group {group} is not an approver of this change")]
    NotAnApproverGroup {
        /// The group.
        group: GroupId,
    },
    /// The approver already voted for this group.
    #[error("{approver} already approved for group {group}")]
    AlreadyApproved {
        /// Who voted.
        approver: ActorId,
        /// The group.
        group: GroupId,
    },
}

/// Checks that `actor` may cast an approval for `group` on a change with this
/// requester and implementer. Covers the direct path, the group path (the
/// group membership is checked against the policy's member list when it has
/// one, never trusted from the command) and the delegate path (an actor acting
/// for the requester is the requester).
pub fn check_approver(
    policy: &ApprovalPolicy,
    actor: &Actor,
    group: &GroupId,
    steps: &[ApprovalStep],
    requester: &ActorId,
    implementer: Option<&ActorId>,
) -> Result<(), ApprovalError> {
    for principal in std::iter::once(requester).chain(implementer) {
        if actor.is_or_acts_for(principal) {
            return Err(ApprovalError::SelfApproval { approver: actor.id.clone(), principal: principal.clone() });
        }
    }
    if !steps.iter().any(|s| &s.group == group) {
        return Err(ApprovalError::NotAnApproverGroup { group: group.clone() });
    }
    let member = match policy.members.get(group) {
        Some(listed) if !listed.is_empty() => listed.contains(&actor.id),
        Some(_) | None => actor.groups.contains(group),
    };
    if !member {
        return Err(ApprovalError::NotInGroup { approver: actor.id.clone(), group: group.clone() });
    }
    Ok(())
}

/// Whether every step's quorum is met by `votes` (group -> approvers).
pub fn quorum_met(
    policy: &ApprovalPolicy,
    steps: &[ApprovalStep],
    votes: &BTreeMap<GroupId, BTreeSet<ActorId>>,
    requester: &ActorId,
    implementer: Option<&ActorId>,
) -> bool {
    steps.iter().all(|step| {
        let got = votes.get(&step.group).map(BTreeSet::len).unwrap_or(0);
        let eligible = policy.eligible_members(&step.group, requester, implementer);
        u32::try_from(got).unwrap_or(u32::MAX) >= step.quorum.needed(eligible)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::TenantId;

    #[test]
    fn quorum_arithmetic() {
        assert_eq!(Quorum::Any.needed(7), 1);
        assert_eq!(Quorum::All.needed(7), 7);
        assert_eq!(Quorum::All.needed(0), 1);
        assert_eq!(Quorum::AtLeast(3).needed(7), 3);
        assert_eq!(Quorum::Percent(50).needed(7), 4);
        assert_eq!(Quorum::Percent(50).needed(8), 4);
        assert_eq!(Quorum::Percent(100).needed(3), 3);
        assert_eq!(Quorum::Percent(1).needed(0), 1);
    }

    #[test]
    fn self_approval_is_refused_directly_and_by_delegate() {
        let g = GroupId::new("cab").unwrap();
        let steps = [ApprovalStep { group: g.clone(), quorum: Quorum::Any }];
        let req = ActorId::new("req").unwrap();
        let tenant = TenantId::new("t").unwrap();
        let direct = Actor::new(req.clone(), tenant.clone(), []).with_groups([g.clone()]);
        assert!(matches!(
            check_approver(&ApprovalPolicy::default(), &direct, &g, &steps, &req, None),
            Err(ApprovalError::SelfApproval { .. })
        ));
        let delegate =
            Actor::new(ActorId::new("d").unwrap(), tenant, []).with_groups([g.clone()]).with_delegations([req.clone()]);
        assert!(matches!(
            check_approver(&ApprovalPolicy::default(), &delegate, &g, &steps, &req, None),
            Err(ApprovalError::SelfApproval { .. })
        ));
    }
}
