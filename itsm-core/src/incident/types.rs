//! The incident's states and the data each carries: the fieldless status, the
//! assignment, hold, resolution, closure and cancellation, and the
//! major-incident declaration.

use serde::{Deserialize, Serialize};

use crate::id::{ActorId, GroupId, IncidentId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{HoldReason, ResolvedBy, text_enum};

text_enum!(
    /// How an incident was resolved.
    ResolutionCode {
        /// Fixed permanently.
        Fixed => "fixed",
        /// Service restored with a workaround; the cause remains.
        Workaround => "workaround",
        /// No fault found.
        NoFaultFound => "no_fault_found",
        /// A duplicate of another incident.
        Duplicate => "duplicate",
        /// Resolved by the caller.
        ResolvedByCaller => "resolved_by_caller",
        /// Resolved together with its parent incident.
        ParentResolved => "parent_resolved",
    }
);

text_enum!(
    /// The incident's state, without its data: a database column, error text.
    IncidentStatus {
        /// Registered, not yet assigned.
        New => "new",
        /// Assigned to a group (and maybe a person).
        Assigned => "assigned",
        /// Being worked on.
        InProgress => "in_progress",
        /// Waiting, with a reason.
        OnHold => "on_hold",
        /// Service restored and resolution recorded.
        Resolved => "resolved",
        /// Closed; terminal.
        Closed => "closed",
        /// Cancelled; terminal.
        Cancelled => "cancelled",
    }
);

/// Who an incident is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The support group.
    pub group: GroupId,
    /// The person, if one took it.
    pub assignee: Option<ActorId>,
}

/// Data of the in-progress state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// The assignment, if any (work may start before assignment).
    pub assignment: Option<Assignment>,
}

/// Data of the on-hold state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnHold {
    /// Why it waits.
    pub reason: HoldReason,
    /// Since when.
    pub since: Timestamp,
    /// The assignment kept while waiting.
    pub assignment: Option<Assignment>,
}

/// Data of the resolved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// When it was resolved.
    pub at: Timestamp,
    /// How.
    pub code: ResolutionCode,
    /// By whom (tier, automation, vendor).
    pub resolved_by: ResolvedBy,
    /// When service was restored (at or before `at`).
    pub restored_at: Timestamp,
    /// The parent whose resolution cascaded here, if any.
    pub cascaded_from: Option<IncidentId>,
    /// The assignment before resolution, restored on reopen.
    pub assignment: Option<Assignment>,
}

/// Data of the closed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedIncident {
    /// When it was closed.
    pub at: Timestamp,
    /// The resolution it was closed with.
    pub resolution: Resolution,
}

/// Data of the cancelled state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelledIncident {
    /// When it was cancelled.
    pub at: Timestamp,
    /// Why.
    pub reason: Text,
}

/// The incident's state; each variant carries exactly that state's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IncidentState {
    /// Registered, not assigned.
    New,
    /// Assigned.
    Assigned(Assignment),
    /// Being worked on.
    InProgress(Work),
    /// Waiting with a reason.
    OnHold(OnHold),
    /// Resolved.
    Resolved(Resolution),
    /// Closed.
    Closed(ClosedIncident),
    /// Cancelled.
    Cancelled(CancelledIncident),
}

impl IncidentState {
    /// The fieldless status.
    pub fn status(&self) -> IncidentStatus {
        match self {
            IncidentState::New => IncidentStatus::New,
            IncidentState::Assigned(_) => IncidentStatus::Assigned,
            IncidentState::InProgress(_) => IncidentStatus::InProgress,
            IncidentState::OnHold(_) => IncidentStatus::OnHold,
            IncidentState::Resolved(_) => IncidentStatus::Resolved,
            IncidentState::Closed(_) => IncidentStatus::Closed,
            IncidentState::Cancelled(_) => IncidentStatus::Cancelled,
        }
    }
}

/// A proposal to handle an incident as major, awaiting a person who may
/// declare it (an incident manager): by an agent, a resolver or automation
/// (an escalation rule's `propose_major_incident`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MajorCandidate {
    /// When it was proposed.
    pub at: Timestamp,
    /// Who proposed it.
    pub by: ActorId,
    /// Why.
    pub reason: Text,
}

/// Most action items one post-incident review may list.
pub const MAX_REVIEW_ACTIONS: usize = 100;

/// The post-incident review of a major incident: what was learned and the
/// action items that follow, each tracked until done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostIncidentReview {
    /// When it was recorded.
    pub at: Timestamp,
    /// Who recorded it.
    pub by: ActorId,
    /// What happened and what was learned.
    pub summary: Text,
    /// The action items, numbered from 0 in this order.
    pub actions: Vec<ReviewAction>,
}

impl PostIncidentReview {
    /// The numbers of the action items not done yet.
    pub fn open_actions(&self) -> Vec<u32> {
        (0u32..).zip(&self.actions).filter(|(_, a)| a.done.is_none()).map(|(n, _)| n).collect()
    }
}

/// One action item of a post-incident review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAction {
    /// What is to be done.
    pub text: Text,
    /// When and by whom it was done, once it is.
    pub done: Option<ActionDone>,
}

/// When and by whom an action item was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionDone {
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: ActorId,
}

/// A major-incident declaration (Table 6 level 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MajorDeclaration {
    /// When it was declared.
    pub at: Timestamp,
    /// Who declared it.
    pub by: ActorId,
}
