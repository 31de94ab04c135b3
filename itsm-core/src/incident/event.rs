//! The events an incident records.

use serde::{Deserialize, Serialize};

use super::{Assignment, OpenIncident, ResolutionCode};
use crate::alert::AlertRef;
use crate::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, TenantId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{HoldReason, Impact, Priority, ResolvedBy, SupportTier, Urgency};

/// Events an incident records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEvent {
    /// Registered.
    Opened {
        /// Tenant.
        tenant: TenantId,
        /// The open command's data.
        incident: OpenIncident,
        /// Derived priority.
        priority: Priority,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Assigned.
    Assigned {
        /// The assignment.
        assignment: Assignment,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// First response.
    Acknowledged {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Work started.
    Started {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Put on hold.
    Held {
        /// Why.
        reason: HoldReason,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Resumed from hold.
    Resumed {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Resolved.
    Resolved {
        /// How.
        code: ResolutionCode,
        /// By whom (tier or automation).
        resolved_by: ResolvedBy,
        /// When service was restored.
        restored_at: Timestamp,
        /// The parent that cascaded, if any.
        cascaded_from: Option<IncidentId>,
        /// When.
        at: Timestamp,
        /// Who recorded it.
        by: ActorId,
    },
    /// The service-impact interval recorded (see
    /// [`IncidentCommand::RecordImpact`](super::IncidentCommand::RecordImpact)).
    ImpactRecorded {
        /// When service impact began, if it changed.
        #[serde(default)]
        impact_start: Option<Timestamp>,
        /// When service was restored, if it changed.
        #[serde(default)]
        restored_at: Option<Timestamp>,
        /// When it was recorded.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Reopened.
    Reopened {
        /// Why.
        reason: Text,
        /// The reopen count after this reopen.
        count: u32,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Closed.
    Closed {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: Text,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Impact / urgency changed and priority re-derived.
    Reprioritized {
        /// New impact.
        impact: Impact,
        /// New urgency.
        urgency: Urgency,
        /// New priority.
        priority: Priority,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Moved to another support tier.
    TierEscalated {
        /// Tier before.
        from: SupportTier,
        /// Tier after.
        to: SupportTier,
        /// The group at the new tier.
        group: GroupId,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Declared major.
    MajorDeclared {
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Linked to a problem.
    ProblemLinked {
        /// The problem.
        problem: ProblemId,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Causing change recorded.
    ChangeLinked {
        /// The change.
        change: ChangeId,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Parent set.
    ParentSet {
        /// The parent.
        parent: IncidentId,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Child recorded.
    ChildLinked {
        /// The child.
        child: IncidentId,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// Note added.
    NoteAdded {
        /// The note.
        text: Text,
        /// Visible to the caller.
        public: bool,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
    /// A monitoring alert was recorded on the incident.
    AlertCorrelated {
        /// The alert.
        alert: AlertRef,
        /// When.
        at: Timestamp,
        /// By whom.
        by: ActorId,
    },
}

impl IncidentEvent {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            IncidentEvent::Opened { at, .. }
            | IncidentEvent::Assigned { at, .. }
            | IncidentEvent::Acknowledged { at, .. }
            | IncidentEvent::Started { at, .. }
            | IncidentEvent::Held { at, .. }
            | IncidentEvent::Resumed { at, .. }
            | IncidentEvent::Resolved { at, .. }
            | IncidentEvent::ImpactRecorded { at, .. }
            | IncidentEvent::Reopened { at, .. }
            | IncidentEvent::Closed { at, .. }
            | IncidentEvent::Cancelled { at, .. }
            | IncidentEvent::Reprioritized { at, .. }
            | IncidentEvent::TierEscalated { at, .. }
            | IncidentEvent::MajorDeclared { at, .. }
            | IncidentEvent::ProblemLinked { at, .. }
            | IncidentEvent::ChangeLinked { at, .. }
            | IncidentEvent::ParentSet { at, .. }
            | IncidentEvent::ChildLinked { at, .. }
            | IncidentEvent::NoteAdded { at, .. }
            | IncidentEvent::AlertCorrelated { at, .. } => *at,
        }
    }

    /// The event's stable name.
    pub fn name(&self) -> &'static str {
        match self {
            IncidentEvent::Opened { .. } => "opened",
            IncidentEvent::Assigned { .. } => "assigned",
            IncidentEvent::Acknowledged { .. } => "acknowledged",
            IncidentEvent::Started { .. } => "started",
            IncidentEvent::Held { .. } => "held",
            IncidentEvent::Resumed { .. } => "resumed",
            IncidentEvent::Resolved { .. } => "resolved",
            IncidentEvent::ImpactRecorded { .. } => "impact_recorded",
            IncidentEvent::Reopened { .. } => "reopened",
            IncidentEvent::Closed { .. } => "closed",
            IncidentEvent::Cancelled { .. } => "cancelled",
            IncidentEvent::Reprioritized { .. } => "reprioritized",
            IncidentEvent::TierEscalated { .. } => "tier_escalated",
            IncidentEvent::MajorDeclared { .. } => "major_declared",
            IncidentEvent::ProblemLinked { .. } => "problem_linked",
            IncidentEvent::ChangeLinked { .. } => "change_linked",
            IncidentEvent::ParentSet { .. } => "parent_set",
            IncidentEvent::ChildLinked { .. } => "child_linked",
            IncidentEvent::NoteAdded { .. } => "note_added",
            IncidentEvent::AlertCorrelated { .. } => "alert_correlated",
        }
    }
}
