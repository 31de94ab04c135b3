//! The commands an incident accepts, and the data of the one that opens it.

use serde::{Deserialize, Serialize};

use super::ResolutionCode;
use crate::alert::AlertRef;
use crate::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{
    DetectionSource, FailureClass, HoldReason, Impact, IncidentKind, ResolvedBy, SupportTier, Urgency,
};

/// The data of an `Open` command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// The new incident's id.
    pub id: IncidentId,
    /// Its kind.
    pub kind: IncidentKind,
    /// The affected service or configuration item.
    pub service: ServiceId,
    /// A short title.
    pub title: Text,
    /// Free-text category (with the service, the repeat-incident key).
    #[serde(default)]
    pub category: Option<Text>,
    /// Impact.
    pub impact: Impact,
    /// Urgency.
    pub urgency: Urgency,
    /// Who or what detected it.
    pub source: DetectionSource,
    /// The support tier it starts at (default first line).
    #[serde(default = "default_tier")]
    pub tier: SupportTier,
    /// When impact began, if before registration.
    #[serde(default)]
    pub impact_start: Option<Timestamp>,
    /// Table 15's MTTR class.
    #[serde(default = "default_failure_class")]
    pub failure_class: FailureClass,
    /// Whether the incident is an outage of its service.
    #[serde(default)]
    pub outage: bool,
    /// The change that caused it, if known.
    #[serde(default)]
    pub caused_by_change: Option<ChangeId>,
}

fn default_tier() -> SupportTier {
    SupportTier::L1
}

fn default_failure_class() -> FailureClass {
    FailureClass::Other
}

impl OpenIncident {
    /// An `Open` with the required fields; the rest default (tier L1, class
    /// other, no outage, impact starting at registration, no category, no
    /// causing change).
    pub fn new(
        id: IncidentId,
        kind: IncidentKind,
        service: ServiceId,
        title: Text,
        impact: Impact,
        urgency: Urgency,
        source: DetectionSource,
    ) -> Self {
        OpenIncident {
            id,
            kind,
            service,
            title,
            category: None,
            impact,
            urgency,
            source,
            tier: SupportTier::L1,
            impact_start: None,
            failure_class: FailureClass::Other,
            outage: false,
            caused_by_change: None,
        }
    }
}

/// Commands an incident accepts (the portal's JSON API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum IncidentCommand {
    /// Register a new incident.
    Open(OpenIncident),
    /// Assign to a group, optionally a person.
    Assign {
        /// The group.
        group: GroupId,
        /// The person.
        #[serde(default)]
        assignee: Option<ActorId>,
    },
    /// First response / acceptance (stops the response clock).
    Acknowledge,
    /// Start work.
    Start,
    /// Put on hold.
    Hold {
        /// Why.
        reason: HoldReason,
    },
    /// Resume from hold.
    Resume,
    /// Resolve.
    Resolve {
        /// How.
        code: ResolutionCode,
        /// Which tier (or automation) resolved it.
        resolved_by: ResolvedBy,
        /// When service was restored, if before now.
        #[serde(default)]
        restored_at: Option<Timestamp>,
    },
    /// Record the service-impact interval as it becomes known: when impact
    /// began (it may be after the incident was registered) and when service
    /// was restored (a workaround in place while the incident stays open, or a
    /// restore recorded after the resolution). Allowed until the incident is
    /// cancelled; each instant is at or before now, the restore is not before
    /// the impact start, and at least one of them changes. A later resolution
    /// without its own `restored_at` keeps a recorded restore.
    RecordImpact {
        /// When service impact began, if it changes.
        #[serde(default)]
        impact_start: Option<Timestamp>,
        /// When service was restored, if it changes.
        #[serde(default)]
        restored_at: Option<Timestamp>,
    },
    /// Reopen a resolved incident (counted).
    Reopen {
        /// Why.
        reason: Text,
    },
    /// Close a resolved incident.
    Close,
    /// Cancel (raised in error, duplicate before work).
    Cancel {
        /// Why.
        reason: Text,
    },
    /// Change impact and urgency; priority is re-derived.
    Reprioritize {
        /// New impact.
        impact: Impact,
        /// New urgency.
        urgency: Urgency,
    },
    /// Move to another support tier (functional escalation).
    EscalateTier {
        /// The tier.
        tier: SupportTier,
        /// The group at that tier.
        group: GroupId,
    },
    /// Propose the incident as a major incident (a candidate, until a person
    /// who may declares it or declines the proposal).
    ProposeMajor {
        /// Why.
        reason: Text,
    },
    /// Decline the major-incident proposal.
    DeclineMajor {
        /// Why.
        reason: Text,
    },
    /// Declare a major incident (proposed or not).
    DeclareMajor,
    /// Record the post-incident review of a resolved or closed major
    /// incident, with its action items (at most
    /// [`MAX_REVIEW_ACTIONS`](super::MAX_REVIEW_ACTIONS)); once.
    RecordReview {
        /// What happened and what was learned.
        summary: Text,
        /// The action items, numbered from 0 in this order.
        actions: Vec<Text>,
    },
    /// Mark a review action item done.
    CompleteAction {
        /// Its number (from 0, in the review's order).
        action: u32,
    },
    /// Link to a problem.
    LinkProblem {
        /// The problem.
        problem: ProblemId,
    },
    /// Record the change that caused this incident.
    LinkChange {
        /// The change.
        change: ChangeId,
    },
    /// Make this incident a child of `parent`.
    SetParent {
        /// The parent incident.
        parent: IncidentId,
    },
    /// Record `child` as a child of this incident.
    LinkChild {
        /// The child incident.
        child: IncidentId,
    },
    /// Resolve as a consequence of the parent's resolution.
    CascadeResolve {
        /// The parent.
        parent: IncidentId,
        /// The parent's resolver.
        resolved_by: ResolvedBy,
    },
    /// Add a work note or a public update to the caller.
    AddNote {
        /// The note.
        text: Text,
        /// Whether the caller sees it (counts as an SLA update).
        public: bool,
    },
    /// Record a monitoring alert on this incident (see [`crate::alert`]). An
    /// alert already recorded is refused.
    CorrelateAlert {
        /// The alert.
        alert: AlertRef,
    },
}

impl IncidentCommand {
    /// The command's stable name (permission table, errors).
    pub fn name(&self) -> &'static str {
        match self {
            IncidentCommand::Open(_) => "open",
            IncidentCommand::Assign { .. } => "assign",
            IncidentCommand::Acknowledge => "acknowledge",
            IncidentCommand::Start => "start",
            IncidentCommand::Hold { .. } => "hold",
            IncidentCommand::Resume => "resume",
            IncidentCommand::Resolve { .. } => "resolve",
            IncidentCommand::RecordImpact { .. } => "record_impact",
            IncidentCommand::Reopen { .. } => "reopen",
            IncidentCommand::Close => "close",
            IncidentCommand::Cancel { .. } => "cancel",
            IncidentCommand::Reprioritize { .. } => "reprioritize",
            IncidentCommand::EscalateTier { .. } => "escalate_tier",
            IncidentCommand::ProposeMajor { .. } => "propose_major",
            IncidentCommand::DeclineMajor { .. } => "decline_major",
            IncidentCommand::DeclareMajor => "declare_major",
            IncidentCommand::RecordReview { .. } => "record_review",
            IncidentCommand::CompleteAction { .. } => "complete_action",
            IncidentCommand::LinkProblem { .. } => "link_problem",
            IncidentCommand::LinkChange { .. } => "link_change",
            IncidentCommand::SetParent { .. } => "set_parent",
            IncidentCommand::LinkChild { .. } => "link_child",
            IncidentCommand::CascadeResolve { .. } => "cascade_resolve",
            IncidentCommand::AddNote { .. } => "add_note",
            IncidentCommand::CorrelateAlert { .. } => "correlate_alert",
        }
    }
}
