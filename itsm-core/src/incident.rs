//! The incident state machine.
//!
//! States: New, Assigned, InProgress, OnHold(reason), Resolved(resolution),
//! Closed, Cancelled. Flows seen in real ServiceNow data are accepted: New ->
//! Resolved directly, New -> OnHold, OnHold -> Resolved, OnHold -> OnHold with
//! another reason, Resolved -> InProgress (a reopen, counted). A closed
//! incident cannot be reopened (ServiceNow's rule). Priority comes from impact x urgency through the configured
//! matrix, and a re-prioritisation re-derives it (the SLA clock re-targets,
//! keeping elapsed and paused time).
//!
//! Monitoring alerts (maturity model Table 5 level 3) are recorded with
//! `CorrelateAlert`, accepted in every open state and in Resolved (a late alert
//! that fired before the resolution is recorded and cleared at once), refused
//! in Closed and Cancelled. The incident keeps the set of its alerts; when it is
//! resolved or closed, [`Incident::outbox`](crate::Aggregate::outbox) emits one
//! `alert.clear` message per alert, keyed by the alert (not by the event), so a
//! resolve and a later close clear each alert once. See [`crate::alert`].
//!
//! ```
//! use itsm_core::incident::{Incident, IncidentCommand, OpenIncident};
//! use itsm_core::{Actor, Aggregate, Context, DomainConfig, Role, Timestamp};
//! use itsm_core::classify::{DetectionSource, Impact, IncidentKind, Urgency, Priority};
//! use itsm_core::id::{ActorId, IncidentId, ServiceId, TenantId, Text};
//!
//! let config = DomainConfig::default();
//! let agent = Actor::new(ActorId::new("ann")?, TenantId::new("acme")?, [Role::Agent]);
//! let now = Timestamp::parse_rfc3339("2026-03-02T09:00:00Z")?;
//! let open = IncidentCommand::Open(OpenIncident::new(
//!     IncidentId::new("INC-1")?,
//!     IncidentKind::Production,
//!     ServiceId::new("payments")?,
//!     Text::new("card payments failing")?,
//!     Impact::High,
//!     Urgency::High,
//!     DetectionSource::Monitoring,
//! ));
//! let (incident, events) = Incident::execute(None, &open, &Context::new(&agent, now, &config))?;
//! assert_eq!(incident.priority(), Priority::P1);
//! assert_eq!(events.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, OutboxMessage, Precheck, RefKind, Reference, Summary};
use crate::alert::{AlertKey, AlertRef};
use crate::classify::{
    DetectionSource, FailureClass, HoldReason, Impact, IncidentKind, Priority, ResolvedBy, SupportTier, Urgency,
    text_enum,
};
use crate::id::{ActorId, ChangeId, GroupId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::records::IncidentRecord;
use crate::time::Timestamp;

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

/// A major-incident declaration (Table 6 level 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MajorDeclaration {
    /// When it was declared.
    pub at: Timestamp,
    /// Who declared it.
    pub by: ActorId,
}

/// An incident: its fixed facts, its links and its current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    id: IncidentId,
    tenant: TenantId,
    kind: IncidentKind,
    service: ServiceId,
    title: Text,
    category: Option<Text>,
    impact: Impact,
    urgency: Urgency,
    priority: Priority,
    source: DetectionSource,
    tier: SupportTier,
    failure_class: FailureClass,
    outage: bool,
    opened_at: Timestamp,
    opened_by: ActorId,
    impact_start: Timestamp,
    acknowledged_at: Option<Timestamp>,
    /// When service was restored, once recorded (by a resolution or a
    /// `RecordImpact`); cleared by a reopen.
    #[serde(default)]
    restored_at: Option<Timestamp>,
    last_event_at: Timestamp,
    major: Option<MajorDeclaration>,
    parent: Option<IncidentId>,
    children: BTreeSet<IncidentId>,
    problem: Option<ProblemId>,
    caused_by_change: Option<ChangeId>,
    reopen_count: u32,
    first_resolved_at: Option<Timestamp>,
    /// The monitoring alerts correlated to this incident.
    #[serde(default)]
    alerts: BTreeSet<AlertKey>,
    /// The latest `fired_at` among the correlated alerts.
    #[serde(default)]
    alert_last_seen: Option<Timestamp>,
    state: IncidentState,
}

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
        /// By whom.
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
    /// Declare a major incident.
    DeclareMajor,
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
    /// The service-impact interval recorded (see [`IncidentCommand::RecordImpact`]).
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
            IncidentCommand::DeclareMajor => "declare_major",
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

/// Why an incident command was refused. Every variant names the incident, its
/// state and the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// The command is not allowed in the current state.
    #[error("cannot {command} incident {id}: it is {state}")]
    InvalidTransition {
        /// The incident.
        id: IncidentId,
        /// Its state.
        state: IncidentStatus,
        /// The command.
        command: &'static str,
    },
    /// The command is allowed in this state but its data is not.
    #[error("cannot {command} incident {id} ({state}): {reason}")]
    Invalid {
        /// The incident.
        id: IncidentId,
        /// Its state.
        state: IncidentStatus,
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No role of the actor permits the command.
    #[error("{actor} may not {command} incident {id} ({state}): no role permits it")]
    Forbidden {
        /// The incident (or the id it would get).
        id: IncidentId,
        /// Its state (`absent` before creation).
        state: &'static str,
        /// Who asked.
        actor: ActorId,
        /// The command.
        command: &'static str,
    },
    /// The incident does not exist (for this actor's tenant).
    #[error("cannot {command}: incident does not exist")]
    NotFound {
        /// The command.
        command: &'static str,
    },
    /// An `Open` for an incident that already exists.
    #[error("cannot open incident {id}: it already exists ({state})")]
    AlreadyExists {
        /// The incident.
        id: IncidentId,
        /// Its state.
        state: IncidentStatus,
    },
}

/// The incident machine's transition table: every (state, command) pair that
/// `decide` accepts, and the state it leads to. Commands that keep the state
/// (notes, links, re-prioritisation) are listed as self-loops.
pub const TRANSITIONS: &[Transition] = &[
    t("new", "assign", "assigned"),
    t("assigned", "assign", "assigned"),
    t("in_progress", "assign", "in_progress"),
    t("on_hold", "assign", "on_hold"),
    t("new", "start", "in_progress"),
    t("assigned", "start", "in_progress"),
    t("new", "hold", "on_hold"),
    t("assigned", "hold", "on_hold"),
    t("in_progress", "hold", "on_hold"),
    t("on_hold", "hold", "on_hold"),
    t("on_hold", "resume", "in_progress"),
    t("new", "resolve", "resolved"),
    t("assigned", "resolve", "resolved"),
    t("in_progress", "resolve", "resolved"),
    t("on_hold", "resolve", "resolved"),
    t("new", "cascade_resolve", "resolved"),
    t("assigned", "cascade_resolve", "resolved"),
    t("in_progress", "cascade_resolve", "resolved"),
    t("on_hold", "cascade_resolve", "resolved"),
    t("resolved", "reopen", "in_progress"),
    t("resolved", "close", "closed"),
    t("new", "cancel", "cancelled"),
    t("assigned", "cancel", "cancelled"),
    t("in_progress", "cancel", "cancelled"),
    t("on_hold", "cancel", "cancelled"),
    t("new", "acknowledge", "new"),
    t("assigned", "acknowledge", "assigned"),
    t("in_progress", "acknowledge", "in_progress"),
    t("on_hold", "acknowledge", "on_hold"),
    t("resolved", "acknowledge", "resolved"),
    t("closed", "acknowledge", "closed"),
    t("new", "record_impact", "new"),
    t("assigned", "record_impact", "assigned"),
    t("in_progress", "record_impact", "in_progress"),
    t("on_hold", "record_impact", "on_hold"),
    t("resolved", "record_impact", "resolved"),
    t("closed", "record_impact", "closed"),
    t("new", "reprioritize", "new"),
    t("assigned", "reprioritize", "assigned"),
    t("in_progress", "reprioritize", "in_progress"),
    t("on_hold", "reprioritize", "on_hold"),
    t("new", "escalate_tier", "assigned"),
    t("assigned", "escalate_tier", "assigned"),
    t("in_progress", "escalate_tier", "in_progress"),
    t("on_hold", "escalate_tier", "on_hold"),
    t("new", "declare_major", "new"),
    t("assigned", "declare_major", "assigned"),
    t("in_progress", "declare_major", "in_progress"),
    t("on_hold", "declare_major", "on_hold"),
    t("new", "link_problem", "new"),
    t("assigned", "link_problem", "assigned"),
    t("in_progress", "link_problem", "in_progress"),
    t("on_hold", "link_problem", "on_hold"),
    t("resolved", "link_problem", "resolved"),
    t("closed", "link_problem", "closed"),
    t("new", "link_change", "new"),
    t("assigned", "link_change", "assigned"),
    t("in_progress", "link_change", "in_progress"),
    t("on_hold", "link_change", "on_hold"),
    t("resolved", "link_change", "resolved"),
    t("closed", "link_change", "closed"),
    t("new", "set_parent", "new"),
    t("assigned", "set_parent", "assigned"),
    t("in_progress", "set_parent", "in_progress"),
    t("on_hold", "set_parent", "on_hold"),
    t("new", "link_child", "new"),
    t("assigned", "link_child", "assigned"),
    t("in_progress", "link_child", "in_progress"),
    t("on_hold", "link_child", "on_hold"),
    t("new", "add_note", "new"),
    t("assigned", "add_note", "assigned"),
    t("in_progress", "add_note", "in_progress"),
    t("on_hold", "add_note", "on_hold"),
    t("resolved", "add_note", "resolved"),
    t("new", "correlate_alert", "new"),
    t("assigned", "correlate_alert", "assigned"),
    t("in_progress", "correlate_alert", "in_progress"),
    t("on_hold", "correlate_alert", "on_hold"),
    t("resolved", "correlate_alert", "resolved"),
];

/// The SLA clock's view of an incident's history: the events that start,
/// pause, re-target or stop its clocks. Starting work counts as the first
/// response when nothing acknowledged it before (later responses change
/// nothing); a public note is an update to the caller.
pub fn sla_events(events: &[IncidentEvent]) -> Vec<crate::sla::SlaEvent> {
    use crate::sla::SlaEvent as E;
    events
        .iter()
        .filter_map(|event| match event {
            IncidentEvent::Opened { incident, priority, at, .. } => {
                Some(E::Opened { at: *at, kind: incident.kind, priority: *priority })
            }
            IncidentEvent::Acknowledged { at, .. } | IncidentEvent::Started { at, .. } => {
                Some(E::Acknowledged { at: *at })
            }
            IncidentEvent::Held { reason, at, .. } => Some(E::Held { at: *at, reason: *reason }),
            IncidentEvent::Resumed { at, .. } => Some(E::Resumed { at: *at }),
            IncidentEvent::Reprioritized { priority, at, .. } => {
                Some(E::PriorityChanged { at: *at, priority: *priority })
            }
            IncidentEvent::Resolved { at, .. } => Some(E::Resolved { at: *at }),
            IncidentEvent::ImpactRecorded { .. } => None,
            IncidentEvent::Reopened { at, .. } => Some(E::Reopened { at: *at }),
            IncidentEvent::Closed { at, .. } => Some(E::Closed { at: *at }),
            IncidentEvent::Cancelled { at, .. } => Some(E::Cancelled { at: *at }),
            IncidentEvent::NoteAdded { public: true, at, .. } => Some(E::Updated { at: *at }),
            IncidentEvent::NoteAdded { public: false, .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::AlertCorrelated { .. } => None,
        })
        .collect()
}

/// One `alert.clear` message per alert that `events` clear: every correlated
/// alert on a resolution or a closure, and an alert correlated while resolved.
/// Keyed by the alert, once per batch.
fn alert_clears(state: &Incident, events: &[IncidentEvent]) -> Vec<OutboxMessage> {
    let resolved = matches!(state.state, IncidentState::Resolved(_) | IncidentState::Closed(_));
    let mut cleared = BTreeSet::new();
    let mut out = Vec::new();
    for event in events {
        let keys: Vec<AlertKey> = match event {
            IncidentEvent::Resolved { .. } | IncidentEvent::Closed { .. } => state.alerts.iter().cloned().collect(),
            IncidentEvent::AlertCorrelated { alert, .. } if resolved => vec![alert.key()],
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Reopened { .. }
            | IncidentEvent::Cancelled { .. }
            | IncidentEvent::Reprioritized { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => Vec::new(),
        };
        for key in keys {
            let dedup_key = key.clear_key();
            if cleared.insert(dedup_key.clone()) {
                out.push(OutboxMessage {
                    topic: "alert.clear".to_owned(),
                    dedup_key,
                    payload: serde_json::json!({
                        "incident": state.id,
                        "source": key.source,
                        "alert_id": key.alert_id,
                        "event": event.name(),
                        "at": event.at(),
                    }),
                });
            }
        }
    }
    out
}

/// The incident machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid("Incident", &["new"], &["closed", "cancelled"], TRANSITIONS)
}

impl Incident {
    /// The id.
    pub fn incident_id(&self) -> &IncidentId {
        &self.id
    }
    /// The kind.
    pub fn kind(&self) -> IncidentKind {
        self.kind
    }
    /// The affected service.
    pub fn service(&self) -> &ServiceId {
        &self.service
    }
    /// The title.
    pub fn title(&self) -> &Text {
        &self.title
    }
    /// The category.
    pub fn category(&self) -> Option<&Text> {
        self.category.as_ref()
    }
    /// Current impact.
    pub fn impact(&self) -> Impact {
        self.impact
    }
    /// Current urgency.
    pub fn urgency(&self) -> Urgency {
        self.urgency
    }
    /// Current priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }
    /// Who detected it.
    pub fn source(&self) -> DetectionSource {
        self.source
    }
    /// Current support tier.
    pub fn tier(&self) -> SupportTier {
        self.tier
    }
    /// When it was registered.
    pub fn opened_at(&self) -> Timestamp {
        self.opened_at
    }
    /// First response, if any.
    pub fn acknowledged_at(&self) -> Option<Timestamp> {
        self.acknowledged_at
    }
    /// The major-incident declaration, if any.
    pub fn major(&self) -> Option<&MajorDeclaration> {
        self.major.as_ref()
    }
    /// The parent incident.
    pub fn parent(&self) -> Option<&IncidentId> {
        self.parent.as_ref()
    }
    /// Child incidents.
    pub fn children(&self) -> &BTreeSet<IncidentId> {
        &self.children
    }
    /// The linked problem.
    pub fn problem(&self) -> Option<&ProblemId> {
        self.problem.as_ref()
    }
    /// The causing change.
    pub fn caused_by_change(&self) -> Option<&ChangeId> {
        self.caused_by_change.as_ref()
    }
    /// How many times it was reopened.
    pub fn reopen_count(&self) -> u32 {
        self.reopen_count
    }
    /// The monitoring alerts correlated to it, as `(source, alert_id)` keys.
    pub fn alerts(&self) -> &BTreeSet<AlertKey> {
        &self.alerts
    }
    /// How many distinct alerts are correlated to it.
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }
    /// The latest `fired_at` among its correlated alerts.
    pub fn alert_last_seen(&self) -> Option<Timestamp> {
        self.alert_last_seen
    }
    /// The state with its data.
    pub fn state(&self) -> &IncidentState {
        &self.state
    }
    /// The fieldless status.
    pub fn status(&self) -> IncidentStatus {
        self.state.status()
    }

    /// The flat record the metrics compute from. `resolution_target_met` is
    /// left unset: the SLA clock knows it, the incident alone does not.
    pub fn to_record(&self) -> IncidentRecord {
        let resolution = match &self.state {
            IncidentState::Resolved(r) => Some(r),
            IncidentState::Closed(c) => Some(&c.resolution),
            IncidentState::New
            | IncidentState::Assigned(_)
            | IncidentState::InProgress(_)
            | IncidentState::OnHold(_)
            | IncidentState::Cancelled(_) => None,
        };
        IncidentRecord {
            id: self.id.clone(),
            kind: self.kind,
            service: self.service.clone(),
            category: self.category.as_ref().map(|c| c.as_str().to_owned()),
            priority: self.priority,
            detected_by: self.source,
            opened_at: self.opened_at,
            acknowledged_at: self.acknowledged_at,
            impact_start: self.impact_start,
            restored_at: self.restored_at,
            resolved_at: resolution.map(|r| r.at),
            closed_at: match &self.state {
                IncidentState::Closed(c) => Some(c.at),
                IncidentState::New
                | IncidentState::Assigned(_)
                | IncidentState::InProgress(_)
                | IncidentState::OnHold(_)
                | IncidentState::Resolved(_)
                | IncidentState::Cancelled(_) => None,
            },
            resolved_by: resolution.map(|r| r.resolved_by),
            major: self.major.is_some(),
            reopen_count: self.reopen_count,
            caused_by_change: self.caused_by_change.clone(),
            problem_id: self.problem.clone(),
            failure_class: self.failure_class,
            outage: self.outage,
            resolution_target_met: None,
        }
    }

    /// The commands that cascade this incident's resolution to its children:
    /// empty unless the incident is resolved. A child that is already resolved,
    /// closed or cancelled refuses its command with a typed error, which the
    /// executor may ignore.
    pub fn cascade_commands(&self) -> Vec<(IncidentId, IncidentCommand)> {
        match &self.state {
            IncidentState::Resolved(r) => self
                .children
                .iter()
                .map(|child| {
                    (
                        child.clone(),
                        IncidentCommand::CascadeResolve { parent: self.id.clone(), resolved_by: r.resolved_by },
                    )
                })
                .collect(),
            IncidentState::New
            | IncidentState::Assigned(_)
            | IncidentState::InProgress(_)
            | IncidentState::OnHold(_)
            | IncidentState::Closed(_)
            | IncidentState::Cancelled(_) => Vec::new(),
        }
    }

    fn current_assignment(&self) -> Option<Assignment> {
        match &self.state {
            IncidentState::Assigned(a) => Some(a.clone()),
            IncidentState::InProgress(w) => w.assignment.clone(),
            IncidentState::OnHold(h) => h.assignment.clone(),
            IncidentState::Resolved(r) => r.assignment.clone(),
            IncidentState::Closed(c) => c.resolution.assignment.clone(),
            IncidentState::New | IncidentState::Cancelled(_) => None,
        }
    }

    fn reject(&self, command: &IncidentCommand) -> IncidentError {
        IncidentError::InvalidTransition { id: self.id.clone(), state: self.status(), command: command.name() }
    }

    fn invalid(&self, command: &IncidentCommand, reason: impl Into<String>) -> IncidentError {
        IncidentError::Invalid {
            id: self.id.clone(),
            state: self.status(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    fn decide_existing(
        &self,
        command: &IncidentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<IncidentEvent>, IncidentError> {
        use IncidentState as S;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        ctx.precheck(AggregateKind::Incident, &self.tenant, command.name(), self.last_event_at).map_err(
            |p| match p {
                Precheck::OtherTenant => IncidentError::NotFound { command: command.name() },
                Precheck::Forbidden => IncidentError::Forbidden {
                    id: self.id.clone(),
                    state: self.status().as_str(),
                    actor: ctx.actor.id.clone(),
                    command: command.name(),
                },
                Precheck::TimeWentBack(reason) => self.invalid(command, reason),
            },
        )?;
        let state = &self.state;
        let event = match command {
            IncidentCommand::Open(_) => {
                return Err(IncidentError::AlreadyExists { id: self.id.clone(), state: self.status() });
            }
            IncidentCommand::Assign { group, assignee } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => IncidentEvent::Assigned {
                    assignment: Assignment { group: group.clone(), assignee: assignee.clone() },
                    at,
                    by,
                },
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            // A first response recorded after the resolution (an auto-resolved
            // incident, a response logged late) is history, not a contradiction.
            IncidentCommand::Acknowledge => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.acknowledged_at.is_some() {
                        return Err(self.invalid(command, "already acknowledged"));
                    }
                    IncidentEvent::Acknowledged { at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::RecordImpact { impact_start, restored_at } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    for (name, instant) in [("impact_start", impact_start), ("restored_at", restored_at)] {
                        if let Some(t) = instant
                            && *t > at
                        {
                            return Err(self.invalid(command, format!("{name} {t} is after now {at}")));
                        }
                    }
                    let start = impact_start.unwrap_or(self.impact_start);
                    if let Some(restored) = restored_at.or(self.restored_at)
                        && restored < start
                    {
                        return Err(self
                            .invalid(command, format!("restored_at {restored} would be before impact start {start}")));
                    }
                    let changes_start = impact_start.is_some_and(|t| t != self.impact_start);
                    let changes_restore = restored_at.is_some_and(|t| Some(t) != self.restored_at);
                    if !changes_start && !changes_restore {
                        return Err(self.invalid(command, "the impact interval is unchanged"));
                    }
                    IncidentEvent::ImpactRecorded { impact_start: *impact_start, restored_at: *restored_at, at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Start => match state {
                S::New | S::Assigned(_) => IncidentEvent::Started { at, by },
                S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Hold { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) => IncidentEvent::Held { reason: *reason, at, by },
                S::OnHold(h) => {
                    if h.reason == *reason {
                        return Err(self.invalid(command, format!("already on hold for {reason}")));
                    }
                    IncidentEvent::Held { reason: *reason, at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Resume => match state {
                S::OnHold(_) => IncidentEvent::Resumed { at, by },
                S::New | S::Assigned(_) | S::InProgress(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Resolve { code, resolved_by, restored_at } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    let restored_at = restored_at.or(self.restored_at).unwrap_or(at);
                    if restored_at > at {
                        return Err(self.invalid(command, format!("restored_at {restored_at} is after now {at}")));
                    }
                    if restored_at < self.impact_start {
                        return Err(self.invalid(
                            command,
                            format!("restored_at {restored_at} is before impact start {}", self.impact_start),
                        ));
                    }
                    if *code == ResolutionCode::ParentResolved {
                        return Err(self.invalid(command, "parent_resolved is set only by a cascade"));
                    }
                    IncidentEvent::Resolved {
                        code: *code,
                        resolved_by: *resolved_by,
                        restored_at,
                        cascaded_from: None,
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::CascadeResolve { parent, resolved_by } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.parent.as_ref() != Some(parent) {
                        return Err(self.invalid(command, format!("{parent} is not this incident's parent")));
                    }
                    IncidentEvent::Resolved {
                        code: ResolutionCode::ParentResolved,
                        resolved_by: *resolved_by,
                        restored_at: self.restored_at.unwrap_or(at),
                        cascaded_from: Some(parent.clone()),
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Reopen { reason } => match state {
                S::Resolved(_) => IncidentEvent::Reopened {
                    reason: reason.clone(),
                    count: self.reopen_count.saturating_add(1),
                    at,
                    by,
                },
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Close => match state {
                S::Resolved(_) => IncidentEvent::Closed { at, by },
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Closed(_) | S::Cancelled(_) => {
                    return Err(self.reject(command));
                }
            },
            IncidentCommand::Cancel { reason } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    IncidentEvent::Cancelled { reason: reason.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::Reprioritize { impact, urgency } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *impact == self.impact && *urgency == self.urgency {
                        return Err(self.invalid(command, "impact and urgency are unchanged"));
                    }
                    IncidentEvent::Reprioritized {
                        impact: *impact,
                        urgency: *urgency,
                        priority: ctx.config.priority_matrix.priority(*impact, *urgency),
                        at,
                        by,
                    }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::EscalateTier { tier, group } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *tier == self.tier {
                        return Err(self.invalid(command, format!("already at tier {tier}")));
                    }
                    IncidentEvent::TierEscalated { from: self.tier, to: *tier, group: group.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::DeclareMajor => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if self.major.is_some() {
                        return Err(self.invalid(command, "already a major incident"));
                    }
                    IncidentEvent::MajorDeclared { at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkProblem { problem } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.problem.as_ref() == Some(problem) {
                        return Err(self.invalid(command, format!("already linked to {problem}")));
                    }
                    IncidentEvent::ProblemLinked { problem: problem.clone(), at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkChange { change } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) | S::Closed(_) => {
                    if self.caused_by_change.as_ref() == Some(change) {
                        return Err(self.invalid(command, format!("already linked to {change}")));
                    }
                    IncidentEvent::ChangeLinked { change: change.clone(), at, by }
                }
                S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::SetParent { parent } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *parent == self.id {
                        return Err(self.invalid(command, "an incident cannot be its own parent"));
                    }
                    if self.children.contains(parent) {
                        return Err(self.invalid(command, format!("{parent} is a child of this incident")));
                    }
                    if self.parent.is_some() {
                        return Err(self.invalid(command, "already has a parent"));
                    }
                    IncidentEvent::ParentSet { parent: parent.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::LinkChild { child } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) => {
                    if *child == self.id || self.parent.as_ref() == Some(child) {
                        return Err(self.invalid(command, format!("{child} cannot be a child of this incident")));
                    }
                    if self.children.contains(child) {
                        return Err(self.invalid(command, format!("{child} is already a child")));
                    }
                    IncidentEvent::ChildLinked { child: child.clone(), at, by }
                }
                S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::AddNote { text, public } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) => {
                    IncidentEvent::NoteAdded { text: text.clone(), public: *public, at, by }
                }
                S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
            IncidentCommand::CorrelateAlert { alert } => match state {
                S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Resolved(_) => {
                    if let Err(reason) = alert.validate() {
                        return Err(self.invalid(command, reason.to_string()));
                    }
                    if self.alerts.contains(&alert.key()) {
                        return Err(self.invalid(command, format!("alert {} is already correlated", alert.key())));
                    }
                    IncidentEvent::AlertCorrelated { alert: alert.clone(), at, by }
                }
                S::Closed(_) | S::Cancelled(_) => return Err(self.reject(command)),
            },
        };
        Ok(vec![event])
    }

    fn decide_open(command: &IncidentCommand, ctx: &Context<'_>) -> Result<Vec<IncidentEvent>, IncidentError> {
        let IncidentCommand::Open(open) = command else {
            return Err(IncidentError::NotFound { command: command.name() });
        };
        if !ctx.config.permissions.permits(ctx.actor, AggregateKind::Incident, "open") {
            return Err(IncidentError::Forbidden {
                id: open.id.clone(),
                state: "absent",
                actor: ctx.actor.id.clone(),
                command: "open",
            });
        }
        if let Some(start) = open.impact_start
            && start > ctx.now
        {
            return Err(IncidentError::Invalid {
                id: open.id.clone(),
                state: IncidentStatus::New,
                command: "open",
                reason: format!("impact_start {start} is after now {}", ctx.now),
            });
        }
        Ok(vec![IncidentEvent::Opened {
            tenant: ctx.actor.tenant.clone(),
            incident: open.clone(),
            priority: ctx.config.priority_matrix.priority(open.impact, open.urgency),
            at: ctx.now,
            by: ctx.actor.id.clone(),
        }])
    }

    fn applied(mut self, event: &IncidentEvent) -> Result<Self, ApplyError> {
        use IncidentState as S;
        let fail = |state: &Incident| ApplyError {
            kind: AggregateKind::Incident,
            state: state.status().as_str(),
            event: event.name(),
        };
        self.last_event_at = self.last_event_at.max(event.at());
        match event {
            IncidentEvent::Opened { .. } => return Err(fail(&self)),
            IncidentEvent::Assigned { assignment, .. } => {
                self.state = match self.state {
                    S::New | S::Assigned(_) => S::Assigned(assignment.clone()),
                    S::InProgress(_) => S::InProgress(Work { assignment: Some(assignment.clone()) }),
                    S::OnHold(h) => S::OnHold(OnHold { assignment: Some(assignment.clone()), ..h }),
                    S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(fail(&self)),
                };
            }
            IncidentEvent::Acknowledged { at, .. } => self.acknowledged_at = Some(*at),
            IncidentEvent::Started { at, .. } => {
                self.state = S::InProgress(Work { assignment: self.current_assignment() });
                self.acknowledged_at.get_or_insert(*at);
            }
            IncidentEvent::Held { reason, at, .. } => {
                let since = match &self.state {
                    S::OnHold(h) => h.since,
                    S::New | S::Assigned(_) | S::InProgress(_) | S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => *at,
                };
                self.state = S::OnHold(OnHold { reason: *reason, since, assignment: self.current_assignment() });
            }
            IncidentEvent::Resumed { .. } => {
                let S::OnHold(h) = &self.state else { return Err(fail(&self)) };
                self.state = S::InProgress(Work { assignment: h.assignment.clone() });
            }
            IncidentEvent::Resolved { code, resolved_by, restored_at, cascaded_from, at, .. } => {
                self.first_resolved_at.get_or_insert(*at);
                self.restored_at = Some(*restored_at);
                self.state = S::Resolved(Resolution {
                    at: *at,
                    code: *code,
                    resolved_by: *resolved_by,
                    restored_at: *restored_at,
                    cascaded_from: cascaded_from.clone(),
                    assignment: self.current_assignment(),
                });
            }
            IncidentEvent::ImpactRecorded { impact_start, restored_at, .. } => {
                if matches!(self.state, S::Cancelled(_)) {
                    return Err(fail(&self));
                }
                if let Some(start) = impact_start {
                    self.impact_start = *start;
                }
                if let Some(restored) = restored_at {
                    self.restored_at = Some(*restored);
                    match &mut self.state {
                        S::Resolved(r) => r.restored_at = *restored,
                        S::Closed(c) => c.resolution.restored_at = *restored,
                        S::New | S::Assigned(_) | S::InProgress(_) | S::OnHold(_) | S::Cancelled(_) => {}
                    }
                }
            }
            IncidentEvent::Reopened { count, .. } => {
                let S::Resolved(r) = &self.state else { return Err(fail(&self)) };
                self.reopen_count = *count;
                self.restored_at = None;
                self.state = S::InProgress(Work { assignment: r.assignment.clone() });
            }
            IncidentEvent::Closed { at, .. } => {
                let S::Resolved(r) = &self.state else { return Err(fail(&self)) };
                self.state = S::Closed(ClosedIncident { at: *at, resolution: r.clone() });
            }
            IncidentEvent::Cancelled { reason, at, .. } => {
                self.state = S::Cancelled(CancelledIncident { at: *at, reason: reason.clone() });
            }
            IncidentEvent::Reprioritized { impact, urgency, priority, .. } => {
                self.impact = *impact;
                self.urgency = *urgency;
                self.priority = *priority;
            }
            IncidentEvent::TierEscalated { to, group, .. } => {
                self.tier = *to;
                let assignment = Assignment { group: group.clone(), assignee: None };
                self.state = match self.state {
                    S::New | S::Assigned(_) => S::Assigned(assignment),
                    S::InProgress(_) => S::InProgress(Work { assignment: Some(assignment) }),
                    S::OnHold(h) => S::OnHold(OnHold { assignment: Some(assignment), ..h }),
                    S::Resolved(_) | S::Closed(_) | S::Cancelled(_) => return Err(fail(&self)),
                };
            }
            IncidentEvent::MajorDeclared { at, by } => {
                self.major = Some(MajorDeclaration { at: *at, by: by.clone() });
            }
            IncidentEvent::ProblemLinked { problem, .. } => self.problem = Some(problem.clone()),
            IncidentEvent::ChangeLinked { change, .. } => self.caused_by_change = Some(change.clone()),
            IncidentEvent::ParentSet { parent, .. } => self.parent = Some(parent.clone()),
            IncidentEvent::ChildLinked { child, .. } => {
                self.children.insert(child.clone());
            }
            IncidentEvent::NoteAdded { .. } => {}
            IncidentEvent::AlertCorrelated { alert, .. } => {
                self.alerts.insert(alert.key());
                self.alert_last_seen = Some(self.alert_last_seen.map_or(alert.fired_at, |t| t.max(alert.fired_at)));
            }
        }
        Ok(self)
    }
}

impl Aggregate for Incident {
    const KIND: AggregateKind = AggregateKind::Incident;
    type Command = IncidentCommand;
    type Event = IncidentEvent;
    type Error = IncidentError;

    fn decide(
        state: Option<&Self>,
        command: &IncidentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<IncidentEvent>, IncidentError> {
        match state {
            None => Incident::decide_open(command, ctx),
            Some(incident) => incident.decide_existing(command, ctx),
        }
    }

    fn apply(state: Option<Self>, event: &IncidentEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, IncidentEvent::Opened { tenant, incident, priority, at, by }) => Ok(Incident {
                id: incident.id.clone(),
                tenant: tenant.clone(),
                kind: incident.kind,
                service: incident.service.clone(),
                title: incident.title.clone(),
                category: incident.category.clone(),
                impact: incident.impact,
                urgency: incident.urgency,
                priority: *priority,
                source: incident.source,
                tier: incident.tier,
                failure_class: incident.failure_class,
                outage: incident.outage,
                opened_at: *at,
                opened_by: by.clone(),
                impact_start: incident.impact_start.unwrap_or(*at),
                acknowledged_at: None,
                restored_at: None,
                last_event_at: *at,
                major: None,
                parent: None,
                children: BTreeSet::new(),
                problem: None,
                caused_by_change: incident.caused_by_change.clone(),
                reopen_count: 0,
                first_resolved_at: None,
                alerts: BTreeSet::new(),
                alert_last_seen: None,
                state: IncidentState::New,
            }),
            (None, other) => Err(ApplyError { kind: AggregateKind::Incident, state: "absent", event: other.name() }),
            (Some(incident), event) => incident.applied(event),
        }
    }

    fn id(&self) -> &str {
        self.id.as_str()
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn record(&self) -> Option<crate::records::Record> {
        Some(crate::records::Record::Incident(self.to_record()))
    }

    fn summary(&self) -> Summary {
        let assignment = self.current_assignment();
        Summary {
            status: self.status().as_str(),
            terminal: matches!(self.state, IncidentState::Closed(_) | IncidentState::Cancelled(_)),
            service: Some(self.service.clone()),
            priority: Some(self.priority),
            assignee: assignment.as_ref().and_then(|a| a.assignee.clone()),
            group: assignment.map(|a| a.group),
            window: None,
            title: self.title.as_str().to_owned(),
            requester: Some(self.opened_by.clone()),
            opened_at: self.opened_at,
            major: self.major.is_some(),
        }
    }

    fn event_name(event: &IncidentEvent) -> &'static str {
        event.name()
    }

    fn command_name(command: &IncidentCommand) -> &'static str {
        command.name()
    }

    fn references(command: &IncidentCommand) -> Vec<Reference> {
        let r = |kind, id: &str| vec![Reference { kind, id: id.to_owned() }];
        match command {
            IncidentCommand::Open(open) => match &open.caused_by_change {
                Some(change) => vec![Reference { kind: RefKind::Change, id: change.as_str().to_owned() }],
                None => Vec::new(),
            },
            IncidentCommand::LinkProblem { problem } => r(RefKind::Problem, problem.as_str()),
            IncidentCommand::LinkChange { change } => r(RefKind::Change, change.as_str()),
            IncidentCommand::SetParent { parent } | IncidentCommand::CascadeResolve { parent, .. } => {
                r(RefKind::Incident, parent.as_str())
            }
            IncidentCommand::LinkChild { child } => r(RefKind::Incident, child.as_str()),
            IncidentCommand::Assign { .. }
            | IncidentCommand::Acknowledge
            | IncidentCommand::Start
            | IncidentCommand::Hold { .. }
            | IncidentCommand::Resume
            | IncidentCommand::Resolve { .. }
            | IncidentCommand::RecordImpact { .. }
            | IncidentCommand::Reopen { .. }
            | IncidentCommand::Close
            | IncidentCommand::Cancel { .. }
            | IncidentCommand::Reprioritize { .. }
            | IncidentCommand::EscalateTier { .. }
            | IncidentCommand::DeclareMajor
            | IncidentCommand::AddNote { .. }
            | IncidentCommand::CorrelateAlert { .. } => Vec::new(),
        }
    }

    /// Besides the incident topics, one `alert.clear` per correlated alert when
    /// the incident is resolved or closed, and one for an alert correlated to a
    /// resolved incident. The dedup key is the alert's
    /// ([`AlertKey::clear_key`]), so each alert is cleared once however many
    /// resolutions and closures follow.
    fn note(event: &IncidentEvent) -> Option<(&str, bool)> {
        let IncidentEvent::NoteAdded { text, public, .. } = event else { return None };
        Some((text.as_str(), *public))
    }

    fn clock_events(events: &[IncidentEvent]) -> Vec<crate::sla::SlaEvent> {
        sla_events(events)
    }

    fn outbox(state: &Self, events: &[IncidentEvent]) -> Vec<OutboxMessage> {
        let mut out = Vec::new();
        for event in events {
            let topic = match event {
                IncidentEvent::Resolved { .. } => Some("incident.resolved"),
                IncidentEvent::Reopened { .. } => Some("incident.reopened"),
                IncidentEvent::MajorDeclared { .. } => Some("incident.major_declared"),
                IncidentEvent::Closed { .. } => Some("incident.closed"),
                IncidentEvent::Opened { .. }
                | IncidentEvent::Assigned { .. }
                | IncidentEvent::Acknowledged { .. }
                | IncidentEvent::Started { .. }
                | IncidentEvent::Held { .. }
                | IncidentEvent::Resumed { .. }
                | IncidentEvent::ImpactRecorded { .. }
                | IncidentEvent::Cancelled { .. }
                | IncidentEvent::Reprioritized { .. }
                | IncidentEvent::TierEscalated { .. }
                | IncidentEvent::ProblemLinked { .. }
                | IncidentEvent::ChangeLinked { .. }
                | IncidentEvent::ParentSet { .. }
                | IncidentEvent::ChildLinked { .. }
                | IncidentEvent::NoteAdded { .. }
                | IncidentEvent::AlertCorrelated { .. } => None,
            };
            if let Some(topic) = topic {
                out.push(OutboxMessage {
                    topic: topic.to_owned(),
                    dedup_key: format!("{}:{}:{}", state.id, event.name(), event.at()),
                    payload: serde_json::json!({
                        "incident": state.id,
                        "event": event.name(),
                        "at": event.at(),
                        "priority": state.priority,
                        "children": state.children,
                    }),
                });
            }
        }
        out.extend(alert_clears(state, events));
        out
    }
}

impl crate::aggregate::Refusal for IncidentError {
    fn refusal(&self) -> crate::aggregate::RefusalKind {
        use crate::aggregate::RefusalKind;
        match self {
            IncidentError::InvalidTransition { .. } => RefusalKind::Rules,
            IncidentError::Invalid { .. } => RefusalKind::Invalid,
            IncidentError::Forbidden { .. } => RefusalKind::Forbidden,
            IncidentError::NotFound { .. } => RefusalKind::NotFound,
            IncidentError::AlreadyExists { .. } => RefusalKind::AlreadyExists,
        }
    }
}
