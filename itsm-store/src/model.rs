//! The values the store takes and returns.

use std::fmt;
use std::time::Duration;

use itsm_core::id::{ActorId, GroupId, ServiceId};
use itsm_core::vocabulary::Priority;
use itsm_core::{Aggregate, AggregateKind, Context, Timestamp};
use serde::{Deserialize, Serialize};

/// What version the caller expects the aggregate to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// Whatever is stored (last writer wins on version, never on content:
    /// the command is still decided against the current state).
    Any,
    /// The aggregate must not exist yet.
    Absent,
    /// The aggregate must be at exactly this version (1 after its first event).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stored version (`0` when absent) satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::Absent => actual == 0,
            ExpectedVersion::Exact(v) => v == actual,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::Absent => f.write_str("no aggregate"),
            ExpectedVersion::Exact(v) => write!(f, "version {v}"),
        }
    }
}

/// One command for [`crate::Store::execute`]: built with [`Request::new`],
/// then optionally [`Request::if_version`] and [`Request::idempotency_key`].
#[derive(Debug)]
pub struct Request<'a, A: Aggregate> {
    /// Who, when, under which rules.
    pub ctx: Context<'a>,
    /// The aggregate the command is for (in the actor's tenant).
    pub aggregate_id: &'a str,
    /// The command.
    pub command: &'a A::Command,
    /// The version the caller read.
    pub expected: ExpectedVersion,
    /// Makes a retried delivery return the first result instead of acting twice.
    pub idempotency_key: Option<&'a str>,
}

impl<'a, A: Aggregate> Request<'a, A> {
    /// A request expecting [`ExpectedVersion::Any`] without an idempotency key.
    pub fn new(ctx: Context<'a>, aggregate_id: &'a str, command: &'a A::Command) -> Self {
        Request { ctx, aggregate_id, command, expected: ExpectedVersion::Any, idempotency_key: None }
    }

    /// Executes the command only if the aggregate is at `expected` (the
    /// version the caller read; see [`ExpectedVersion`]).
    pub fn if_version(mut self, expected: ExpectedVersion) -> Self {
        self.expected = expected;
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

/// An event as recorded: its version in its aggregate, its global position,
/// who recorded it and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    /// Global position in the event log.
    pub position: u64,
    /// Version of the aggregate after this event (1 for the first).
    pub version: u64,
    /// The event.
    pub event: E,
    /// The actor id that issued the command.
    pub actor: String,
    /// When the command was decided.
    pub recorded_at: Timestamp,
}

/// The outcome of a committed command.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed<A: Aggregate> {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The version after the command.
    pub version: u64,
    /// The events the command recorded.
    pub events: Vec<Recorded<A::Event>>,
    /// The state right after the command.
    pub state: A,
    /// True when this is the stored first result of an idempotency key and
    /// nothing was written now.
    pub replayed: bool,
    /// The other aggregates of the kind the command's events cascaded to, in
    /// the same transaction (the children an incident's resolution
    /// resolved; see `Aggregate::cascade`), in order. Empty for a replayed
    /// result.
    pub cascaded: Vec<String>,
}

/// An aggregate's current state.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<A> {
    /// The state.
    pub state: A,
    /// Its version.
    pub version: u64,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A projection row: the query fields of one aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectionRow {
    /// The kind.
    pub kind: AggregateKind,
    /// The id.
    pub id: String,
    /// The current version.
    pub version: u64,
    /// The state's name.
    pub status: String,
    /// Whether the state is terminal.
    pub terminal: bool,
    /// The service.
    pub service: Option<ServiceId>,
    /// The priority.
    pub priority: Option<Priority>,
    /// The assignee or implementer.
    pub assignee: Option<ActorId>,
    /// The group.
    pub group: Option<GroupId>,
    /// The change window.
    pub window: Option<(Timestamp, Timestamp)>,
    /// The next due instant kept by the store: the earliest deadline, warning
    /// threshold or escalation level not yet handled (see
    /// [`crate::Store::mark_due_handled`]); `None` without an SLA clock.
    pub due_at: Option<Timestamp>,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// What a list shows as its name (a NUL character, which domain titles
    /// never hold, is kept as U+FFFD).
    pub title: String,
    /// Who asked for it (see [`itsm_core::Summary::requester`]).
    pub requester: Option<ActorId>,
    /// When it was opened or created.
    pub opened_at: Timestamp,
    /// Whether it is a declared major incident.
    pub major: bool,
    /// When its first SLA deadline is or was breached (reached or projected
    /// on a running clock); `None` without an SLA clock heading for a
    /// breach. It is breached at `T` when this is at or before `T`.
    pub breach_at: Option<Timestamp>,
}

/// Whose queue to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueFilter {
    /// Open work assigned to this person.
    Assignee(ActorId),
    /// Open work of this group.
    Group(GroupId),
}

/// Two changes on one service whose windows overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeConflict {
    /// The one starting first (ties: by kind, then id).
    pub first: ProjectionRow,
    /// The other.
    pub second: ProjectionRow,
}

/// A raw stored event, of any kind: what [`crate::Store::stream_events`]
/// yields. Decode `payload` with [`StoredEvent::decode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Global position.
    pub position: u64,
    /// The tenant.
    pub tenant: String,
    /// The aggregate kind.
    pub kind: AggregateKind,
    /// The aggregate id.
    pub aggregate_id: String,
    /// Version of the aggregate after this event.
    pub version: u64,
    /// The event's stable name.
    pub event_name: String,
    /// The event as JSON text.
    pub payload: String,
    /// The actor id.
    pub actor: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// Position in the tenant's audit chain, for an event written before
    /// store design 2 (newer events are chained per aggregate).
    pub chain_position: Option<u64>,
    /// The chain hash after this event (hex).
    pub hash: String,
}

impl StoredEvent {
    /// The keyset cursor just after this event (see [`crate::Store::events_page`]).
    pub fn cursor(&self) -> EventCursor {
        EventCursor { aggregate_id: self.aggregate_id.clone(), version: self.version }
    }

    /// Decodes the payload as an aggregate's event type.
    pub fn decode<E: serde::de::DeserializeOwned>(&self) -> Result<E, crate::StoreError> {
        serde_json::from_str(&self.payload).map_err(|e| crate::StoreError::corrupt("event", self.position, e))
    }
}

/// A position in [`crate::Store::events_page`]'s order: an aggregate id and
/// a version in it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    /// The aggregate id.
    pub aggregate_id: String,
    /// The version.
    pub version: u64,
}

/// An outbox message claimed by a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// The message id (pass it to [`crate::Store::ack`]).
    pub id: i64,
    /// The tenant it belongs to.
    pub tenant: String,
    /// Routing topic.
    pub topic: String,
    /// Deduplication key, unique per (tenant, topic).
    pub dedup_key: String,
    /// The body.
    pub payload: serde_json::Value,
    /// When it was written.
    pub created_at: Timestamp,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
    /// The lease ends at this instant; ack before it.
    pub lease_until: Timestamp,
    /// The ordering key: the aggregate the message is about (`kind/id`,
    /// e.g. `incident/INC-1`), `None` for a message without one. A claim
    /// hands out a stream's messages one at a time, in id order.
    pub stream: Option<String>,
}

/// An outbox message that will not be delivered: its sink refused it, or it
/// failed as many times as its dispatcher allows ([`crate::Store::fail`]
/// without a retry instant). It is kept for an operator
/// ([`crate::Store::dead_letters`]) and no longer blocks the later messages
/// of its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The message id.
    pub id: i64,
    /// The tenant it belongs to.
    pub tenant: String,
    /// Routing topic.
    pub topic: String,
    /// Deduplication key, unique per (tenant, topic).
    pub dedup_key: String,
    /// The body.
    pub payload: serde_json::Value,
    /// How many times it was claimed.
    pub attempts: u32,
    /// The last delivery error recorded.
    pub last_error: Option<String>,
    /// When it became a dead letter.
    pub dead_at: Timestamp,
    /// Its ordering key (see [`OutboxItem::stream`]).
    pub stream: Option<String>,
}

/// The result of [`crate::Store::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The tenant checked.
    pub tenant: String,
    /// How many events were checked.
    pub events: u64,
    /// How many aggregates were checked.
    pub aggregates: u64,
    /// How many checkpoints were checked.
    pub checkpoints: u64,
    /// The first break found, if any.
    pub broken: Option<ChainBreak>,
}

impl ChainReport {
    /// Whether every chain, head and checkpoint verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where and how the audit evidence is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Where.
    pub at: BreakAt,
    /// What is wrong there.
    pub reason: BreakReason,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// Where a break is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakAt {
    /// A position of the tenant chain of events written before store design 2.
    TenantChain {
        /// The chain position.
        position: u64,
    },
    /// One event of an aggregate.
    Event {
        /// The aggregate kind.
        kind: AggregateKind,
        /// The aggregate id.
        id: String,
        /// The event's version.
        version: u64,
    },
    /// An aggregate's chain as a whole (its head).
    Aggregate {
        /// The aggregate kind.
        kind: AggregateKind,
        /// The aggregate id.
        id: String,
    },
    /// A tenant checkpoint.
    Checkpoint {
        /// Its sequence number.
        seq: u64,
    },
}

impl std::fmt::Display for BreakAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakAt::TenantChain { position } => write!(f, "tenant chain position {position}"),
            BreakAt::Event { kind, id, version } => write!(f, "{kind} {id} version {version}"),
            BreakAt::Aggregate { kind, id } => write!(f, "{kind} {id}"),
            BreakAt::Checkpoint { seq } => write!(f, "checkpoint {seq}"),
        }
    }
}

/// What is wrong where the evidence breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The row's content or predecessor does not hash to its stored hash
    /// (an edited, swapped or inserted row).
    HashMismatch,
    /// A position or version is missing: the next row found has this one
    /// (a deleted row).
    Gap {
        /// The position or version found instead.
        found: u64,
    },
    /// The tenant chain head records more events (or another hash) than the
    /// log holds: trailing rows were deleted.
    HeadMismatch {
        /// The head's recorded position.
        head_position: u64,
    },
    /// The aggregate's events end at another version or hash than its
    /// projection's chain head (trailing events deleted or appended, or the
    /// projection edited).
    ProjectionMismatch {
        /// The last version its events reach (0: none).
        events: u64,
        /// The version its projection records (0: no projection row).
        projection: u64,
    },
    /// A checkpoint recorded this event with another hash, or the event is
    /// gone: the aggregate's history was rewritten after the checkpoint.
    CheckpointMismatch,
    /// The checkpoint's hash does not cover its own fields and its
    /// predecessor's hash: the checkpoint was rewritten.
    CheckpointHash,
    /// The Merkle root over the heads the checkpoints recorded differs from
    /// the latest checkpoint's root: a recorded head was rewritten.
    RootMismatch,
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakReason::HashMismatch => f.write_str("the stored hash does not match the row and its predecessor"),
            BreakReason::Gap { found } => write!(f, "missing, the next row found is {found}"),
            BreakReason::HeadMismatch { head_position } => {
                write!(f, "the tenant chain head records position {head_position}")
            }
            BreakReason::ProjectionMismatch { events, projection } => {
                write!(f, "the events reach version {events} but the projection records version {projection}")
            }
            BreakReason::CheckpointMismatch => f.write_str("a checkpoint recorded another hash for this event"),
            BreakReason::CheckpointHash => f.write_str("the checkpoint's hash does not cover its fields"),
            BreakReason::RootMismatch => f.write_str("the checkpoint's root does not match the recorded heads"),
        }
    }
}

/// A tenant checkpoint written by [`crate::Store::checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its sequence number in the tenant (1 for the first).
    pub seq: u64,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// Aggregates it covers.
    pub aggregates: u64,
    /// Events it covers (the sum of the covered versions).
    pub events: u64,
    /// The Merkle root over every aggregate's chain head (hex).
    pub root: String,
    /// Its hash, covering the previous checkpoint's (hex): publish it outside
    /// the database to anchor the log.
    pub hash: String,
}

/// One command of [`crate::Store::import_batch`].
#[derive(Debug, Clone)]
pub struct ImportCommand<'a, A: Aggregate> {
    /// Who issued it (its tenant is the aggregate's tenant).
    pub actor: &'a itsm_core::Actor,
    /// When it was decided.
    pub now: Timestamp,
    /// The aggregate.
    pub aggregate_id: &'a str,
    /// The command.
    pub command: A::Command,
}

/// What to do with a command the domain refuses during an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnReject {
    /// Roll the whole batch back and return the refusal.
    #[default]
    Abort,
    /// Skip the command (it writes nothing) and report it.
    Skip,
}

/// What [`crate::Store::import_batch`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport<E> {
    /// Commands committed.
    pub committed: usize,
    /// Events written.
    pub events: usize,
    /// Refused commands, by index in the batch (only with [`OnReject::Skip`]).
    pub rejected: Vec<(usize, E)>,
}

/// Pool settings for [`crate::Store::connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Connections for reads (SQLite; writes use one connection per store) or
    /// in total (PostgreSQL).
    pub max_connections: u32,
    /// How long an operation waits for a pooled connection before
    /// [`crate::StoreError::PoolTimeout`].
    pub acquire_timeout: Duration,
    /// PostgreSQL: how long [`crate::Store::connect_with`] waits for its first
    /// connection (made eagerly) before [`crate::StoreError::Unreachable`]. A
    /// closed port is refused at once, whatever this is.
    pub connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// What [`crate::Store::inspect_sqlite`] found at a path, when it is
/// something [`crate::Store::connect`] will open. Anything else is an error:
/// [`crate::StoreError::ForeignDatabase`] (a directory, a device, a file that
/// is not SQLite, another application's database) or
/// [`crate::StoreError::CannotOpen`] (missing directory, permission denied,
/// read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteFile {
    /// Nothing is at the path: connecting creates the database.
    Missing,
    /// An empty file, or a SQLite database without any schema object (or with
    /// only an empty `_sqlx_migrations` table): connecting creates the schema.
    Empty,
    /// A database of this library: its `_sqlx_migrations` rows are this
    /// library's migrations (same versions and checksums; newer versions are
    /// allowed and refused at connect with [`crate::StoreError::SchemaTooNew`]).
    Ours {
        /// The newest applied migration.
        version: i64,
    },
}

/// What [`crate::Store::claim_fill`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillClaim {
    /// The store held no records at all: the marker was written as started.
    /// Fill the store, then call [`crate::Store::complete_fill`].
    Claimed,
    /// The marker is complete: the store was filled before.
    Complete {
        /// When the fill was started.
        started_at: Timestamp,
        /// When the fill was marked complete.
        completed_at: Timestamp,
    },
    /// The marker was started and never completed: the fill was interrupted,
    /// or another process is filling the store now. What the store holds is
    /// partial.
    Incomplete {
        /// When the fill was started.
        started_at: Timestamp,
    },
    /// The store holds records (of any tenant, any kind, or another fill's
    /// marker) and no marker of this name: it is not this fill's to write.
    Occupied,
}

/// Which backend a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}
