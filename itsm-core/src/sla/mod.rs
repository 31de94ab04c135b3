//! SLA clocks: a pure function of an incident's history.
//!
//! [`clocks`] replays a list of [`SlaEvent`]s (which the incident state
//! machine maps its own events to) under an [`SlaPolicy`] and a business
//! [`Calendar`](crate::calendar::Calendar) and returns one [`TargetClock`] per
//! target and cycle, as of a `now` the caller passes in. The same history,
//! policy version, calendar version and `now` always give the same answer, so
//! a clock never needs repair. [`due_escalations`] evaluates
//! [`EscalationRules`] the same way.
//!
//! # Rules of the clock
//!
//! * **Response** starts at `Opened` and stops at the first `Acknowledged`
//!   (or at `Resolved`/`Closed` if the incident was never acknowledged). It
//!   has one cycle.
//! * **Resolution** starts at `Opened` and stops at `Resolved` (or `Closed`).
//!   A `Reopened` either continues the same cycle, the time between
//!   resolution and reopening not counting ([`ReopenPolicy::ContinueCycle`]),
//!   or starts a new cycle, the earlier one kept as completed history
//!   ([`ReopenPolicy::NewCycle`]).
//! * **Update** (only when the policy sets an update target for the
//!   incident's priority) starts at the first `Acknowledged`; each `Updated`
//!   (a public note to the caller) stops the running cycle and starts the
//!   next; `Resolved` stops it and `Reopened` starts a new one. An `Updated`
//!   before the first acknowledgement is not a response and starts nothing.
//! * A `Held` whose reason the policy lists in `pausing_holds` pauses every
//!   running clock until `Resumed` (or until a `Held` with a non-pausing
//!   reason, or `Resolved`); other holds do not pause.
//! * `PriorityChanged` re-targets the clocks that have not stopped, keeping
//!   their elapsed and paused time: the new target applies to the time
//!   already elapsed, so a clock whose elapsed time already exceeds the new
//!   target is breached as of the instant it crossed it, even if that instant
//!   is before the change. Stopped clocks keep the target they stopped with.
//! * `Cancelled` cancels every clock that has not stopped; `Closed` stops them
//!   like a resolution.
//! * A target is **met** when its clock stops while its elapsed business time
//!   is below the target, and **breached** from the instant elapsed business
//!   time reaches the target (100 %), stopped or not.
//! * Events later than `now` are treated as not having happened yet: the
//!   result is the clock as of `now`. The whole history is still checked for
//!   order and consistency first, so the same history always gives the same
//!   error.

mod clock;
pub mod due;
mod escalation;
mod policy;

use serde::{Deserialize, Serialize};

pub use clock::{ClockState, TargetClock, ThresholdStatus, clocks, last_clock};
pub use due::{DueBasis, DueInstant, DueMark, due_instants, next_due, next_due_after};
pub use escalation::{
    DueEscalation, EscalationAction, EscalationRule, EscalationRules, EscalationTrigger, MAX_RULE_PERCENT, RulesError,
    due_escalations,
};
pub use policy::{PolicyError, ReopenPolicy, SlaPolicy, TargetEntry, TargetKind, TargetSet};

use crate::calendar::CalendarError;
use crate::time::Timestamp;
use crate::vocabulary::{HoldReason, IncidentKind, Priority};

/// What the SLA clock needs to know about an incident's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SlaEvent {
    /// The incident was registered; starts response and resolution.
    Opened {
        /// When the incident was registered.
        at: Timestamp,
        /// The incident kind (selects targets).
        kind: IncidentKind,
        /// The initial priority (selects targets).
        priority: Priority,
    },
    /// First response to the caller; stops response (later ones change nothing).
    Acknowledged {
        /// When the first response was made.
        at: Timestamp,
    },
    /// Put on hold; pauses the clocks if the policy says the reason pauses.
    Held {
        /// When it was put on hold.
        at: Timestamp,
        /// Why.
        reason: HoldReason,
    },
    /// Back from hold.
    Resumed {
        /// When it came back from hold.
        at: Timestamp,
    },
    /// The priority changed; re-targets the clocks that have not stopped.
    PriorityChanged {
        /// When the priority changed.
        at: Timestamp,
        /// The new priority.
        priority: Priority,
    },
    /// A public note to the caller (for the update target).
    Updated {
        /// When the caller was updated.
        at: Timestamp,
    },
    /// Resolved; stops resolution (and response, if never acknowledged).
    Resolved {
        /// When it was resolved.
        at: Timestamp,
    },
    /// Reopened after resolution.
    Reopened {
        /// When it was reopened.
        at: Timestamp,
    },
    /// Closed; terminal.
    Closed {
        /// When it was closed.
        at: Timestamp,
    },
    /// Cancelled; terminal, cancels the clocks that have not stopped.
    Cancelled {
        /// When it was cancelled.
        at: Timestamp,
    },
}

impl SlaEvent {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            SlaEvent::Opened { at, .. }
            | SlaEvent::Acknowledged { at }
            | SlaEvent::Held { at, .. }
            | SlaEvent::Resumed { at }
            | SlaEvent::PriorityChanged { at, .. }
            | SlaEvent::Updated { at }
            | SlaEvent::Resolved { at }
            | SlaEvent::Reopened { at }
            | SlaEvent::Closed { at }
            | SlaEvent::Cancelled { at } => *at,
        }
    }

    /// The event's stable name (as in JSON).
    pub fn name(&self) -> &'static str {
        match self {
            SlaEvent::Opened { .. } => "opened",
            SlaEvent::Acknowledged { .. } => "acknowledged",
            SlaEvent::Held { .. } => "held",
            SlaEvent::Resumed { .. } => "resumed",
            SlaEvent::PriorityChanged { .. } => "priority_changed",
            SlaEvent::Updated { .. } => "updated",
            SlaEvent::Resolved { .. } => "resolved",
            SlaEvent::Reopened { .. } => "reopened",
            SlaEvent::Closed { .. } => "closed",
            SlaEvent::Cancelled { .. } => "cancelled",
        }
    }
}

/// Why clocks or escalations could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// The history does not start with `Opened`.
    #[error("event {index} ({event}) comes before the incident was opened; the first event must be `opened`")]
    NotOpened {
        /// Position in the history.
        index: usize,
        /// The event's name.
        event: &'static str,
    },
    /// A second `Opened`.
    #[error("event {index} (opened) opens an incident that is already open")]
    OpenedTwice {
        /// Position in the history.
        index: usize,
    },
    /// An event earlier than the one before it.
    #[error("event {index} ({event}) at {at} is earlier than the event before it at {previous}")]
    OutOfOrder {
        /// Position in the history.
        index: usize,
        /// The event's name.
        event: &'static str,
        /// Its instant.
        at: Timestamp,
        /// The previous event's instant.
        previous: Timestamp,
    },
    /// An event impossible in the incident's state (resume without hold, reopen while open...).
    #[error("event {index} ({event}) is not possible while the incident is {state}")]
    InvalidSequence {
        /// Position in the history.
        index: usize,
        /// The event's name.
        event: &'static str,
        /// The state it met.
        state: &'static str,
    },
    /// The policy has no target for the incident's kind and priority.
    #[error("SLA policy version {version} has no targets for a P{priority} {kind} incident")]
    NoTarget {
        /// The incident kind.
        kind: IncidentKind,
        /// The priority.
        priority: Priority,
        /// The policy version.
        version: u32,
    },
    /// The policy is invalid.
    #[error("invalid SLA policy: {0}")]
    Policy(#[from] PolicyError),
    /// The escalation rules are invalid.
    #[error("invalid escalation rules: {0}")]
    Rules(#[from] RulesError),
    /// A calendar computation failed.
    #[error("calendar: {0}")]
    Calendar(#[from] CalendarError),
}
