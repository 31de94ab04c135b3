//! The commands a problem accepts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{KnownErrorRecord, ProblemClosure};
use crate::id::{ChangeId, IncidentId, ProblemId, ServiceId, Text};
use crate::vocabulary::Priority;

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
