//! The one transactional core, written once for both backends: generic over
//! the sqlx [`Database`] through the [`Dialect`] seam. A command's pipeline
//! (idempotency, load, reference checks, decide, events, projection, outbox,
//! audit evidence, idempotency row) lives here and nowhere else; the backend
//! files only connect, migrate and inspect.

use std::collections::BTreeMap;

use itsm_core::alert::{Alert, Correlator, GroupingPolicy};
use itsm_core::incident::Incident;
use itsm_core::{Actor, Aggregate, AggregateKind, DomainConfig, Timestamp};
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::{ColumnIndex, Decode, Encode, Executor, FromRow, Pool, QueryBuilder, Transaction, Type};
use sqlx::{query, query_as, query_scalar};

use crate::dialect::{DbTime, Dialect, Pools};
use crate::error::{Class, ExecError, StoreError, classify};
use crate::ingest::{IngestReport, Run};
use crate::model::{
    Committed, FillClaim, ImportCommand, ImportReport, OnReject, OutboxItem, QueueFilter, Recorded, Request,
};
use crate::plan::{self, ChainFields, GENESIS, IdempotentResult, OutboxRow, check_expected, decode_state, link};
use crate::rows::{RawEvent, RawHistory, RawProjection};
use crate::sql;

/// Rows per generated multi-row statement (events: 9 values each; SQLite
/// allows 32,766 parameters, PostgreSQL 65,535).
const EVENTS_PER_STATEMENT: usize = 500;
/// Projection rows per generated statement (15 values each).
const PROJECTIONS_PER_STATEMENT: usize = 200;
/// Ids per bulk state read.
const IDS_PER_STATEMENT: usize = 500;

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
}

/// The store over one backend.
pub(crate) struct Core<DB: Dialect> {
    pub pools: Pools<DB>,
    /// The URL without its password, for `Debug`.
    pub target: String,
}

impl<DB: Dialect> Clone for Core<DB> {
    fn clone(&self) -> Self {
        Core {
            pools: Pools { write: self.pools.write.clone(), read: self.pools.read.clone() },
            target: self.target.clone(),
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
    let exists: bool = query_scalar(sql.migrations_table).fetch_one(pool).await.map_err(DB::error)?;
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
    Option<String>: for<'r> Decode<'r, DB>,
    Option<DbTime>: for<'r> Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'r> RawProjection: FromRow<'r, DB::Row>,
    for<'r> RawEvent: FromRow<'r, DB::Row>,
    for<'r> RawHistory: FromRow<'r, DB::Row>,
    for<'r> ClaimedRow: FromRow<'r, DB::Row>,
    for<'r> CheckpointRow: FromRow<'r, DB::Row>,
    for<'r> CheckpointHeadRow: FromRow<'r, DB::Row>,
    for<'r> HeadRow: FromRow<'r, DB::Row>,
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
    ) -> Result<Committed<A>, ExecError<A::Error>> {
        let sql = DB::sql();
        let tenant = req.ctx.actor.tenant.as_str();
        let kind = A::KIND.as_str();
        let id = req.aggregate_id;
        let mut tx = self.begin().await?;
        // The aggregate's row first (locked on PostgreSQL: a concurrent writer
        // of the same aggregate waits here and then reads what this one wrote;
        // writers of other aggregates do not wait at all).
        let row: Option<(i64, String, Option<String>)> = query_as(sql.state_for_write.as_str())
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
        let (current, mut head) = match row {
            Some((version, state, head)) => (
                Some((decode_state::<A>(id, &state)?, plan::from_db_version(version))),
                head.unwrap_or_else(|| GENESIS.to_owned()),
            ),
            None => (None, GENESIS.to_owned()),
        };
        let actual = current.as_ref().map_or(0, |c| c.1);
        check_expected(A::KIND, id, req.expected, actual)?;
        for r in A::references(req.command) {
            if !Self::exists_in(&mut tx, tenant, r.kind.aggregate_kinds(), &r.id).await? {
                return Err(StoreError::missing_reference(&r).into());
            }
        }
        let plan = plan::decide::<A>(current, &req.ctx, id, req.command)?;
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
        let mut events = QueryBuilder::<DB>::new(sql::EVENT_WRITE);
        events.push_values(plan.rows.iter().zip(&hashes), |mut b, (row, hash)| {
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
        events.push(" RETURNING position, version");
        let mut written: Vec<(i64, i64)> = events.build_query_as().fetch_all(&mut *tx).await.map_err(taken::<DB>)?;
        written.sort_unstable_by_key(|w| w.1);
        let p = &plan.projection;
        let mut projection = QueryBuilder::<DB>::new(sql::PROJECTION_WRITE);
        projection.push_values([()], |mut b, ()| {
            let s = &p.summary;
            b.push_bind(tenant)
                .push_bind(kind)
                .push_bind(id)
                .push_bind(p.version)
                .push_bind(s.status)
                .push_bind(s.terminal)
                .push_bind(s.service.as_ref().map(|v| v.as_str()))
                .push_bind(s.priority.map(|v| v.as_str()))
                .push_bind(s.assignee.as_ref().map(|v| v.as_str()))
                .push_bind(s.group.as_ref().map(|v| v.as_str()))
                .push_bind(s.window.map(|w| DbTime(w.0)))
                .push_bind(s.window.map(|w| DbTime(w.1)))
                .push_bind(p.state.as_str())
                .push_bind(DbTime(now))
                .push_bind(head.as_str());
        });
        projection.push(sql::PROJECTION_UPSERT);
        projection.push(" RETURNING version");
        let updated: Option<i64> = projection.build_query_scalar().fetch_optional(&mut *tx).await.map_err(DB::error)?;
        if updated.is_none() {
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
        Self::put_outbox(&mut tx, tenant, &plan.outbox, now).await?;
        commit(tx).await?;
        let positions: Vec<i64> = written.into_iter().map(|w| w.0).collect();
        Ok(plan::committed(plan, id, actor, now, &positions))
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
                let mut q = QueryBuilder::<DB>::new(sql::PRELOAD);
                q.push_bind(tenant).push(" AND kind = ").push_bind(A::KIND.as_str()).push(" AND id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")").push(DB::LOCK_ROW);
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
        Self::write_batch(&mut tx, &mut batch, |i| {
            let c = &commands[i];
            (c.actor.tenant.as_str(), c.aggregate_id, c.actor.id.as_str(), c.now)
        })
        .await?;
        commit(tx).await?;
        Ok(batch.report())
    }

    pub(crate) async fn ingest_alerts(
        &self,
        actor: &Actor,
        config: &DomainConfig,
        policy: &GroupingPolicy,
        alerts: &[Alert],
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        let sql = DB::sql();
        let tenant = actor.tenant.as_str();
        let incident_kind = AggregateKind::Incident.as_str();
        let mut tx = self.begin().await?;
        // The tenant's correlator row, created if missing and locked
        // (PostgreSQL): concurrent batches of a tenant serialize on it.
        let empty = serde_json::to_string(&Correlator::new()).map_err(|source| StoreError::Serialize {
            what: "alert correlator",
            id: tenant.to_owned(),
            source,
        })?;
        query(sql.correlator_init)
            .bind(tenant)
            .bind(empty.as_str())
            .bind(DbTime(now))
            .execute(&mut *tx)
            .await
            .map_err(DB::error)?;
        let (state, version, observed): (String, i64, i64) =
            query_as(sql.correlator_get.as_str()).bind(tenant).fetch_one(&mut *tx).await.map_err(DB::error)?;
        let mut run = Run::new(actor, config, policy, now, Some(&state))?;
        // Incident events written by other paths since the last ingestion
        // (none to read for a new correlator: it follows no incident).
        let last: i64 = query_scalar(sql.max_position).bind(tenant).fetch_one(&mut *tx).await.map_err(DB::error)?;
        if version > 0 && observed < last && !run.follows_nothing() {
            let rows: Vec<(String, String, i64)> = query_as(sql.catch_up)
                .bind(tenant)
                .bind(observed)
                .bind(incident_kind)
                .fetch_all(&mut *tx)
                .await
                .map_err(DB::error)?;
            for (id, payload, position) in rows {
                if run.follows(&id) {
                    run.catch_up(&id, &payload, position)?;
                }
            }
        }
        for alert in alerts {
            let decision = run.decide(alert);
            for id in run.unloaded(&decision) {
                let row: Option<(i64, String, Option<String>)> = query_as(sql.state_for_write.as_str())
                    .bind(tenant)
                    .bind(incident_kind)
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(DB::error)?;
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
        let written = Self::write_batch(&mut tx, &mut run.batch, |i| (tenant, ids[i].as_str(), actor_id, now)).await?;
        query(sql.correlator_put)
            .bind(tenant)
            .bind(run.state_json()?)
            .bind(written.unwrap_or(last).max(last))
            .bind(DbTime(now))
            .execute(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await?;
        Ok(run.report)
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
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let sql = DB::sql();
        let (text, who) = match filter {
            QueueFilter::Assignee(a) => (sql.queue_assignee.as_str(), a.as_str()),
            QueueFilter::Group(g) => (sql.queue_group.as_str(), g.as_str()),
        };
        query_as(text).bind(tenant).bind(who).bind(limit).fetch_all(&self.pools.read).await.map_err(DB::error)
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

    pub(crate) async fn set_due(
        &self,
        tenant: &str,
        kind: AggregateKind,
        id: &str,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done: Option<i64> = query_scalar(DB::sql().set_due)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .bind(due.map(DbTime))
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        commit(tx).await?;
        Ok(done.is_some())
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
        query_as(DB::sql().legacy_chain_page.as_str())
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pools.read)
            .await
            .map_err(DB::error)
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
        let root = plan::merkle_root(
            leaves
                .iter()
                .map(|(kind, id, version, hash)| plan::leaf(kind, id, *version, hash.as_deref().unwrap_or(GENESIS)))
                .collect(),
        );
        let taken_at = now.to_rfc3339();
        let aggregates = i64::try_from(leaves.len()).map_err(|_| StoreError::Overflow)?;
        let hash = plan::checkpoint_hash(
            &prev,
            &plan::CheckpointFields { tenant, seq, taken_at: &taken_at, aggregates, events, root: &root },
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
                    payload: serde_json::from_str(&r.payload)
                        .map_err(|e| StoreError::corrupt("outbox payload", r.id, e))?,
                    created_at: r.created_at.0,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                    lease_until: r.lease_until.0,
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

    pub(crate) async fn record_escalation(
        &self,
        tenant: &str,
        escalation_id: &str,
        payload: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done: Option<String> = query_scalar(DB::sql().escalation_put)
            .bind(tenant)
            .bind(escalation_id)
            .bind(payload)
            .bind(DbTime(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(DB::error)?;
        if done.is_none() {
            return Ok(false);
        }
        let row = OutboxRow {
            topic: crate::ESCALATION_TOPIC.to_owned(),
            dedup_key: escalation_id.to_owned(),
            payload: payload.to_owned(),
        };
        Self::put_outbox(&mut tx, tenant, std::slice::from_ref(&row), now).await?;
        commit(tx).await?;
        Ok(true)
    }

    /// Writes a decided batch: events, projections (with their chain heads),
    /// outbox. `who` gives a command's tenant, aggregate id, actor id and
    /// instant by index. Returns the last event position written.
    async fn write_batch<'c, A: Aggregate>(
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
        let projections = batch.dirty_projections()?;
        for chunk in projections.chunks(PROJECTIONS_PER_STATEMENT) {
            let mut q = QueryBuilder::<DB>::new(sql::PROJECTION_WRITE);
            q.push_values(chunk, |mut b, d| {
                let p = &d.values;
                let s = &p.summary;
                b.push_bind(d.tenant)
                    .push_bind(kind)
                    .push_bind(d.id)
                    .push_bind(p.version)
                    .push_bind(s.status)
                    .push_bind(s.terminal)
                    .push_bind(s.service.as_ref().map(|v| v.as_str()))
                    .push_bind(s.priority.map(|v| v.as_str()))
                    .push_bind(s.assignee.as_ref().map(|v| v.as_str()))
                    .push_bind(s.group.as_ref().map(|v| v.as_str()))
                    .push_bind(s.window.map(|w| DbTime(w.0)))
                    .push_bind(s.window.map(|w| DbTime(w.1)))
                    .push_bind(p.state.as_str())
                    .push_bind(DbTime(d.at))
                    .push_bind(d.chain_hash);
            });
            q.push(sql::PROJECTION_UPSERT);
            q.build().execute(&mut *conn).await.map_err(DB::error)?;
        }
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
                .execute(&mut *conn)
                .await
                .map_err(DB::error)?;
        }
        Ok(())
    }
}
