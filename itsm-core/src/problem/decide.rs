//! Deciding a command on an existing problem: the rules.

use super::{Problem, ProblemClosure, ProblemCommand, ProblemError, ProblemEvent, ProblemState};
use crate::actor::AggregateKind;
use crate::aggregate::{Context, Precheck};

impl Problem {
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

    pub(super) fn decide_existing(
        &self,
        command: &ProblemCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<ProblemEvent>, ProblemError> {
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
}
