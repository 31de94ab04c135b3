//! The problem state machine.
//!
//! New -> Assessed -> RootCauseAnalysis -> KnownError(workaround) ->
//! FixInProgress(change) -> Resolved(closure) -> Closed, with re-analysis
//! (back to RootCauseAnalysis from KnownError, FixInProgress or Resolved),
//! linked incidents, and a known-error record (symptom, root cause,
//! workaround). Closure codes follow ServiceNow: fix applied, risk accepted,
//! duplicate, cancelled. The fold is strict: an event applies only in the
//! states where `decide` emits it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::actor::AggregateKind;
use crate::aggregate::{Aggregate, ApplyError, Context, Precheck, RefKind, Reference, Summary, stamped_events};
use crate::id::{ActorId, ChangeId, IncidentId, ProblemId, ServiceId, TenantId, Text};
use crate::machine::{Transition, t};
use crate::time::Timestamp;
use crate::vocabulary::{Priority, text_enum};

text_enum!(
    /// The problem's state without its data.
    ProblemStatus {
        /// Registered.
        New => "new",
        /// Assessed (priority set, accepted for analysis).
        Assessed => "assessed",
        /// Root cause being analysed.
        RootCauseAnalysis => "root_cause_analysis",
        /// Root cause and workaround known.
        KnownError => "known_error",
        /// A change is fixing it.
        FixInProgress => "fix_in_progress",
        /// Resolved with a closure code.
        Resolved => "resolved",
        /// Closed; terminal.
        Closed => "closed",
    }
);

text_enum!(
    /// How a problem was resolved.
    ProblemClosure {
        /// The fix was applied.
        FixApplied => "fix_applied",
        /// The risk was accepted; no fix.
        RiskAccepted => "risk_accepted",
        /// A duplicate of another problem.
        Duplicate => "duplicate",
        /// Cancelled.
        Cancelled => "cancelled",
    }
);

/// The known-error record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownErrorRecord {
    /// What users see.
    pub symptom: Text,
    /// Why it happens.
    pub root_cause: Text,
    /// How to restore service meanwhile.
    pub workaround: Text,
}

/// Data of the fix-in-progress state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fix {
    /// The known error being fixed.
    pub known_error: KnownErrorRecord,
    /// The change implementing the fix.
    pub change: ChangeId,
}

/// Data of the resolved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemResolution {
    /// How.
    pub closure: ProblemClosure,
    /// When it was resolved.
    pub at: Timestamp,
    /// The known error, if one was recorded.
    pub known_error: Option<KnownErrorRecord>,
}

/// The problem's state with its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProblemState {
    /// Registered.
    New,
    /// Assessed.
    Assessed,
    /// Under root-cause analysis.
    RootCauseAnalysis,
    /// Known error.
    KnownError(KnownErrorRecord),
    /// Fix in progress.
    FixInProgress(Fix),
    /// Resolved.
    Resolved(ProblemResolution),
    /// Closed.
    Closed(ProblemResolution),
}

impl ProblemState {
    /// The fieldless status.
    pub fn status(&self) -> ProblemStatus {
        match self {
            ProblemState::New => ProblemStatus::New,
            ProblemState::Assessed => ProblemStatus::Assessed,
            ProblemState::RootCauseAnalysis => ProblemStatus::RootCauseAnalysis,
            ProblemState::KnownError(_) => ProblemStatus::KnownError,
            ProblemState::FixInProgress(_) => ProblemStatus::FixInProgress,
            ProblemState::Resolved(_) => ProblemStatus::Resolved,
            ProblemState::Closed(_) => ProblemStatus::Closed,
        }
    }
}

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

/// Commands a problem accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum ProblemCommand {
    /// Register a problem.
    Open {
        /// Its id.
        id: ProblemId,
        /// The service concerned.
        service: ServiceId,
        /// A title.
        title: Text,
        /// Incidents that prompted it (repeat incidents, Table 7).
        #[serde(default)]
        incidents: BTreeSet<IncidentId>,
    },
    /// Assess and set a priority.
    Assess {
        /// The priority.
        priority: Priority,
    },
    /// Start root-cause analysis.
    StartAnalysis,
    /// Record the known error.
    RecordKnownError(KnownErrorRecord),
    /// A change will fix it.
    StartFix {
        /// The change.
        change: ChangeId,
    },
    /// Resolve with a closure code.
    Resolve {
        /// How.
        closure: ProblemClosure,
    },
    /// Go back to root-cause analysis.
    Reanalyze {
        /// Why.
        reason: Text,
    },
    /// Close.
    Close,
    /// Link an incident.
    LinkIncident {
        /// The incident.
        incident: IncidentId,
    },
}

impl ProblemCommand {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ProblemCommand::Open { .. } => "open",
            ProblemCommand::Assess { .. } => "assess",
            ProblemCommand::StartAnalysis => "start_analysis",
            ProblemCommand::RecordKnownError(_) => "record_known_error",
            ProblemCommand::StartFix { .. } => "start_fix",
            ProblemCommand::Resolve { .. } => "resolve",
            ProblemCommand::Reanalyze { .. } => "reanalyze",
            ProblemCommand::Close => "close",
            ProblemCommand::LinkIncident { .. } => "link_incident",
        }
    }
}

stamped_events! {
    /// Events a problem records.
    pub enum ProblemEvent {
        /// Registered.
        Opened {
            /// Tenant.
            tenant: TenantId,
            /// Id.
            id: ProblemId,
            /// Service.
            service: ServiceId,
            /// Title.
            title: Text,
            /// Initial incidents.
            incidents: BTreeSet<IncidentId>,
        } => "opened",
        /// Assessed.
        Assessed {
            /// Priority.
            priority: Priority,
        } => "assessed",
        /// Analysis started.
        AnalysisStarted {} => "analysis_started",
        /// Known error recorded.
        KnownErrorRecorded {
            /// The record.
            known_error: KnownErrorRecord,
        } => "known_error_recorded",
        /// Fix started.
        FixStarted {
            /// The change.
            change: ChangeId,
        } => "fix_started",
        /// Resolved.
        Resolved {
            /// How.
            closure: ProblemClosure,
        } => "resolved",
        /// Back to analysis.
        Reanalyzed {
            /// Why.
            reason: Text,
        } => "reanalyzed",
        /// Closed.
        Closed {} => "closed",
        /// Incident linked.
        IncidentLinked {
            /// The incident.
            incident: IncidentId,
        } => "incident_linked",
    }
}

/// Why a problem command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProblemError {
    /// Not allowed in this state.
    #[error("cannot {command} problem {id}: it is {state}")]
    InvalidTransition {
        /// The problem.
        id: ProblemId,
        /// Its state.
        state: ProblemStatus,
        /// The command.
        command: &'static str,
    },
    /// Allowed in this state, but the data is not.
    #[error("cannot {command} problem {id} ({state}): {reason}")]
    Invalid {
        /// The problem.
        id: ProblemId,
        /// Its state.
        state: ProblemStatus,
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// No role permits it.
    #[error("{actor} may not {command} problem {id} ({state}): no role permits it")]
    Forbidden {
        /// The problem.
        id: ProblemId,
        /// Its state (`absent` before creation).
        state: &'static str,
        /// Who asked.
        actor: ActorId,
        /// The command.
        command: &'static str,
    },
    /// Missing (or another tenant's).
    #[error("cannot {command}: problem does not exist")]
    NotFound {
        /// The command.
        command: &'static str,
    },
    /// Open on an existing problem.
    #[error("cannot open problem {id}: it already exists ({state})")]
    AlreadyExists {
        /// The problem.
        id: ProblemId,
        /// Its state.
        state: ProblemStatus,
    },
}

/// The problem machine's transition table.
pub const TRANSITIONS: &[Transition] = &[
    t("new", "assess", "assessed"),
    t("assessed", "start_analysis", "root_cause_analysis"),
    t("root_cause_analysis", "record_known_error", "known_error"),
    t("known_error", "record_known_error", "known_error"),
    t("known_error", "start_fix", "fix_in_progress"),
    t("fix_in_progress", "resolve", "resolved"),
    t("known_error", "resolve", "resolved"),
    t("root_cause_analysis", "resolve", "resolved"),
    t("new", "resolve", "resolved"),
    t("assessed", "resolve", "resolved"),
    t("known_error", "reanalyze", "root_cause_analysis"),
    t("fix_in_progress", "reanalyze", "root_cause_analysis"),
    t("resolved", "reanalyze", "root_cause_analysis"),
    t("resolved", "close", "closed"),
    t("new", "link_incident", "new"),
    t("assessed", "link_incident", "assessed"),
    t("root_cause_analysis", "link_incident", "root_cause_analysis"),
    t("known_error", "link_incident", "known_error"),
    t("fix_in_progress", "link_incident", "fix_in_progress"),
    t("resolved", "link_incident", "resolved"),
];

/// The problem machine as a Mermaid state diagram.
pub fn diagram() -> String {
    crate::machine::mermaid("Problem", &["new"], &["closed"], TRANSITIONS)
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

    fn reject(&self, command: &ProblemCommand) -> ProblemError {
        ProblemError::InvalidTransition { id: self.id.clone(), state: self.status(), command: command.name() }
    }

    fn invalid(&self, command: &ProblemCommand, reason: impl Into<String>) -> ProblemError {
        ProblemError::Invalid {
            id: self.id.clone(),
            state: self.status(),
            command: command.name(),
            reason: reason.into(),
        }
    }

    fn decide_existing(&self, command: &ProblemCommand, ctx: &Context<'_>) -> Result<Vec<ProblemEvent>, ProblemError> {
        use ProblemState as S;
        ctx.precheck(AggregateKind::Problem, &self.tenant, command.name(), self.last_event_at).map_err(
            |p| match p {
                Precheck::OtherTenant => ProblemError::NotFound { command: command.name() },
                Precheck::Forbidden => ProblemError::Forbidden {
                    id: self.id.clone(),
                    state: self.status().as_str(),
                    actor: ctx.actor.id.clone(),
                    command: command.name(),
                },
                Precheck::TimeWentBack(reason) => self.invalid(command, reason),
            },
        )?;
        let at = ctx.now;
        let by = ctx.actor.id.clone();
        let state = &self.state;
        let event = match command {
            ProblemCommand::Open { .. } => {
                return Err(ProblemError::AlreadyExists { id: self.id.clone(), state: self.status() });
            }
            ProblemCommand::Assess { priority } => match state {
                S::New => ProblemEvent::Assessed { priority: *priority, at, by },
                S::Assessed
                | S::RootCauseAnalysis
                | S::KnownError(_)
                | S::FixInProgress(_)
                | S::Resolved(_)
                | S::Closed(_) => {
                    return Err(self.reject(command));
                }
            },
            ProblemCommand::StartAnalysis => match state {
                S::Assessed => ProblemEvent::AnalysisStarted { at, by },
                S::New
                | S::RootCauseAnalysis
                | S::KnownError(_)
                | S::FixInProgress(_)
                | S::Resolved(_)
                | S::Closed(_) => {
                    return Err(self.reject(command));
                }
            },
            ProblemCommand::RecordKnownError(record) => match state {
                S::RootCauseAnalysis | S::KnownError(_) => {
                    if record.workaround.as_str().trim().is_empty() || record.root_cause.as_str().trim().is_empty() {
                        return Err(self.invalid(command, "a known error needs a root cause and a workaround"));
                    }
                    ProblemEvent::KnownErrorRecorded { known_error: record.clone(), at, by }
                }
                S::New | S::Assessed | S::FixInProgress(_) | S::Resolved(_) | S::Closed(_) => {
                    return Err(self.reject(command));
                }
            },
            ProblemCommand::StartFix { change } => match state {
                S::KnownError(_) => ProblemEvent::FixStarted { change: change.clone(), at, by },
                S::New | S::Assessed | S::RootCauseAnalysis | S::FixInProgress(_) | S::Resolved(_) | S::Closed(_) => {
                    return Err(self.reject(command));
                }
            },
            ProblemCommand::Resolve { closure } => {
                let allowed = match (state, closure) {
                    (S::FixInProgress(_), ProblemClosure::FixApplied) => true,
                    (S::KnownError(_) | S::RootCauseAnalysis, ProblemClosure::RiskAccepted) => true,
                    (
                        S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_),
                        ProblemClosure::Duplicate | ProblemClosure::Cancelled,
                    ) => true,
                    (S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_), ProblemClosure::FixApplied)
                    | (S::New | S::Assessed | S::FixInProgress(_), ProblemClosure::RiskAccepted) => {
                        return Err(
                            self.invalid(command, format!("closure {closure} is not possible while {}", self.status()))
                        );
                    }
                    (S::Resolved(_) | S::Closed(_), _) => false,
                };
                if !allowed {
                    return Err(self.reject(command));
                }
                ProblemEvent::Resolved { closure: *closure, at, by }
            }
            ProblemCommand::Reanalyze { reason } => match state {
                S::KnownError(_) | S::FixInProgress(_) | S::Resolved(_) => {
                    ProblemEvent::Reanalyzed { reason: reason.clone(), at, by }
                }
                S::New | S::Assessed | S::RootCauseAnalysis | S::Closed(_) => return Err(self.reject(command)),
            },
            ProblemCommand::Close => match state {
                S::Resolved(_) => ProblemEvent::Closed { at, by },
                S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_) | S::Closed(_) => {
                    return Err(self.reject(command));
                }
            },
            ProblemCommand::LinkIncident { incident } => match state {
                S::New
                | S::Assessed
                | S::RootCauseAnalysis
                | S::KnownError(_)
                | S::FixInProgress(_)
                | S::Resolved(_) => {
                    if self.incidents.contains(incident) {
                        return Err(self.invalid(command, format!("{incident} is already linked")));
                    }
                    ProblemEvent::IncidentLinked { incident: incident.clone(), at, by }
                }
                S::Closed(_) => return Err(self.reject(command)),
            },
        };
        Ok(vec![event])
    }

    /// Applies one event to an existing problem. The fold is strict: each
    /// event applies only in the states where `decide` emits it, and any other
    /// (state, event) pair is an [`ApplyError`] naming the kind, the state and
    /// the event.
    fn applied(mut self, event: &ProblemEvent) -> Result<Self, ApplyError> {
        use ProblemEvent as E;
        use ProblemState as S;
        let refused = ApplyError { kind: AggregateKind::Problem, state: self.status().as_str(), event: event.name() };
        self.last_event_at = self.last_event_at.max(event.at());
        // The new state, or `None` when the event keeps it.
        let next = match (&self.state, event) {
            (
                S::New
                | S::Assessed
                | S::RootCauseAnalysis
                | S::KnownError(_)
                | S::FixInProgress(_)
                | S::Resolved(_)
                | S::Closed(_),
                E::Opened { .. },
            ) => return Err(refused),

            (S::New, E::Assessed { priority, .. }) => {
                self.priority = Some(*priority);
                Some(S::Assessed)
            }
            (
                S::Assessed
                | S::RootCauseAnalysis
                | S::KnownError(_)
                | S::FixInProgress(_)
                | S::Resolved(_)
                | S::Closed(_),
                E::Assessed { .. },
            ) => return Err(refused),

            (S::Assessed, E::AnalysisStarted { .. }) => {
                self.analyses = self.analyses.saturating_add(1);
                Some(S::RootCauseAnalysis)
            }
            (
                S::New | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_) | S::Resolved(_) | S::Closed(_),
                E::AnalysisStarted { .. },
            ) => return Err(refused),

            // A first record, or a better one.
            (S::RootCauseAnalysis | S::KnownError(_), E::KnownErrorRecorded { known_error, .. }) => {
                Some(S::KnownError(known_error.clone()))
            }
            (
                S::New | S::Assessed | S::FixInProgress(_) | S::Resolved(_) | S::Closed(_),
                E::KnownErrorRecorded { .. },
            ) => {
                return Err(refused);
            }

            (S::KnownError(k), E::FixStarted { change, .. }) => {
                Some(S::FixInProgress(Fix { known_error: k.clone(), change: change.clone() }))
            }
            (
                S::New | S::Assessed | S::RootCauseAnalysis | S::FixInProgress(_) | S::Resolved(_) | S::Closed(_),
                E::FixStarted { .. },
            ) => return Err(refused),

            // Which closure each state allows is `decide`'s rule; the fold keeps the known error.
            (
                S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_),
                E::Resolved { closure, at, .. },
            ) => {
                let known_error = self.known_error().cloned();
                Some(S::Resolved(ProblemResolution { closure: *closure, at: *at, known_error }))
            }
            (S::Resolved(_) | S::Closed(_), E::Resolved { .. }) => return Err(refused),

            (S::KnownError(_) | S::FixInProgress(_) | S::Resolved(_), E::Reanalyzed { .. }) => {
                self.analyses = self.analyses.saturating_add(1);
                Some(S::RootCauseAnalysis)
            }
            (S::New | S::Assessed | S::RootCauseAnalysis | S::Closed(_), E::Reanalyzed { .. }) => return Err(refused),

            (S::Resolved(r), E::Closed { .. }) => Some(S::Closed(r.clone())),
            (
                S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_) | S::Closed(_),
                E::Closed { .. },
            ) => return Err(refused),

            (
                S::New | S::Assessed | S::RootCauseAnalysis | S::KnownError(_) | S::FixInProgress(_) | S::Resolved(_),
                E::IncidentLinked { incident, .. },
            ) => {
                self.incidents.insert(incident.clone());
                None
            }
            (S::Closed(_), E::IncidentLinked { .. }) => return Err(refused),
        };
        if let Some(next) = next {
            self.state = next;
        }
        Ok(self)
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

impl crate::aggregate::Refusal for ProblemError {
    fn refusal(&self) -> crate::aggregate::RefusalKind {
        use crate::aggregate::RefusalKind;
        match self {
            ProblemError::InvalidTransition { .. } => RefusalKind::Rules,
            ProblemError::Invalid { .. } => RefusalKind::Invalid,
            ProblemError::Forbidden { .. } => RefusalKind::Forbidden,
            ProblemError::NotFound { .. } => RefusalKind::NotFound,
            ProblemError::AlreadyExists { .. } => RefusalKind::AlreadyExists,
        }
    }
}
