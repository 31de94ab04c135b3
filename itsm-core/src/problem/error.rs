//! Why a problem command was refused, and how a caller classifies it.

use super::ProblemStatus;
use crate::id::{ActorId, ProblemId};

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
