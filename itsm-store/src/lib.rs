//! # itsm-store
//!
//! Persistence for [`itsm_core`] aggregates on sqlx: embedded SQLite (the
//! default) or PostgreSQL, behind one API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), itsm_store::StoreError> {
//! let store = itsm_store::Store::connect("sqlite://itsm.db").await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! ## Overview
//!
//! Every command is one transaction ([`Store::execute`]): read the current
//! state (tenant-scoped; PostgreSQL locks only this aggregate's row), check
//! the expected version and every referenced aggregate, run the aggregate's
//! pure `decide` and `apply`, append the events with their versions, each
//! linked to the aggregate's previous event, upsert the projection row (with
//! the chain head, the SLA clock and the next due instant), write the
//! idempotency row and the outbox messages, commit. Any failure rolls
//! everything back. The pipeline is written once for both backends
//! (`core.rs`); what differs lives in `dialect.rs`.
//!
//! * **Append-only log**: `events` (unique per tenant, kind, id, version);
//!   the database refuses `UPDATE`/`DELETE` on it (triggers on both backends).
//! * **Optimistic concurrency**: [`ExpectedVersion`]; a stale writer gets
//!   [`StoreError::Conflict`].
//! * **Retries**: transient errors (SQLite `SQLITE_BUSY*`/`SQLITE_LOCKED`,
//!   PostgreSQL `40001`/`40P01`/`55P03`) re-run the whole operation, at most 5
//!   attempts with full-jitter backoff (10 ms doubling, capped at 1 s), then
//!   [`StoreError::Contention`]. Errors are classified by code only, and
//!   [`StoreError::kind`] / [`ExecError::kind`] give a caller (a web
//!   handler) the [`ErrorKind`] to answer with.
//! * **Tenancy**: every read and write is keyed by the actor's tenant; another
//!   tenant's aggregate is [`StoreError::NotFound`], exactly like a missing one.
//! * **Idempotency keys**: the same key and request return the first result;
//!   a different request is [`StoreError::IdempotencyKeyReused`].
//! * **Outbox**: [`Store::claim`] leases messages, [`Store::ack`] delivers
//!   them once (PostgreSQL: `FOR UPDATE SKIP LOCKED`), [`Store::fail`]
//!   records a failed attempt (retry instant or dead letter,
//!   [`Store::dead_letters`]). A message carries its aggregate as an ordering
//!   key ([`OutboxItem::stream`]): a claim hands out only the first pending
//!   message of each stream, so a stream is delivered in order, one message
//!   at a time; dead letters leave the order. The `itsm-notify` crate is the
//!   dispatcher.
//! * **Alerts**: [`Store::ingest_alerts`] correlates monitoring alerts into
//!   incidents, one transaction per batch. The correlation state is keyed
//!   rows (`alert_groups`, `alert_seen`) read and written per alert, seen
//!   rows expiring by the policy's window; a tenant's `alert_correlators` row
//!   is its ingestion lock. Under the tenant's service model a first firing
//!   joins the open incident of an item upstream of its object (its groups
//!   found by `alert_groups.root_service`), and one inside a change's
//!   maintenance window is suppressed and kept in `alert_suppressed`.
//! * **Audit evidence**: `h_v = SHA-256(h_{v-1} || row v)` per aggregate,
//!   the head kept in its projection row; [`Store::checkpoint`] writes a
//!   tenant checkpoint (a Merkle root over every head, chained to the
//!   previous checkpoint); [`Store::verify_chain`] names the first break.
//! * **Due instants**: kept by the store with every command from the
//!   aggregate's SLA clock and the configuration versions in force when its
//!   cycle started ([`Store::add_config_version`]); the escalation runner
//!   finds work with [`Store::due_before`] and records it with
//!   [`Store::mark_due_handled`].
//!
//! ## Backends
//!
//! * `sqlite://path`: the file is created if missing; a path holding
//!   anything but a database of this library (another application's
//!   database, a file that is not SQLite, a directory, a device) is refused,
//!   inspected read-only before anything is written to it
//!   ([`Store::inspect_sqlite`]); WAL; `synchronous =
//!   FULL` (an acknowledged command survives power loss, which `NORMAL` does
//!   not promise in WAL mode); foreign keys on; busy timeout 5 s; one writer
//!   connection per store, every write transaction `BEGIN IMMEDIATE`.
//!   Instants are RFC 3339 UTC text with microseconds.
//! * `postgres://...`: `READ COMMITTED`; a command locks its aggregate's row
//!   (`FOR UPDATE`) first, so writers of different aggregates run in parallel.
//!   Instants are `TIMESTAMPTZ`. A schema can be chosen with
//!   `?options[search_path]=name`. The first connection is made at connect
//!   (within [`ConnectOptions::connect_timeout`]): an unreachable server or
//!   a refused login is reported at once, never with the password.
//!
//! ## Schema
//!
//! * `events`: the append-only log (global `position`, tenant, kind, id,
//!   version, event name, payload JSON text, actor, `recorded_at`,
//!   `chain_position` for events written before store design 2, `hash`),
//!   unique per (tenant, kind, id, version); `UPDATE`, `DELETE` (and
//!   `TRUNCATE` on PostgreSQL) are refused by triggers.
//! * `aggregates`: one projection row per aggregate (summary columns, state
//!   JSON, `updated_at`, chain head, what the last checkpoint recorded of
//!   it, SLA clock events, `due_handled` and `due_at`).
//! * `checkpoints`, `checkpoint_heads`: tenant checkpoints (append-only).
//! * `config_versions`, `config_heads`: versioned configuration.
//! * `alert_groups`, `alert_seen`, `alert_correlators`: alert correlation;
//!   `alert_suppressed`: the alerts maintenance suppressed.
//! * `chain_heads`: the tenant chains of events written before design 2.
//! * `idempotency`, `outbox`, `executed_escalations`.
//! * `fill_markers`: bulk fills claimed on an empty store and marked complete
//!   last ([`Store::claim_fill`], [`Store::complete_fill`]), so a store
//!   holding a fill without its completion is known to be partial.
//!
//! ## Queries
//!
//! All actor-scoped: [`Store::load`], [`Store::history`], [`Store::queue`],
//! [`Store::due_before`] (over `due_at`, kept by the store),
//! [`Store::change_calendar`], [`Store::conflicts`], [`Store::list`],
//! [`Store::facets`], [`Store::search`], and the event feed
//! [`Store::events_after`] (with [`Store::subscribe`]'s wake-up; see
//! [`feed`]). System paths take a tenant: [`Store::stream_events`] /
//! [`Store::events_page`] (keyset pages, bounded memory),
//! [`Store::verify_chain`], and the outbox.
//!
//! ## Escalation runner
//!
//! [`runner::Runner`] sleeps until [`Store::next_due`] and records what came
//! due with [`Store::run_due`]: each escalation once, with its outbox
//! message; several processes share the work on PostgreSQL.
//!
//! Migrations are embedded per backend; a database whose schema is newer than
//! the library is refused with [`StoreError::SchemaTooNew`].
//!
//! ## Crate features
//!
//! * `sqlite` (default): the SQLite backend.
//! * `postgres`: the PostgreSQL backend.

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("enable at least one of the `sqlite` and `postgres` features");

mod chain;
mod config;
mod core;
mod dialect;
mod error;
pub mod feed;
mod ingest;
pub mod metric;
mod model;
mod plan;
#[cfg(feature = "postgres")]
mod postgres;
pub mod query;
mod retry;
mod rows;
pub mod runner;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod verify;

use std::time::Duration;

use futures_util::stream::{self, Stream, TryStreamExt};
use itsm_core::id::{ServiceId, TenantId};
use itsm_core::read::ReadPolicy;
use itsm_core::{Actor, Aggregate, AggregateKind, DomainConfig, Timestamp};

pub use config::Storable;
pub use error::{ErrorKind, ExecError, StorageFault, StoreError};
pub use feed::{FeedCursor, FeedEvent, FeedPage, FeedSignal, Wake};
pub use ingest::{IgnoredAlert, IngestReport, RefusedCommand, StateIo, SuppressedAlert};
pub use model::{
    BackendKind, BreakAt, BreakReason, ChainBreak, ChainReport, ChangeConflict, Checkpoint, Committed, ConnectOptions,
    DeadLetter, EventCursor, ExpectedVersion, FillClaim, ImportCommand, ImportReport, Loaded, OnReject, OutboxItem,
    ProjectionRow, QueueFilter, Recorded, Request, SqliteFile, StoredEvent,
};

use crate::plan::{check_key, check_text, check_time};
use crate::rows::{RawEvent, RawProjection};

/// The longest delivery error [`Store::fail`] keeps, in bytes.
const MAX_ERROR_BYTES: usize = 4096;

/// The outbox topic of executed escalations ([`Store::record_escalation`]).
pub const ESCALATION_TOPIC: &str = "escalation";

/// Rows read per page by [`Store::stream_events`] and [`Store::verify_chain`].
pub const PAGE_SIZE: u32 = 512;

/// Rows per page of a metrics read-model scan ([`Store::incident_records`]).
pub const SCAN_PAGE: u32 = 2_048;

/// The URL with its password replaced by `***` (the `user:password@`
/// part and any `password=` query parameter), for messages and logs. SQLite
/// URLs are returned unchanged.
///
/// ```
/// assert_eq!(
///     itsm_store::redact_url("postgres://app:s3cret@db:5432/itsm?sslpassword=x"),
///     "postgres://app:***@db:5432/itsm?sslpassword=***"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        // The user info ends at the last `@` of the part before the query.
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => head.to_owned(),
            },
            None => head.to_owned(),
        },
        None => head.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// A connected store: a pool for SQLite or PostgreSQL. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Inner,
    /// Who reads what ([`Store::with_read_policy`]).
    read: std::sync::Arc<ReadPolicy>,
    /// The feed's wake-up signals ([`Store::subscribe`]).
    hub: std::sync::Arc<feed::Hub>,
    /// A search's candidate bound ([`Store::with_search_candidates`]).
    search_candidates: usize,
}

#[derive(Debug, Clone)]
enum Inner {
    #[cfg(feature = "sqlite")]
    Sqlite(core::Core<sqlx::Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(core::Core<sqlx::Postgres>),
}

macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match &$self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite($s) => $body,
            #[cfg(feature = "postgres")]
            Inner::Postgres($s) => $body,
        }
    };
}

impl Store {
    fn new(inner: Inner) -> Store {
        Store {
            inner,
            read: std::sync::Arc::new(ReadPolicy::default()),
            hub: feed::Hub::new(),
            search_candidates: query::SEARCH_CANDIDATES,
        }
    }

    /// After a commit that may have written events: wakes the feed's
    /// subscribers (and, on PostgreSQL, other processes' through the
    /// notifier).
    fn committed(&self) {
        // The notifier first: it sends on commits it sees after it starts,
        // so a store's first commit must find it running.
        #[cfg(feature = "postgres")]
        if let Inner::Postgres(s) = &self.inner {
            feed::pg::ensure_notifier(&self.hub, &s.pools.write);
        }
        self.hub.committed();
    }

    /// This store with another read policy: who reads which records and
    /// private notes on every actor-scoped read path (load, history, queue,
    /// list, facets, search). [`ReadPolicy::default`] until set.
    pub fn with_read_policy(mut self, policy: ReadPolicy) -> Store {
        self.read = std::sync::Arc::new(policy);
        self
    }

    /// The read policy in force.
    pub fn read_policy(&self) -> &ReadPolicy {
        &self.read
    }

    /// This store with another search candidate bound (1 to
    /// [`query::MAX_SEARCH_CANDIDATES`], clamped; see
    /// [`query::SearchResult`]): how many rows of a search's rarest word
    /// are ranked, at most. [`query::SEARCH_CANDIDATES`] until set.
    pub fn with_search_candidates(mut self, candidates: usize) -> Store {
        self.search_candidates = candidates.clamp(1, query::MAX_SEARCH_CANDIDATES);
        self
    }

    /// Opens `sqlite://path` or `postgres://...` with default pool settings,
    /// creating or migrating the schema.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &ConnectOptions::default()).await
    }

    /// Opens a store with explicit pool settings.
    ///
    /// SQLite: the path is inspected read-only first ([`Store::inspect_sqlite`]);
    /// a path that does not hold a database of this library (a directory, a
    /// device, a file that is not SQLite, another application's database) is
    /// refused with [`StoreError::ForeignDatabase`] before anything is written
    /// to it, and a file that cannot be opened with [`StoreError::CannotOpen`]
    /// (missing directory, permission denied, read-only). A missing or empty
    /// file is created.
    ///
    /// PostgreSQL: a first connection is made at once, within
    /// [`ConnectOptions::connect_timeout`]; a closed port, an unknown host or
    /// no answer is [`StoreError::Unreachable`], an authentication or
    /// unknown-database failure [`StoreError::Refused`]. Messages, the span
    /// and `Debug` show the URL without its password ([`redact_url`]).
    #[tracing::instrument(skip_all, fields(url = %redact_url(url)))]
    pub async fn connect_with(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            #[cfg(feature = "sqlite")]
            return Ok(Store::new(Inner::Sqlite(sqlite::connect(url, options).await?)));
            #[cfg(not(feature = "sqlite"))]
            return Err(StoreError::BackendDisabled("sqlite"));
        }
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            #[cfg(feature = "postgres")]
            return Ok(Store::new(Inner::Postgres(postgres::connect(url, options).await?)));
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::BackendDisabled("postgres"));
        }
        let _ = options;
        Err(StoreError::validation("url", "expected a sqlite:// or postgres:// URL"))
    }

    /// What is at a SQLite database path, inspected read-only (no file is
    /// created, no pragma set): [`SqliteFile::Missing`], [`SqliteFile::Empty`]
    /// or [`SqliteFile::Ours`], which [`Store::connect`] opens; anything else
    /// is [`StoreError::ForeignDatabase`] or [`StoreError::CannotOpen`], both
    /// naming the path. Checks, in order: the path (a missing directory, a
    /// directory, a device), the 16-byte SQLite header, write permission, then
    /// `sqlite_master` and the `_sqlx_migrations` rows (versions and
    /// checksums of this library's migrations).
    #[cfg(feature = "sqlite")]
    #[tracing::instrument(skip_all, fields(path = %path.display()))]
    pub async fn inspect_sqlite(path: &std::path::Path) -> Result<SqliteFile, StoreError> {
        sqlite::inspect(path).await
    }

    /// Whether the store holds any record at all: an event, a projection, a
    /// chain head, an idempotency row, an outbox message, an executed
    /// escalation, an alert correlator or a fill marker, of any tenant.
    #[tracing::instrument(skip_all)]
    pub async fn holds_records(&self) -> Result<bool, StoreError> {
        retry::retry(|| async move { dispatch!(self, s => s.holds_records().await) }).await
    }

    /// Claims the store for a bulk fill named `name` that spans many
    /// transactions (a demo or test data set), in one transaction that
    /// serializes with every other claim: when the store holds no records
    /// at all ([`Store::holds_records`]), writes the fill marker as started at
    /// `now` and returns [`FillClaim::Claimed`]; the caller fills, then calls
    /// [`Store::complete_fill`] last. Otherwise reports what is there: a
    /// [`FillClaim::Complete`] or [`FillClaim::Incomplete`] marker of this
    /// name, or [`FillClaim::Occupied`]. Of two processes claiming an empty
    /// store together, exactly one gets `Claimed`; the other sees
    /// `Incomplete` until the first completes.
    #[tracing::instrument(skip_all, fields(fill = %name))]
    pub async fn claim_fill(&self, name: &str, now: Timestamp) -> Result<FillClaim, StoreError> {
        check_text("fill name", name)?;
        check_time("now", now)?;
        retry::retry(|| async move { dispatch!(self, s => s.claim_fill(name, now).await) }).await
    }

    /// Marks the fill `name` complete at `now` (a no-op when it already is).
    /// [`StoreError::NotFound`] when no fill of that name was claimed.
    #[tracing::instrument(skip_all, fields(fill = %name))]
    pub async fn complete_fill(&self, name: &str, now: Timestamp) -> Result<(), StoreError> {
        check_text("fill name", name)?;
        check_time("now", now)?;
        let found = retry::retry(|| async move { dispatch!(self, s => s.complete_fill(name, now).await) }).await?;
        if !found {
            return Err(StoreError::NotFound { kind: "fill marker", id: name.to_owned() });
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> BackendKind {
        match &self.inner {
            #[cfg(feature = "sqlite")]
            Inner::Sqlite(_) => BackendKind::Sqlite,
            #[cfg(feature = "postgres")]
            Inner::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.hub.stop().await;
        dispatch!(self, s => s.close().await)
    }

    /// Executes one command in one transaction (see the crate docs), retrying
    /// transient failures. A normal or standard change's `schedule` is
    /// decided against the tenant's stored service schedules in force
    /// ([`Store::add_config_version`]), when it has any, in place of the
    /// caller's [`DomainConfig::schedules`].
    ///
    /// Refusals: [`ExecError::Domain`] (the rules), [`StoreError::Conflict`]
    /// (stale expected version), [`StoreError::NotFound`] (the aggregate
    /// exists but the actor may not read it ([`Store::read_policy`]), before
    /// its version or state can show in another answer; or a referenced
    /// aggregate is not in the actor's tenant), [`StoreError::IdempotencyKeyReused`],
    /// [`StoreError::Contention`], [`StoreError::Validation`] (NUL or empty
    /// id or key, instant outside years 1..=9999). Faults:
    /// [`StoreError::ConnectionLost`] (nothing written),
    /// [`StoreError::OutcomeUnknown`] (only without an idempotency key),
    /// [`StoreError::Storage`], [`StoreError::PoolTimeout`].
    #[tracing::instrument(skip_all, fields(kind = %A::KIND, id = %req.aggregate_id, command = A::command_name(req.command)))]
    pub async fn execute<A: Aggregate>(&self, req: Request<'_, A>) -> Result<Committed<A>, ExecError<A::Error>> {
        check_text("aggregate id", req.aggregate_id)?;
        check_time("now", req.ctx.now)?;
        let hash = match req.idempotency_key {
            Some(key) => {
                check_key(key)?;
                Some(chain::request_hash::<A>(req.aggregate_id, req.command)?)
            }
            None => None,
        };
        let req = &req;
        let hash = hash.as_deref();
        let scope = &self.read.scope(req.ctx.actor);
        // With a key, a re-run after a commit whose outcome was lost returns
        // the first result: retry it too.
        let done =
            retry::retry_with(
                hash.is_some(),
                || async move { dispatch!(self, s => s.execute(req, hash, scope).await) },
            )
            .await?;
        self.committed();
        Ok(done)
    }

    /// Executes many commands (of many aggregates and tenants) in one
    /// transaction, each still decided and applied by the aggregate, with
    /// [`ExpectedVersion::Any`] semantics and no idempotency keys: the bulk
    /// import path. A refused command aborts the batch or is skipped, as
    /// `on_reject` says; a missing reference always aborts.
    #[tracing::instrument(skip_all, fields(kind = %A::KIND, commands = commands.len()))]
    pub async fn import_batch<A: Aggregate>(
        &self,
        config: &DomainConfig,
        commands: &[ImportCommand<'_, A>],
        on_reject: OnReject,
    ) -> Result<ImportReport<A::Error>, ExecError<A::Error>> {
        if commands.is_empty() {
            return Ok(ImportReport { committed: 0, events: 0, rejected: Vec::new() });
        }
        let report =
            retry::retry(|| async move { dispatch!(self, s => s.import_batch(config, commands, on_reject).await) })
                .await?;
        self.committed();
        Ok(report)
    }

    /// Ingests a batch of monitoring alerts for the actor's tenant (the actor
    /// should hold the automation role) in one write transaction: loads the
    /// tenant's [`Correlator`](itsm_core::alert::Correlator) (serializing
    /// concurrent batches on it), feeds it the incident events other paths
    /// wrote since its last batch (a person resolving or closing an alert
    /// incident), then for each alert in order decides it under `policy` at
    /// `now`, runs the decision's incident commands through the write path of
    /// [`Store::import_batch`] (events, audit chain, projection, outbox: an
    /// alert incident's `alert.clear` messages are written when it is
    /// resolved or closed), observes their events and applies the decision;
    /// saves the correlator and commits. Retries transient failures as a whole.
    ///
    /// Under the tenant's topology (Table 4): the service model in force at
    /// `now` ([`Store::add_config_version`]) and the maintenance windows of
    /// its changes (every change not cancelled or rejected, on its service,
    /// over its scheduled window) around the batch's firings. A first firing
    /// joins the live open incident of an item upstream of its object
    /// ([`IngestReport::root_caused`]); one inside a window whose work takes
    /// its object down is suppressed: recorded in [`IngestReport::suppressed`]
    /// and kept ([`Store::suppressed_alerts`]), no incident. See the rules in
    /// [`itsm_core::alert`]. The windows are read before the batch's
    /// transaction: a change scheduled while a batch is ingested may not
    /// suppress that batch's alerts.
    ///
    /// Idempotent per alert: a firing `(source, alert_id)` already ingested
    /// (in this batch, an earlier one or a concurrent one) is a duplicate and
    /// writes nothing. A command the domain refuses is reported in
    /// [`IngestReport::refused`]; it does not abort the batch.
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, alerts = alerts.len()))]
    pub async fn ingest_alerts(
        &self,
        actor: &Actor,
        config: &DomainConfig,
        policy: &itsm_core::alert::GroupingPolicy,
        alerts: &[itsm_core::alert::Alert],
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        check_time("now", now)?;
        if alerts.is_empty() {
            return Ok(IngestReport::default());
        }
        let tenant = actor.tenant.as_str();
        let history = retry::retry(|| async move { dispatch!(self, s => s.config_history(tenant).await) }).await?;
        let model = history.service_models.in_force_at(now).map(|v| &v.value);
        // The span of the batch's (valid) firings, in one pass.
        let span = alerts.iter().filter(|a| a.resolved_at.is_none() && a.validate().is_ok()).fold(
            None,
            |span: Option<(Timestamp, Timestamp)>, a| {
                Some(span.map_or((a.fired_at, a.fired_at), |(lo, hi)| (lo.min(a.fired_at), hi.max(a.fired_at))))
            },
        );
        let windows = match span {
            Some((from, to)) => {
                retry::retry(|| async move { dispatch!(self, s => s.maintenance_windows(tenant, from, to).await) })
                    .await?
            }
            None => Vec::new(),
        };
        let topology = itsm_core::alert::Topology::new(model, &windows);
        let report = retry::retry(|| async move {
            dispatch!(self, s => s.ingest_alerts(actor, config, policy, topology, alerts, now).await)
        })
        .await?;
        self.committed();
        Ok(report)
    }

    /// The tenant's alerts suppressed by a maintenance window (see
    /// [`Store::ingest_alerts`]) that fired in `[from, to)`, in firing
    /// order (ties: by alert), at most `limit`.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn suppressed_alerts(
        &self,
        tenant: &TenantId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<SuppressedAlert>, StoreError> {
        check_time("from", from)?;
        check_time("to", to)?;
        let tenant = tenant.as_str();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        retry::retry(|| async move { dispatch!(self, s => s.suppressed_alerts(tenant, from, to, limit).await) }).await
    }

    /// The current state and version of an aggregate of the actor's tenant
    /// that the actor may read ([`Store::read_policy`]); one it may not read
    /// is reported as not found, exactly like a missing one.
    #[tracing::instrument(skip_all, fields(kind = %A::KIND, id = %id))]
    pub async fn load<A: Aggregate>(&self, actor: &Actor, id: &str) -> Result<Loaded<A>, StoreError> {
        if check_text("aggregate id", id).is_err() {
            return Err(StoreError::not_found(A::KIND, id));
        }
        let tenant = actor.tenant.as_str();
        let found = retry::retry(|| async move { dispatch!(self, s => s.load::<A>(tenant, id).await) }).await?;
        let (state, version, updated_at) = found.ok_or_else(|| StoreError::not_found(A::KIND, id))?;
        if !self.read.scope(actor).sees_summary(&actor.tenant, A::KIND, &state.summary()) {
            return Err(StoreError::not_found(A::KIND, id));
        }
        Ok(Loaded { state, version, updated_at })
    }

    /// Every event of an aggregate of the actor's tenant that the actor may
    /// read, in version order. Whether the actor may read it is decided on
    /// its current state, as [`Store::load`] does (otherwise: not found);
    /// private events ([`Aggregate::is_private`]: private work notes) are left
    /// out for a reader without private notes, so versions may skip.
    #[tracing::instrument(skip_all, fields(kind = %A::KIND, id = %id))]
    pub async fn history<A: Aggregate>(&self, actor: &Actor, id: &str) -> Result<Vec<Recorded<A::Event>>, StoreError> {
        if check_text("aggregate id", id).is_err() {
            return Err(StoreError::not_found(A::KIND, id));
        }
        let tenant = actor.tenant.as_str();
        let mut events = retry::retry(|| async move { dispatch!(self, s => s.history::<A>(tenant, id).await) }).await?;
        let state = A::replay(events.iter().map(|r| &r.event))
            .map_err(|e| StoreError::corrupt("history", format!("{} {id}", A::KIND), e))?;
        let Some(state) = state else { return Err(StoreError::not_found(A::KIND, id)) };
        let scope = self.read.scope(actor);
        if !scope.sees_summary(&actor.tenant, A::KIND, &state.summary()) {
            return Err(StoreError::not_found(A::KIND, id));
        }
        if !scope.private_notes() {
            events.retain(|r| !A::is_private(&r.event));
        }
        Ok(events)
    }

    /// Open (non-terminal) work of a person or a group in the actor's tenant,
    /// of every kind, highest priority first, then least recently updated.
    #[tracing::instrument(skip_all)]
    pub async fn queue(
        &self,
        actor: &Actor,
        filter: &QueueFilter,
        limit: u32,
    ) -> Result<Vec<ProjectionRow>, StoreError> {
        let tenant = actor.tenant.as_str();
        let limit = i64::from(limit);
        let scope = &self.read.scope(actor);
        let rows =
            retry::retry(|| async move { dispatch!(self, s => s.queue(tenant, scope, filter, limit).await) }).await?;
        rows.into_iter().map(RawProjection::into_row).collect()
    }

    /// One page of the actor's tenant's incidents, problems and changes that
    /// `query` selects, in its order, at most `limit` rows (1 to
    /// [`query::MAX_PAGE`]), after `after` (a cursor a previous page of the
    /// same order gave; `None` for the first page). A cursor of another
    /// order, or text that is not a cursor, is refused as invalid input.
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, limit))]
    pub async fn list(
        &self,
        actor: &Actor,
        query: &query::ListQuery,
        after: Option<&query::Cursor>,
        limit: u32,
    ) -> Result<query::Page, StoreError> {
        if limit == 0 || limit > query::MAX_PAGE {
            return Err(StoreError::validation(
                "limit",
                format!("a page holds 1 to {} rows, not {limit}", query::MAX_PAGE),
            ));
        }
        let after = after.map(|c| query::CursorData::decode(c, query.sort)).transpose()?;
        let tenant = actor.tenant.as_str();
        // One row more than asked: whether a next page exists.
        let fetch = i64::from(limit) + 1;
        let after = after.as_ref();
        let scope = &self.read.scope(actor);
        let raw =
            retry::retry(|| async move { dispatch!(self, s => s.list(tenant, scope, query, after, fetch).await) })
                .await?;
        let mut rows = raw.into_iter().map(RawProjection::into_row).collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = match rows.last() {
            Some(last) if more => query::CursorData::after(last, query.sort).map(|c| c.encode()).transpose()?,
            Some(_) | None => None,
        };
        Ok(query::Page { rows, next })
    }

    /// Full-text search: the actor's tenant's incidents, problems and
    /// changes that the actor may read whose title and notes hold every
    /// word of `text` ([`query::search_terms`]) between them, best match
    /// first (a word in the title weighs more than one in a note; ties by
    /// kind and id), at most `limit` rows (1 to [`query::MAX_PAGE`]). Private
    /// notes are searched only for an actor who may read them. SQLite FTS5
    /// and PostgreSQL `tsvector` (GIN-indexed) find the same words: letters
    /// and digits, lower-cased, no stemming. A search for common words ranks
    /// only the most recent matches ([`query::SearchResult`] says so). Text
    /// without a word, or with too many, is refused as invalid input.
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, limit))]
    pub async fn search(&self, actor: &Actor, text: &str, limit: u32) -> Result<query::SearchResult, StoreError> {
        if limit == 0 || limit > query::MAX_PAGE {
            return Err(StoreError::validation(
                "limit",
                format!("a search returns 1 to {} rows, not {limit}", query::MAX_PAGE),
            ));
        }
        let terms = &query::search_terms(text)?;
        let tenant = actor.tenant.as_str();
        let scope = &self.read.scope(actor);
        let limit = i64::from(limit);
        let candidates = self.search_candidates;
        let (rows, exhaustive) =
            retry::retry(
                || async move { dispatch!(self, s => s.search(tenant, scope, terms, limit, candidates).await) },
            )
            .await?;
        let rows = rows.into_iter().map(RawProjection::into_row).collect::<Result<_, _>>()?;
        Ok(query::SearchResult { rows, exhaustive })
    }

    /// Counts per kind and state and per priority over what `query` selects
    /// in the actor's tenant (its sort order is ignored, except that
    /// [`query::SortKey::Due`] selects rows with a due instant only).
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant))]
    pub async fn facets(&self, actor: &Actor, query: &query::ListQuery) -> Result<query::Facets, StoreError> {
        let tenant = actor.tenant.as_str();
        let scope = &self.read.scope(actor);
        let (statuses, priorities) =
            retry::retry(|| async move { dispatch!(self, s => s.facets(tenant, scope, query).await) }).await?;
        let mut facets = query::Facets::default();
        let count = |n: i64| u64::try_from(n).map_err(|_| StoreError::Overflow);
        for (kind, status, n) in statuses {
            let n = count(n)?;
            facets.total += n;
            *facets.by_status.entry((plan::parse_kind(&kind)?, status)).or_default() += n;
        }
        for (priority, n) in priorities {
            let priority =
                match priority {
                    Some(p) => Some(itsm_core::vocabulary::Priority::parse(&p).ok_or_else(|| {
                        StoreError::corrupt("projection", "priority", format!("unknown priority {p}"))
                    })?),
                    None => None,
                };
            *facets.by_priority.entry(priority).or_default() += count(n)?;
        }
        Ok(facets)
    }

    /// Adds a version of a piece of the tenant's configuration (SLA policy,
    /// calendar, escalation rules, priority matrix, approval policy,
    /// standard catalogue, service schedules) with the instant it takes
    /// effect, and recomputes the due instant of every open aggregate with a
    /// clock, in one transaction. Versions of one configuration are numbered
    /// upwards; a clock uses the versions in force when its cycle started
    /// ([`DomainConfigHistory`](itsm_core::versioned::DomainConfigHistory)).
    /// Refused with [`StoreError::ConfigVersion`] (a duplicate or lower
    /// number, a value stating another version); nothing is written then.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, config = T::KIND.as_str(), version = version.version))]
    pub async fn add_config_version<T: Storable>(
        &self,
        tenant: &TenantId,
        version: itsm_core::versioned::Versioned<T>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        check_time("now", now)?;
        check_time("effective_from", version.effective_from)?;
        let value = serde_json::to_string(&version.value).map_err(|source| StoreError::Serialize {
            what: "configuration",
            id: T::KIND.as_str().to_owned(),
            source,
        })?;
        let tenant = tenant.as_str();
        let number = i64::from(version.version);
        let effective_from = version.effective_from;
        let add = move |h: &mut itsm_core::versioned::DomainConfigHistory| -> Result<(), StoreError> {
            Ok(T::add_to(h, version.clone())?)
        };
        let new = core::NewConfig { name: T::KIND.as_str(), version: number, effective_from, value: value.as_str() };
        let (new, add) = (&new, &add);
        retry::retry(|| async move { dispatch!(self, s => s.add_config(tenant, new, add, now).await) }).await
    }

    /// The tenant's configuration history (every version of every piece).
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn config_history(
        &self,
        tenant: &TenantId,
    ) -> Result<itsm_core::versioned::DomainConfigHistory, StoreError> {
        let tenant = tenant.as_str();
        let config = retry::retry(|| async move { dispatch!(self, s => s.config_history(tenant).await) }).await?;
        Ok((*config).clone())
    }

    /// Records that everything due on an aggregate up to `up_to` was handled
    /// (the escalation runner executed it), and moves its due instant to the
    /// next deadline, threshold or escalation level after that. Returns the
    /// new due instant. [`StoreError::NotFound`] for an aggregate of another
    /// tenant or without an SLA clock.
    #[tracing::instrument(skip_all, fields(kind = %kind, id = %id))]
    pub async fn mark_due_handled(
        &self,
        actor: &Actor,
        kind: AggregateKind,
        id: &str,
        up_to: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        if check_text("aggregate id", id).is_err() {
            return Err(StoreError::not_found(kind, id));
        }
        check_time("up_to", up_to)?;
        check_time("now", now)?;
        let tenant = actor.tenant.as_str();
        retry::retry(|| async move { dispatch!(self, s => s.mark_handled(tenant, kind, id, up_to, now).await) }).await
    }

    /// Open aggregates of the actor's tenant whose due instant is before
    /// `before`, soonest first: of the first `limit`, those the actor may
    /// read (a portal's breach-soon board pages with [`Store::list`] and
    /// [`query::ListQuery::due_before`] instead).
    #[tracing::instrument(skip_all)]
    pub async fn due_before(
        &self,
        actor: &Actor,
        before: Timestamp,
        limit: u32,
    ) -> Result<Vec<ProjectionRow>, StoreError> {
        check_time("before", before)?;
        let tenant = actor.tenant.as_str();
        let limit = i64::from(limit);
        let rows =
            retry::retry(|| async move { dispatch!(self, s => s.due_before(tenant, before, limit).await) }).await?;
        self.readable(actor, rows)
    }

    /// The rows the actor may read ([`Store::read_policy`]), decoded.
    fn readable(&self, actor: &Actor, rows: Vec<RawProjection>) -> Result<Vec<ProjectionRow>, StoreError> {
        let scope = self.read.scope(actor);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let row = row.into_row()?;
            let (group, assignee, requester) = (row.group.as_ref(), row.assignee.as_ref(), row.requester.as_ref());
            if scope.sees(
                &actor.tenant,
                row.kind,
                group.map(|g| g.as_str()),
                assignee.map(|a| a.as_str()),
                requester.map(|r| r.as_str()),
            ) {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Aggregates (changes) of the actor's tenant on `service` whose window
    /// intersects `[from, to)` and that the actor may read, in window order,
    /// terminal ones included.
    #[tracing::instrument(skip_all, fields(service = %service))]
    pub async fn change_calendar(
        &self,
        actor: &Actor,
        service: &ServiceId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ProjectionRow>, StoreError> {
        check_time("from", from)?;
        check_time("to", to)?;
        if from >= to {
            return Ok(Vec::new());
        }
        let tenant = actor.tenant.as_str();
        let service = service.as_str();
        let rows =
            retry::retry(|| async move { dispatch!(self, s => s.change_calendar(tenant, service, from, to).await) })
                .await?;
        self.readable(actor, rows)
    }

    /// Pairs of non-terminal changes whose windows intersect `[from, to)` and
    /// overlap each other, at least one of them on `service`: two changes of
    /// `service`, or, under the tenant's service model in force at `from`
    /// (stored with [`Store::add_config_version`]), a change of `service` and
    /// one of another item of a business service `service` is part of
    /// (`ServiceModel::same_business_service`: a change to the database and
    /// one to the payments front end of one business service conflict).
    /// Same-service pairs come first, each pair's `first` starting first
    /// (ties: by kind, then id). Only changes the actor may read.
    #[tracing::instrument(skip_all, fields(service = %service))]
    pub async fn conflicts(
        &self,
        actor: &Actor,
        service: &ServiceId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ChangeConflict>, StoreError> {
        let open = |rows: Vec<ProjectionRow>| -> Vec<ProjectionRow> {
            rows.into_iter().filter(|r| !r.terminal && r.window.is_some()).collect()
        };
        let rows = open(self.change_calendar(actor, service, from, to).await?);
        let mut out = Vec::new();
        for (i, first) in rows.iter().enumerate() {
            let Some((_, first_end)) = first.window else { continue };
            for second in &rows[i + 1..] {
                let Some((second_start, _)) = second.window else { continue };
                if second_start >= first_end {
                    // Sorted by start: no later row can overlap `first` either.
                    break;
                }
                out.push(ChangeConflict { first: first.clone(), second: second.clone() });
            }
        }
        if rows.is_empty() || from >= to {
            return Ok(out);
        }
        let history = self.config_history(&actor.tenant).await?;
        let Some(model) = history.service_models.in_force_at(from).map(|v| &v.value) else { return Ok(out) };
        let mut across = Vec::new();
        for related in model.same_business_service(service) {
            for other in open(self.change_calendar(actor, related, from, to).await?) {
                for row in &rows {
                    let (Some((a_start, a_end)), Some((b_start, b_end))) = (row.window, other.window) else { continue };
                    if a_start < b_end && b_start < a_end {
                        let (first, second) =
                            if (b_start, other.kind.as_str(), &other.id) < (a_start, row.kind.as_str(), &row.id) {
                                (other.clone(), row.clone())
                            } else {
                                (row.clone(), other.clone())
                            };
                        across.push(ChangeConflict { first, second });
                    }
                }
            }
        }
        across.sort_by(|x, y| {
            let key = |c: &ChangeConflict| (c.first.window, c.first.id.clone(), c.second.window, c.second.id.clone());
            key(x).cmp(&key(y))
        });
        out.extend(across);
        Ok(out)
    }

    /// One page of a tenant's events of one kind, ordered by aggregate id then
    /// version, strictly after `after` (`None`: from the start): a
    /// keyset-paginated batch reader over the log's unique index. Pass the
    /// last event's [`StoredEvent::cursor`] to get the next page.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, kind = %kind))]
    pub async fn events_page(
        &self,
        tenant: &TenantId,
        kind: AggregateKind,
        after: Option<&EventCursor>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let tenant = tenant.as_str();
        let after = match after {
            Some(c) => (c.aggregate_id.as_str(), i64::try_from(c.version).unwrap_or(i64::MAX)),
            None => ("", 0),
        };
        let limit = i64::from(limit);
        let rows =
            retry::retry(|| async move { dispatch!(self, s => s.events_page(tenant, kind, after, limit).await) })
                .await?;
        rows.into_iter().map(RawEvent::into_stored).collect()
    }

    /// Every event of a tenant of one kind, each aggregate's events together
    /// in version order (aggregates by id), read [`PAGE_SIZE`] rows at a time
    /// (bounded memory): fold one aggregate at a time into a record. For the
    /// metrics crate and exports: a system path, not actor-scoped.
    pub fn stream_events<'a>(
        &'a self,
        tenant: &'a TenantId,
        kind: AggregateKind,
    ) -> impl Stream<Item = Result<StoredEvent, StoreError>> + Send + 'a {
        stream::try_unfold(Some(None::<EventCursor>), move |after| async move {
            let Some(after) = after else { return Ok::<_, StoreError>(None) };
            let page = self.events_page(tenant, kind, after.as_ref(), PAGE_SIZE).await?;
            let next = match page.last() {
                Some(last) if page.len() == PAGE_SIZE as usize => Some(Some(last.cursor())),
                _ => None,
            };
            if page.is_empty() {
                return Ok(None);
            }
            Ok(Some((stream::iter(page.into_iter().map(Ok)), next)))
        })
        .try_flatten()
    }

    /// A tenant's incident records from the metrics read model
    /// ([`metric`]), in opening order (then id): what
    /// `itsm_metrics::Accumulator::push_incident` takes, read [`SCAN_PAGE`]
    /// rows at a time (bounded memory), without decoding or folding events.
    /// Each record is the one a fold of the incident's events gives, with the
    /// SLA verdict of its last resolution clock under the stored
    /// configuration versions ([`Store::add_config_version`]). Refused with
    /// [`StoreError::MetricModelStale`] when the tenant's read model is behind
    /// the library's record definition. A system path, not actor-scoped.
    pub fn incident_records(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<itsm_core::records::IncidentRecord, StoreError>> + Send + 'static {
        let (store, tenant) = (self.clone(), tenant.clone());
        Self::prefetched(
            move |after: Option<(i64, String)>| {
                let (store, tenant) = (store.clone(), tenant.clone());
                async move {
                    if after.is_none() {
                        store.check_metric_model(&tenant).await?;
                    }
                    let page = retry::retry(|| async {
                        dispatch!(store, s => s.incident_records_page(tenant.as_str(), after.as_ref(), i64::from(SCAN_PAGE)).await)
                    })
                    .await?;
                    let next = page.cursor(i64::from(SCAN_PAGE))?;
                    Ok((page, next))
                }
            },
            metric::IncidentPage::decode,
        )
    }

    /// A tenant's change records (all three types) from the metrics read
    /// model, by kind and id, read [`SCAN_PAGE`] rows at a time; refused like
    /// [`Store::incident_records`].
    pub fn change_records(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<itsm_core::records::ChangeRecord, StoreError>> + Send + 'static {
        let (store, tenant) = (self.clone(), tenant.clone());
        Self::prefetched(
            move |after: Option<(String, String)>| {
                let (store, tenant) = (store.clone(), tenant.clone());
                async move {
                    if after.is_none() {
                        store.check_metric_model(&tenant).await?;
                    }
                    let page = retry::retry(|| async {
                        dispatch!(store, s => s.change_records_page(tenant.as_str(), after.as_ref(), i64::from(SCAN_PAGE)).await)
                    })
                    .await?;
                    let next = page.cursor(i64::from(SCAN_PAGE))?;
                    Ok((page, next))
                }
            },
            metric::ChangePage::decode,
        )
    }

    /// A tenant's alert receipts (Table 3's alert delay), one per alert
    /// recorded on an incident (an `alert_correlated` event: the alert's
    /// `fired_at`, and the event's `recorded_at`, the instant its ingestion
    /// ran), in the order they were recorded, read [`PAGE_SIZE`] rows at a
    /// time: what `itsm_metrics::Accumulator::push_alert_receipt` takes. A
    /// redelivered alert is a duplicate and recorded once. `received_at` is
    /// the ingestion's `now` (see [`itsm_core::records::AlertReceipt`]). Not a
    /// snapshot: on PostgreSQL an event committed during the scan under a
    /// position already passed is not read. A system path, not actor-scoped.
    pub fn alert_receipts(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<itsm_core::records::AlertReceipt, StoreError>> + Send + 'static {
        let fetch = |store: Store, tenant: TenantId, after: i64| async move {
            let limit = i64::from(PAGE_SIZE);
            dispatch!(store, s => s.page_after::<core::ReceiptRow>(|q| q.alert_receipts_page, tenant.as_str(), after, limit).await)
        };
        self.paged_after(
            tenant,
            fetch,
            |row| row.position,
            |row| {
                let event: itsm_core::incident::IncidentEvent =
                    serde_json::from_str(&row.payload).map_err(|e| StoreError::corrupt("event", row.position, e))?;
                match event {
                    itsm_core::incident::IncidentEvent::AlertCorrelated { alert, .. } => {
                        Ok(itsm_core::records::AlertReceipt {
                            alert: alert.key(),
                            fired_at: alert.fired_at,
                            received_at: row.recorded_at.0,
                        })
                    }
                    other => Err(StoreError::corrupt(
                        "event",
                        row.position,
                        format!("listed as alert_correlated but holds {}", other.name()),
                    )),
                }
            },
        )
    }

    /// A tenant's notifications and their deliveries (Table 16's
    /// notification timeliness), one per outbox message in the order they
    /// were queued, read [`PAGE_SIZE`] rows at a time: what
    /// `itsm_metrics::Accumulator::push_notification` takes. A dead letter
    /// carries its `dead_at`. Like every page-by-id scan it is not a snapshot:
    /// on PostgreSQL a message committed during the scan under an id already
    /// passed is not read. A system path, not actor-scoped.
    pub fn notification_records(
        &self,
        tenant: &TenantId,
    ) -> impl Stream<Item = Result<itsm_core::records::NotificationRecord, StoreError>> + Send + 'static {
        let fetch = |store: Store, tenant: TenantId, after: i64| async move {
            let limit = i64::from(PAGE_SIZE);
            dispatch!(store, s => s.page_after::<core::NotificationRow>(|q| q.notifications_page, tenant.as_str(), after, limit).await)
        };
        self.paged_after(
            tenant,
            fetch,
            |row| row.id,
            |row| {
                Ok(itsm_core::records::NotificationRecord {
                    topic: row.topic,
                    key: row.dedup_key,
                    created_at: row.created_at.0,
                    delivered_at: row.delivered_at.map(|t| t.0),
                    dead_at: row.dead_at.map(|t| t.0),
                })
            },
        )
    }

    /// A tenant's rows read [`PAGE_SIZE`] at a time by an integer key:
    /// `fetch` reads the page after a key (rows in key order, retried when
    /// the failure is transient), `key` gives a row's key, `decode` its item.
    fn paged_after<R, T, F, Fut>(
        &self,
        tenant: &TenantId,
        fetch: F,
        key: fn(&R) -> i64,
        decode: fn(R) -> Result<T, StoreError>,
    ) -> impl Stream<Item = Result<T, StoreError>> + Send + 'static
    where
        F: Fn(Store, TenantId, i64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>, StoreError>> + Send,
        R: Send + 'static,
        T: Send + 'static,
    {
        let (store, tenant) = (self.clone(), tenant.clone());
        stream::try_unfold(Some(0i64), move |after| {
            let (store, tenant, fetch) = (store.clone(), tenant.clone(), fetch.clone());
            async move {
                let Some(after) = after else { return Ok::<_, StoreError>(None) };
                let rows = retry::retry(|| fetch(store.clone(), tenant.clone(), after)).await?;
                let next = match rows.last() {
                    Some(last) if rows.len() == PAGE_SIZE as usize => Some(key(last)),
                    _ => None,
                };
                if rows.is_empty() {
                    return Ok(None);
                }
                let page: Vec<Result<T, StoreError>> = rows.into_iter().map(decode).collect();
                Ok(Some((stream::iter(page), next)))
            }
        })
        .try_flatten()
    }

    /// The items of pages read one after another by `fetch` (from no cursor,
    /// then from the cursor each page gives, until one gives none) and
    /// decoded by `decode`, in a pipeline: one task reads pages (the next
    /// as soon as the last is handed on), another decodes them, while the
    /// caller consumes the page before; a page waits in each hand-over at
    /// most, so memory stays a few pages. Nothing runs until the stream is
    /// first polled (inside the caller's runtime); a stream dropped early
    /// stops both tasks. A pipeline that stops before its last page (a task
    /// cancelled by its runtime) ends the stream with
    /// [`StoreError::Interrupted`], never a silently shorter scan.
    fn prefetched<C, R, T, F, Fut, D>(fetch: F, decode: D) -> impl Stream<Item = Result<T, StoreError>> + Send + 'static
    where
        C: Send + 'static,
        R: Send + 'static,
        T: Send + 'static,
        F: Fn(Option<C>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(R, Option<C>), StoreError>> + Send + 'static,
        D: Fn(R) -> Result<Vec<T>, StoreError> + Send + 'static,
    {
        use futures_util::StreamExt;
        use tokio::sync::mpsc;

        /// The pipeline's tasks; aborted when the stream is dropped.
        struct Tasks([tokio::task::JoinHandle<()>; 2]);
        impl Drop for Tasks {
            fn drop(&mut self) {
                for task in &self.0 {
                    task.abort();
                }
            }
        }
        /// What passes along the pipeline: a page, or the end of the scan.
        enum Hand<P> {
            Page(P),
            End,
        }
        type Handed<P> = Result<Hand<P>, StoreError>;

        stream::once(async move {
            let (raw_tx, mut raw_rx) = mpsc::channel::<Handed<R>>(1);
            let (page_tx, page_rx) = mpsc::channel::<Handed<Vec<T>>>(1);
            let reader = tokio::spawn(async move {
                let mut cursor = None;
                loop {
                    let (hand, next) = match fetch(cursor).await {
                        Ok((raw, next)) => (Ok(Hand::Page(raw)), next),
                        Err(e) => (Err(e), None),
                    };
                    let last = next.is_none();
                    if raw_tx.send(hand).await.is_err() {
                        return;
                    }
                    if last {
                        let _ = raw_tx.send(Ok(Hand::End)).await;
                        return;
                    }
                    cursor = next;
                }
            });
            let decoder = tokio::spawn(async move {
                while let Some(hand) = raw_rx.recv().await {
                    let hand = match hand {
                        Ok(Hand::Page(raw)) => decode(raw).map(Hand::Page),
                        Ok(Hand::End) => Ok(Hand::End),
                        Err(e) => Err(e),
                    };
                    let stop = !matches!(hand, Ok(Hand::Page(_)));
                    if page_tx.send(hand).await.is_err() || stop {
                        return;
                    }
                }
            });
            let tasks = Tasks([reader, decoder]);
            stream::try_unfold((page_rx, tasks), |(mut rx, tasks)| async move {
                match rx.recv().await {
                    Some(Ok(Hand::Page(page))) => Ok(Some((page, (rx, tasks)))),
                    Some(Ok(Hand::End)) => Ok(None),
                    Some(Err(e)) => Err(e),
                    None => Err(StoreError::Interrupted {
                        what: "metric record scan",
                        reason: "the reading task stopped before the last page".to_owned(),
                    }),
                }
            })
        })
        .flatten()
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
    }

    /// [`StoreError::MetricModelStale`] unless the tenant's read model is at
    /// the library's record definition.
    async fn check_metric_model(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let built = retry::retry(|| async { dispatch!(self, s => s.metric_model(tenant.as_str()).await) }).await?;
        match built {
            Some(built) if built != metric::RECORD_DEFINITION => Err(StoreError::MetricModelStale {
                tenant: tenant.as_str().to_owned(),
                built,
                current: metric::RECORD_DEFINITION,
            }),
            Some(_) | None => Ok(()),
        }
    }

    /// Rebuilds a tenant's metrics read model from its event log: the rows
    /// are deleted and the tenant listed as not built (scans refuse), every
    /// incident and change is folded from its events and its record written
    /// in batches, then the tenant is listed at [`metric::RECORD_DEFINITION`].
    /// Commands may run meanwhile: a row a newer command wrote is kept. An
    /// interrupted rebuild leaves the tenant refused until one completes.
    /// Run it after an upgrade raises the record definition (scans say so
    /// with [`StoreError::MetricModelStale`]) or to repair the rows.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn rebuild_metric_records(
        &self,
        tenant: &TenantId,
        now: Timestamp,
    ) -> Result<metric::MetricModelReport, StoreError> {
        plan::check_time("now", now)?;
        let t = tenant.as_str();
        retry::retry(|| async { dispatch!(self, s => s.set_metric_model(t, 0, true, now).await) }).await?;
        let report = self.fold_records(tenant, metric::Pass::Rebuild).await?;
        retry::retry(|| async {
            dispatch!(self, s => s.set_metric_model(t, metric::RECORD_DEFINITION, false, now).await)
        })
        .await?;
        Ok(report)
    }

    /// Compares a tenant's metrics read model with a fold of its event log:
    /// every incident and change whose row is missing or differs, and rows
    /// no aggregate accounts for. Reads only. Run it while no commands are
    /// written to the tenant: a command committed between the fold and the
    /// row read shows as a difference.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn verify_metric_records(&self, tenant: &TenantId) -> Result<metric::MetricModelReport, StoreError> {
        let mut report = self.fold_records(tenant, metric::Pass::Verify).await?;
        let t = tenant.as_str();
        let mut rows = 0;
        for kind in metric::KINDS {
            rows += retry::retry(|| async { dispatch!(self, s => s.count_records(t, kind).await) }).await?;
        }
        report.extra_rows = rows.saturating_sub(report.incidents + report.changes - report.missing_rows);
        Ok(report)
    }

    async fn fold_records(
        &self,
        tenant: &TenantId,
        pass: metric::Pass,
    ) -> Result<metric::MetricModelReport, StoreError> {
        use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
        let config = self.config_history(tenant).await?;
        let mut report = metric::MetricModelReport::default();
        metric::fold_kind::<itsm_core::incident::Incident>(self, tenant, &config, pass, &mut report).await?;
        metric::fold_kind::<StandardChange>(self, tenant, &config, pass, &mut report).await?;
        metric::fold_kind::<NormalChange>(self, tenant, &config, pass, &mut report).await?;
        metric::fold_kind::<EmergencyChange>(self, tenant, &config, pass, &mut report).await?;
        Ok(report)
    }

    pub(crate) async fn write_records(&self, writes: &[metric::RecordWrite<'_>]) -> Result<(), StoreError> {
        retry::retry(|| async { dispatch!(self, s => s.write_records(writes).await) }).await
    }

    pub(crate) async fn stored_records(
        &self,
        tenant: &TenantId,
        kind: AggregateKind,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, metric::StoredRow>, StoreError> {
        retry::retry(|| async { dispatch!(self, s => s.stored_records(tenant.as_str(), kind, ids).await) }).await
    }

    /// The actor's tenant's events after `after`, at most `limit` scanned,
    /// in the feed's order (see [`feed`]): a live tail for a portal
    /// (server-sent events) and the input of read models. Start at
    /// [`FeedCursor::START`]; read on from [`FeedPage::next`]; when
    /// [`FeedPage::more`] is false, wait on [`Store::subscribe`]'s signal.
    ///
    /// Scoped like [`Store::history`]: events of an aggregate the actor may
    /// not read (by its current projection row) are passed over, and so are
    /// private notes for a reader without private notes. No event is skipped
    /// or repeated between pages, whatever commits concurrently.
    #[tracing::instrument(skip_all, fields(tenant = %actor.tenant, after = %after))]
    pub async fn events_after(&self, actor: &Actor, after: FeedCursor, limit: u32) -> Result<FeedPage, StoreError> {
        let tenant = actor.tenant.as_str();
        let scope = self.read.scope(actor);
        let limit = limit.max(1);
        let (scope_ref, db_after) = (&scope, after.as_db());
        let (rows, watermark) = retry::retry(|| async move {
            dispatch!(self, s => s.feed_page(tenant, scope_ref, db_after, i64::from(limit)).await)
        })
        .await?;
        let more = rows.len() >= limit as usize;
        let mut next = after;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let cursor = FeedCursor::new(row.tx, row.event.position);
            next = next.max(cursor);
            let event = row.event.into_stored()?;
            if !scope.private_notes() && private_event(&event)? {
                continue;
            }
            events.push(FeedEvent { cursor, event });
        }
        if !more {
            let (tx, position) = watermark;
            next = next.max(FeedCursor::new(tx, position));
        }
        Ok(FeedPage { events, next, more })
    }

    /// Where the feed stands now: a cursor after every event committed so
    /// far, for a live view that shows what commits from now on without
    /// reading the backlog first ([`Store::events_after`] from it).
    #[tracing::instrument(skip_all)]
    pub async fn feed_head(&self) -> Result<FeedCursor, StoreError> {
        let (tx, position) = retry::retry(|| async move { dispatch!(self, s => s.feed_head().await) }).await?;
        Ok(FeedCursor::new(tx, position))
    }

    /// A wake-up signal for a feed reader (see [`feed`]): this store's
    /// commits wake it at once; on PostgreSQL other processes' commits wake
    /// it through `LISTEN`; it wakes anyway after its poll interval (SQLite
    /// 500 ms, PostgreSQL 5 s; [`FeedSignal::with_poll_interval`]).
    pub fn subscribe(&self) -> FeedSignal {
        #[cfg(feature = "postgres")]
        if let Inner::Postgres(s) = &self.inner {
            feed::pg::ensure_listener(&self.hub, &s.pools.write);
            return self.hub.subscribe(feed::default_poll(true));
        }
        self.hub.subscribe(feed::default_poll(false))
    }

    /// The earliest due instant of every tenant's open aggregates (when
    /// the escalation runner has work next).
    #[tracing::instrument(skip_all)]
    pub async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        retry::retry(|| async move { dispatch!(self, s => s.next_due().await) }).await
    }

    /// One escalation-runner step at `now` over at most `batch` due
    /// aggregates of every tenant, in one transaction (see [`runner`]):
    /// every escalation due on them is recorded once (by its id) with its
    /// outbox message, and each aggregate's due instant moves to its next
    /// mark. Several processes may call it at once (PostgreSQL skips the
    /// aggregates another holds).
    #[tracing::instrument(skip_all, fields(now = %now))]
    pub async fn run_due(&self, now: Timestamp, batch: u32) -> Result<runner::StepReport, StoreError> {
        check_time("now", now)?;
        let limit = i64::from(batch.max(1));
        let run = retry::retry(|| async move { dispatch!(self, s => s.run_due(now, limit).await) }).await?;
        Ok(runner::StepReport {
            aggregates: run.aggregates,
            executed: run
                .executed
                .into_iter()
                .map(|(tenant, escalation)| runner::Executed { tenant, escalation })
                .collect(),
            failed: run
                .failed
                .into_iter()
                .map(|(tenant, kind, id, error)| runner::Failed { tenant, kind, id, error })
                .collect(),
            proposed: run.proposed,
        })
    }

    /// Writes the tenant's next checkpoint (see the crate docs): the chain
    /// heads of the aggregates that changed since the previous checkpoint,
    /// and a Merkle root over every aggregate's head, linked to the previous
    /// checkpoint's hash. `None` when nothing changed (nothing is written).
    /// Run it periodically (a scheduled job); it serializes with other
    /// checkpoints of the tenant, not with commands.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn checkpoint(&self, tenant: &TenantId, now: Timestamp) -> Result<Option<Checkpoint>, StoreError> {
        check_time("now", now)?;
        let tenant = tenant.as_str();
        let row = retry::retry(|| async move { dispatch!(self, s => s.checkpoint(tenant, now).await) }).await?;
        Ok(row.map(|c| Checkpoint {
            seq: plan::from_db_version(c.seq),
            taken_at: c.taken_at.0,
            aggregates: plan::from_db_version(c.aggregates),
            events: plan::from_db_version(c.events),
            root: c.root,
            hash: c.hash,
        }))
    }

    /// Verifies a tenant's audit evidence and names the first break: the
    /// tenant chain of events written before store design 2, the chain of
    /// checkpoints and the latest checkpoint's Merkle root, then every
    /// aggregate's chain, its projection head, and the heads the checkpoints
    /// recorded. Reads events page by page; holds one kind's aggregate heads
    /// and the checkpointed heads in memory.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn verify_chain(&self, tenant: &TenantId) -> Result<ChainReport, StoreError> {
        verify::run(self, tenant.as_str()).await
    }

    /// The tenant chain head of events written before store design 2.
    pub(crate) async fn legacy_head(&self, tenant: &str) -> Result<Option<(i64, String)>, StoreError> {
        retry::retry(|| async move { dispatch!(self, s => s.legacy_head(tenant).await) }).await
    }

    /// A page of that tenant chain, after a chain position.
    pub(crate) async fn legacy_chain_page(&self, tenant: &str, after: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::from(PAGE_SIZE);
        let rows =
            retry::retry(|| async move { dispatch!(self, s => s.legacy_chain_page(tenant, after, limit).await) })
                .await?;
        rows.into_iter().map(RawEvent::into_stored).collect()
    }

    /// Every checkpoint of a tenant and the heads they recorded.
    pub(crate) async fn checkpoint_rows(
        &self,
        tenant: &str,
    ) -> Result<(Vec<core::CheckpointRow>, Vec<core::CheckpointHeadRow>), StoreError> {
        retry::retry(|| async move { dispatch!(self, s => s.checkpoints(tenant).await) }).await
    }

    /// Every aggregate head of a tenant of one kind, by id.
    pub(crate) async fn aggregate_heads(
        &self,
        tenant: &str,
        kind: AggregateKind,
    ) -> Result<Vec<core::HeadRow>, StoreError> {
        retry::retry(|| async move { dispatch!(self, s => s.aggregate_heads(tenant, kind).await) }).await
    }

    /// Leases up to `limit` undelivered outbox messages (of every tenant) whose
    /// lease is free or expired to `consumer` until `now + lease`, in id
    /// order: messages that are not dead letters, whose retry instant (see
    /// [`Store::fail`]) is not after `now`, and that are the first pending
    /// (neither delivered nor dead) message of their stream
    /// ([`OutboxItem::stream`]), so a claim holds at most one message of a
    /// stream and a stream is delivered in order.
    #[tracing::instrument(skip_all, fields(consumer = %consumer))]
    pub async fn claim(
        &self,
        consumer: &str,
        lease: Duration,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        check_text("consumer", consumer)?;
        check_time("now", now)?;
        let lease = chrono::TimeDelta::from_std(lease).map_err(|e| StoreError::validation("lease", e.to_string()))?;
        let until = now.as_utc().checked_add_signed(lease).map(Timestamp::from_utc);
        let until = until.ok_or_else(|| StoreError::validation("lease", "out of range"))?;
        check_time("lease", until)?;
        let limit = i64::from(limit);
        retry::retry(|| async move { dispatch!(self, s => s.claim(consumer, until, limit, now).await) }).await
    }

    /// Marks a claimed message delivered. True when `consumer` held its lease
    /// at `now` and it was not delivered yet; false otherwise (nothing
    /// changes), so each message is acknowledged exactly once.
    #[tracing::instrument(skip_all, fields(id = id, consumer = %consumer))]
    pub async fn ack(&self, id: i64, consumer: &str, now: Timestamp) -> Result<bool, StoreError> {
        check_text("consumer", consumer)?;
        check_time("now", now)?;
        retry::retry(|| async move { dispatch!(self, s => s.ack(id, consumer, now).await) }).await
    }

    /// Records a failed delivery of a claimed message: `error` is kept as
    /// its last error (its first 4096 bytes), and the message may be claimed again from
    /// `retry_at` on, or with `None` becomes a dead letter (listed by
    /// [`Store::dead_letters`], never claimed again). A dead letter leaves
    /// its stream's order: the stream's later messages are delivered (the
    /// alternative, blocking them forever behind one refused message, loses
    /// more than the order is worth). True when `consumer` held the lease
    /// at `now` and the message was neither delivered nor dead; false
    /// otherwise (nothing changes), like [`Store::ack`].
    #[tracing::instrument(skip_all, fields(id = id, consumer = %consumer, dead = retry_at.is_none()))]
    pub async fn fail(
        &self,
        id: i64,
        consumer: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        check_text("consumer", consumer)?;
        check_time("now", now)?;
        if let Some(at) = retry_at {
            check_time("retry_at", at)?;
        }
        // PostgreSQL text cannot hold NUL; an error message is free text,
        // kept to its first `MAX_ERROR_BYTES` (on a character boundary).
        let mut error = error.replace('\0', "\u{fffd}");
        if error.len() > MAX_ERROR_BYTES {
            let end = (0..=MAX_ERROR_BYTES).rev().find(|&i| error.is_char_boundary(i)).unwrap_or(0);
            error.truncate(end);
        }
        let error = error.as_str();
        retry::retry(|| async move { dispatch!(self, s => s.fail(id, consumer, error, retry_at, now).await) }).await
    }

    /// Up to `limit` of the tenant's dead letters (see [`Store::fail`]),
    /// oldest message first. A system path, not actor-scoped.
    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    pub async fn dead_letters(&self, tenant: &TenantId, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let tenant = tenant.as_str();
        let limit = i64::from(limit);
        retry::retry(|| async move { dispatch!(self, s => s.dead_letters(tenant, limit).await) }).await
    }

    /// Records that an escalation was executed and queues its outbox message
    /// (topic [`ESCALATION_TOPIC`], dedup key = the escalation id), in one
    /// transaction. True the first time for an id, false afterwards (nothing
    /// is written). When the payload names an incident (a string field
    /// `incident`, as a serialized `DueEscalation` does), the message joins
    /// that incident's stream (`incident/{id}`, see [`OutboxItem::stream`]),
    /// ordered with the incident's own messages; otherwise it has none.
    #[tracing::instrument(skip_all, fields(tenant = %tenant, escalation = %escalation_id))]
    pub async fn record_escalation(
        &self,
        tenant: &TenantId,
        escalation_id: &str,
        payload: &serde_json::Value,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        check_text("escalation id", escalation_id)?;
        check_time("now", now)?;
        let stream = payload
            .get("incident")
            .and_then(serde_json::Value::as_str)
            .filter(|id| check_text("incident", id).is_ok())
            .map(|id| plan::stream_of(AggregateKind::Incident, id));
        let payload = serde_json::to_string(payload).map_err(|e| StoreError::validation("payload", e.to_string()))?;
        let tenant = tenant.as_str();
        let payload = payload.as_str();
        let stream = stream.as_deref();
        retry::retry(|| async move {
            dispatch!(self, s => s.record_escalation(tenant, escalation_id, payload, stream, now).await)
        })
        .await
    }
}

/// Whether a stored event is private ([`Aggregate::is_private`]), by its kind.
fn private_event(event: &StoredEvent) -> Result<bool, StoreError> {
    fn private<A: Aggregate>(event: &StoredEvent) -> Result<bool, StoreError> {
        let decoded: A::Event =
            serde_json::from_str(&event.payload).map_err(|e| StoreError::corrupt("event", event.position, e))?;
        Ok(A::is_private(&decoded))
    }
    match event.kind {
        AggregateKind::Incident => private::<itsm_core::incident::Incident>(event),
        AggregateKind::Problem => private::<itsm_core::problem::Problem>(event),
        AggregateKind::StandardChange => private::<itsm_core::change::StandardChange>(event),
        AggregateKind::NormalChange => private::<itsm_core::change::NormalChange>(event),
        AggregateKind::EmergencyChange => private::<itsm_core::change::EmergencyChange>(event),
    }
}
