//! The shape every aggregate shares: a pure `decide` and a pure `apply`.
//!
//! State is a fold of events from nothing: `apply(None, first)` creates the
//! aggregate, and every later event is applied to the previous state. `decide`
//! holds every business rule; `apply` holds none, so replaying a stored history
//! never re-checks rules that may have changed since.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::actor::{Actor, AggregateKind, Permissions};
use crate::id::{ActorId, GroupId, ServiceId, TenantId};
use crate::time::Timestamp;
use crate::vocabulary::{Priority, PriorityMatrix};

/// Configuration the domain rules read, as data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct DomainConfig {
    /// Role -> permitted commands.
    #[serde(default)]
    pub permissions: Permissions,
    /// Impact x urgency -> priority.
    #[serde(default)]
    pub priority_matrix: PriorityMatrix,
    /// Change approval policy (type x risk -> approver groups and quorum).
    #[serde(default)]
    pub approvals: crate::change::ApprovalPolicy,
    /// Pre-approved standard-change templates.
    #[serde(default)]
    pub standard_catalog: crate::change::StandardCatalog,
    /// Maintenance windows and blackouts per service, with their
    /// enforcement ([`crate::change::schedule::check_schedule`]); a store
    /// replaces them with the tenant's stored schedules in force.
    #[serde(default)]
    pub schedules: Vec<crate::change::schedule::ServiceSchedule>,
}

/// Everything a decision may read besides the state and the command: who asks,
/// when (passed in, never read from a clock), and the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Who issues the command.
    pub actor: &'a Actor,
    /// The instant the command is decided at.
    pub now: Timestamp,
    /// Rules as data.
    pub config: &'a DomainConfig,
}

impl<'a> Context<'a> {
    /// A context for `actor` at `now` under `config`.
    pub fn new(actor: &'a Actor, now: Timestamp, config: &'a DomainConfig) -> Self {
        Context { actor, now, config }
    }
}

/// What kind of refusal a domain error is: what a caller (a web handler,
/// say) needs to answer it without matching messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalKind {
    /// The aggregate does not exist (or belongs to another tenant).
    NotFound,
    /// No role of the actor permits the command.
    Forbidden,
    /// The aggregate already exists.
    AlreadyExists,
    /// The command's data is invalid (a bad field, time going backwards).
    Invalid,
    /// The rules refuse the command in the aggregate's state (a transition
    /// that does not exist, an approval rule).
    Rules,
}

/// A domain error that says what kind of refusal it is.
pub trait Refusal {
    /// The kind of refusal.
    fn refusal(&self) -> RefusalKind;
}

/// Why a command on an existing aggregate is refused before its state's own
/// rules run; each machine maps it to its typed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precheck {
    /// The actor belongs to another tenant: indistinguishable from a missing aggregate.
    OtherTenant,
    /// No role of the actor permits the command.
    Forbidden,
    /// The command's time precedes the aggregate's last event.
    TimeWentBack(String),
}

impl Context<'_> {
    /// The checks every machine makes before its rules: same tenant, a role
    /// that permits the command, and time that does not go backwards.
    pub(crate) fn precheck(
        &self,
        kind: AggregateKind,
        tenant: &TenantId,
        command: &str,
        last_event_at: Timestamp,
    ) -> Result<(), Precheck> {
        if &self.actor.tenant != tenant {
            return Err(Precheck::OtherTenant);
        }
        if !self.config.permissions.permits(self.actor, kind, command) {
            return Err(Precheck::Forbidden);
        }
        if self.now < last_event_at {
            return Err(Precheck::TimeWentBack(format!(
                "command time {} precedes the last event at {last_event_at}",
                self.now
            )));
        }
        Ok(())
    }
}

/// A stored event that does not fit the state it is applied to: the history is
/// corrupt or comes from an incompatible version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply {event} event to a {kind} that is {state}")]
pub struct ApplyError {
    /// The aggregate kind.
    pub kind: AggregateKind,
    /// The state's name (`absent` before the first event).
    pub state: &'static str,
    /// The event's name.
    pub event: &'static str,
}

/// Fields of an aggregate that queries need, derived from its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// The state's name.
    pub status: &'static str,
    /// Whether the aggregate is in a terminal state.
    pub terminal: bool,
    /// The affected or changed service.
    pub service: Option<ServiceId>,
    /// Incident priority, if any.
    pub priority: Option<Priority>,
    /// The person working on it (incident assignee, change implementer).
    pub assignee: Option<ActorId>,
    /// The group working on it.
    pub group: Option<GroupId>,
    /// Scheduled or actual window, for changes.
    pub window: Option<(Timestamp, Timestamp)>,
    /// What a list shows as its name.
    pub title: String,
    /// Who asked for it: the person who opened an incident, the requester
    /// of a change; `None` for a problem.
    pub requester: Option<ActorId>,
    /// When it was opened (an incident or problem) or created (a change).
    pub opened_at: Timestamp,
    /// Whether it is a declared major incident.
    pub major: bool,
}

/// What a reference points at. Changes are one namespace: a change id names
/// a standard, normal or emergency change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefKind {
    /// An incident.
    Incident,
    /// A problem.
    Problem,
    /// A change of any type.
    Change,
}

impl RefKind {
    /// The aggregate kinds this reference may resolve to.
    pub fn aggregate_kinds(&self) -> &'static [AggregateKind] {
        match self {
            RefKind::Incident => &[AggregateKind::Incident],
            RefKind::Problem => &[AggregateKind::Problem],
            RefKind::Change => {
                &[AggregateKind::StandardChange, AggregateKind::NormalChange, AggregateKind::EmergencyChange]
            }
        }
    }
}

/// A reference from a command to another aggregate of the same tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Reference {
    /// What the reference points at.
    pub kind: RefKind,
    /// The referenced aggregate's id.
    pub id: String,
}

/// A message for the outbox, delivered at least once to a consumer and
/// acknowledged exactly once.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OutboxMessage {
    /// Routing topic (`notify.stakeholders`, `alert.clear`, `escalation`).
    pub topic: String,
    /// A key that makes the message unique for its aggregate (an escalation id, an alert id).
    pub dedup_key: String,
    /// The message body.
    pub payload: serde_json::Value,
}

/// An aggregate: a typed state machine with a pure `decide` and `apply`.
pub trait Aggregate: Sized + Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync {
    /// Which kind this is.
    const KIND: AggregateKind;
    /// The commands it accepts.
    type Command: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// The events it records.
    type Event: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync;
    /// Why a command was refused.
    type Error: std::error::Error + Refusal + Clone + PartialEq + Send + Sync + 'static;

    /// Decides a command against the current state (`None` before creation):
    /// the events to record, or a typed refusal. Pure.
    fn decide(
        state: Option<&Self>,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event. Pure; holds no business rule.
    fn apply(state: Option<Self>, event: &Self::Event) -> Result<Self, ApplyError>;

    /// The aggregate's identifier text.
    fn id(&self) -> &str;

    /// The tenant the aggregate belongs to.
    fn tenant(&self) -> &TenantId;

    /// Fields for query projections.
    fn summary(&self) -> Summary;

    /// The event's stable name (stored beside its JSON).
    fn event_name(event: &Self::Event) -> &'static str;

    /// The command's stable name (permission table, errors).
    fn command_name(command: &Self::Command) -> &'static str;

    /// Other aggregates a command refers to (a problem, a causing change, a
    /// parent incident). The store checks, inside the command's transaction,
    /// that each exists in the actor's tenant; a reference to another tenant's
    /// record is refused exactly like a missing one.
    fn references(_command: &Self::Command) -> Vec<Reference> {
        Vec::new()
    }

    /// Outbox messages the recorded events call for (stakeholder notifications,
    /// alert clearing); written in the same transaction as the events.
    fn outbox(_state: &Self, _events: &[Self::Event]) -> Vec<OutboxMessage> {
        Vec::new()
    }

    /// Commands the recorded events call for on other aggregates of the same
    /// kind, each with its aggregate id, run by a store in the same
    /// transaction (an incident's resolution resolves its children: see
    /// [`crate::incident::Incident::cascade_commands`]). A command the other
    /// aggregate refuses (already resolved, say) is skipped. `Store::execute`
    /// runs them; bulk imports do not (an imported history holds each
    /// aggregate's own events). Default: none.
    fn cascade(_state: &Self, _events: &[Self::Event]) -> Vec<(String, Self::Command)> {
        Vec::new()
    }

    /// The SLA clock's view of these events (see [`crate::incident::sla_events`]):
    /// what starts, pauses, re-targets or stops the aggregate's clocks. Kinds
    /// without SLA clocks return nothing; the store keeps the clock of an
    /// aggregate that has one, and its next due instant, with every command.
    fn clock_events(_events: &[Self::Event]) -> Vec<crate::sla::SlaEvent> {
        Vec::new()
    }

    /// The note an event adds, if it adds one: its text, and whether it is
    /// public (an update to the caller) or a private work note. Notes are
    /// what full-text search finds besides titles.
    fn note(_event: &Self::Event) -> Option<(&str, bool)> {
        None
    }

    /// Whether an event is private (a private work note): shown only to a
    /// reader whose [`ReadScope`](crate::read::ReadScope) admits private
    /// notes. Other readers get the history without it.
    fn is_private(event: &Self::Event) -> bool {
        Self::note(event).is_some_and(|(_, public)| !public)
    }

    /// The flat record the metrics compute from, as the state stands
    /// ([`crate::records`]); `None` for kinds the metrics do not read. An
    /// incident's `resolution_target_met` is left `None` here: it is the SLA
    /// clock's verdict, which needs the policy and calendar
    /// ([`crate::versioned::DomainConfigHistory::resolution_met`]). A store
    /// keeps it per aggregate as a read model.
    fn record(&self) -> Option<crate::records::Record> {
        None
    }

    /// Folds a whole history from nothing.
    fn replay<'e>(events: impl IntoIterator<Item = &'e Self::Event>) -> Result<Option<Self>, ApplyError>
    where
        Self::Event: 'e,
    {
        let mut state = None;
        for event in events {
            state = Some(Self::apply(state, event)?);
        }
        Ok(state)
    }

    /// Decides and applies: the new state and the events, or the refusal.
    fn execute(
        state: Option<Self>,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Executed<Self>, ExecuteError<Self::Error>> {
        let events = Self::decide(state.as_ref(), command, ctx).map_err(ExecuteError::Rejected)?;
        let mut next = state;
        for event in &events {
            next = Some(Self::apply(next, event).map_err(ExecuteError::Apply)?);
        }
        match next {
            Some(next) => Ok((next, events)),
            None => Err(ExecuteError::NoEvents { kind: Self::KIND, command: Self::command_name(command) }),
        }
    }
}

/// The new state and the events recorded by [`Aggregate::execute`].
pub type Executed<A> = (A, Vec<<A as Aggregate>::Event>);

/// Why [`Aggregate::execute`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The rules refused the command.
    #[error(transparent)]
    Rejected(E),
    /// A decided event did not apply (a bug in the aggregate, reported, never a panic).
    #[error(transparent)]
    Apply(ApplyError),
    /// A creation command produced no event.
    #[error("{command} on an absent {kind} produced no event")]
    NoEvents {
        /// The aggregate kind.
        kind: AggregateKind,
        /// The command's name.
        command: &'static str,
    },
}

/// Declares an aggregate's event enum in which every event is stamped with
/// the instant and the actor of the command that recorded it: each variant
/// lists its own fields and its stable name, and gets `at` and `by` last (so
/// the two are documented once, here). The JSON is internally tagged by
/// `event` with the stable name; `name`, `at` and `by` are written from the
/// same list, so they cannot disagree with it.
macro_rules! stamped_events {
    (
        $(#[$attr:meta])*
        pub enum $name:ident {
            $(
                $(#[$vattr:meta])*
                $variant:ident { $( $(#[$fattr:meta])* $field:ident : $ty:ty ),* $(,)? } => $text:literal,
            )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "event")]
        pub enum $name {
            $(
                $(#[$vattr])*
                #[serde(rename = $text)]
                $variant {
                    $( $(#[$fattr])* $field: $ty, )*
                    /// When it happened: the instant of the command that recorded it.
                    at: $crate::time::Timestamp,
                    /// Who recorded it: the actor of that command.
                    by: $crate::id::ActorId,
                },
            )+
        }

        impl $name {
            /// Stable name (the JSON's `event`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant { .. } => $text, )+
                }
            }

            /// When it happened.
            pub fn at(&self) -> $crate::time::Timestamp {
                match self {
                    $( $name::$variant { at, .. } )|+ => *at,
                }
            }

            /// Who recorded it.
            pub fn by(&self) -> &$crate::id::ActorId {
                match self {
                    $( $name::$variant { by, .. } )|+ => by,
                }
            }
        }
    };
}
pub(crate) use stamped_events;
