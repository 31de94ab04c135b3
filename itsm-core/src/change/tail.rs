//! The execution tail the three change machines share: `scheduled` (standard
//! and normal changes), `started`, `stage_advanced`, `completed` (or
//! `rolled_back_automatically`, where an `auto_rollback` change's stage
//! failed), `reviewed`, then `closed`; or `cancelled` before implementation.
//!
//! Declared once: [`change_events!`] and [`change_commands!`] write each
//! machine's event and command enum, its own variants followed by the tail's
//! (and the approval variants the normal and emergency change share), so the
//! enums keep their variants and their JSON. Decided and applied once:
//! [`decide`], [`schedule`], [`apply`] and [`scheduled`] match every pair of a
//! [`Position`] and a tail command or event explicitly; a machine says where
//! each of its states stands on the tail ([`TailStates::position`]) and how
//! its states' data moves ([`TailStates`]).

use std::collections::{BTreeMap, BTreeSet};

use super::common::{Completion, Ended, Review, ReviewVerdict, Stamp, Window};
use super::error::{ChangeError, Refuse};
use super::schedule::ScheduleOverride;
use crate::aggregate::Context;
use crate::id::{ActorId, GroupId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{ChangeOutcome, Remediation};

/// Where a change stands on the execution tail: what the tail's commands and
/// events may do there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// Before implementation, not yet to be scheduled (a normal change before
    /// its authorization, an emergency change waiting for its CAB).
    Preparing,
    /// To be scheduled (an authorized normal change, a new standard change).
    Schedulable,
    /// Ready to start: scheduled (and to be scheduled again), or an authorized
    /// emergency change.
    Ready,
    /// Being implemented.
    Implementing {
        /// When implementation started.
        started_at: Timestamp,
        /// Phased stages done.
        stages_done: usize,
    },
    /// The first attempt ended.
    Completed,
    /// Reviewed.
    Reviewed,
    /// Closed; terminal.
    Closed,
    /// Ended without implementation (rejected or cancelled); terminal.
    Ended,
}

impl Position {
    /// Whether a change here has ended.
    pub(crate) fn terminal(self) -> bool {
        match self {
            Position::Closed | Position::Ended => true,
            Position::Preparing
            | Position::Schedulable
            | Position::Ready
            | Position::Implementing { .. }
            | Position::Completed
            | Position::Reviewed => false,
        }
    }
}

/// How a machine's states move along the tail, in place. [`apply`] and
/// [`scheduled`] call each method only in the position that allows its
/// event; a method returns `false`, leaving the state as it was, where its
/// data does not fit that event.
pub(crate) trait TailStates: Sized {
    /// Whether a completed change needs a review before it closes.
    const REVIEW_REQUIRED: bool;

    /// A dataless state [`step`] parks in the slot while it moves the data.
    const PARKED: Self;

    /// Where the state stands.
    fn position(&self) -> Position;

    /// Scheduled in `window`, from schedulable or ready (only the machines
    /// that schedule override it).
    fn scheduled(&mut self, window: Window) -> bool {
        let _ = window;
        false
    }

    /// Implementation started at `at` by `by`, from ready.
    fn started(&mut self, at: Timestamp, by: &ActorId) -> bool;

    /// `stages_done` stages are done, while implementing.
    fn stage_advanced(&mut self, stages_done: usize) -> bool;

    /// The first attempt ended, from implementing.
    fn completed(&mut self, completion: &Completion) -> bool;

    /// Reviewed, from completed.
    fn reviewed(&mut self, review: &Review) -> bool;

    /// Closed, from reviewed (or completed, where no review is required).
    fn closed(&mut self) -> bool;

    /// Cancelled before implementation.
    fn cancelled(&mut self, ended: Ended) -> bool;
}

/// A tail event as [`apply`] reads it, borrowed from a machine's event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TailRef<'a> {
    /// Implementation started.
    Started {
        /// When implementation started.
        at: Timestamp,
        /// The implementer.
        by: &'a ActorId,
    },
    /// A phased stage finished.
    StageAdvanced {
        /// Stages done after it.
        stages_done: usize,
    },
    /// The first attempt ended.
    Completed {
        /// The completion.
        completion: &'a Completion,
    },
    /// The first attempt ended by an automatic rollback.
    RolledBackAutomatically {
        /// The completion (`automatic`).
        completion: &'a Completion,
    },
    /// Reviewed.
    Reviewed {
        /// The review.
        review: &'a Review,
    },
    /// Closed.
    Closed,
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: &'a Text,
        /// When it was cancelled.
        at: Timestamp,
        /// Who cancelled it.
        by: &'a ActorId,
    },
}

/// A tail event as [`decide`] emits it; a machine's event is made from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TailEvent {
    /// Implementation started.
    Started(Stamp),
    /// A phased stage finished.
    StageAdvanced {
        /// Stages done after it.
        stages_done: usize,
        /// When and by whom.
        stamp: Stamp,
    },
    /// The first attempt ended.
    Completed {
        /// The completion.
        completion: Completion,
        /// Who completed it.
        by: ActorId,
    },
    /// A stage failed its health checks and the change rolled back by itself.
    RolledBackAutomatically {
        /// The stage that failed (0 is the first).
        stage: usize,
        /// The failed health check, as the deployment reported it.
        reason: Text,
        /// The completion (`automatic`).
        completion: Completion,
        /// Who reported it (the deployment).
        by: ActorId,
    },
    /// Reviewed.
    Reviewed(Review),
    /// Closed.
    Closed(Stamp),
    /// Cancelled.
    Cancelled(Ended),
}

/// A `scheduled` event as [`schedule`] decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scheduling {
    /// The window.
    pub window: Window,
    /// When and by whom.
    pub stamp: Stamp,
    /// The schedule conflicts overridden, and why.
    pub overridden: Option<ScheduleOverride>,
}

/// A tail command, borrowed from a machine's command.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TailCommand<'a> {
    /// Start implementing.
    Start,
    /// Finish one stage of a phased roll-out.
    AdvanceStage,
    /// End of the first attempt.
    Complete {
        /// The outcome.
        outcome: ChangeOutcome,
        /// The remediation.
        remediation: Remediation,
    },
    /// A stage failed its health checks; an `auto_rollback` change rolled
    /// back by itself.
    FailStage {
        /// The failed health check.
        reason: &'a Text,
        /// Whether the rollback restored the prior state.
        restored: bool,
    },
    /// Post-implementation review.
    Review {
        /// Verdict.
        verdict: ReviewVerdict,
        /// Notes.
        notes: &'a Text,
    },
    /// Close.
    Close,
    /// Cancel before implementation.
    Cancel {
        /// Why.
        reason: &'a Text,
    },
}

/// Approvals cast, per group.
pub(crate) type Votes = BTreeMap<GroupId, BTreeSet<ActorId>>;

/// A change as the tail's commands see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    /// What is changed.
    pub spec: &'a super::common::ChangeSpec,
    /// Where it stands.
    pub position: Position,
    /// Whether a completed change needs a review before it closes.
    pub review_required: bool,
    /// The approvals cast: an approver may not implement the change.
    pub votes: Option<&'a Votes>,
    /// Why a completed change may not be reviewed yet, if so.
    pub unreviewable: Option<&'static str>,
}

/// Decides a tail command (`None` refuses: the command is not the tail's):
/// the event, or the refusal.
pub(crate) fn decide(
    view: &View<'_>,
    command: Option<TailCommand<'_>>,
    refuse: &Refuse<'_>,
    ctx: &Context<'_>,
) -> Result<TailEvent, ChangeError> {
    use Position as P;
    use TailCommand as C;
    let Some(command) = command else { return Err(refuse.transition()) };
    let stamp = Stamp::of(ctx);
    match (view.position, command) {
        (P::Ready, C::Start) => {
            if let Some(votes) = view.votes
                && votes.values().any(|voters| voters.contains(&stamp.by))
            {
                return Err(refuse.invalid(format!("{} approved this change and may not implement it", stamp.by)));
            }
            Ok(TailEvent::Started(stamp))
        }
        (
            P::Preparing | P::Schedulable | P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended,
            C::Start,
        ) => Err(refuse.transition()),

        (P::Implementing { stages_done, .. }, C::AdvanceStage) => {
            let stages_done = view.spec.strategy.next_stage(stages_done).map_err(|reason| refuse.invalid(reason))?;
            Ok(TailEvent::StageAdvanced { stages_done, stamp })
        }
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            C::AdvanceStage,
        ) => Err(refuse.transition()),

        (P::Implementing { started_at, .. }, C::Complete { outcome, remediation }) => {
            let completion = Completion::checked(started_at, stamp.at, outcome, remediation)
                .map_err(|reason| refuse.invalid(reason))?;
            Ok(TailEvent::Completed { completion, by: stamp.by })
        }
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            C::Complete { .. },
        ) => Err(refuse.transition()),

        (P::Implementing { started_at, stages_done }, C::FailStage { reason, restored }) => {
            if !view.spec.auto_rollback {
                return Err(refuse.invalid(
                    "the change does not roll back by itself (auto_rollback is off): complete it with its remediation",
                ));
            }
            let completion = Completion::rolled_back_automatically(started_at, stamp.at, restored)
                .map_err(|reason| refuse.invalid(reason))?;
            Ok(TailEvent::RolledBackAutomatically {
                stage: stages_done,
                reason: reason.clone(),
                completion,
                by: stamp.by,
            })
        }
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            C::FailStage { .. },
        ) => Err(refuse.transition()),

        (P::Completed, C::Review { verdict, notes }) => {
            if let Some(reason) = view.unreviewable {
                return Err(refuse.invalid(reason));
            }
            Ok(TailEvent::Reviewed(Review { verdict, notes: notes.clone(), at: stamp.at, by: stamp.by }))
        }
        (
            P::Preparing | P::Schedulable | P::Ready | P::Implementing { .. } | P::Reviewed | P::Closed | P::Ended,
            C::Review { .. },
        ) => Err(refuse.transition()),

        (P::Reviewed, C::Close) => Ok(TailEvent::Closed(stamp)),
        (P::Completed, C::Close) if !view.review_required => Ok(TailEvent::Closed(stamp)),
        (
            P::Preparing | P::Schedulable | P::Ready | P::Implementing { .. } | P::Completed | P::Closed | P::Ended,
            C::Close,
        ) => Err(refuse.transition()),

        (P::Preparing | P::Schedulable | P::Ready, C::Cancel { reason }) => {
            Ok(TailEvent::Cancelled(Ended::new(reason, stamp)))
        }
        (P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended, C::Cancel { .. }) => {
            Err(refuse.transition())
        }
    }
}

/// Decides a `schedule` command: the window checked against the service's
/// schedule ([`super::schedule::check_schedule`]), or the refusal.
pub(crate) fn schedule(
    view: &View<'_>,
    window: &Window,
    override_reason: Option<&Text>,
    refuse: &Refuse<'_>,
    ctx: &Context<'_>,
) -> Result<Scheduling, ChangeError> {
    use Position as P;
    match view.position {
        P::Schedulable | P::Ready => {
            if window.end <= window.start {
                return Err(refuse.invalid("the window must end after it starts"));
            }
            let overridden =
                super::schedule::check_schedule(&view.spec.service, window, &ctx.config.schedules, override_reason)
                    .map_err(|refusal| refuse.schedule(refusal))?;
            Ok(Scheduling { window: *window, stamp: Stamp::of(ctx), overridden })
        }
        P::Preparing | P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended => {
            Err(refuse.transition())
        }
    }
}

/// Applies a tail event to a state in place (`None`: the event is not the
/// tail's): `true` once it moved, `false` (the state untouched) where the
/// event does not follow it. In place, because replay applies every stored
/// event: moving whole states in and out of each step cost a replay a
/// quarter of its time.
#[inline]
pub(crate) fn apply<S: TailStates>(state: &mut S, event: Option<TailRef<'_>>) -> bool {
    use Position as P;
    use TailRef as E;
    let Some(event) = event else { return false };
    match (state.position(), event) {
        (P::Ready, E::Started { at, by }) => state.started(at, by),
        (
            P::Preparing | P::Schedulable | P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended,
            E::Started { .. },
        ) => false,

        (P::Implementing { .. }, E::StageAdvanced { stages_done }) => state.stage_advanced(stages_done),
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            E::StageAdvanced { .. },
        ) => false,

        (P::Implementing { .. }, E::Completed { completion }) => !completion.automatic && state.completed(completion),
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            E::Completed { .. },
        ) => false,

        (P::Implementing { .. }, E::RolledBackAutomatically { completion }) => {
            completion.automatic && state.completed(completion)
        }
        (
            P::Preparing | P::Schedulable | P::Ready | P::Completed | P::Reviewed | P::Closed | P::Ended,
            E::RolledBackAutomatically { .. },
        ) => false,

        (P::Completed, E::Reviewed { review }) => state.reviewed(review),
        (
            P::Preparing | P::Schedulable | P::Ready | P::Implementing { .. } | P::Reviewed | P::Closed | P::Ended,
            E::Reviewed { .. },
        ) => false,

        (P::Reviewed, E::Closed) => state.closed(),
        (P::Completed, E::Closed) if !S::REVIEW_REQUIRED => state.closed(),
        (
            P::Preparing | P::Schedulable | P::Ready | P::Implementing { .. } | P::Completed | P::Closed | P::Ended,
            E::Closed,
        ) => false,

        (P::Preparing | P::Schedulable | P::Ready, E::Cancelled { reason, at, by }) => {
            state.cancelled(Ended::new(reason, Stamp { at, by: by.clone() }))
        }
        (P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended, E::Cancelled { .. }) => false,
    }
}

/// What a [`step`] made of a state.
pub(crate) enum Stepped<S> {
    /// The next state.
    Next(S),
    /// The state handed back: the event does not fit it.
    Back(S),
}

/// Moves a state whose next state needs its data: `next` takes the state
/// and returns the next one, or hands it back where it does not fit.
/// `true` once it moved.
#[inline]
pub(crate) fn step<S: TailStates>(state: &mut S, next: impl FnOnce(S) -> Stepped<S>) -> bool {
    match next(std::mem::replace(state, S::PARKED)) {
        Stepped::Next(moved) => {
            *state = moved;
            true
        }
        Stepped::Back(same) => {
            *state = same;
            false
        }
    }
}

/// Applies a `scheduled` event to a state in place: `true` once it moved,
/// `false` (the state untouched) where the event does not follow it.
#[inline]
pub(crate) fn scheduled<S: TailStates>(state: &mut S, window: Window) -> bool {
    use Position as P;
    match state.position() {
        P::Schedulable | P::Ready => state.scheduled(window),
        P::Preparing | P::Implementing { .. } | P::Completed | P::Reviewed | P::Closed | P::Ended => false,
    }
}

/// Declares a change machine's fieldless status (a `text_enum`): the
/// statuses given, then the tail's (`implementing`, `completed`, `reviewed`,
/// `closed`, `cancelled`).
macro_rules! change_status {
    ($(#[$attr:meta])* $name:ident { $($own:tt)* }) => {
        $crate::vocabulary::text_enum!(
            $(#[$attr])*
            $name {
                $($own)*
                /// Being implemented.
                Implementing => "implementing",
                /// The first implementation attempt ended.
                Completed => "completed",
                /// Post-implementation review done.
                Reviewed => "reviewed",
                /// Closed; terminal.
                Closed => "closed",
                /// Cancelled before implementation; terminal.
                Cancelled => "cancelled",
            }
        );
    };
}
pub(crate) use change_status;

/// A change machine's transition table: its own transitions (`own`) first,
/// then the tail's: `schedule` from each state named, `start` from the ready
/// state, the stages, completion and review, `close` from each state named,
/// and `cancel` from each state named.
macro_rules! transitions {
    (
        schedule: [$($schedule:literal),*],
        close: [$($close:literal),+],
        start: $start:literal,
        cancel: [$($cancel:literal),+],
        own: [$($own:expr),* $(,)?] $(,)?
    ) => {
        &[
            $($own,)*
            $($crate::machine::t($schedule, "schedule", "scheduled"),)*
            $crate::machine::t($start, "start", "implementing"),
            $crate::machine::t("implementing", "advance_stage", "implementing"),
            $crate::machine::t("implementing", "complete", "completed"),
            $crate::machine::t("implementing", "fail_stage", "completed"),
            $crate::machine::t("completed", "review", "reviewed"),
            $($crate::machine::t($close, "close", "closed"),)+
            $($crate::machine::t($cancel, "cancel", "cancelled"),)+
        ]
    };
}
pub(crate) use transitions;

/// The tail's event variants of the machine event enum `$E`, as a pattern.
macro_rules! tail_event {
    ($E:ident) => {
        $E::Started { .. }
            | $E::StageAdvanced { .. }
            | $E::Completed { .. }
            | $E::RolledBackAutomatically { .. }
            | $E::Reviewed { .. }
            | $E::Closed { .. }
            | $E::Cancelled { .. }
    };
}
pub(crate) use tail_event;

/// The tail's command variants of the machine command enum `$C`, as a pattern.
macro_rules! tail_command {
    ($C:ident) => {
        $C::Start
            | $C::AdvanceStage
            | $C::Complete { .. }
            | $C::FailStage { .. }
            | $C::Review { .. }
            | $C::Close
            | $C::Cancel { .. }
    };
}
pub(crate) use tail_command;

/// Declares a change machine's event enum (JSON internally tagged by
/// `event`): the variants given, each with its stable name, then the
/// approval events when `[approvals]` is asked for (`approved`,
/// `authorized`, `rejected`), `scheduled` when `[scheduled]` is, and the
/// tail's. It writes `name`, `at`, the tail's view `tail`, and the event made
/// from what [`decide`] (and [`schedule`]) decided.
macro_rules! change_events {
    ([approvals $(, $flag:ident)*] $(#[$attr:meta])* pub enum $name:ident { $($own:tt)* }) => {
        $crate::change::tail::change_events! {
            [$($flag),*]
            $(#[$attr])*
            pub enum $name {
                $($own)*
                /// One approval cast.
                Approved {
                    /// For which group.
                    group: $crate::id::GroupId,
                    /// When the vote was cast.
                    at: $crate::time::Timestamp,
                    /// Approver.
                    by: $crate::id::ActorId,
                } => "approved",
                /// Every step's quorum met.
                Authorized {
                    /// When the last quorum was met.
                    at: $crate::time::Timestamp,
                } => "authorized",
                /// Rejected.
                Rejected {
                    /// Group rejecting.
                    group: $crate::id::GroupId,
                    /// Why.
                    reason: $crate::id::Text,
                    /// When it was rejected.
                    at: $crate::time::Timestamp,
                    /// Who rejected it.
                    by: $crate::id::ActorId,
                } => "rejected",
            }
        }
    };
    ([scheduled] $(#[$attr:meta])* pub enum $name:ident { $($own:tt)* }) => {
        $crate::change::tail::change_events! {
            []
            $(#[$attr])*
            pub enum $name {
                $($own)*
                /// Scheduled.
                Scheduled {
                    /// The window.
                    window: $crate::change::common::Window,
                    /// When it was scheduled.
                    at: $crate::time::Timestamp,
                    /// Who scheduled it.
                    by: $crate::id::ActorId,
                    /// The schedule conflicts overridden, and why.
                    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
                    overridden: Option<$crate::change::schedule::ScheduleOverride>,
                } => "scheduled",
            }
        }

        impl From<$crate::change::tail::Scheduling> for $name {
            fn from(s: $crate::change::tail::Scheduling) -> $name {
                $name::Scheduled { window: s.window, at: s.stamp.at, by: s.stamp.by, overridden: s.overridden }
            }
        }
    };
    (
        []
        $(#[$attr:meta])*
        pub enum $name:ident {
            $( $(#[$vattr:meta])* $variant:ident { $($fields:tt)* } => $text:literal, )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "event", rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vattr])* $variant { $($fields)* }, )+
            /// Implementation started.
            Started {
                /// When implementation started.
                at: $crate::time::Timestamp,
                /// The implementer.
                by: $crate::id::ActorId,
            },
            /// A phased stage finished.
            StageAdvanced {
                /// Stages done after this one.
                stages_done: usize,
                /// When the stage finished.
                at: $crate::time::Timestamp,
                /// Who finished it.
                by: $crate::id::ActorId,
            },
            /// First attempt ended.
            Completed {
                /// The completion.
                completion: $crate::change::common::Completion,
                /// Who completed it.
                by: $crate::id::ActorId,
            },
            /// A stage failed its health checks and the change (one with
            /// `auto_rollback`) rolled back by itself: the first attempt
            /// ended failed, rolled back or with a failed rollback.
            RolledBackAutomatically {
                /// The stage that failed (0 is the first).
                stage: usize,
                /// The failed health check, as the deployment reported it.
                reason: $crate::id::Text,
                /// The completion (`automatic`).
                completion: $crate::change::common::Completion,
                /// Who reported it (the deployment).
                by: $crate::id::ActorId,
            },
            /// Reviewed.
            Reviewed {
                /// The review.
                review: $crate::change::common::Review,
            },
            /// Closed.
            Closed {
                /// When it was closed.
                at: $crate::time::Timestamp,
                /// Who closed it.
                by: $crate::id::ActorId,
            },
            /// Cancelled before implementation.
            Cancelled {
                /// Why.
                reason: $crate::id::Text,
                /// When it was cancelled.
                at: $crate::time::Timestamp,
                /// Who cancelled it.
                by: $crate::id::ActorId,
            },
        }

        impl $name {
            /// Stable name (the JSON's `event`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => $text, )+
                    $name::Started { .. } => "started",
                    $name::StageAdvanced { .. } => "stage_advanced",
                    $name::Completed { .. } => "completed",
                    $name::RolledBackAutomatically { .. } => "rolled_back_automatically",
                    $name::Reviewed { .. } => "reviewed",
                    $name::Closed { .. } => "closed",
                    $name::Cancelled { .. } => "cancelled",
                }
            }

            /// When it happened.
            pub fn at(&self) -> $crate::time::Timestamp {
                match self {
                    $( $name::$variant { at, .. } )|+
                    | $name::Started { at, .. }
                    | $name::StageAdvanced { at, .. }
                    | $name::Closed { at, .. }
                    | $name::Cancelled { at, .. } => *at,
                    $name::Completed { completion, .. }
                    | $name::RolledBackAutomatically { completion, .. } => completion.completed_at,
                    $name::Reviewed { review } => review.at,
                }
            }

            /// The tail's event, as [`apply`] reads it (`None` for the
            /// machine's own events).
            pub(crate) fn tail(&self) -> Option<$crate::change::tail::TailRef<'_>> {
                use $crate::change::tail::TailRef as T;
                match self {
                    $( $name::$variant { .. } )|+ => None,
                    $name::Started { at, by } => Some(T::Started { at: *at, by }),
                    $name::StageAdvanced { stages_done, .. } => Some(T::StageAdvanced { stages_done: *stages_done }),
                    $name::Completed { completion, .. } => Some(T::Completed { completion }),
                    $name::RolledBackAutomatically { completion, .. } => {
                        Some(T::RolledBackAutomatically { completion })
                    }
                    $name::Reviewed { review } => Some(T::Reviewed { review }),
                    $name::Closed { .. } => Some(T::Closed),
                    $name::Cancelled { reason, at, by } => Some(T::Cancelled { reason, at: *at, by }),
                }
            }
        }

        impl From<$crate::change::tail::TailEvent> for $name {
            fn from(event: $crate::change::tail::TailEvent) -> $name {
                use $crate::change::tail::TailEvent as T;
                match event {
                    T::Started(s) => $name::Started { at: s.at, by: s.by },
                    T::StageAdvanced { stages_done, stamp } => {
                        $name::StageAdvanced { stages_done, at: stamp.at, by: stamp.by }
                    }
                    T::Completed { completion, by } => $name::Completed { completion, by },
                    T::RolledBackAutomatically { stage, reason, completion, by } => {
                        $name::RolledBackAutomatically { stage, reason, completion, by }
                    }
                    T::Reviewed(review) => $name::Reviewed { review },
                    T::Closed(s) => $name::Closed { at: s.at, by: s.by },
                    T::Cancelled(e) => $name::Cancelled { reason: e.reason, at: e.at, by: e.by },
                }
            }
        }
    };
}
pub(crate) use change_events;

/// Declares a change machine's command enum (JSON internally tagged by
/// `command`): the variants given, each with its stable name, then `approve`
/// and `reject` when `[approvals]` is asked for, `schedule` when
/// `[scheduled]` is, and the tail's. It writes `name` and the tail's view
/// `tail`.
macro_rules! change_commands {
    ([approvals $(, $flag:ident)*] $(#[$attr:meta])* pub enum $name:ident { $($own:tt)* }) => {
        $crate::change::tail::change_commands! {
            [$($flag),*]
            $(#[$attr])*
            pub enum $name {
                $($own)*
                /// Approve for one approver group.
                Approve {
                    /// The group approved for.
                    group: $crate::id::GroupId,
                } => "approve",
                /// Reject.
                Reject {
                    /// The group rejecting.
                    group: $crate::id::GroupId,
                    /// Why.
                    reason: $crate::id::Text,
                } => "reject",
            }
        }
    };
    ([scheduled] $(#[$attr:meta])* pub enum $name:ident { $($own:tt)* }) => {
        $crate::change::tail::change_commands! {
            []
            $(#[$attr])*
            pub enum $name {
                $($own)*
                /// Schedule in a window. Where the service's schedule enforces
                /// its maintenance windows or blackouts with an override
                /// ([`check_schedule`](crate::change::schedule::check_schedule)),
                /// `override_reason` says why the change goes ahead anyway, and
                /// is recorded.
                Schedule {
                    /// The window.
                    window: $crate::change::common::Window,
                    /// Why a conflict the schedule lets be overridden is overridden.
                    #[serde(default, skip_serializing_if = "Option::is_none")]
                    override_reason: Option<$crate::id::Text>,
                } => "schedule",
            }
        }
    };
    (
        []
        $(#[$attr:meta])*
        pub enum $name:ident {
            $( $(#[$vattr:meta])* $variant:ident $(($inner:ty))? $({ $($fields:tt)* })? => $text:literal, )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "command", rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vattr])* $variant $(($inner))? $({ $($fields)* })?, )+
            /// Start implementing.
            Start,
            /// Finish one stage of a phased roll-out.
            AdvanceStage,
            /// End of the first implementation attempt.
            Complete {
                /// The outcome.
                outcome: $crate::vocabulary::ChangeOutcome,
                /// The remediation.
                remediation: $crate::vocabulary::Remediation,
            },
            /// A stage failed its health checks, reported by the deployment
            /// of a change with `auto_rollback`, which rolled back by itself.
            FailStage {
                /// The failed health check.
                reason: $crate::id::Text,
                /// Whether the rollback restored the prior state.
                restored: bool,
            },
            /// Post-implementation review.
            Review {
                /// Verdict.
                verdict: $crate::change::common::ReviewVerdict,
                /// Notes.
                notes: $crate::id::Text,
            },
            /// Close.
            Close,
            /// Cancel before implementation.
            Cancel {
                /// Why.
                reason: $crate::id::Text,
            },
        }

        impl $name {
            /// Stable name (the JSON's `command`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => $text, )+
                    $name::Start => "start",
                    $name::AdvanceStage => "advance_stage",
                    $name::Complete { .. } => "complete",
                    $name::FailStage { .. } => "fail_stage",
                    $name::Review { .. } => "review",
                    $name::Close => "close",
                    $name::Cancel { .. } => "cancel",
                }
            }

            /// The tail's command, as [`decide`] reads it (`None` for the
            /// machine's own commands).
            pub(crate) fn tail(&self) -> Option<$crate::change::tail::TailCommand<'_>> {
                use $crate::change::tail::TailCommand as T;
                match self {
                    $( $name::$variant { .. } )|+ => None,
                    $name::Start => Some(T::Start),
                    $name::AdvanceStage => Some(T::AdvanceStage),
                    $name::Complete { outcome, remediation } => {
                        Some(T::Complete { outcome: *outcome, remediation: *remediation })
                    }
                    $name::FailStage { reason, restored } => Some(T::FailStage { reason, restored: *restored }),
                    $name::Review { verdict, notes } => Some(T::Review { verdict: *verdict, notes }),
                    $name::Close => Some(T::Close),
                    $name::Cancel { reason } => Some(T::Cancel { reason }),
                }
            }
        }
    };
}
pub(crate) use change_commands;
