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
//! use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency, Priority};
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

mod apply;
mod command;
mod decide;
mod error;
mod event;
mod outbox;
mod sla;
mod transitions;
mod types;

pub use command::{IncidentCommand, OpenIncident};
pub use error::IncidentError;
pub use event::IncidentEvent;
pub use sla::sla_events;
pub use transitions::{TRANSITIONS, diagram};
pub use types::{
    ActionDone, Assignment, CancelledIncident, ClosedIncident, IncidentState, IncidentStatus, MAX_REVIEW_ACTIONS,
    MajorCandidate, MajorDeclaration, OnHold, PostIncidentReview, Resolution, ResolutionCode, ReviewAction, Work,
};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, OutboxMessage, RefKind, Reference, Summary};
use crate::alert::AlertKey;
use crate::id::{ActorId, ChangeId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use crate::records::IncidentRecord;
use crate::time::Timestamp;
use crate::vocabulary::{DetectionSource, FailureClass, Impact, IncidentKind, Priority, SupportTier, Urgency};

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
    /// A pending major-incident proposal.
    #[serde(default)]
    major_candidate: Option<MajorCandidate>,
    /// The post-incident review, once recorded.
    #[serde(default)]
    review: Option<PostIncidentReview>,
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

    /// The post-incident review, if recorded (its action items tracked until
    /// done: [`PostIncidentReview::open_actions`]).
    pub fn review(&self) -> Option<&PostIncidentReview> {
        self.review.as_ref()
    }

    /// The pending major-incident proposal, if any (cleared by a declaration
    /// or a decline).
    pub fn major_candidate(&self) -> Option<&MajorCandidate> {
        self.major_candidate.as_ref()
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
        Incident::fold(state, event)
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
            | IncidentCommand::ProposeMajor { .. }
            | IncidentCommand::DeclineMajor { .. }
            | IncidentCommand::DeclareMajor
            | IncidentCommand::RecordReview { .. }
            | IncidentCommand::CompleteAction { .. }
            | IncidentCommand::AddNote { .. }
            | IncidentCommand::CorrelateAlert { .. } => Vec::new(),
        }
    }

    fn note(event: &IncidentEvent) -> Option<(&str, bool)> {
        let IncidentEvent::NoteAdded { text, public, .. } = event else { return None };
        Some((text.as_str(), *public))
    }

    fn clock_events(events: &[IncidentEvent]) -> Vec<crate::sla::SlaEvent> {
        sla_events(events)
    }

    /// Besides the incident topics, one `alert.clear` per correlated alert when
    /// the incident is resolved or closed, and one for an alert correlated to a
    /// resolved incident. The dedup key is the alert's
    /// ([`AlertKey::clear_key`]), so each alert is cleared once however many
    /// resolutions and closures follow.
    fn outbox(state: &Self, events: &[IncidentEvent]) -> Vec<OutboxMessage> {
        outbox::messages(state, events)
    }

    /// A resolution among `events` cascades to the children
    /// ([`Incident::cascade_commands`]); nothing else does.
    fn cascade(state: &Self, events: &[IncidentEvent]) -> Vec<(String, IncidentCommand)> {
        if !events.iter().any(|e| matches!(e, IncidentEvent::Resolved { .. })) {
            return Vec::new();
        }
        state.cascade_commands().into_iter().map(|(id, command)| (id.as_str().to_owned(), command)).collect()
    }
}
