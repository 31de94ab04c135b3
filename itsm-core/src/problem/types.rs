//! The problem's states and the data they carry.

use serde::{Deserialize, Serialize};

use crate::id::{ChangeId, Text};
use crate::time::Timestamp;
use crate::vocabulary::text_enum;

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
