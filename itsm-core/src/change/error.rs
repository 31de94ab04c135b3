//! Why a change command was refused: one error for the three change machines,
//! and `Refuse`, which names the machine, the change, its state and the
//! command for each refusal.

use crate::actor::AggregateKind;
use crate::id::{ActorId, ChangeId};

/// Why a change command was refused (all three change machines share it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// Not allowed in this state.
    #[error("cannot {command} {kind} {id}: it is {state}")]
    InvalidTransition {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
    },
    /// Allowed in this state, but the data is not.
    #[error("cannot {command} {kind} {id} ({state}): {reason}")]
    Invalid {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Separation of duties or group membership refused an approval.
    #[error("cannot {command} {kind} {id} ({state}): {source}")]
    Approval {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// The refusal.
        source: super::approval::ApprovalError,
    },
    /// No role permits it.
    #[error("{actor} may not {command} {kind} {id} ({state}): no role permits it")]
    Forbidden {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: ChangeId,
        /// Its state (`absent` before creation).
        state: &'static str,
        /// Who asked.
        actor: ActorId,
        /// The command.
        command: &'static str,
    },
    /// Missing (or another tenant's).
    #[error("cannot {command}: {kind} does not exist")]
    NotFound {
        /// Which machine.
        kind: AggregateKind,
        /// The command.
        command: &'static str,
    },
    /// The service's schedule refused the window, or asks for an override
    /// reason ([`super::schedule::check_schedule`]).
    #[error("cannot {command} {kind} {id} ({state}): {refusal}")]
    Schedule {
        /// Which machine.
        kind: AggregateKind,
        /// The change.
        id: ChangeId,
        /// Its state.
        state: &'static str,
        /// The command.
        command: &'static str,
        /// The refusal, naming the conflicts.
        refusal: super::schedule::ScheduleRefusal,
    },
    /// A creation command on an existing change.
    #[error("cannot {command} {kind} {id}: it already exists ({state})")]
    AlreadyExists {
        /// Which machine.
        kind: AggregateKind,
        /// The creation command.
        command: &'static str,
        /// The change.
        id: ChangeId,
        /// Its state.
        state: &'static str,
    },
}

impl crate::aggregate::Refusal for ChangeError {
    fn refusal(&self) -> crate::aggregate::RefusalKind {
        use crate::aggregate::RefusalKind;
        match self {
            ChangeError::InvalidTransition { .. } | ChangeError::Approval { .. } | ChangeError::Schedule { .. } => {
                RefusalKind::Rules
            }
            ChangeError::Invalid { .. } => RefusalKind::Invalid,
            ChangeError::Forbidden { .. } => RefusalKind::Forbidden,
            ChangeError::NotFound { .. } => RefusalKind::NotFound,
            ChangeError::AlreadyExists { .. } => RefusalKind::AlreadyExists,
        }
    }
}

/// A refusal of one command: the machine, the change, its state and the
/// command, which every [`ChangeError`] about an existing change names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refuse<'a> {
    /// Which machine.
    pub kind: AggregateKind,
    /// The change.
    pub id: &'a ChangeId,
    /// Its state.
    pub state: &'static str,
    /// The command.
    pub command: &'static str,
}

impl Refuse<'_> {
    /// The command is not allowed in this state.
    pub(crate) fn transition(&self) -> ChangeError {
        ChangeError::InvalidTransition {
            kind: self.kind,
            id: self.id.clone(),
            state: self.state,
            command: self.command,
        }
    }

    /// The command is allowed in this state, but its data is not.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> ChangeError {
        ChangeError::Invalid {
            kind: self.kind,
            id: self.id.clone(),
            state: self.state,
            command: self.command,
            reason: reason.into(),
        }
    }

    /// Separation of duties or group membership refused an approval.
    pub(crate) fn approval(&self, source: super::approval::ApprovalError) -> ChangeError {
        ChangeError::Approval { kind: self.kind, id: self.id.clone(), state: self.state, command: self.command, source }
    }

    /// The service's schedule refused the window.
    pub(crate) fn schedule(&self, refusal: super::schedule::ScheduleRefusal) -> ChangeError {
        ChangeError::Schedule {
            kind: self.kind,
            id: self.id.clone(),
            state: self.state,
            command: self.command,
            refusal,
        }
    }

    /// No role permits `actor` the command.
    pub(crate) fn forbidden(&self, actor: &ActorId) -> ChangeError {
        ChangeError::Forbidden {
            kind: self.kind,
            id: self.id.clone(),
            state: self.state,
            actor: actor.clone(),
            command: self.command,
        }
    }

    /// The change is missing (or another tenant's).
    pub(crate) fn not_found(&self) -> ChangeError {
        ChangeError::NotFound { kind: self.kind, command: self.command }
    }

    /// A creation command on an existing change.
    pub(crate) fn exists(&self) -> ChangeError {
        ChangeError::AlreadyExists { kind: self.kind, command: self.command, id: self.id.clone(), state: self.state }
    }
}
