//! Why an incident command was refused.

use super::IncidentStatus;
use crate::id::{ActorId, IncidentId};

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
