//! The problem state machine.
//!
//! New -> Assessed -> RootCauseAnalysis -> KnownError(workaround) ->
//! FixInProgress(change) -> Resolved(closure) -> Closed, with re-analysis
//! (back to RootCauseAnalysis from KnownError, FixInProgress or Resolved),
//! linked incidents, and a known-error record (symptom, root cause,
//! workaround). Closure codes follow ServiceNow: fix applied, risk accepted,
//! duplicate, cancelled. The fold is strict: an event applies only in the
//! states where `decide` emits it.

mod apply;
mod command;
mod decide;
mod error;
mod event;
mod proposal;
mod transitions;
mod types;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub use command::ProblemCommand;
pub use error::ProblemError;
pub use event::ProblemEvent;
pub use proposal::{Acceptance, ProblemProposal, ProposalReason, ProposalRule, proposals};
pub use transitions::{TRANSITIONS, diagram};
pub use types::{Fix, KnownErrorRecord, ProblemClosure, ProblemResolution, ProblemState, ProblemStatus};

use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, RefKind, Reference, Summary};
use crate::id::{IncidentId, ProblemId, ServiceId, TenantId, Text};
use crate::time::Timestamp;
use crate::vocabulary::Priority;

/// A problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    id: ProblemId,
    tenant: TenantId,
    service: ServiceId,
    title: Text,
    priority: Option<Priority>,
    opened_at: Timestamp,
    last_event_at: Timestamp,
    incidents: BTreeSet<IncidentId>,
    analyses: u32,
    state: ProblemState,
}

impl Problem {
    /// The id.
    pub fn problem_id(&self) -> &ProblemId {
        &self.id
    }
    /// The state with its data.
    pub fn state(&self) -> &ProblemState {
        &self.state
    }
    /// The fieldless status.
    pub fn status(&self) -> ProblemStatus {
        self.state.status()
    }
    /// Linked incidents.
    pub fn incidents(&self) -> &BTreeSet<IncidentId> {
        &self.incidents
    }
    /// How many times analysis was (re)started.
    pub fn analyses(&self) -> u32 {
        self.analyses
    }
    /// The priority set at assessment.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }
    /// The known-error record, if one exists in the current state.
    pub fn known_error(&self) -> Option<&KnownErrorRecord> {
        match &self.state {
            ProblemState::KnownError(k) => Some(k),
            ProblemState::FixInProgress(f) => Some(&f.known_error),
            ProblemState::Resolved(r) | ProblemState::Closed(r) => r.known_error.as_ref(),
            ProblemState::New | ProblemState::Assessed | ProblemState::RootCauseAnalysis => None,
        }
    }
}

impl Aggregate for Problem {
    const KIND: AggregateKind = AggregateKind::Problem;
    type Command = ProblemCommand;
    type Event = ProblemEvent;
    type Error = ProblemError;

    fn decide(
        state: Option<&Self>,
        command: &ProblemCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<ProblemEvent>, ProblemError> {
        match (state, command) {
            (Some(problem), command) => problem.decide_existing(command, ctx),
            (None, ProblemCommand::Open { id, service, title, incidents }) => {
                if !ctx.config.permissions.permits(ctx.actor, AggregateKind::Problem, "open") {
                    return Err(ProblemError::Forbidden {
                        id: id.clone(),
                        state: "absent",
                        actor: ctx.actor.id.clone(),
                        command: "open",
                    });
                }
                Ok(vec![ProblemEvent::Opened {
                    tenant: ctx.actor.tenant.clone(),
                    id: id.clone(),
                    service: service.clone(),
                    title: title.clone(),
                    incidents: incidents.clone(),
                    at: ctx.now,
                    by: ctx.actor.id.clone(),
                }])
            }
            (None, command) => Err(ProblemError::NotFound { command: command.name() }),
        }
    }

    fn apply(state: Option<Self>, event: &ProblemEvent) -> Result<Self, ApplyError> {
        match (state, event) {
            (None, ProblemEvent::Opened { tenant, id, service, title, incidents, at, .. }) => Ok(Problem {
                id: id.clone(),
                tenant: tenant.clone(),
                service: service.clone(),
                title: title.clone(),
                priority: None,
                opened_at: *at,
                last_event_at: *at,
                incidents: incidents.clone(),
                analyses: 0,
                state: ProblemState::New,
            }),
            (None, other) => Err(ApplyError { kind: AggregateKind::Problem, state: "absent", event: other.name() }),
            (Some(problem), event) => problem.applied(event),
        }
    }

    fn id(&self) -> &str {
        self.id.as_str()
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn summary(&self) -> Summary {
        Summary {
            status: self.status().as_str(),
            terminal: matches!(self.state, ProblemState::Closed(_)),
            service: Some(self.service.clone()),
            priority: self.priority,
            assignee: None,
            group: None,
            window: None,
            title: self.title.as_str().to_owned(),
            requester: None,
            opened_at: self.opened_at,
            major: false,
        }
    }

    fn event_name(event: &ProblemEvent) -> &'static str {
        event.name()
    }

    fn command_name(command: &ProblemCommand) -> &'static str {
        command.name()
    }

    fn references(command: &ProblemCommand) -> Vec<Reference> {
        match command {
            ProblemCommand::Open { incidents, .. } => {
                incidents.iter().map(|i| Reference { kind: RefKind::Incident, id: i.as_str().to_owned() }).collect()
            }
            ProblemCommand::LinkIncident { incident } => {
                vec![Reference { kind: RefKind::Incident, id: incident.as_str().to_owned() }]
            }
            ProblemCommand::StartFix { change } => {
                vec![Reference { kind: RefKind::Change, id: change.as_str().to_owned() }]
            }
            ProblemCommand::Assess { .. }
            | ProblemCommand::StartAnalysis
            | ProblemCommand::RecordKnownError(_)
            | ProblemCommand::Resolve { .. }
            | ProblemCommand::Reanalyze { .. }
            | ProblemCommand::Close => Vec::new(),
        }
    }
}
