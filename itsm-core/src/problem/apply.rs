//! Applying an event to an existing problem: the strict fold.

use super::{Fix, Problem, ProblemEvent, ProblemResolution, ProblemState};
use crate::actor::AggregateKind;
use crate::aggregate::ApplyError;

impl Problem {
    /// Applies one event to an existing problem. The fold is strict: each
    /// event applies only in the states where `decide` emits it, and any other
    /// (state, event) pair is an [`ApplyError`] naming the kind, the state and
    /// the event.
    pub(super) fn applied(mut self, event: &ProblemEvent) -> Result<Self, ApplyError> {
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
