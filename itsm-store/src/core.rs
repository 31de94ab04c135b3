//! The one transactional core, written once for both backends: generic over
//! the sqlx [`Database`] through the [`Dialect`] seam. A command's pipeline
//! (idempotency, load, reference checks, decide, events, projection, outbox,
//! audit evidence, idempotency row) lives here and nowhere else; the backend
//! files only connect, migrate and inspect.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tracing::Instrument;

use itsm_core::alert::{Alert, Correlator, GroupingPolicy, MaintenanceWindow, Topology};
use itsm_core::incident::Incident;
use itsm_core::read::ReadScope;
use itsm_core::records::{ChangeRecord, IncidentRecord, Record};
use itsm_core::versioned::DomainConfigHistory;
use itsm_core::{Actor, Aggregate, AggregateKind, DomainConfig, Summary, Timestamp};
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, Pool, QueryBuilder, Transaction, Type};
use sqlx::{query, query_as, query_scalar};

use crate::chain::{self, ChainFields, GENESIS, link};
use crate::config::{self, ClockState, ConfigRow};
use crate::dialect::{DbTime, Dialect, Pools};
use crate::error::{Class, ExecError, StoreError, classify};
use crate::ingest::{IngestReport, Run};
use crate::metric::{self, RecordWrite};
use crate::model::{
    Committed, DeadLetter, FillClaim, ImportCommand, ImportReport, OnReject, OutboxItem, QueueFilter, Recorded, Request,
};
use crate::plan::{self, IdempotentResult, OutboxRow, SearchDelta, SearchRow, check_expected, decode_state};
use crate::query::{CursorData, KeyValue, ListQuery, Range, SortKey};
use crate::rows::{RawEvent, RawHistory, RawProjection};
use crate::sql;

/// Rows per generated multi-row statement (events: 9 values each; SQLite
/// allows 32,766 parameters, PostgreSQL 65,535).
const EVENTS_PER_STATEMENT: usize = 500;
/// Projection rows per generated statement (15 values each).
const PROJECTIONS_PER_STATEMENT: usize = 200;
/// Ids per bulk state read.
const IDS_PER_STATEMENT: usize = 500;
/// Search documents per multi-row upsert (6 binds each).
const SEARCH_PER_STATEMENT: usize = 500;

/// A checkpoint as stored.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct CheckpointRow {
    pub seq: i64,
    pub taken_at: DbTime,
    pub aggregates: i64,
    pub events: i64,
    pub root: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A head recorded by a checkpoint.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct CheckpointHeadRow {
    pub seq: i64,
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub hash: String,
}

/// One aggregate's projection head.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct HeadRow {
    pub id: String,
    pub version: i64,
    pub chain_hash: Option<String>,
}

/// An outbox message as claimed.
#[derive(Debug, FromRow)]
pub(crate) struct ClaimedRow {
    pub id: i64,
    pub tenant: String,
    pub topic: String,
    pub dedup_key: String,
    pub payload: String,
    pub created_at: DbTime,
    pub attempts: i64,
    pub lease_until: DbTime,
    pub stream: Option<String>,
}

/// A dead letter as read.
#[derive(Debug, FromRow)]
pub(crate) struct DeadRow {
    pub id: i64,
    pub tenant: String,
    pub topic: String,
    pub dedup_key: String,
    pub payload: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub dead_at: DbTime,
    pub stream: Option<String>,
}

/// An `alert_correlated` event as read for an alert receipt.
#[derive(Debug, FromRow)]
pub(crate) struct ReceiptRow {
    pub position: i64,
    pub payload: String,
    pub recorded_at: DbTime,
}

/// An outbox message as read for a notification record.
#[derive(Debug, FromRow)]
pub(crate) struct NotificationRow {
    pub id: i64,
    pub topic: String,
    pub dedup_key: String,
    pub created_at: DbTime,
    pub delivered_at: Option<DbTime>,
    pub dead_at: Option<DbTime>,
}

/// An event of the feed and its transaction key.
#[derive(Debug, FromRow)]
pub(crate) struct FeedRow {
    #[sqlx(flatten)]
    pub event: RawEvent,
    pub tx: i64,
}

/// A due aggregate as the runner takes it.
#[derive(Debug, FromRow)]
pub(crate) struct DueRow {
    pub tenant: String,
    pub kind: String,
    pub id: String,
    pub clock: Option<String>,
    pub due_handled: Option<DbTime>,
}

/// What one runner step did.
#[derive(Debug)]
pub(crate) struct DueRun {
    /// Aggregates taken.
    pub aggregates: usize,
    /// Escalations recorded now (tenant, escalation).
    pub executed: Vec<(String, itsm_core::sla::DueEscalation)>,
    /// Aggregates whose clock could not be evaluated.
    pub failed: Vec<(String, AggregateKind, String, StoreError)>,
    /// Incidents a `propose_major_incident` escalation made major-incident
    /// candidates (tenant, id).
    pub proposed: Vec<(String, String)>,
}

/// The store over one backend.
pub(crate) struct Core<DB: Dialect> {
    pub pools: Pools<DB>,
    /// The URL without its password, for `Debug`.
    pub target: String,
    /// Each tenant's configuration history, with the generation it was
    /// read at (`config_heads`): re-read when the generation moved.
    configs: ConfigCache,
    /// Commands imported since the planner statistics were last refreshed,
    /// and how many trigger the next refresh ([`Core::after_import`]).
    imported: Arc<Mutex<(u64, u64)>>,
}

/// Imported commands that trigger the first statistics refresh; each later
/// one waits for twice as many.
const ANALYZE_FIRST: u64 = 10_000;

/// Each tenant's configuration history and the generation it was read at.
type ConfigCache = Arc<Mutex<HashMap<String, (i64, Arc<DomainConfigHistory>)>>>;

/// A configuration version to store (see [`Core::add_config`]).
pub(crate) struct NewConfig<'a> {
    /// The configuration's stable name.
    pub name: &'a str,
    pub version: i64,
    pub effective_from: Timestamp,
    /// The value as JSON.
    pub value: &'a str,
}

impl<DB: Dialect> Core<DB> {
    pub(crate) fn new(pools: Pools<DB>, target: String) -> Self {
        Core { pools, target, configs: Arc::default(), imported: Arc::new(Mutex::new((0, ANALYZE_FIRST))) }
    }
}

impl<DB: Dialect> Clone for Core<DB> {
    fn clone(&self) -> Self {
        Core {
            pools: Pools { write: self.pools.write.clone(), read: self.pools.read.clone() },
            target: self.target.clone(),
            configs: Arc::clone(&self.configs),
            imported: Arc::clone(&self.imported),
        }
    }
}

/// Shows the backend and the redacted URL only: the pools' connect options
/// hold the password.
impl<DB: Dialect> std::fmt::Debug for Core<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("backend", &DB::BACKEND).field("target", &self.target).finish_non_exhaustive()
    }
}

/// Commits; a connection lost during `COMMIT` leaves the outcome unknown
/// ([`StoreError::OutcomeUnknown`], which only idempotent callers retry).
async fn commit<DB: Dialect>(tx: Transaction<'static, DB>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| match classify(DB::BACKEND, &e).0 {
        Class::Connection => StoreError::OutcomeUnknown { source: e },
        _ => DB::error(e),
    })
}

/// A unique violation while inserting events means another writer took the
/// version first: transient, so the whole command re-runs, re-reads, and ends
/// in a typed `Conflict` (or succeeds under `ExpectedVersion::Any`). The same
/// holds for a checkpoint sequence number taken by a concurrent checkpoint.
fn taken<DB: Dialect>(e: sqlx::Error) -> StoreError {
    match classify(DB::BACKEND, &e) {
        (Class::Unique, code) => StoreError::Transient { code: code.unwrap_or_default(), source: e },
        _ => DB::error(e),
    }
}

/// `select` (ending in `WHERE tenant = `) for the rows of `ids` of one kind
/// of a tenant: `... AND kind = .. AND id IN (..)`.
fn rows_of<'a, DB>(
    select: &str,
    tenant: &str,
    kind: AggregateKind,
    ids: impl IntoIterator<Item = &'a str>,
) -> QueryBuilder<DB>
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB>,
    str: Type<DB>,
{
    let mut q = QueryBuilder::<DB>::new(select);
    q.push_bind(tenant).push(" AND kind = ").push_bind(kind.as_str()).push(" AND id IN (");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    q.push(")");
    q
}

/// The read model row of a write: the state's record, with an incident's SLA
/// verdict from the clock when the write moved it (else the stored verdict
/// stays).
fn record_write<'a>(
    tenant: &'a str,
    kind: AggregateKind,
    id: &'a str,
    version: i64,
    mut record: Record,
    clock: Option<&ClockState>,
) -> RecordWrite<'a> {
    if let (Record::Incident(r), Some(clock)) = (&mut record, clock) {
        r.resolution_target_met = clock.resolution;
    }
    RecordWrite { tenant, kind, id, version, record, judged: clock.is_some() }
}

/// Binds a projection's clock, due instant and handled instant (all `NULL`
/// when the command did not move the clock: the stored ones stay).
fn push_clock<DB>(b: &mut sqlx::query_builder::Separated<'_, DB, &'static str>, clock: Option<&ClockState>)
where
    DB: Dialect,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    str: Type<DB>,
    Option<DbTime>: for<'q> Encode<'q, DB>,
    DbTime: Type<DB>,
{
    b.push_bind(clock.map(|c| c.clock.as_str()))
        .push_bind(clock.and_then(|c| c.due).map(DbTime))
        .push_bind(clock.map(|c| DbTime(c.handled)))
        .push_bind(clock.and_then(|c| c.breach).map(DbTime));
}

/// Binds a projection's list columns, from the state's [`Summary`], in
/// [`sql::PROJECTION_WRITE`]'s order (status to major).
fn push_summary<DB>(b: &mut sqlx::query_builder::Separated<'_, DB, &'static str>, s: &Summary)
where
    DB: Dialect,
    for<'q> &'q str: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    str: Type<DB>,
    String: Type<DB> + for<'q> Encode<'q, DB>,
    bool: for<'q> Encode<'q, DB> + Type<DB>,
    DbTime: for<'q> Encode<'q, DB> + Type<DB>,
    Option<DbTime>: for<'q> Encode<'q, DB>,
{
    b.push_bind(s.status)
        .push_bind(s.terminal)
        .push_bind(s.service.as_ref().map(|v| v.as_str()))
        .push_bind(s.priority.map(|v| v.as_str()))
        .push_bind(s.assignee.as_ref().map(|v| v.as_str()))
        .push_bind(s.group.as_ref().map(|v| v.as_str()))
        .push_bind(s.window.map(|w| DbTime(w.0)))
        .push_bind(s.window.map(|w| DbTime(w.1)))
        // PostgreSQL text cannot hold NUL (domain titles never have one).
        .push_bind(s.title.replace('\0', "\u{fffd}"))
        .push_bind(s.requester.as_ref().map(|v| v.as_str()))
        .push_bind(DbTime(s.opened_at))
        .push_bind(s.major);
}

/// ` AND (...)`: the rows of the tenant `scope` may read (nothing when it
/// reads every kind tenant-wide). The same rule as
/// [`itsm_core::read::ReadScope::sees`], as SQL over the projection's columns.
fn push_scope<DB>(b: &mut QueryBuilder<DB>, scope: &ReadScope, kinds: &[AggregateKind], table: &str)
where
    DB: Dialect,
    String: Type<DB> + for<'q> Encode<'q, DB>,
{
    // Nothing to add when every kind the query may return is read
    // tenant-wide (`kinds`: the query's kind filter, empty for all kinds).
    let kinds = if kinds.is_empty() { AggregateKind::ALL } else { kinds };
    if kinds.iter().all(|k| scope.sees_all(*k)) {
        return;
    }
    b.push(" AND (");
    let mut any = false;
    let mut any_of = |b: &mut QueryBuilder<DB>, column: &str, values: Vec<String>| {
        if values.is_empty() {
            return;
        }
        if any {
            b.push(" OR ");
        }
        any = true;
        push_in(b, &format!("{table}{column}"), values);
    };
    any_of(b, "kind", scope.kinds.iter().map(|k| k.as_str().to_owned()).collect());
    any_of(b, "assignment_group", scope.groups.iter().map(|g| g.as_str().to_owned()).collect());
    any_of(b, "assignee", scope.assignee.iter().map(|a| a.as_str().to_owned()).collect());
    any_of(b, "requester", scope.requesters.iter().map(|r| r.as_str().to_owned()).collect());
    if !scope.intake.is_empty() {
        if any {
            b.push(" OR ");
        }
        any = true;
        b.push(format_args!("({table}assignment_group IS NULL AND "));
        push_in(b, &format!("{table}kind"), scope.intake.iter().map(|k| k.as_str().to_owned()).collect());
        b.push(")");
    }
    if !any {
        b.push("1 = 0");
    }
    b.push(")");
}

/// `column IN (values...)`, each value bound.
fn push_in<DB>(b: &mut QueryBuilder<DB>, column: &str, values: Vec<String>)
where
    DB: Dialect,
    String: Type<DB> + for<'q> Encode<'q, DB>,
{
    b.push(format_args!("{column} IN ("));
    let mut list = b.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    b.push(")");
}

/// Whether every row `q`'s filters select is one `scope` reads anyway: the
/// filter names one of the scope's groups, its assignee or one of its
/// requesters, or only kinds it reads in full. The scope's condition (an
/// `OR` across columns) then adds nothing but a worse plan: PostgreSQL
/// merged the group's whole queue through a bitmap instead of reading the
/// service's index newest first (315 ms against 2 ms for an agent's page
/// of their group at 1,000,000 incidents).
fn filters_imply_scope(scope: &ReadScope, q: &ListQuery) -> bool {
    q.group.as_ref().is_some_and(|g| scope.groups.contains(g))
        || q.assignee.is_some() && q.assignee == scope.assignee
        || q.requester.as_ref().is_some_and(|r| scope.requesters.contains(r))
        || !q.kinds.is_empty() && q.kinds.iter().all(|k| scope.kinds.contains(k))
}

/// An outbox row's payload, decoded (a corrupt one is named by its id).
fn outbox_payload(text: &str, id: i64) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt("outbox payload", id, e))
}

/// The `WHERE` clause of a list or facet query: the tenant, what `scope` may
/// read, then each filter `q` sets (its sort order only adds the
/// due-instant condition of [`SortKey::Due`]).
fn push_list_filters<DB>(b: &mut QueryBuilder<DB>, tenant: &str, scope: &ReadScope, q: &ListQuery)
where
    DB: Dialect,
    String: Type<DB> + for<'q> Encode<'q, DB>,
    bool: Type<DB> + for<'q> Encode<'q, DB>,
    DbTime: Type<DB> + for<'q> Encode<'q, DB>,
{
    b.push(" WHERE tenant = ").push_bind(tenant.to_owned());
    if !filters_imply_scope(scope, q) {
        push_scope(b, scope, &q.kinds, "");
    }
    let any_of = |b: &mut QueryBuilder<DB>, column: &str, values: Vec<String>| {
        if !values.is_empty() {
            b.push(" AND ");
            push_in(b, column, values);
        }
    };
    any_of(b, "kind", q.kinds.iter().map(|k| k.as_str().to_owned()).collect());
    any_of(b, "status", q.statuses.clone());
    any_of(b, "priority", q.priorities.iter().map(|p| p.as_str().to_owned()).collect());
    match q.open {
        Some(true) => {
            b.push(format_args!(" AND {}", DB::OPEN));
        }
        Some(false) => {
            b.push(format_args!(" AND NOT ({})", DB::OPEN));
        }
        None => {}
    }
    let equal = |b: &mut QueryBuilder<DB>, column: &str, value: Option<&str>| {
        if let Some(v) = value {
            b.push(format_args!(" AND {column} = ")).push_bind(v.to_owned());
        }
    };
    equal(b, "service", q.service.as_ref().map(|v| v.as_str()));
    equal(b, "assignee", q.assignee.as_ref().map(|v| v.as_str()));
    equal(b, "assignment_group", q.group.as_ref().map(|v| v.as_str()));
    equal(b, "requester", q.requester.as_ref().map(|v| v.as_str()));
    if let Some(major) = q.major {
        b.push(" AND major = ").push_bind(major);
    }
    let range = |b: &mut QueryBuilder<DB>, column: &str, r: &Range| {
        if let Some(from) = r.from {
            b.push(format_args!(" AND {column} >= ")).push_bind(DbTime(from));
        }
        if let Some(to) = r.to {
            b.push(format_args!(" AND {column} < ")).push_bind(DbTime(to));
        }
    };
    range(b, "opened_at", &q.opened);
    range(b, "updated_at", &q.updated);
    if let Some(before) = q.due_before {
        b.push(" AND due_at < ").push_bind(DbTime(before));
    }
    if let Some(at) = q.breached_by {
        b.push(" AND breach_at <= ").push_bind(DbTime(at));
    }
    if q.sort.key == SortKey::Due {
        b.push(" AND due_at IS NOT NULL");
    }
}

/// Migrates the schema, refusing a database newer than this library.
/// Tolerates another process migrating the same database at the same time
/// (SQLite has no migration lock): while the applied version moves, the
/// other process is migrating: re-read and go on.
pub(crate) async fn migrate<DB>(pool: &Pool<DB>, migrator: &Migrator) -> Result<(), StoreError>
where
    DB: Dialect,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (bool,): for<'r> FromRow<'r, DB::Row>,
    (Option<i64>,): for<'r> FromRow<'r, DB::Row>,
{
    let supported = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied_version(pool).await?
        && found > supported
    {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    let mut seen = applied_version(pool).await?;
    for attempt in 1u32.. {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                let now = applied_version(pool).await?;
                if now == Some(supported) {
                    return Ok(());
                }
                if now != seen && attempt < 50 {
                    seen = now;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                return Err(match e {
                    MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => DB::error(e),
                    other => StoreError::Migration(other),
                });
            }
        }
    }
    Ok(())
}

/// The newest applied migration, if the migrations table exists.
async fn applied_version<DB>(pool: &Pool<DB>) -> Result<Option<i64>, StoreError>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    (bool,): for<'r> FromRow<'r, DB::Row>,
    (Option<i64>,): for<'r> FromRow<'r, DB::Row>,
{
    let sql = DB::sql();
    let exists: bool = query_scalar(DB::MIGRATIONS_TABLE).fetch_one(pool).await.map_err(DB::error)?;
    if !exists {
        return Ok(None);
    }
    query_scalar(sql.schema_version).fetch_one(pool).await.map_err(DB::error)
}

impl<DB> Core<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    str: Type<DB>,
    for<'q> &'q str: Encode<'q, DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    String: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    i64: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    bool: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    DbTime: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB>,
    Option<DbTime>: for<'q> Encode<'q, DB>,
    Option<i64>: for<'q> Encode<'q, DB>,
    Option<String>: for<'r> Decode<'r, DB> + for<'q> Encode<'q, DB>,
    Option<DbTime>: for<'r> Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> RawProjection: FromRow<'r, DB::Row>,
    for<'r> RawEvent: FromRow<'r, DB::Row>,
    for<'r> RawHistory: FromRow<'r, DB::Row>,
    for<'r> ClaimedRow: FromRow<'r, DB::Row>,
    for<'r> DeadRow: FromRow<'r, DB::Row>,
    for<'r> CheckpointRow: FromRow<'r, DB::Row>,
    for<'r> CheckpointHeadRow: FromRow<'r, DB::Row>,
    for<'r> HeadRow: FromRow<'r, DB::Row>,
    for<'r> ConfigRow: FromRow<'r, DB::Row>,
    for<'r> FeedRow: FromRow<'r, DB::Row>,
    for<'r> DueRow: FromRow<'r, DB::Row>,
{
    pub(crate) async fn close(&self) {
        self.pools.read.close().await;
        self.pools.write.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'static, DB>, StoreError> {
        DB::begin_write(&self.pools).await
    }

    pub(crate) async fn holds_records(&self) -> Result<bool, StoreError> {
        query_scalar(DB::sql().holds_records).fetch_one(&self.pools.read).await.map_err(DB::error)
    }

    pub(crate) async fn claim_fill(&self, name: &str, now: Timestamp) -> Result<FillClaim, StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        if let Some(lock) = DB::CLAIM_LOCK {
            query(lock).execute(&mut *tx).await.map_err(DB::error)?;
        }
        let marker: Option<(DbTime, Option<DbTime>)> =
            query_as(sql.marker_get).bind(name).fetch_optional(&mut *tx).await.map_err(DB::error)?;
        let claim = match marker {
            Some((started, Some(completed))) => {
                FillClaim::Complete { started_at: started.0, completed_at: completed.0 }
            }
            Some((started, None)) => FillClaim::Incomplete { started_at: started.0 },
            None if query_scalar::<_, bool>(sql.holds_records).fetch_one(&mut *tx).await.map_err(DB::error)? => {
                FillClaim::Occupied
            }
            None => {
                query(sql.marker_put).bind(name).bind(DbTime(now)).execute(&mut *tx).await.map_err(DB::error)?;
                FillClaim::Claimed
            }
        };
        commit(tx).await?;
        Ok(claim)
    }

    pub(crate) async fn complete_fill(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        query(sql.marker_complete).bind(name).bind(DbTime(now)).execute(&mut *tx).await.map_err(DB::error)?;
        let found: Option<(DbTime, Option<DbTime>)> =
            query_as(sql.marker_get).bind(name).fetch_optional(&mut *tx).await.map_err(DB::error)?;
        commit(tx).await?;
        Ok(found.is_some())
    }

    pub(crate) async fn execute<A: Aggregate>(
        &self,
        req: &Request<'_, A>,
        request_hash: Option<&str>,
        scope: &ReadScope,
    ) -> Result<Committed<A>, ExecError<A::Error>> {
        let sql = DB::sql();
        let tenant = req.ctx.actor.tenant.as_str();
        let kind = A::KIND.as_str();
        let id = req.aggregate_id;
        let mut tx = self.begin().await?;
        // The aggregate's row first (locked on PostgreSQL: a concurrent writer
        // of the same aggregate waits here and then reads what this one wrote;
        // writers of other aggregates do not wait at all).
        type StateRow = (i64, String, Option<String>, Option<String>, Option<DbTime>);
        let row: Option<StateRow> = query_as(sql.state_for_write.as_str())
            .bind(tenant)
            .bind(kind)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        if let (Some(key), Some(hash)) = (req.idempotency_key, request_hash) {
            let found: Option<(String, String, String, String)> =
                query_as(sql.idem_get).bind(tenant).bind(key).fetch_optional(&mut *tx).await.map_err(DB::error)?;
            if let Some((stored, stored_kind, stored_id, result)) = found {
                if stored != hash || stored_kind != kind || stored_id != id {
                    return Err(StoreError::IdempotencyKeyReused { key: key.to_owned() }.into());
                }
                let result: IdempotentResult =
                    serde_json::from_str(&result).map_err(|e| StoreError::corrupt("idempotency result", key, e))?;
                let history = Self::history_in::<A>(&mut tx, tenant, id, plan::to_db_version(result.version)?).await?;
                return Ok(plan::replayed::<A>(id, &result, history)?);
            }
        }
        let (current, mut head, stored_clock) = match row {
            Some((version, state, head, clock, handled)) => (
                Some((decode_state::<A>(id, &state)?, plan::from_db_version(version))),
                head.unwrap_or_else(|| GENESIS.to_owned()),
                Some((clock, handled.map(|h| h.0))),
            ),
            None => (None, GENESIS.to_owned(), None),
        };
        // An aggregate the actor may not read is answered as missing, before
        // its version or its state can show in a conflict or a refusal.
        if let Some((state, _)) = &current
            && !scope.sees_summary(&req.ctx.actor.tenant, A::KIND, &state.summary())
        {
            return Err(StoreError::not_found(A::KIND, id).into());
        }
        let actual = current.as_ref().map_or(0, |c| c.1);
        check_expected(A::KIND, id, req.expected, actual)?;
        for r in A::references(req.command) {
            if !Self::exists_in(&mut tx, tenant, r.kind.aggregate_kinds(), &r.id).await? {
                return Err(StoreError::missing_reference(&r).into());
            }
        }
        // A change is scheduled against the tenant's stored maintenance
        // windows and blackouts in force, when it has any.
        let with_schedules;
        let mut ctx = req.ctx;
        if matches!(A::KIND, AggregateKind::NormalChange | AggregateKind::StandardChange) {
            let history = self.config_in(&mut tx, tenant).await?;
            if let Some(stored) = history.service_schedules.in_force_at(ctx.now) {
                with_schedules = DomainConfig { schedules: stored.value.clone(), ..ctx.config.clone() };
                ctx.config = &with_schedules;
            }
        }
        let mut plan = plan::decide::<A>(current, &ctx, id, req.command)?;
        let record = plan.projection.record.take();
        let now = req.ctx.now;
        let now_text = now.to_rfc3339();
        let actor = req.ctx.actor.id.as_str();
        let mut hashes = Vec::with_capacity(plan.rows.len());
        for row in &plan.rows {
            head = link(
                &head,
                &ChainFields {
                    tenant,
                    kind,
                    aggregate_id: id,
                    version: row.version,
                    event_name: row.name,
                    payload: &row.payload,
                    actor,
                    recorded_at: &now_text,
                    chain_position: None,
                },
            );
            hashes.push(head.clone());
        }
        // The SLA clock and the next due instant, when these events move it.
        let new_clock = A::clock_events(&plan.events);
        let clock = if new_clock.is_empty() {
            None
        } else {
            let (events, handled) = Self::stored_clock::<A>(&mut tx, tenant, id, stored_clock).await?;
            let config = self.config_in(&mut tx, tenant).await?;
            Some(config::advance(&config, A::KIND, id, events, new_clock, handled, now)?)
        };
        let p = &plan.projection;
        let push_events = |q: &mut QueryBuilder<DB>| {
            q.push(sql::EVENT_WRITE);
            q.push_values(plan.rows.iter().zip(&hashes), |mut b, (row, hash)| {
                b.push_bind(tenant)
                    .push_bind(kind)
                    .push_bind(id)
                    .push_bind(row.version)
                    .push_bind(row.name)
                    .push_bind(row.payload.as_str())
                    .push_bind(actor)
                    .push_bind(DbTime(now))
                    .push_bind(hash.as_str());
            });
            q.push(" RETURNING position, version");
        };
        let push_projection = |q: &mut QueryBuilder<DB>| {
            q.push(sql::PROJECTION_WRITE);
            q.push_values([()], |mut b, ()| {
                b.push_bind(tenant)
                    .push_bind(kind)
                    .push_bind(id)
                    .push_bind(p.version)
                    .push_bind(p.state.as_str())
                    .push_bind(DbTime(now))
                    .push_bind(head.as_str());
                push_clock(&mut b, clock.as_ref());
                push_summary(&mut b, &p.summary);
            });
            q.push(sql::PROJECTION_UPSERT);
            q.push(" RETURNING version");
        };
        // Events and projection: one statement where the backend has
        // data-modifying CTEs (one round trip fewer), else two.
        let (mut written, projected): (Vec<(i64, i64)>, bool) = if DB::WRITABLE_CTE {
            let mut q = QueryBuilder::<DB>::new("WITH ev AS (");
            push_events(&mut q);
            q.push("), pr AS (");
            push_projection(&mut q);
            q.push(") SELECT ev.position, ev.version, (SELECT count(*) FROM pr) FROM ev");
            let rows: Vec<(i64, i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(taken::<DB>)?;
            let projected = rows.first().is_some_and(|r| r.2 == 1);
            (rows.into_iter().map(|r| (r.0, r.1)).collect(), projected)
        } else {
            let mut q = QueryBuilder::<DB>::new("");
            push_events(&mut q);
            let written = q.build_query_as().fetch_all(&mut *tx).await.map_err(taken::<DB>)?;
            let mut q = QueryBuilder::<DB>::new("");
            push_projection(&mut q);
            let updated: Option<i64> = q.build_query_scalar().fetch_optional(&mut *tx).await.map_err(DB::error)?;
            (written, updated.is_some())
        };
        written.sort_unstable_by_key(|w| w.1);
        if !projected {
            return Err(
                StoreError::Conflict { kind: A::KIND, id: id.to_owned(), expected: req.expected, actual }.into()
            );
        }
        if let (Some(key), Some(hash)) = (req.idempotency_key, request_hash) {
            let result = IdempotentResult { first_version: actual + 1, version: plan::from_db_version(p.version) };
            let result = serde_json::to_string(&result).map_err(|source| StoreError::Serialize {
                what: "idempotency result",
                id: id.to_owned(),
                source,
            })?;
            query(sql.idem_put)
                .bind(tenant)
                .bind(key)
                .bind(hash)
                .bind(kind)
                .bind(id)
                .bind(result)
                .bind(DbTime(now))
                .execute(&mut *tx)
                .await
                .map_err(DB::error)?;
        }
        let delta = SearchDelta::of::<A>(actual == 0, &plan.events);
        if !delta.is_empty() {
            let doc = SearchRow { tenant, id, title: &p.summary.title, delta };
            Self::put_search(&mut tx, A::KIND, std::slice::from_ref(&doc)).await?;
        }
        Self::put_outbox(&mut tx, tenant, &plan.outbox, now).await?;
        if let Some(record) = record {
            let write = record_write(tenant, A::KIND, id, p.version, record, clock.as_ref());
            Self::put_records(&mut tx, std::slice::from_ref(&write)).await?;
        }
        let cascaded = self.cascade_in::<A>(&mut tx, &req.ctx, id, &plan.state, &plan.events).await?;
        commit(tx).await?;
        let positions: Vec<i64> = written.into_iter().map(|w| w.0).collect();
        let mut done = plan::committed(plan, id, actor, now, &positions);
        done.cascaded = cascaded;
        Ok(done)
    }

    /// Runs the commands `A::cascade` asks of other aggregates of the kind
    /// (an incident's resolution resolving its children), and theirs in
    /// turn, in the command's transaction, as the command's actor at its
    /// instant (see [`Core::follow_ups_in`]). Returns the ids that recorded
    /// events, in order.
    async fn cascade_in<A: Aggregate>(
        &self,
        tx: &mut DB::Connection,
        ctx: &itsm_core::Context<'_>,
        id: &str,
        state: &A,
        events: &[A::Event],
    ) -> Result<Vec<String>, ExecError<A::Error>> {
        let commands = A::cascade(state, events);
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let span = tracing::info_span!("cascade", kind = %A::KIND, id = %id, commands = commands.len());
        self.follow_ups_in::<A>(tx, ctx, commands, Some(id)).instrument(span).await
    }

    /// Runs `commands` (each with its aggregate id) in the transaction as
    /// `ctx`'s actor at its instant, through the batch write path (events,
    /// chain, projection, clock, search, metric record, outbox), and the
    /// commands `A::cascade` asks of each in turn; a command the aggregate
    /// refuses, one of a missing aggregate, or a second one for an aggregate
    /// (or for `origin`) is skipped. Returns the ids that recorded events.
    async fn follow_ups_in<A: Aggregate>(
        &self,
        tx: &mut DB::Connection,
        ctx: &itsm_core::Context<'_>,
        commands: Vec<(String, A::Command)>,
        origin: Option<&str>,
    ) -> Result<Vec<String>, ExecError<A::Error>> {
        let mut queue: std::collections::VecDeque<(String, A::Command)> = commands.into();
        let tenant = ctx.actor.tenant.as_str();
        let kind = A::KIND.as_str();
        let mut batch = plan::Batch::<A>::default();
        let mut visited: std::collections::HashSet<String> = origin.map(str::to_owned).into_iter().collect();
        let (mut ids, mut done) = (Vec::new(), Vec::new());
        while let Some((target, command)) = queue.pop_front() {
            if !visited.insert(target.clone()) {
                continue;
            }
            let row: Option<(i64, String, Option<String>)> = query_as(DB::sql().state_for_write.as_str())
                .bind(tenant)
                .bind(kind)
                .bind(target.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(DB::error)?;
            let Some((version, stored, head)) = row else { continue };
            let loaded = decode_state::<A>(&target, &stored)?;
            let head = head.unwrap_or_else(|| GENESIS.to_owned());
            batch.preload(tenant, target.clone(), loaded, plan::from_db_version(version), head);
            let index = ids.len();
            ids.push(target.clone());
            let c = ImportCommand { actor: ctx.actor, now: ctx.now, aggregate_id: target.as_str(), command };
            if let Some(events) = batch.decide(index, &c, ctx.config, OnReject::Skip)? {
                if let Some(next) = batch.state(tenant, &target) {
                    queue.extend(A::cascade(next, &events));
                }
                done.push(target);
            }
        }
        if !done.is_empty() {
            let actor = ctx.actor.id.as_str();
            self.write_batch(tx, &mut batch, |i| (tenant, ids[i].as_str(), actor, ctx.now)).await?;
        }
        Ok(done)
    }

    pub(crate) async fn import_batch<A: Aggregate>(
        &self,
        config: &DomainConfig,
        commands: &[ImportCommand<'_, A>],
        on_reject: OnReject,
    ) -> Result<ImportReport<A::Error>, ExecError<A::Error>> {
        let mut tx = self.begin().await?;
        let mut batch = plan::Batch::<A>::default();
        // Preload (and on PostgreSQL lock) every aggregate the batch touches,
        // tenants and ids in sorted order so concurrent imports lock alike.
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in commands {
            wanted.entry(c.actor.tenant.as_str()).or_default().push(c.aggregate_id);
        }
        for (tenant, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                let mut q = rows_of::<DB>(sql::PRELOAD, tenant, A::KIND, chunk.iter().copied());
                q.push(DB::LOCK_ROW);
                let rows: Vec<(String, i64, String, Option<String>)> =
                    q.build_query_as().fetch_all(&mut *tx).await.map_err(DB::error)?;
                for (id, version, state, head) in rows {
                    let state = decode_state::<A>(&id, &state)?;
                    let head = head.unwrap_or_else(|| GENESIS.to_owned());
                    batch.preload(tenant, id, state, plan::from_db_version(version), head);
                }
            }
        }
        for (index, c) in commands.iter().enumerate() {
            let tenant = c.actor.tenant.as_str();
            let mut missing = None;
            for r in A::references(&c.command) {
                if !batch.exists(tenant, r.kind.aggregate_kinds(), &r.id) {
                    if Self::exists_in(&mut tx, tenant, r.kind.aggregate_kinds(), &r.id).await? {
                        batch.known(tenant, r.kind.aggregate_kinds(), &r.id);
                    } else {
                        missing = Some(r);
                        break;
                    }
                }
            }
            if let Some(r) = missing {
                return Err(StoreError::missing_reference(&r).into());
            }
            batch.decide(index, c, config, on_reject)?;
        }
        self.write_batch(&mut tx, &mut batch, |i| {
            let c = &commands[i];
            (c.actor.tenant.as_str(), c.aggregate_id, c.actor.id.as_str(), c.now)
        })
        .await?;
        commit(tx).await?;
        self.after_import(commands.len()).await;
        Ok(batch.report())
    }

    /// Refreshes the planner statistics ([`Dialect::ANALYZE`]) after every
    /// [`ANALYZE_FIRST`] imported commands, then after twice as many each
    /// time. A bulk import into young tables otherwise runs on statistics of
    /// their empty state when autovacuum is off or lags: PostgreSQL then
    /// scans the whole tenant for each batch's preload, and a fill of
    /// 150,000 incidents slowed to 166 a second (6,500 after an `ANALYZE`).
    /// A failed refresh is logged, not returned: the import has committed.
    async fn after_import(&self, commands: usize) {
        let Some(analyze) = DB::ANALYZE else { return };
        let due = match self.imported.lock() {
            Ok(mut n) => {
                n.0 += commands as u64;
                let due = n.0 >= n.1;
                if due {
                    *n = (0, n.1.saturating_mul(2));
                }
                due
            }
            Err(_) => false,
        };
        if due {
            let span = tracing::info_span!("refresh planner statistics", statement = analyze);
            if let Err(e) = sqlx::raw_sql(analyze).execute(&self.pools.write).instrument(span).await {
                tracing::warn!(error = %e, "planner statistics not refreshed after an import");
            }
        }
    }

    pub(crate) async fn ingest_alerts(
        &self,
        actor: &Actor,
        config: &DomainConfig,
        policy: &GroupingPolicy,
        topology: Topology<'_>,
        alerts: &[Alert],
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        use std::collections::{BTreeMap as Map, BTreeSet, HashMap};
        /// Keys per `IN (...)` read, rows per multi-row upsert, incidents per
        /// catch-up read.
        const KEYS: usize = 1000;
        const ROWS: usize = 500;
        const BEHIND: usize = 200;
        let sql = DB::sql();
        let tenant = actor.tenant.as_str();
        let incident_kind = AggregateKind::Incident.as_str();
        let mut tx = self.begin().await?;
        // The tenant's ingestion lock (its `alert_correlators` row, created if
        // missing, locked on PostgreSQL): batches of a tenant serialize on it.
        query(sql.correlator_init).bind(tenant).bind(DbTime(now)).execute(&mut *tx).await.map_err(DB::error)?;
        let (document, observed): (Option<String>, i64) =
            query_as(sql.correlator_get.as_str()).bind(tenant).fetch_one(&mut *tx).await.map_err(DB::error)?;
        // Rows to write besides the batch's changes: a document written
        // before the keyed rows, converted once (each group with the version
        // of its incident at the log position the document had observed).
        let mut pending_groups: Map<String, (String, String, i64, Option<String>)> = Map::new();
        let mut pending_seen: Map<String, (String, Option<Timestamp>)> = Map::new();
        let converted = document.is_some();
        if let Some(text) = document {
            let whole: Correlator = crate::ingest::parse_document(&text, tenant)?;
            let (groups, seen) = whole.into_parts();
            let versions: Vec<(String, i64)> = query_as(sql.max_position)
                .bind(tenant)
                .bind(incident_kind)
                .bind(observed)
                .fetch_all(&mut *tx)
                .await
                .map_err(DB::error)?;
            let versions: HashMap<String, i64> = versions.into_iter().collect();
            for (key, group) in groups {
                let json = serde_json::to_string(&group).map_err(|source| StoreError::Serialize {
                    what: "alert correlator row",
                    id: key.clone(),
                    source,
                })?;
                let version = versions.get(group.incident.as_str()).copied().unwrap_or(0);
                let root = crate::ingest::root_service(&group);
                pending_groups.insert(key, (group.incident.as_str().to_owned(), json, version, root));
            }
            for (key, row) in seen {
                let json = serde_json::to_string(&row).map_err(|source| StoreError::Serialize {
                    what: "alert correlator row",
                    id: key.clone(),
                    source,
                })?;
                pending_seen.insert(key, (json, policy.seen_expires_at(&row, now)));
            }
        }
        // Seen rows of recovered alerts past their retention.
        query(sql.correlator_expire).bind(tenant).bind(DbTime(now)).execute(&mut *tx).await.map_err(DB::error)?;
        // The batch's seen rows, then the groups they name.
        let needs: Vec<_> = alerts.iter().map(|a| Correlator::needs_in(a, policy, &topology)).collect();
        let seen_keys: BTreeSet<&str> = needs.iter().map(|n| n.seen.as_str()).collect();
        let mut seen: Map<String, itsm_core::alert::Seen> = Map::new();
        let mut io = crate::ingest::StateIo::default();
        let seen_keys: Vec<&str> = seen_keys.into_iter().collect();
        for chunk in seen_keys.chunks(KEYS) {
            let mut q = QueryBuilder::<DB>::new(sql.correlator_seen_get);
            q.push_bind(tenant).push(" AND alert_key IN (");
            let mut list = q.separated(", ");
            for key in chunk {
                list.push_bind(*key);
            }
            q.push(")");
            let rows: Vec<(String, String)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(DB::error)?;
            io.seen_read += rows.len();
            for (key, text) in rows {
                let row = crate::ingest::parse_row(&text, &key)?;
                seen.insert(key, row);
            }
        }
        for key in &seen_keys {
            if let Some((text, _)) = pending_seen.get(*key) {
                seen.insert((*key).to_owned(), crate::ingest::parse_row(text, key)?);
            }
        }
        let alert_groups: Vec<String> = needs.iter().map(|n| n.group_for(seen.get(&n.seen)).to_owned()).collect();
        let group_keys: BTreeSet<String> = alert_groups.iter().cloned().collect();
        let mut groups: Map<String, (itsm_core::alert::Group, u64)> = Map::new();
        let group_list: Vec<&str> = group_keys.iter().map(String::as_str).collect();
        let rows = Self::group_rows(&mut tx, tenant, "group_key", &group_list, KEYS).await?;
        io.groups_read += rows.len();
        for (key, text, version) in rows {
            let row = crate::ingest::parse_row(&text, &key)?;
            groups.insert(key, (row, plan::from_db_version(version)));
        }
        for key in &group_list {
            if let Some((_, text, version, _)) = pending_groups.get(*key) {
                groups
                    .insert((*key).to_owned(), (crate::ingest::parse_row(text, key)?, plan::from_db_version(*version)));
            }
        }
        // Root-cause candidates: the groups that may still be open on the
        // items upstream of each first firing's object.
        let roots: BTreeSet<&str> = needs
            .iter()
            .filter(|n| !seen.contains_key(&n.seen))
            .flat_map(|n| n.roots.iter().map(|s| s.as_str()))
            .collect();
        let roots: Vec<&str> = roots.into_iter().collect();
        let mut root_incidents = Vec::new();
        let rows = Self::group_rows(&mut tx, tenant, "root_service", &roots, KEYS).await?;
        io.groups_read += rows.len();
        for (key, text, version) in rows {
            if let std::collections::btree_map::Entry::Vacant(slot) = groups.entry(key) {
                let row: itsm_core::alert::Group = crate::ingest::parse_row(&text, slot.key())?;
                root_incidents.push(row.incident.as_str().to_owned());
                slot.insert((row, plan::from_db_version(version)));
            }
        }
        for (key, (_, text, version, root)) in &pending_groups {
            if !groups.contains_key(key) && root.as_deref().is_some_and(|s| roots.contains(&s)) {
                let row: itsm_core::alert::Group = crate::ingest::parse_row(text, key)?;
                root_incidents.push(row.incident.as_str().to_owned());
                groups.insert(key.clone(), (row, plan::from_db_version(*version)));
            }
        }
        let mut run = Run::new(
            actor,
            config,
            policy,
            topology,
            now,
            groups.into_iter().map(|(k, (g, v))| (k, g, v)).collect(),
            seen.into_iter().collect(),
        );
        // The incidents the batch may need, read at once (and locked on
        // PostgreSQL, so no other writer moves a group's incident until the
        // batch commits): each group's current incident, and the next one.
        let mut stored: HashMap<String, (i64, String, Option<String>)> = HashMap::new();
        let mut candidates =
            run.candidates(alert_groups.iter().map(String::as_str).zip(alerts.iter().map(|a| a.fired_at)));
        candidates.extend(root_incidents);
        candidates.sort();
        candidates.dedup();
        for chunk in candidates.chunks(KEYS) {
            let mut q = rows_of::<DB>(sql::PRELOAD, tenant, AggregateKind::Incident, chunk.iter().map(String::as_str));
            q.push(DB::LOCK_ROW);
            let rows: Vec<(String, i64, String, Option<String>)> =
                q.build_query_as().fetch_all(&mut *tx).await.map_err(DB::error)?;
            io.incidents_read += rows.len();
            for (id, version, state, head) in rows {
                run.stored(&id, plan::from_db_version(version));
                stored.insert(id, (version, state, head));
            }
        }
        for id in candidates {
            if !stored.contains_key(&id) {
                run.preload(id, None);
            }
        }
        // Incident events the groups' rows have not observed (written by
        // `Store::execute`: a person resolved, closed, reopened,
        // re-prioritised), each group's from the version it observed.
        let behind = run.behind(|id| stored.get(id).map(|s| plan::from_db_version(s.0)));
        for chunk in behind.chunks(BEHIND) {
            let mut q = QueryBuilder::<DB>::new(sql.catch_up);
            q.push_bind(tenant).push(" AND aggregate_kind = ").push_bind(incident_kind).push(" AND (");
            for (i, (id, after)) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                let after = i64::try_from(*after).map_err(|_| StoreError::Overflow)?;
                q.push("(aggregate_id = ").push_bind(id.as_str()).push(" AND version > ").push_bind(after).push(")");
            }
            q.push(") ORDER BY aggregate_id, version");
            let rows: Vec<(String, i64, String)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(DB::error)?;
            for (id, version, payload) in rows {
                run.catch_up(&id, &payload, version)?;
            }
        }
        for alert in alerts {
            let decision = run.decide(alert);
            for id in run.unloaded(&decision) {
                let row = match stored.remove(&id) {
                    Some(row) => Some(row),
                    None => query_as(sql.state_for_write.as_str())
                        .bind(tenant)
                        .bind(incident_kind)
                        .bind(id.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(DB::error)?,
                };
                let stored = match row {
                    Some((version, state, head)) => Some((
                        decode_state::<Incident>(&id, &state)?,
                        plan::from_db_version(version),
                        head.unwrap_or_else(|| GENESIS.to_owned()),
                    )),
                    None => None,
                };
                run.preload(id, stored);
            }
            run.run(alert, &decision)?;
        }
        let ids = std::mem::take(&mut run.ids);
        let actor_id = actor.id.as_str();
        self.write_batch(&mut tx, &mut run.batch, |i| (tenant, ids[i].as_str(), actor_id, now)).await?;
        // The rows the batch changed (over the converted document's).
        let changes = run.changes()?;
        for (key, incident, json, version, root) in changes.groups {
            pending_groups.insert(key, (incident, json, version, root));
        }
        for (key, json, expires) in changes.seen {
            pending_seen.insert(key, (json, expires));
        }
        let pending_groups: Vec<_> = pending_groups.into_iter().collect();
        let pending_seen: Vec<_> = pending_seen.into_iter().collect();
        io.groups_written = pending_groups.len();
        io.seen_written = pending_seen.len();
        io.events_caught_up = run.report.state.events_caught_up;
        run.report.state = io;
        for chunk in pending_groups.chunks(ROWS) {
            let mut q = QueryBuilder::<DB>::new(sql.correlator_groups_put);
            q.push_values(chunk, |mut b, (key, (incident, json, version, root))| {
                b.push_bind(tenant)
                    .push_bind(key.as_str())
                    .push_bind(incident.as_str())
                    .push_bind(json.as_str())
                    .push_bind(*version)
                    .push_bind(DbTime(now))
                    .push_bind(root.as_deref());
            });
            q.push(sql.correlator_groups_upsert);
            q.build().execute(&mut *tx).await.map_err(DB::error)?;
        }
        for chunk in run.report.suppressed.chunks(ROWS) {
            let mut q = QueryBuilder::<DB>::new(sql.suppressed_put);
            q.push_values(chunk, |mut b, s| {
                b.push_bind(tenant)
                    .push_bind(s.alert.clear_key())
                    .push_bind(s.alert.source.as_str())
                    .push_bind(s.alert.alert_id.as_str())
                    .push_bind(s.object.as_str())
                    .push_bind(DbTime(s.fired_at))
                    .push_bind(s.change.as_str())
                    .push_bind(DbTime(s.recorded_at));
            });
            q.push(" ON CONFLICT (tenant, alert_key) DO NOTHING");
            q.build().execute(&mut *tx).await.map_err(DB::error)?;
        }
        for chunk in pending_seen.chunks(ROWS) {
            let mut q = QueryBuilder::<DB>::new(sql.correlator_seen_put);
            q.push_values(chunk, |mut b, (key, (json, expires))| {
                b.push_bind(tenant).push_bind(key.as_str()).push_bind(json.as_str()).push_bind(expires.map(DbTime));
            });
            q.push(sql.correlator_seen_upsert);
            q.build().execute(&mut *tx).await.map_err(DB::error)?;
        }
        if converted {
            query(sql.correlator_put).bind(tenant).bind(DbTime(now)).execute(&mut *tx).await.map_err(DB::error)?;
        }
        commit(tx).await?;
        Ok(run.report)
    }

    /// The tenant's alert group rows whose `column` (`group_key` or
    /// `root_service`) is one of `values`: key, state text and the incident
    /// version observed, read `chunk` values at a time.
    async fn group_rows(
        tx: &mut DB::Connection,
        tenant: &str,
        column: &'static str,
        values: &[&str],
        chunk: usize,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut out = Vec::new();
        for part in values.chunks(chunk.max(1)) {
            let mut q = QueryBuilder::<DB>::new(DB::sql().correlator_groups_get);
            q.push_bind(tenant).push(" AND ").push(column).push(" IN (");
            let mut list = q.separated(", ");
            for value in part {
                list.push_bind(*value);
            }
            q.push(")");
            let rows: Vec<(String, String, i64)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(DB::error)?;
            out.extend(rows);
        }
        Ok(out)
    }

    pub(crate) async fn load<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(A, u64, Timestamp)>, StoreError> {
        let row: Option<(i64, String, DbTime)> = query_as(DB::sql().state_get)
            .bind(tenant)
            .bind(A::KIND.as_str())
            .bind(id)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(DB::error)?;
        let Some((version, state, updated_at)) = row else { return Ok(None) };
        Ok(Some((decode_state::<A>(id, &state)?, plan::from_db_version(version), updated_at.0)))
    }

    pub(crate) async fn history<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<Recorded<A::Event>>, StoreError> {
        let mut conn = self.pools.read.acquire().await.map_err(DB::error)?;
        Self::history_in::<A>(&mut conn, tenant, id, i64::MAX).await
    }

    pub(crate) async fn queue(
        &self,
        tenant: &str,
        scope: &ReadScope,
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let (column, who) = match filter {
            QueueFilter::Assignee(a) => ("assignee", a.as_str()),
            QueueFilter::Group(g) => ("assignment_group", g.as_str()),
        };
        let mut b = QueryBuilder::<DB>::new(format!("SELECT {} FROM aggregates WHERE tenant = ", sql::PROJECTION));
        b.push_bind(tenant.to_owned())
            .push(format_args!(" AND {} AND {column} = ", DB::OPEN))
            .push_bind(who.to_owned());
        push_scope(&mut b, scope, &[], "");
        b.push(" ORDER BY priority IS NULL, priority, updated_at, kind, id LIMIT ").push_bind(limit);
        b.build_query_as().fetch_all(&self.pools.read).await.map_err(DB::error)
    }

    /// One page of `q` after `after` (already checked against `q.sort`).
    pub(crate) async fn list(
        &self,
        tenant: &str,
        scope: &ReadScope,
        q: &ListQuery,
        after: Option<&CursorData>,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let mut b = QueryBuilder::<DB>::new(format!("SELECT {} FROM aggregates", sql::PROJECTION));
        push_list_filters(&mut b, tenant, scope, q);
        let key = q.sort.key.expr();
        let (cmp, dir) = if q.sort.descending { ("<", "DESC") } else { (">", "ASC") };
        if let Some(c) = after {
            b.push(format_args!(" AND ({key}, kind, id) {cmp} ("));
            match &c.key {
                KeyValue::At(t) => b.push_bind(DbTime(*t)),
                KeyValue::Text(t) => b.push_bind(t.clone()),
            };
            b.push(", ").push_bind(c.kind.clone()).push(", ").push_bind(c.id.clone()).push(")");
        }
        b.push(format_args!(" ORDER BY {key} {dir}, kind {dir}, id {dir} LIMIT ")).push_bind(limit);
        b.build_query_as().fetch_all(&self.pools.read).await.map_err(DB::error)
    }

    /// Rows per (kind, status) and per priority over what `q` selects.
    pub(crate) async fn facets(
        &self,
        tenant: &str,
        scope: &ReadScope,
        q: &ListQuery,
    ) -> Result<(Vec<(String, String, i64)>, Vec<(Option<String>, i64)>), StoreError> {
        let mut b = QueryBuilder::<DB>::new("SELECT kind, status, COUNT(*) FROM aggregates");
        push_list_filters(&mut b, tenant, scope, q);
        b.push(" GROUP BY kind, status");
        let statuses = b.build_query_as().fetch_all(&self.pools.read).await.map_err(DB::error)?;
        let mut b = QueryBuilder::<DB>::new("SELECT priority, COUNT(*) FROM aggregates");
        push_list_filters(&mut b, tenant, scope, q);
        b.push(" GROUP BY priority");
        let priorities = b.build_query_as().fetch_all(&self.pools.read).await.map_err(DB::error)?;
        Ok((statuses, priorities))
    }

    /// The rows of the tenant `scope` may read whose search rows hold
    /// every term, best match first, among at most `candidates` of them
    /// (see [`crate::query::SearchResult`]); and whether that bound left
    /// none out.
    pub(crate) async fn search(
        &self,
        tenant: &str,
        scope: &ReadScope,
        terms: &[String],
        limit: i64,
        candidates: usize,
    ) -> Result<(Vec<RawProjection>, bool), StoreError> {
        let private = scope.private_notes();
        let cap = i64::try_from(candidates).unwrap_or(i64::MAX);
        let mut conn = self.pools.read.begin().await.map_err(DB::error)?;
        if let Some(setup) = DB::SEARCH_SETUP {
            sqlx::raw_sql(setup).execute(&mut *conn).await.map_err(DB::error)?;
        }
        // The rarest word drives: every match holds it, so when it is in
        // no more than `candidates` rows the search is exhaustive.
        let Some(mut driver) = terms.first() else { return Ok((Vec::new(), true)) };
        if terms.len() > 1 {
            let mut fewest = i64::MAX;
            for term in terms {
                let mut b = QueryBuilder::<DB>::new("");
                DB::push_term_probe(&mut b, term, cap.saturating_add(1));
                let n: i64 = b.build_query_scalar().fetch_one(&mut *conn).await.map_err(DB::error)?;
                if n < fewest {
                    (fewest, driver) = (n, term);
                }
            }
        }
        // The driving word's rows the reader may see, newest first: one
        // more than the bound tells whether it left any out.
        let mut b = QueryBuilder::<DB>::new("SELECT r.kind, r.id");
        let sees_all = AggregateKind::ALL.iter().all(|k| scope.sees_all(*k));
        DB::push_driver_from(&mut b, driver, !sees_all);
        b.push(" AND r.tenant = ").push_bind(tenant.to_owned());
        if !private {
            b.push(" AND r.part <> 'private'");
        }
        push_scope(&mut b, scope, &[], "a.");
        b.push(DB::DRIVER_ORDER).push(" LIMIT ").push_bind(cap.saturating_add(1));
        let mut hits: Vec<(String, String)> = b.build_query_as().fetch_all(&mut *conn).await.map_err(DB::error)?;
        let exhaustive = hits.len() <= candidates;
        hits.truncate(candidates);
        let mut seen = HashSet::new();
        hits.retain(|h| seen.insert(h.clone()));
        if hits.is_empty() {
            conn.commit().await.map_err(DB::error)?;
            return Ok((Vec::new(), exhaustive));
        }
        // Every visible row of those aggregates, then the matches among them.
        let mut b = QueryBuilder::<DB>::new("WITH cand (kind, id) AS (");
        b.push_values(&hits, |mut v, (kind, id)| {
            v.push_bind(kind.clone()).push_bind(id.clone());
        });
        b.push("), cand_rows AS MATERIALIZED (SELECT r.seq FROM cand c ")
            .push(DB::DRIVING_JOIN)
            .push(" search_rows r ON r.tenant = ")
            .push_bind(tenant.to_owned())
            .push(" AND r.kind = c.kind AND r.id = c.id");
        if !private {
            b.push(" AND r.part <> 'private'");
        }
        b.push(") ").push(DB::sql().search_select.as_str()).push(" FROM (");
        DB::push_search_matches(&mut b, terms);
        b.push(") m ")
            .push(DB::DRIVING_JOIN)
            .push(" aggregates a ON a.kind = m.kind AND a.id = m.id WHERE a.tenant = ")
            .push_bind(tenant.to_owned());
        b.push(" ORDER BY m.score, a.kind, a.id LIMIT ").push_bind(limit);
        let rows = b.build_query_as().fetch_all(&mut *conn).await.map_err(DB::error)?;
        conn.commit().await.map_err(DB::error)?;
        Ok((rows, exhaustive))
    }

    pub(crate) async fn due_before(
        &self,
        tenant: &str,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        query_as(DB::sql().due_before.as_str())
            .bind(tenant)
            .bind(DbTime(before))
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
    }

    /// The maintenance windows that have not ended by `from` and started by
    /// `to`: of every change not cancelled or rejected, on its service.
    pub(crate) async fn maintenance_windows(
        &self,
        tenant: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        let rows: Vec<(String, String, DbTime, DbTime)> = query_as(DB::sql().maintenance_windows)
            .bind(tenant)
            .bind(DbTime(from))
            .bind(DbTime(to))
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, service, start, end) in rows {
            let what = format!("change {id}");
            out.push(MaintenanceWindow {
                change: itsm_core::id::ChangeId::new(id).map_err(|e| StoreError::corrupt("change id", &what, e))?,
                item: itsm_core::id::ServiceId::new(service).map_err(|e| StoreError::corrupt("service", &what, e))?,
                start: start.0,
                end: end.0,
            });
        }
        Ok(out)
    }

    /// The alerts suppressed by maintenance that fired in `[from, to)`, in
    /// firing order, at most `limit`.
    pub(crate) async fn suppressed_alerts(
        &self,
        tenant: &str,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<crate::ingest::SuppressedAlert>, StoreError> {
        let rows: Vec<(String, String, String, DbTime, String, DbTime)> = query_as(DB::sql().suppressed_page)
            .bind(tenant)
            .bind(DbTime(from))
            .bind(DbTime(to))
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)?;
        let mut out = Vec::with_capacity(rows.len());
        for (source, alert_id, object, fired_at, change, recorded_at) in rows {
            let what = format!("suppressed alert {source}:{alert_id}");
            out.push(crate::ingest::SuppressedAlert {
                alert: itsm_core::alert::AlertKey { source, alert_id },
                object: itsm_core::id::ServiceId::new(object).map_err(|e| StoreError::corrupt("object", &what, e))?,
                fired_at: fired_at.0,
                change: itsm_core::id::ChangeId::new(change).map_err(|e| StoreError::corrupt("change id", &what, e))?,
                recorded_at: recorded_at.0,
            });
        }
        Ok(out)
    }

    pub(crate) async fn change_calendar(
        &self,
        tenant: &str,
        service: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RawProjection>, StoreError> {
        query_as(DB::sql().calendar.as_str())
            .bind(tenant)
            .bind(service)
            .bind(DbTime(from))
            .bind(DbTime(to))
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
    }

    pub(crate) async fn events_page(
        &self,
        tenant: &str,
        kind: AggregateKind,
        after: (&str, i64),
        limit: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        query_as(DB::sql().events_page.as_str())
            .bind(tenant)
            .bind(kind.as_str())
            .bind(after.0)
            .bind(after.1)
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
    }

    /// A page of the tenant chain of events written before store design 2.
    pub(crate) async fn legacy_chain_page(
        &self,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        self.page_after(|q| q.legacy_chain_page.as_str(), tenant, after, limit).await
    }

    /// The head of the tenant chain of events written before store design 2.
    pub(crate) async fn legacy_head(&self, tenant: &str) -> Result<Option<(i64, String)>, StoreError> {
        query_as(DB::sql().legacy_head).bind(tenant).fetch_optional(&self.pools.read).await.map_err(DB::error)
    }

    /// Every aggregate head of a tenant of one kind, by id.
    pub(crate) async fn aggregate_heads(&self, tenant: &str, kind: AggregateKind) -> Result<Vec<HeadRow>, StoreError> {
        query_as(DB::sql().aggregate_heads)
            .bind(tenant)
            .bind(kind.as_str())
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
    }

    /// Every checkpoint of a tenant, and every head they recorded, in order.
    pub(crate) async fn checkpoints(
        &self,
        tenant: &str,
    ) -> Result<(Vec<CheckpointRow>, Vec<CheckpointHeadRow>), StoreError> {
        let sql = DB::sql();
        let mut conn = self.pools.read.acquire().await.map_err(DB::error)?;
        let checkpoints = query_as(sql.checkpoints).bind(tenant).fetch_all(&mut *conn).await.map_err(DB::error)?;
        let heads = query_as(sql.checkpoint_heads).bind(tenant).fetch_all(&mut *conn).await.map_err(DB::error)?;
        Ok((checkpoints, heads))
    }

    /// Writes the tenant's next checkpoint: records the heads that moved
    /// since the last one, then the Merkle root over every head as now
    /// checkpointed, linked to the previous checkpoint. `None` when no
    /// aggregate moved (nothing is written).
    pub(crate) async fn checkpoint(&self, tenant: &str, now: Timestamp) -> Result<Option<CheckpointRow>, StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        // Serialize checkpoints of the tenant on their tip (PostgreSQL).
        let tip: Option<(i64, String)> =
            query_as(sql.tip_get.as_str()).bind(tenant).fetch_optional(&mut *tx).await.map_err(DB::error)?;
        let (seq, prev) = match tip {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_owned()),
        };
        let moved: Vec<(String, String, i64, Option<String>)> =
            query_as(sql.checkpoint_take).bind(tenant).fetch_all(&mut *tx).await.map_err(DB::error)?;
        if moved.is_empty() {
            return Ok(None);
        }
        for (kind, id, version, hash) in &moved {
            let hash = hash.as_deref().unwrap_or(GENESIS);
            query(sql.checkpoint_head_put)
                .bind(tenant)
                .bind(seq)
                .bind(kind.as_str())
                .bind(id.as_str())
                .bind(*version)
                .bind(hash)
                .execute(&mut *tx)
                .await
                .map_err(taken::<DB>)?;
        }
        let leaves: Vec<(String, String, i64, Option<String>)> =
            query_as(sql.checkpoint_leaves).bind(tenant).fetch_all(&mut *tx).await.map_err(DB::error)?;
        let events: i64 = leaves.iter().map(|l| l.2).sum();
        let root = chain::merkle_root(
            leaves
                .iter()
                .map(|(kind, id, version, hash)| chain::leaf(kind, id, *version, hash.as_deref().unwrap_or(GENESIS)))
                .collect(),
        );
        let taken_at = now.to_rfc3339();
        let aggregates = i64::try_from(leaves.len()).map_err(|_| StoreError::Overflow)?;
        let hash = chain::checkpoint_hash(
            &prev,
            &chain::CheckpointFields { tenant, seq, taken_at: &taken_at, aggregates, events, root: &root },
        );
        query(sql.checkpoint_put)
            .bind(tenant)
            .bind(seq)
            .bind(DbTime(now))
            .bind(aggregates)
            .bind(events)
            .bind(root.as_str())
            .bind(prev.as_str())
            .bind(hash.as_str())
            .execute(&mut *tx)
            .await
            .map_err(taken::<DB>)?;
        commit(tx).await?;
        Ok(Some(CheckpointRow { seq, taken_at: DbTime(now), aggregates, events, root, prev_hash: prev, hash }))
    }

    pub(crate) async fn claim(
        &self,
        consumer: &str,
        lease_until: Timestamp,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.begin().await?;
        let rows: Vec<ClaimedRow> = query_as(DB::sql().claim.as_str())
            .bind(consumer)
            .bind(DbTime(lease_until))
            .bind(DbTime(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await?;
        let mut items = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.id,
                    tenant: r.tenant,
                    topic: r.topic,
                    dedup_key: r.dedup_key,
                    payload: outbox_payload(&r.payload, r.id)?,
                    created_at: r.created_at.0,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                    lease_until: r.lease_until.0,
                    stream: r.stream,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn ack(&self, id: i64, consumer: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done: Option<i64> = query_scalar(DB::sql().ack)
            .bind(id)
            .bind(consumer)
            .bind(DbTime(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await?;
        Ok(done.is_some())
    }

    /// Records a failed delivery by the lease holder: the error, and either
    /// the instant it may be claimed again or (`None`) a dead letter.
    pub(crate) async fn fail(
        &self,
        id: i64,
        consumer: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let dead_at = if retry_at.is_none() { Some(DbTime(now)) } else { None };
        let done: Option<i64> = query_scalar(DB::sql().fail)
            .bind(id)
            .bind(consumer)
            .bind(DbTime(now))
            .bind(error)
            .bind(retry_at.map(DbTime))
            .bind(dead_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await?;
        Ok(done.is_some())
    }

    /// A page of a tenant's rows after `after` by the statement `statement`
    /// picks (`$1` tenant, `$2` after, `$3` limit): the alert receipts,
    /// notification and legacy chain pages.
    pub(crate) async fn page_after<R>(
        &self,
        statement: fn(&'static sql::Sql) -> &'static str,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        query_as(statement(DB::sql()))
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
    }

    /// A tenant's dead letters, oldest message first.
    pub(crate) async fn dead_letters(&self, tenant: &str, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<DeadRow> = query_as(DB::sql().dead_letters)
            .bind(tenant)
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)?;
        rows.into_iter()
            .map(|r| {
                Ok(DeadLetter {
                    id: r.id,
                    tenant: r.tenant,
                    topic: r.topic,
                    dedup_key: r.dedup_key,
                    payload: outbox_payload(&r.payload, r.id)?,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                    last_error: r.last_error,
                    dead_at: r.dead_at.0,
                    stream: r.stream,
                })
            })
            .collect()
    }

    /// `stream`: the ordering key of its outbox message (see
    /// [`crate::Store::record_escalation`]).
    pub(crate) async fn record_escalation(
        &self,
        tenant: &str,
        escalation_id: &str,
        payload: &str,
        stream: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !Self::put_escalation(&mut tx, tenant, escalation_id, payload, stream, now).await? {
            return Ok(false);
        }
        commit(tx).await?;
        Ok(true)
    }

    /// Records an executed escalation and queues its outbox message (topic
    /// [`crate::ESCALATION_TOPIC`], dedup key the escalation id); false, and
    /// nothing written, when the id was recorded before.
    async fn put_escalation(
        conn: &mut DB::Connection,
        tenant: &str,
        escalation_id: &str,
        payload: &str,
        stream: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done: Option<String> = query_scalar(DB::sql().escalation_put)
            .bind(tenant)
            .bind(escalation_id)
            .bind(payload)
            .bind(DbTime(now))
            .fetch_optional(&mut *conn)
            .await
            .map_err(DB::error)?;
        if done.is_none() {
            return Ok(false);
        }
        let row = OutboxRow {
            topic: crate::ESCALATION_TOPIC.to_owned(),
            dedup_key: escalation_id.to_owned(),
            payload: payload.to_owned(),
            stream: stream.map(str::to_owned),
        };
        Self::put_outbox(conn, tenant, std::slice::from_ref(&row), now).await?;
        Ok(true)
    }

    /// The tenant's events after `after` that `scope` may read (the rule as
    /// SQL over each event's projection row), at most `limit`, in feed
    /// order, and the watermark cursor (see [`crate::feed`]).
    pub(crate) async fn feed_page(
        &self,
        tenant: &str,
        scope: &ReadScope,
        after: (i64, i64),
        limit: i64,
    ) -> Result<(Vec<FeedRow>, (i64, i64)), StoreError> {
        // The watermark first: every event under it has committed, so the
        // page's statement (a later snapshot) sees them all.
        let watermark: i64 = query_scalar(DB::FEED_WATERMARK).fetch_one(&self.pools.read).await.map_err(DB::error)?;
        let scoped = !AggregateKind::ALL.iter().all(|k| scope.sees_all(*k));
        let mut b = QueryBuilder::<DB>::new(format!("SELECT {}, {} AS tx FROM events e", sql::EVENT_E, DB::FEED_TX));
        if scoped {
            b.push(" JOIN aggregates a ON a.tenant = e.tenant AND a.kind = e.aggregate_kind AND a.id = e.aggregate_id");
        }
        b.push(" WHERE e.tenant = ").push_bind(tenant.to_owned()).push(" AND ");
        DB::push_feed_after(&mut b, after, watermark);
        push_scope(&mut b, scope, &[], "a.");
        b.push(format_args!(" ORDER BY {} LIMIT ", DB::FEED_ORDER)).push_bind(limit);
        let rows = b.build_query_as().fetch_all(&self.pools.read).await.map_err(DB::error)?;
        Ok((rows, DB::feed_cursor_at(watermark)))
    }

    /// The feed cursor after every event committed so far.
    pub(crate) async fn feed_head(&self) -> Result<(i64, i64), StoreError> {
        let watermark: i64 = query_scalar(DB::FEED_WATERMARK).fetch_one(&self.pools.read).await.map_err(DB::error)?;
        Ok(DB::feed_cursor_at(watermark))
    }

    /// The earliest due instant of every tenant's open aggregates.
    pub(crate) async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due: Option<DbTime> =
            query_scalar(DB::sql().due_next.as_str()).fetch_one(&self.pools.read).await.map_err(DB::error)?;
        Ok(due.map(|d| d.0))
    }

    /// One runner step, in one transaction: takes up to `limit` aggregates
    /// (of every tenant) whose due instant is at or before `now`, soonest
    /// first (PostgreSQL: rows another runner holds are skipped), records
    /// each escalation due on them that was not recorded yet with its
    /// outbox message, and moves each one's handled instant to `now` and
    /// its due instant to the next mark after that. A runner that dies
    /// before the commit leaves everything as it was, for the next.
    pub(crate) async fn run_due(&self, now: Timestamp, limit: i64) -> Result<DueRun, StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        let rows: Vec<DueRow> = query_as(sql.due_claim.as_str())
            .bind(DbTime(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(DB::error)?;
        let mut run = DueRun { aggregates: rows.len(), executed: Vec::new(), failed: Vec::new(), proposed: Vec::new() };
        for row in &rows {
            let kind = plan::parse_kind(&row.kind)?;
            let config = self.config_in(&mut tx, &row.tenant).await?;
            let handled = row.due_handled.map_or(now, |h| h.0.max(now));
            let step = || -> Result<_, StoreError> {
                let events = config::parse_clock(kind, &row.id, row.clock.as_deref().unwrap_or("[]"))?;
                let due = config::escalations_due(&config, kind, &row.id, &events, now)?;
                let (next, breach) = config::due_and_breach(&config, kind, &row.id, &events, now, handled)?;
                Ok((due, next, breach))
            };
            let (due, next, breach) = match step() {
                Ok(step) => step,
                Err(error) => {
                    // A clock that cannot be evaluated would come due again
                    // at once, forever: report it and clear its due instant
                    // (its next command computes it again).
                    tracing::error!(tenant = %row.tenant, kind = %kind, id = %row.id, %error, "due instant cleared");
                    run.failed.push((row.tenant.clone(), kind, row.id.clone(), error));
                    Self::put_due(&mut tx, &row.tenant, kind, &row.id, (None, handled), None).await?;
                    continue;
                }
            };
            let mut proposals = Vec::new();
            for escalation in due {
                let payload = serde_json::to_string(&escalation).map_err(|source| StoreError::Serialize {
                    what: "escalation",
                    id: escalation.id.clone(),
                    source,
                })?;
                // Ordered with the aggregate's own messages.
                let stream = plan::stream_of(kind, &row.id);
                if !Self::put_escalation(&mut tx, &row.tenant, &escalation.id, &payload, Some(&stream), now).await? {
                    continue;
                }
                if escalation.action == itsm_core::sla::EscalationAction::ProposeMajorIncident
                    && kind == AggregateKind::Incident
                {
                    proposals.push(escalation.clone());
                }
                run.executed.push((row.tenant.clone(), escalation));
            }
            // A rule that proposes a major incident runs: the incident becomes a candidate.
            if !proposals.is_empty() {
                run.proposed.extend(self.propose_major_in(&mut tx, &row.tenant, &row.id, &proposals, now).await?);
            }
            Self::put_due(&mut tx, &row.tenant, kind, &row.id, (next, handled), breach).await?;
        }
        commit(tx).await?;
        Ok(run)
    }

    /// Proposes incident `id` as a major incident for the first of the
    /// escalations (`ProposeMajor`, as the automation actor
    /// [`crate::runner::RUNNER_ACTOR`] under the default permission table);
    /// an incident already major or proposed is left as it is. Returns the
    /// incident when it became a candidate.
    async fn propose_major_in(
        &self,
        tx: &mut DB::Connection,
        tenant: &str,
        id: &str,
        escalations: &[itsm_core::sla::DueEscalation],
        now: Timestamp,
    ) -> Result<Option<(String, String)>, StoreError> {
        use itsm_core::incident::{Incident, IncidentCommand};
        let Some(first) = escalations.first() else { return Ok(None) };
        let tenant_id = itsm_core::id::TenantId::new(tenant).map_err(|e| StoreError::corrupt("tenant", tenant, e))?;
        let runner_id = itsm_core::id::ActorId::new(crate::runner::RUNNER_ACTOR)
            .map_err(|e| StoreError::corrupt("actor", crate::runner::RUNNER_ACTOR, e))?;
        let actor = itsm_core::Actor::new(runner_id, tenant_id, [itsm_core::Role::Automation]);
        let config = DomainConfig::default();
        let ctx = itsm_core::Context::new(&actor, now, &config);
        let reason = format!(
            "escalation rule {} ({} target, cycle {}) proposed it at {}",
            first.rule,
            first.target.as_str(),
            first.cycle,
            first.due_at
        );
        let reason = itsm_core::id::Text::new(reason).map_err(|e| StoreError::corrupt("escalation", &first.id, e))?;
        let command = IncidentCommand::ProposeMajor { reason };
        let span = tracing::info_span!("propose major", tenant = %tenant, id = %id, rule = %first.rule);
        let done = self
            .follow_ups_in::<Incident>(tx, &ctx, vec![(id.to_owned(), command)], None)
            .instrument(span)
            .await
            .map_err(ExecError::into_store)?;
        Ok(done.into_iter().next().map(|id| (tenant.to_owned(), id)))
    }

    /// A tenant's configuration history as of this transaction: the cached
    /// copy when `config_heads` says it is current, else read again.
    async fn config_in(&self, conn: &mut DB::Connection, tenant: &str) -> Result<Arc<DomainConfigHistory>, StoreError> {
        let sql = DB::sql();
        let generation: Option<i64> =
            query_scalar(sql.config_generation).bind(tenant).fetch_optional(&mut *conn).await.map_err(DB::error)?;
        let generation = generation.unwrap_or(0);
        if let Ok(cache) = self.configs.lock()
            && let Some((cached, config)) = cache.get(tenant)
            && *cached == generation
        {
            return Ok(Arc::clone(config));
        }
        let rows: Vec<ConfigRow> =
            query_as(sql.config_rows).bind(tenant).fetch_all(&mut *conn).await.map_err(DB::error)?;
        let config = Arc::new(config::history(&rows)?);
        if let Ok(mut cache) = self.configs.lock() {
            cache.insert(tenant.to_owned(), (generation, Arc::clone(&config)));
        }
        Ok(config)
    }

    /// A tenant's configuration history.
    pub(crate) async fn config_history(&self, tenant: &str) -> Result<Arc<DomainConfigHistory>, StoreError> {
        let mut conn = self.pools.read.acquire().await.map_err(DB::error)?;
        self.config_in(&mut conn, tenant).await
    }

    /// Adds a configuration version (validated against the tenant's history
    /// by `add`), then recomputes the due instant of every open aggregate
    /// with a clock under the new history, in one transaction.
    pub(crate) async fn add_config(
        &self,
        tenant: &str,
        new: &NewConfig<'_>,
        add: &(dyn Fn(&mut DomainConfigHistory) -> Result<(), StoreError> + Sync),
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        // The generation first: concurrent additions serialize on its row.
        let generation: i64 =
            query_scalar(sql.config_bump).bind(tenant).fetch_one(&mut *tx).await.map_err(DB::error)?;
        let rows: Vec<ConfigRow> =
            query_as(sql.config_rows).bind(tenant).fetch_all(&mut *tx).await.map_err(DB::error)?;
        let mut history = config::history(&rows)?;
        add(&mut history)?;
        query(sql.config_put)
            .bind(tenant)
            .bind(new.name)
            .bind(new.version)
            .bind(DbTime(new.effective_from))
            .bind(new.value)
            .bind(DbTime(now))
            .execute(&mut *tx)
            .await
            .map_err(taken::<DB>)?;
        let open: Vec<(String, String, String, Option<DbTime>)> =
            query_as(sql.clocks_open.as_str()).bind(tenant).fetch_all(&mut *tx).await.map_err(DB::error)?;
        for (kind_name, id, clock, handled) in open {
            let kind = plan::parse_kind(&kind_name)?;
            let events = config::parse_clock(kind, &id, &clock)?;
            let handled = config::handled_from(handled.map(|h| h.0), &events, now);
            let (due, breach) = config::due_and_breach(&history, kind, &id, &events, now, handled)?;
            Self::put_due(&mut tx, tenant, kind, &id, (due, handled), breach).await?;
        }
        // A policy or calendar version governs the cycles that start from its
        // effective instant on, closed ones included: their incidents' SLA
        // verdicts in the metrics read model are judged again.
        if matches!(new.name, "sla_policy" | "calendar") {
            let judged: Vec<(String, String)> = query_as(sql.clocks_since)
                .bind(tenant)
                .bind(DbTime(new.effective_from))
                .fetch_all(&mut *tx)
                .await
                .map_err(DB::error)?;
            for (id, clock) in judged {
                let events = config::parse_clock(AggregateKind::Incident, &id, &clock)?;
                let at = events.iter().map(itsm_core::SlaEvent::at).max().map_or(now, |last| last.max(now));
                let met = history.resolution_met(&events, at).map_err(|source| StoreError::Clock {
                    kind: AggregateKind::Incident,
                    id: id.clone(),
                    source,
                })?;
                query(sql.resolution_put)
                    .bind(tenant)
                    .bind(id.as_str())
                    .bind(metric::verdict_text(met))
                    .execute(&mut *tx)
                    .await
                    .map_err(DB::error)?;
            }
        }
        commit(tx).await?;
        if let Ok(mut cache) = self.configs.lock() {
            cache.insert(tenant.to_owned(), (generation, Arc::new(history)));
        }
        Ok(())
    }

    /// Records that the escalation runner handled everything due up to
    /// `up_to` on an aggregate, and moves its due instant past it. The new
    /// due instant, or `None` (nothing due); [`StoreError::NotFound`] for an
    /// aggregate without a clock or of another tenant.
    pub(crate) async fn mark_handled(
        &self,
        tenant: &str,
        kind: AggregateKind,
        id: &str,
        up_to: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        let row: Option<(Option<String>, Option<DbTime>)> = query_as(sql.clock_get.as_str())
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        let Some((Some(clock), handled)) = row else {
            return Err(StoreError::not_found(kind, id));
        };
        let events = config::parse_clock(kind, id, &clock)?;
        let handled = handled.map(|h| h.0).map_or(up_to, |h| h.max(up_to));
        let config = self.config_in(&mut tx, tenant).await?;
        let (due, breach) = config::due_and_breach(&config, kind, id, &events, now, handled)?;
        Self::put_due(&mut tx, tenant, kind, id, (due, handled), breach).await?;
        commit(tx).await?;
        Ok(due)
    }

    /// Writes an aggregate's due instant, handled instant and breach instant.
    async fn put_due(
        conn: &mut DB::Connection,
        tenant: &str,
        kind: AggregateKind,
        id: &str,
        (due, handled): (Option<Timestamp>, Timestamp),
        breach: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        query(DB::sql().due_put)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .bind(due.map(DbTime))
            .bind(DbTime(handled))
            .bind(breach.map(DbTime))
            .execute(&mut *conn)
            .await
            .map_err(DB::error)?;
        Ok(())
    }

    /// The clock events and handled instant an aggregate has stored (`None`:
    /// no row yet). A row written before clocks were kept has no clock: it is
    /// taken from the aggregate's whole stored history.
    async fn stored_clock<A: Aggregate>(
        conn: &mut DB::Connection,
        tenant: &str,
        id: &str,
        stored: Option<(Option<String>, Option<Timestamp>)>,
    ) -> Result<(Vec<itsm_core::SlaEvent>, Option<Timestamp>), StoreError> {
        Ok(match stored {
            Some((Some(text), handled)) => (config::parse_clock(A::KIND, id, &text)?, handled),
            Some((None, handled)) => {
                let history = Self::history_in::<A>(conn, tenant, id, i64::MAX).await?;
                let events: Vec<A::Event> = history.into_iter().map(|r| r.event).collect();
                (A::clock_events(&events), handled)
            }
            None => (Vec::new(), None),
        })
    }

    /// Fills in the clock of every projection whose events moved it: the
    /// stored clocks read in bulk per tenant, extended, and their due
    /// instants recomputed.
    async fn advance_clocks<A: Aggregate>(
        &self,
        conn: &mut DB::Connection,
        projections: &mut [plan::DirtyProjection<'_>],
    ) -> Result<(), StoreError> {
        let mut by_tenant: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, p) in projections.iter().enumerate() {
            if p.new_clock.is_some_and(|c| !c.is_empty()) {
                by_tenant.entry(p.tenant).or_default().push(i);
            }
        }
        for (tenant, indices) in by_tenant {
            let mut stored: HashMap<String, (Option<String>, Option<Timestamp>)> = HashMap::new();
            for chunk in indices.chunks(IDS_PER_STATEMENT) {
                let mut q = rows_of::<DB>(sql::CLOCKS, tenant, A::KIND, chunk.iter().map(|&i| projections[i].id));
                let rows: Vec<(String, Option<String>, Option<DbTime>)> =
                    q.build_query_as().fetch_all(&mut *conn).await.map_err(DB::error)?;
                for (id, clock, handled) in rows {
                    stored.insert(id, (clock, handled.map(|h| h.0)));
                }
            }
            let config = self.config_in(conn, tenant).await?;
            for i in indices {
                let p = &projections[i];
                let (events, handled) = Self::stored_clock::<A>(conn, tenant, p.id, stored.remove(p.id)).await?;
                let new = p.new_clock.cloned().unwrap_or_default();
                let clock = config::advance(&config, A::KIND, p.id, events, new, handled, p.at)?;
                projections[i].clock = Some(clock);
            }
        }
        Ok(())
    }

    /// Writes a decided batch: events, projections (with their chain heads),
    /// outbox. `who` gives a command's tenant, aggregate id, actor id and
    /// instant by index. Returns the last event position written.
    async fn write_batch<'c, A: Aggregate>(
        &self,
        conn: &mut DB::Connection,
        batch: &mut plan::Batch<A>,
        who: impl Fn(usize) -> (&'c str, &'c str, &'c str, Timestamp),
    ) -> Result<Option<i64>, StoreError> {
        let kind = A::KIND.as_str();
        let mut last = None;
        let events = batch.take_events();
        for chunk in events.chunks(EVENTS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::EVENT_WRITE);
            q.push_values(chunk, |mut b, e| {
                let (tenant, id, actor, at) = who(e.command);
                b.push_bind(tenant)
                    .push_bind(kind)
                    .push_bind(id)
                    .push_bind(e.version)
                    .push_bind(e.name)
                    .push_bind(e.payload.as_str())
                    .push_bind(actor)
                    .push_bind(DbTime(at))
                    .push_bind(e.hash.as_str());
            });
            q.push(" RETURNING position");
            let positions: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await.map_err(taken::<DB>)?;
            last = positions.into_iter().max().max(last);
        }
        let mut search = std::mem::take(&mut batch.search);
        let mut projections = batch.dirty_projections()?;
        self.advance_clocks::<A>(conn, &mut projections).await?;
        for chunk in projections.chunks(PROJECTIONS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::PROJECTION_WRITE);
            q.push_values(chunk, |mut b, d| {
                let p = &d.values;
                b.push_bind(d.tenant)
                    .push_bind(kind)
                    .push_bind(d.id)
                    .push_bind(p.version)
                    .push_bind(p.state.as_str())
                    .push_bind(DbTime(d.at))
                    .push_bind(d.chain_hash);
                push_clock(&mut b, d.clock.as_ref());
                push_summary(&mut b, &p.summary);
            });
            q.push(sql::PROJECTION_UPSERT);
            q.build().execute(&mut *conn).await.map_err(DB::error)?;
        }
        // Most commands add nothing to search (no key to build).
        let docs: Vec<SearchRow<'_>> = projections
            .iter()
            .take(if search.is_empty() { 0 } else { projections.len() })
            .filter_map(|d| {
                let delta = search.remove(&(d.tenant.to_owned(), d.id.to_owned()))?;
                Some(SearchRow { tenant: d.tenant, id: d.id, title: &d.values.summary.title, delta })
            })
            .collect();
        Self::put_search(conn, A::KIND, &docs).await?;
        let records: Vec<RecordWrite<'_>> = projections
            .iter_mut()
            .filter_map(|d| {
                let record = d.values.record.take()?;
                Some(record_write(d.tenant, A::KIND, d.id, d.values.version, record, d.clock.as_ref()))
            })
            .collect();
        Self::put_records(conn, &records).await?;
        for (tenant, rows, at) in &batch.outbox {
            Self::put_outbox(conn, tenant, rows, *at).await?;
        }
        Ok(last)
    }

    async fn exists_in(
        conn: &mut DB::Connection,
        tenant: &str,
        kinds: &[AggregateKind],
        id: &str,
    ) -> Result<bool, StoreError> {
        if id.contains('\0') {
            return Ok(false);
        }
        for kind in kinds {
            let found: i64 = query_scalar(DB::sql().exists)
                .bind(tenant)
                .bind(kind.as_str())
                .bind(id)
                .fetch_one(&mut *conn)
                .await
                .map_err(DB::error)?;
            if found > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn history_in<A: Aggregate>(
        conn: &mut DB::Connection,
        tenant: &str,
        id: &str,
        up_to: i64,
    ) -> Result<Vec<Recorded<A::Event>>, StoreError> {
        let rows: Vec<RawHistory> = query_as(DB::sql().history)
            .bind(tenant)
            .bind(A::KIND.as_str())
            .bind(id)
            .bind(up_to)
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::error)?;
        rows.into_iter().map(RawHistory::decode::<A>).collect()
    }

    /// Writes search rows: each aggregate's title when it was created, and
    /// a row per note added (appended; nothing is rewritten).
    async fn put_search(
        conn: &mut DB::Connection,
        kind: AggregateKind,
        docs: &[SearchRow<'_>],
    ) -> Result<(), StoreError> {
        // PostgreSQL text cannot hold NUL.
        let clean = |t: &str| t.replace('\0', "\u{fffd}");
        let rows: Vec<(&str, &str, &str, &str)> = docs
            .iter()
            .flat_map(|d| {
                let title = d.delta.created.then_some(("title", d.title));
                let notes = d
                    .delta
                    .notes
                    .iter()
                    .map(|(text, public)| (if *public { "public" } else { "private" }, text.as_str()));
                title.into_iter().chain(notes).map(|(part, body)| (d.tenant, d.id, part, body))
            })
            .collect();
        for chunk in rows.chunks(SEARCH_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::SEARCH_WRITE);
            q.push_values(chunk, |mut b, (tenant, id, part, body)| {
                b.push_bind(*tenant).push_bind(kind.as_str()).push_bind(*id).push_bind(*part).push_bind(clean(body));
            });
            q.build().execute(&mut *conn).await.map_err(DB::error)?;
        }
        Ok(())
    }

    /// A page of a tenant's incident record rows in opening order, after
    /// the (opening in microseconds, id) given, as read: decoded by
    /// [`metric::IncidentPage::decode`].
    pub(crate) async fn incident_records_page(
        &self,
        tenant: &str,
        after: Option<&(i64, String)>,
        limit: i64,
    ) -> Result<metric::IncidentPage, StoreError> {
        let (opened, id) = after.map_or((i64::MIN, ""), |(at, id)| (*at, id.as_str()));
        let (rows, texts, verdicts): (i64, Option<String>, Option<String>) =
            query_as(DB::sql().incident_records_page.as_str())
                .bind(tenant)
                .bind(opened)
                .bind(id)
                .bind(limit)
                .fetch_one(&self.pools.read)
                .await
                .map_err(DB::error)?;
        Ok(metric::IncidentPage { rows, texts, verdicts, check_order: !DB::JSON_AGG_ORDERED })
    }

    /// A page of a tenant's change record rows in (kind, id) order, after
    /// the (kind, id) given, as read: decoded by [`metric::ChangePage::decode`].
    pub(crate) async fn change_records_page(
        &self,
        tenant: &str,
        after: Option<&(String, String)>,
        limit: i64,
    ) -> Result<metric::ChangePage, StoreError> {
        let (kind, id) = after.map_or(("", ""), |(kind, id)| (kind.as_str(), id.as_str()));
        let (rows, texts): (i64, Option<String>) = query_as(DB::sql().change_records_page.as_str())
            .bind(tenant)
            .bind(kind)
            .bind(id)
            .bind(limit)
            .fetch_one(&self.pools.read)
            .await
            .map_err(DB::error)?;
        Ok(metric::ChangePage { rows, texts, check_order: !DB::JSON_AGG_ORDERED })
    }

    /// The stored records of some aggregates of one kind, by id.
    pub(crate) async fn stored_records(
        &self,
        tenant: &str,
        kind: AggregateKind,
        ids: &[&str],
    ) -> Result<HashMap<String, metric::StoredRow>, StoreError> {
        let sql = DB::sql();
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let incidents = kind == AggregateKind::Incident;
            let mut q = QueryBuilder::<DB>::new(if incidents {
                format!("{}FROM metric_incidents WHERE tenant = ", sql.incident_records_select)
            } else {
                format!("{}FROM metric_changes WHERE tenant = ", sql.change_records_select)
            });
            q.push_bind(tenant.to_owned());
            if !incidents {
                q.push(" AND kind = ").push_bind(kind.as_str());
            }
            q.push(" AND ");
            push_in(&mut q, "id", chunk.iter().map(|&id| id.to_owned()).collect());
            let page: Option<String> = q.build_query_scalar().fetch_one(&self.pools.read).await.map_err(DB::error)?;
            let rows = if incidents {
                metric::stored_incidents(page.as_deref())?
            } else {
                metric::stored_changes(page.as_deref())?
            };
            for row in rows {
                let id = match &row.0 {
                    Record::Incident(r) => r.id.as_str().to_owned(),
                    Record::Change(r) => r.id.as_str().to_owned(),
                };
                out.insert(id, row);
            }
        }
        Ok(out)
    }

    /// How many record rows a tenant holds of one kind.
    pub(crate) async fn count_records(&self, tenant: &str, kind: AggregateKind) -> Result<u64, StoreError> {
        let n: i64 = if kind == AggregateKind::Incident {
            query_scalar("SELECT count(*) FROM metric_incidents WHERE tenant = $1")
                .bind(tenant)
                .fetch_one(&self.pools.read)
                .await
        } else {
            query_scalar("SELECT count(*) FROM metric_changes WHERE tenant = $1 AND kind = $2")
                .bind(tenant)
                .bind(kind.as_str())
                .fetch_one(&self.pools.read)
                .await
        }
        .map_err(DB::error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The record definition a tenant's read model was built under; `None`
    /// when the tenant is not listed (built from its first command).
    pub(crate) async fn metric_model(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        query_scalar(DB::sql().metric_model_get).bind(tenant).fetch_optional(&self.pools.read).await.map_err(DB::error)
    }

    /// Lists a tenant's read model at a definition; with `clear`, its rows
    /// are deleted in the same transaction (the start of a rebuild).
    pub(crate) async fn set_metric_model(
        &self,
        tenant: &str,
        definition: i64,
        clear: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let sql = DB::sql();
        let mut tx = self.begin().await?;
        if clear {
            query(sql.metric_incidents_clear).bind(tenant).execute(&mut *tx).await.map_err(DB::error)?;
            query(sql.metric_changes_clear).bind(tenant).execute(&mut *tx).await.map_err(DB::error)?;
        }
        query(sql.metric_model_put)
            .bind(tenant)
            .bind(definition)
            .bind(DbTime(now))
            .execute(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await
    }

    /// Writes folded records in one transaction (a rebuild's batch); a row a
    /// newer command wrote is kept.
    pub(crate) async fn write_records(&self, writes: &[RecordWrite<'_>]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        Self::put_records(&mut tx, writes).await?;
        commit(tx).await
    }

    /// Writes metrics records (the read model, [`crate::metric`]), incidents
    /// and changes each in multi-row upserts.
    async fn put_records(conn: &mut DB::Connection, writes: &[RecordWrite<'_>]) -> Result<(), StoreError> {
        let incidents: Vec<(&RecordWrite<'_>, &IncidentRecord)> = writes
            .iter()
            .filter_map(|w| match &w.record {
                Record::Incident(r) => Some((w, r)),
                Record::Change(_) => None,
            })
            .collect();
        for chunk in incidents.chunks(metric::RECORDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::INCIDENT_RECORD_WRITE);
            let texts = chunk.iter().map(|(w, _)| metric::record_text(w)).collect::<Result<Vec<_>, _>>()?;
            q.push_values(chunk.iter().zip(texts), |mut b, ((w, r), text)| metric::push_incident(&mut b, w, r, text));
            q.push(sql::INCIDENT_RECORD_UPSERT);
            q.build().execute(&mut *conn).await.map_err(DB::error)?;
        }
        let changes: Vec<(&RecordWrite<'_>, &ChangeRecord)> = writes
            .iter()
            .filter_map(|w| match &w.record {
                Record::Change(r) => Some((w, r)),
                Record::Incident(_) => None,
            })
            .collect();
        for chunk in changes.chunks(metric::RECORDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::CHANGE_RECORD_WRITE);
            let texts = chunk.iter().map(|(w, _)| metric::record_text(w)).collect::<Result<Vec<_>, _>>()?;
            q.push_values(chunk.iter().zip(texts), |mut b, ((w, r), text)| metric::push_change(&mut b, w, r, text));
            q.push(sql::CHANGE_RECORD_UPSERT);
            q.build().execute(&mut *conn).await.map_err(DB::error)?;
        }
        Ok(())
    }

    async fn put_outbox(
        conn: &mut DB::Connection,
        tenant: &str,
        rows: &[OutboxRow],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for row in rows {
            query(DB::sql().outbox_put)
                .bind(tenant)
                .bind(row.topic.as_str())
                .bind(row.dedup_key.as_str())
                .bind(row.payload.as_str())
                .bind(DbTime(now))
                .bind(row.stream.as_deref())
                .execute(&mut *conn)
                .await
                .map_err(DB::error)?;
        }
        Ok(())
    }
}
