//! The events an incident records.

use super::{Assignment, OpenIncident, ResolutionCode};
use crate::aggregate::stamped_events;
use crate::alert::AlertRef;
use crate::id::{ChangeId, GroupId, IncidentId, ProblemId, TenantId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{HoldReason, Impact, Priority, ResolvedBy, SupportTier, Urgency};

stamped_events! {
    /// Events an incident records.
    pub enum IncidentEvent {
        /// Registered.
        Opened {
            /// Tenant.
            tenant: TenantId,
            /// The open command's data.
            incident: OpenIncident,
            /// Derived priority.
            priority: Priority,
        } => "opened",
        /// Assigned.
        Assigned {
            /// The assignment.
            assignment: Assignment,
        } => "assigned",
        /// First response.
        Acknowledged {} => "acknowledged",
        /// Work started.
        Started {} => "started",
        /// Put on hold.
        Held {
            /// Why.
            reason: HoldReason,
        } => "held",
        /// Resumed from hold.
        Resumed {} => "resumed",
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
        } => "resolved",
        /// The service-impact interval recorded (see
        /// [`IncidentCommand::RecordImpact`](super::IncidentCommand::RecordImpact)).
        ImpactRecorded {
            /// When service impact began, if it changed.
            #[serde(default)]
            impact_start: Option<Timestamp>,
            /// When service was restored, if it changed.
            #[serde(default)]
            restored_at: Option<Timestamp>,
        } => "impact_recorded",
        /// Reopened.
        Reopened {
            /// Why.
            reason: Text,
            /// The reopen count after this reopen.
            count: u32,
        } => "reopened",
        /// Closed.
        Closed {} => "closed",
        /// Cancelled.
        Cancelled {
            /// Why.
            reason: Text,
        } => "cancelled",
        /// Impact / urgency changed and priority re-derived.
        Reprioritized {
            /// New impact.
            impact: Impact,
            /// New urgency.
            urgency: Urgency,
            /// New priority.
            priority: Priority,
        } => "reprioritized",
        /// Moved to another support tier.
        TierEscalated {
            /// Tier before.
            from: SupportTier,
            /// Tier after.
            to: SupportTier,
            /// The group at the new tier.
            group: GroupId,
        } => "tier_escalated",
        /// Proposed as a major incident.
        MajorProposed {
            /// Why.
            reason: Text,
        } => "major_proposed",
        /// The major-incident proposal was declined.
        MajorDeclined {
            /// Why.
            reason: Text,
        } => "major_declined",
        /// Declared major.
        MajorDeclared {} => "major_declared",
        /// The post-incident review was recorded.
        ReviewRecorded {
            /// What happened and what was learned.
            summary: Text,
            /// The action items.
            actions: Vec<Text>,
        } => "review_recorded",
        /// A review action item was done.
        ActionCompleted {
            /// Its number.
            action: u32,
        } => "action_completed",
        /// Linked to a problem.
        ProblemLinked {
            /// The problem.
            problem: ProblemId,
        } => "problem_linked",
        /// Causing change recorded.
        ChangeLinked {
            /// The change.
            change: ChangeId,
        } => "change_linked",
        /// Parent set.
        ParentSet {
            /// The parent.
            parent: IncidentId,
        } => "parent_set",
        /// Child recorded.
        ChildLinked {
            /// The child.
            child: IncidentId,
        } => "child_linked",
        /// Note added.
        NoteAdded {
            /// The note.
            text: Text,
            /// Visible to the caller.
            public: bool,
        } => "note_added",
        /// A monitoring alert was recorded on the incident.
        AlertCorrelated {
            /// The alert.
            alert: AlertRef,
        } => "alert_correlated",
    }
}
