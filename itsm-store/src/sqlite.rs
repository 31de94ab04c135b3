//! The SQLite backend: one file in WAL mode, one writer connection per store
//! (every write transaction `BEGIN IMMEDIATE`), a pool of `query_only` readers.
//!
//! Generated bulk statements (`import_batch`) use anonymous `?` parameters:
//! SQLite resolves a `$N` name by a linear scan per bound value, which makes
//! a 5,000-parameter statement quadratic. Every fixed statement uses `$N`.
//!
//! `synchronous = FULL`: in WAL mode `NORMAL` may lose the last commits on
//! power loss, and the store promises that an acknowledged command survives
//! it. Instants are RFC 3339 UTC text with microseconds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use itsm_core::alert::{Alert, GroupingPolicy};
use itsm_core::incident::Incident;
use itsm_core::{Actor, Aggregate, AggregateKind, DomainConfig, Timestamp};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, query, query_as, query_scalar};

use crate::error::{Backend, Class, ExecError, StoreError, classify, db_error};
use crate::ingest::{IngestReport, Run};
use crate::model::{
    Committed, ConnectOptions, FillClaim, ImportCommand, ImportReport, OnReject, OutboxItem, QueueFilter, Recorded,
    Request, SqliteFile,
};
use crate::plan::{self, ChainFields, GENESIS, IdempotentResult, OutboxRow, check_expected, decode_state, link};
use crate::rows::{RawEvent, RawHistory, RawProjection, parse_time};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

const B: Backend = Backend::Sqlite;

fn err(e: sqlx::Error) -> StoreError {
    db_error(B, e)
}

/// SQL of the SQLite backend.
mod sql {
    pub const MIGRATIONS_TABLE: &str =
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
    pub const SCHEMA_VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
    pub const IDEM_GET: &str =
        "SELECT request_hash, aggregate_kind, aggregate_id, result FROM idempotency WHERE tenant = $1 AND key = $2";
    pub const IDEM_PUT: &str = "INSERT INTO idempotency (tenant, key, request_hash, aggregate_kind, aggregate_id, result, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    pub const STATE_GET: &str =
        "SELECT version, state, updated_at FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const EXISTS: &str = "SELECT 1 FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const STATE_AND_HEAD: &str = "SELECT a.version, a.state, h.position, h.hash FROM (SELECT $1 AS tenant) t \
        LEFT JOIN aggregates a ON a.tenant = t.tenant AND a.kind = $2 AND a.id = $3 \
        LEFT JOIN chain_heads h ON h.tenant = t.tenant";
    pub const HEAD_GET: &str = "SELECT position, hash FROM chain_heads WHERE tenant = $1";
    pub const HEAD_PUT: &str = "INSERT INTO chain_heads (tenant, position, hash) VALUES ($1, $2, $3) \
        ON CONFLICT (tenant) DO UPDATE SET position = excluded.position, hash = excluded.hash";
    pub const EVENT_PUT: &str = "INSERT INTO events (tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING position";
    pub const EVENT_COLUMNS: &str = "INSERT INTO events (tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash) VALUES ";
    pub const PROJECTION_PUT: &str = "INSERT INTO aggregates (tenant, kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, state, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
        ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, status = excluded.status, terminal = excluded.terminal, \
        service = excluded.service, priority = excluded.priority, assignee = excluded.assignee, grp = excluded.grp, \
        window_start = excluded.window_start, window_end = excluded.window_end, state = excluded.state, updated_at = excluded.updated_at \
        WHERE aggregates.version < excluded.version";
    pub const PROJECTION_COLUMNS: &str = "INSERT INTO aggregates (tenant, kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, state, updated_at) VALUES ";
    pub const PROJECTION_UPSERT_TAIL: &str = " ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, status = excluded.status, terminal = excluded.terminal, \
        service = excluded.service, priority = excluded.priority, assignee = excluded.assignee, grp = excluded.grp, \
        window_start = excluded.window_start, window_end = excluded.window_end, state = excluded.state, updated_at = excluded.updated_at";
    pub const OUTBOX_PUT: &str = "INSERT INTO outbox (tenant, topic, dedup_key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
        ON CONFLICT (tenant, topic, dedup_key) DO NOTHING";
    pub const HISTORY: &str = "SELECT position, version, payload, actor, recorded_at FROM events \
        WHERE tenant = $1 AND aggregate_kind = $2 AND aggregate_id = $3 AND version <= $4 ORDER BY version";
    pub const QUEUE_ASSIGNEE: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND terminal = 0 AND assignee = $2 ORDER BY priority IS NULL, priority, updated_at, kind, id LIMIT $3";
    pub const QUEUE_GROUP: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND terminal = 0 AND grp = $2 ORDER BY priority IS NULL, priority, updated_at, kind, id LIMIT $3";
    pub const DUE_BEFORE: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND terminal = 0 AND due_at IS NOT NULL AND due_at < $2 ORDER BY due_at, kind, id LIMIT $3";
    pub const SET_DUE: &str = "UPDATE aggregates SET due_at = $4 WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const CALENDAR: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND service = $2 AND window_start IS NOT NULL AND window_start < $4 AND window_end > $3 \
        ORDER BY window_start, kind, id";
    pub const EVENTS_PAGE: &str = "SELECT position, tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash FROM events \
        WHERE tenant = $1 AND aggregate_kind = $2 AND (aggregate_id, version) > ($3, $4) \
        ORDER BY aggregate_id, version LIMIT $5";
    pub const CHAIN_PAGE: &str = "SELECT position, tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash FROM events \
        WHERE tenant = $1 AND chain_position > $2 ORDER BY chain_position LIMIT $3";
    pub const CLAIM: &str = "UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
        WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $3) ORDER BY id LIMIT $4) \
        RETURNING id, tenant, topic, dedup_key, payload, created_at, attempts, lease_until";
    pub const ACK: &str = "UPDATE outbox SET delivered_at = $3 \
        WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND lease_until > $3";
    pub const CORRELATOR_GET: &str = "SELECT state, observed FROM alert_correlators WHERE tenant = $1";
    pub const CORRELATOR_PUT: &str = "INSERT INTO alert_correlators (tenant, state, version, observed, updated_at) VALUES ($1, $2, 1, $3, $4) \
        ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, version = alert_correlators.version + 1, \
        observed = excluded.observed, updated_at = excluded.updated_at";
    pub const CATCH_UP: &str = "SELECT aggregate_id, payload, chain_position FROM events \
        WHERE tenant = $1 AND chain_position > $2 AND aggregate_kind = $3 ORDER BY chain_position";
    pub const STATE_VERSION_GET: &str =
        "SELECT version, state FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const SCHEMA_OBJECTS: &str =
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name";
    pub const MIGRATION_ROWS: &str = "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";
    pub const HOLDS_RECORDS: &str = "SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM aggregates) \
        OR EXISTS (SELECT 1 FROM chain_heads) OR EXISTS (SELECT 1 FROM idempotency) OR EXISTS (SELECT 1 FROM outbox) \
        OR EXISTS (SELECT 1 FROM executed_escalations) OR EXISTS (SELECT 1 FROM alert_correlators) \
        OR EXISTS (SELECT 1 FROM fill_markers)";
    pub const MARKER_GET: &str = "SELECT started_at, completed_at FROM fill_markers WHERE name = $1";
    pub const MARKER_PUT: &str = "INSERT INTO fill_markers (name, started_at) VALUES ($1, $2)";
    pub const MARKER_COMPLETE: &str =
        "UPDATE fill_markers SET completed_at = $2 WHERE name = $1 AND completed_at IS NULL";
    pub const ESCALATION_PUT: &str = "INSERT INTO executed_escalations (tenant, escalation_id, payload, executed_at) VALUES ($1, $2, $3, $4) \
        ON CONFLICT (tenant, escalation_id) DO NOTHING";
}

type ProjectionTuple = (
    String,
    String,
    i64,
    String,
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// id, tenant, topic, dedup_key, payload, created_at, attempts, lease_until.
type OutboxTuple = (i64, String, String, String, String, String, i64, String);

type EventTuple = (i64, String, String, String, i64, String, String, String, String, i64, String);

fn projection(t: ProjectionTuple) -> Result<RawProjection, StoreError> {
    let time = |text: Option<String>| text.map(|t| parse_time("projection time", &t)).transpose();
    Ok(RawProjection {
        kind: t.0,
        id: t.1,
        version: t.2,
        status: t.3,
        terminal: t.4,
        service: t.5,
        priority: t.6,
        assignee: t.7,
        group: t.8,
        window_start: time(t.9)?,
        window_end: time(t.10)?,
        due_at: time(t.11)?,
        updated_at: parse_time("projection time", &t.12)?,
    })
}

fn event(t: EventTuple) -> Result<RawEvent, StoreError> {
    Ok(RawEvent {
        position: t.0,
        tenant: t.1,
        kind: t.2,
        aggregate_id: t.3,
        version: t.4,
        event_name: t.5,
        payload: t.6,
        actor: t.7,
        recorded_at: parse_time("event time", &t.8)?,
        chain_position: t.9,
        hash: t.10,
    })
}

fn opt_time(at: Option<Timestamp>) -> Option<String> {
    at.map(|t| t.to_rfc3339())
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::validation("url", "in-memory SQLite is not supported, use a file"));
        }
        let parsed = SqliteConnectOptions::from_str(url).map_err(|e| StoreError::validation("url", e.to_string()))?;
        // Read-only, before any pragma or migration: another application's
        // file is refused untouched.
        let path = parsed.get_filename().to_path_buf();
        inspect(&path).await?;
        let base = parsed
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // A larger page cache for the single writer (64 MiB; readers keep the default).
        let writer = base.clone().pragma("cache_size", "-65536");
        let write = plan::retry(|| async {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(writer.clone())
                .await
                .map_err(|e| open_error(&path, e))
        })
        .await?;
        plan::retry(|| migrate(&write)).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(base.pragma("query_only", "ON"));
        Ok(SqliteStore { write, read })
    }

    pub(crate) async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        match self.write.begin_with("BEGIN IMMEDIATE").await {
            // A COMMIT that failed with SQLITE_FULL or an I/O error is rolled
            // back by SQLite itself; sqlx's rollback on drop then fails, it
            // still counts the transaction as open, and refuses every later
            // BEGIN on that connection. Replace the writer connection.
            Err(sqlx::Error::InvalidSavePointStatement) => {
                tracing::warn!("replacing the writer connection left in a failed transaction");
                let conn = self.write.acquire().await.map_err(err)?;
                let _ = conn.close().await;
                self.write.begin_with("BEGIN IMMEDIATE").await.map_err(err)
            }
            other => other.map_err(err),
        }
    }

    pub(crate) async fn holds_records(&self) -> Result<bool, StoreError> {
        query_scalar(sql::HOLDS_RECORDS).fetch_one(&self.read).await.map_err(err)
    }

    pub(crate) async fn claim_fill(&self, name: &str, now: Timestamp) -> Result<FillClaim, StoreError> {
        // BEGIN IMMEDIATE: no other writer until commit, so two claims of an
        // empty store cannot both see it empty.
        let mut tx = self.begin().await?;
        let marker: Option<(String, Option<String>)> =
            query_as(sql::MARKER_GET).bind(name).fetch_optional(&mut *tx).await.map_err(err)?;
        let claim = match marker {
            Some((started, Some(completed))) => FillClaim::Complete {
                started_at: parse_time("fill marker time", &started)?,
                completed_at: parse_time("fill marker time", &completed)?,
            },
            Some((started, None)) => FillClaim::Incomplete { started_at: parse_time("fill marker time", &started)? },
            None if query_scalar::<_, bool>(sql::HOLDS_RECORDS).fetch_one(&mut *tx).await.map_err(err)? => {
                FillClaim::Occupied
            }
            None => {
                query(sql::MARKER_PUT).bind(name).bind(now.to_rfc3339()).execute(&mut *tx).await.map_err(err)?;
                FillClaim::Claimed
            }
        };
        tx.commit().await.map_err(err)?;
        Ok(claim)
    }

    pub(crate) async fn complete_fill(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done =
            query(sql::MARKER_COMPLETE).bind(name).bind(now.to_rfc3339()).execute(&mut *tx).await.map_err(err)?;
        let found = done.rows_affected() == 1
            || query_as::<_, (String, Option<String>)>(sql::MARKER_GET)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?
                .is_some();
        tx.commit().await.map_err(err)?;
        Ok(found)
    }

    pub(crate) async fn execute<A: Aggregate>(
        &self,
        req: &Request<'_, A>,
        request_hash: Option<&str>,
    ) -> Result<Committed<A>, ExecError<A::Error>> {
        let tenant = req.ctx.actor.tenant.as_str();
        let kind = A::KIND.as_str();
        let id = req.aggregate_id;
        let mut tx = self.begin().await?;
        if let (Some(key), Some(hash)) = (req.idempotency_key, request_hash) {
            let row: Option<(String, String, String, String)> =
                query_as(sql::IDEM_GET).bind(tenant).bind(key).fetch_optional(&mut *tx).await.map_err(err)?;
            if let Some((stored, stored_kind, stored_id, result)) = row {
                if stored != hash || stored_kind != kind || stored_id != id {
                    return Err(StoreError::IdempotencyKeyReused { key: key.to_owned() }.into());
                }
                let result: IdempotentResult =
                    serde_json::from_str(&result).map_err(|e| StoreError::corrupt("idempotency result", key, e))?;
                let history = history_in::<A>(&mut tx, tenant, id, plan::to_db_version(result.version)?).await?;
                return Ok(plan::replayed::<A>(id, &result, history)?);
            }
        }
        let (current, (mut chain_position, mut chain_hash)) = state_and_head_in::<A>(&mut tx, tenant, id).await?;
        let actual = current.as_ref().map_or(0, |c| c.1);
        check_expected(req.expected, actual)?;
        for r in A::references(req.command) {
            if !exists_in(&mut tx, tenant, r.kind.aggregate_kinds(), &r.id).await? {
                return Err(StoreError::missing_reference(&r).into());
            }
        }
        let plan = plan::decide::<A>(current, &req.ctx, id, req.command)?;
        let now = req.ctx.now.to_rfc3339();
        let actor = req.ctx.actor.id.as_str();
        let mut positions = Vec::with_capacity(plan.rows.len());
        for row in &plan.rows {
            chain_position += 1;
            let fields = ChainFields {
                tenant,
                kind,
                aggregate_id: id,
                version: row.version,
                event_name: row.name,
                payload: &row.payload,
                actor,
                recorded_at: &now,
                chain_position,
            };
            let hash = link(&chain_hash, &fields);
            let position: i64 = query_scalar(sql::EVENT_PUT)
                .bind(tenant)
                .bind(kind)
                .bind(id)
                .bind(row.version)
                .bind(row.name)
                .bind(&row.payload)
                .bind(actor)
                .bind(&now)
                .bind(chain_position)
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await
                .map_err(event_insert_error)?;
            positions.push(position);
            chain_hash = hash;
        }
        let p = &plan.projection;
        let s = &p.summary;
        let updated = query(sql::PROJECTION_PUT)
            .bind(tenant)
            .bind(kind)
            .bind(id)
            .bind(p.version)
            .bind(s.status)
            .bind(s.terminal)
            .bind(s.service.as_ref().map(|v| v.as_str()))
            .bind(s.priority.map(|v| v.as_str()))
            .bind(s.assignee.as_ref().map(|v| v.as_str()))
            .bind(s.group.as_ref().map(|v| v.as_str()))
            .bind(opt_time(s.window.map(|w| w.0)))
            .bind(opt_time(s.window.map(|w| w.1)))
            .bind(&p.state)
            .bind(&now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict { expected: req.expected, actual }.into());
        }
        query(sql::HEAD_PUT)
            .bind(tenant)
            .bind(chain_position)
            .bind(&chain_hash)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if let (Some(key), Some(hash)) = (req.idempotency_key, request_hash) {
            let result = IdempotentResult { first_version: actual + 1, version: plan::from_db_version(p.version) };
            let result = serde_json::to_string(&result).map_err(|e| StoreError::Aggregate(e.to_string()))?;
            query(sql::IDEM_PUT)
                .bind(tenant)
                .bind(key)
                .bind(hash)
                .bind(kind)
                .bind(id)
                .bind(result)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        put_outbox(&mut tx, tenant, &plan.outbox, &now).await?;
        tx.commit().await.map_err(err)?;
        Ok(plan::committed(plan, id, actor, req.ctx.now, &positions))
    }

    pub(crate) async fn import_batch<A: Aggregate>(
        &self,
        config: &DomainConfig,
        commands: &[ImportCommand<'_, A>],
        on_reject: OnReject,
    ) -> Result<ImportReport<A::Error>, ExecError<A::Error>> {
        let mut tx = self.begin().await?;
        let conn: &mut SqliteConnection = &mut tx;
        let mut batch = plan::Batch::<A>::default();
        // Preload the current state of every aggregate the batch touches.
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in commands {
            wanted.entry(c.actor.tenant.as_str()).or_default().push(c.aggregate_id);
        }
        for (tenant, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(500) {
                let text = format!(
                    "SELECT id, version, state FROM aggregates WHERE tenant = ? AND kind = ? AND id IN ({})",
                    plan::anonymous(chunk.len())
                );
                let mut q =
                    query_as::<_, (String, i64, String)>(AssertSqlSafe(text)).bind(tenant).bind(A::KIND.as_str());
                for id in chunk {
                    q = q.bind(*id);
                }
                for (id, version, state) in q.fetch_all(&mut *conn).await.map_err(err)? {
                    let state = decode_state::<A>(&id, &state)?;
                    batch.preload(tenant, id, state, plan::from_db_version(version));
                }
            }
            let (position, hash) = head_in(conn, tenant).await?;
            batch.chain_head(tenant, position, hash);
        }
        // Decide every command in order.
        for (index, c) in commands.iter().enumerate() {
            let tenant = c.actor.tenant.as_str();
            let mut missing = None;
            for r in A::references(&c.command) {
                if !batch.exists(tenant, r.kind.aggregate_kinds(), &r.id) {
                    if exists_in(conn, tenant, r.kind.aggregate_kinds(), &r.id).await? {
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
        write_batch(conn, &mut batch, |i| {
            let c = &commands[i];
            (c.actor.tenant.as_str(), c.aggregate_id, c.actor.id.as_str())
        })
        .await?;
        tx.commit().await.map_err(err)?;
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
        let tenant = actor.tenant.as_str();
        let incident_kind = AggregateKind::Incident.as_str();
        // BEGIN IMMEDIATE: the tenant's correlator (and everything else) is
        // ours until commit.
        let mut tx = self.begin().await?;
        let conn: &mut SqliteConnection = &mut tx;
        let row: Option<(String, i64)> =
            query_as(sql::CORRELATOR_GET).bind(tenant).fetch_optional(&mut *conn).await.map_err(err)?;
        let mut run = Run::new(actor, config, policy, now, row.as_ref().map(|r| r.0.as_str()))?;
        let (head, hash) = head_in(conn, tenant).await?;
        run.batch.chain_head(tenant, head, hash);
        // Incident events written by other paths since the last ingestion.
        let observed = row.map_or(head, |r| r.1);
        if observed < head && !run.follows_nothing() {
            let rows: Vec<(String, String, i64)> = query_as(sql::CATCH_UP)
                .bind(tenant)
                .bind(observed)
                .bind(incident_kind)
                .fetch_all(&mut *conn)
                .await
                .map_err(err)?;
            for (id, payload, position) in rows {
                if run.follows(&id) {
                    run.catch_up(&id, &payload, position)?;
                }
            }
        }
        for alert in alerts {
            let decision = run.decide(alert);
            for id in run.unloaded(&decision) {
                let stored: Option<(i64, String)> = query_as(sql::STATE_VERSION_GET)
                    .bind(tenant)
                    .bind(incident_kind)
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(err)?;
                let stored = match stored {
                    Some((version, state)) => {
                        Some((decode_state::<Incident>(&id, &state)?, plan::from_db_version(version)))
                    }
                    None => None,
                };
                run.preload(id, stored);
            }
            run.run(alert, &decision)?;
        }
        let ids = std::mem::take(&mut run.ids);
        let actor_id = actor.id.as_str();
        write_batch(conn, &mut run.batch, |i| (tenant, ids[i].as_str(), actor_id)).await?;
        let head = run.batch.heads.get(tenant).map_or(head, |h| h.0);
        query(sql::CORRELATOR_PUT)
            .bind(tenant)
            .bind(run.state_json()?)
            .bind(head)
            .bind(now.to_rfc3339())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(run.report)
    }

    pub(crate) async fn load<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(A, u64, Timestamp)>, StoreError> {
        let row: Option<(i64, String, String)> = query_as(sql::STATE_GET)
            .bind(tenant)
            .bind(A::KIND.as_str())
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        let Some((version, state, updated_at)) = row else { return Ok(None) };
        Ok(Some((
            decode_state::<A>(id, &state)?,
            plan::from_db_version(version),
            parse_time("updated_at", &updated_at)?,
        )))
    }

    pub(crate) async fn history<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<Recorded<A::Event>>, StoreError> {
        let mut conn = self.read.acquire().await.map_err(err)?;
        history_in::<A>(&mut conn, tenant, id, i64::MAX).await
    }

    pub(crate) async fn queue(
        &self,
        tenant: &str,
        filter: &QueueFilter,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let (text, who) = match filter {
            QueueFilter::Assignee(a) => (sql::QUEUE_ASSIGNEE, a.as_str()),
            QueueFilter::Group(g) => (sql::QUEUE_GROUP, g.as_str()),
        };
        let rows: Vec<ProjectionTuple> =
            query_as(text).bind(tenant).bind(who).bind(limit).fetch_all(&self.read).await.map_err(err)?;
        rows.into_iter().map(projection).collect()
    }

    pub(crate) async fn due_before(
        &self,
        tenant: &str,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let rows: Vec<ProjectionTuple> = query_as(sql::DUE_BEFORE)
            .bind(tenant)
            .bind(before.to_rfc3339())
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        rows.into_iter().map(projection).collect()
    }

    pub(crate) async fn set_due(
        &self,
        tenant: &str,
        kind: AggregateKind,
        id: &str,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = query(sql::SET_DUE)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .bind(opt_time(due))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn change_calendar(
        &self,
        tenant: &str,
        service: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let rows: Vec<ProjectionTuple> = query_as(sql::CALENDAR)
            .bind(tenant)
            .bind(service)
            .bind(from.to_rfc3339())
            .bind(to.to_rfc3339())
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        rows.into_iter().map(projection).collect()
    }

    pub(crate) async fn events_page(
        &self,
        tenant: &str,
        kind: AggregateKind,
        after: (&str, i64),
        limit: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let rows: Vec<EventTuple> = query_as(sql::EVENTS_PAGE)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(after.0)
            .bind(after.1)
            .bind(limit)
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        rows.into_iter().map(event).collect()
    }

    pub(crate) async fn chain_page(&self, tenant: &str, after: i64, limit: i64) -> Result<Vec<RawEvent>, StoreError> {
        let rows: Vec<EventTuple> =
            query_as(sql::CHAIN_PAGE).bind(tenant).bind(after).bind(limit).fetch_all(&self.read).await.map_err(err)?;
        rows.into_iter().map(event).collect()
    }

    pub(crate) async fn chain_head(&self, tenant: &str) -> Result<Option<(i64, String)>, StoreError> {
        query_as(sql::HEAD_GET).bind(tenant).fetch_optional(&self.read).await.map_err(err)
    }

    pub(crate) async fn claim(
        &self,
        consumer: &str,
        lease_until: Timestamp,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.begin().await?;
        let rows: Vec<OutboxTuple> = query_as(sql::CLAIM)
            .bind(consumer)
            .bind(lease_until.to_rfc3339())
            .bind(now.to_rfc3339())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut items = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.0,
                    tenant: r.1,
                    topic: r.2,
                    dedup_key: r.3,
                    payload: serde_json::from_str(&r.4).map_err(|e| StoreError::corrupt("outbox payload", r.0, e))?,
                    created_at: parse_time("outbox time", &r.5)?,
                    attempts: u32::try_from(r.6).unwrap_or(u32::MAX),
                    lease_until: parse_time("outbox time", &r.7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn ack(&self, id: i64, consumer: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done =
            query(sql::ACK).bind(id).bind(consumer).bind(now.to_rfc3339()).execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn record_escalation(
        &self,
        tenant: &str,
        escalation_id: &str,
        payload: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let at = now.to_rfc3339();
        let done = query(sql::ESCALATION_PUT)
            .bind(tenant)
            .bind(escalation_id)
            .bind(payload)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let row = OutboxRow {
            topic: crate::ESCALATION_TOPIC.to_owned(),
            dedup_key: escalation_id.to_owned(),
            payload: payload.to_owned(),
        };
        put_outbox(&mut tx, tenant, std::slice::from_ref(&row), &at).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }
}

/// Writes a decided batch: events, projections, chain heads, outbox. `who`
/// gives a command's tenant, aggregate id and actor id by index.
async fn write_batch<'c, A: Aggregate>(
    conn: &mut SqliteConnection,
    batch: &mut plan::Batch<A>,
    who: impl Fn(usize) -> (&'c str, &'c str, &'c str),
) -> Result<(), StoreError> {
    let mut events = batch.take_events().into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(500).collect();
        let text = format!("{}{}", sql::EVENT_COLUMNS, plan::anonymous_rows(10, chunk.len()));
        let mut q = query(AssertSqlSafe(text));
        for e in chunk {
            let (tenant, id, actor) = who(e.command);
            q = q
                .bind(tenant)
                .bind(A::KIND.as_str())
                .bind(id)
                .bind(e.version)
                .bind(e.name)
                .bind(e.payload)
                .bind(actor)
                .bind(e.recorded_at)
                .bind(e.chain_position)
                .bind(e.hash);
        }
        q.execute(&mut *conn).await.map_err(event_insert_error)?;
    }
    let mut projections = batch.dirty_projections()?;
    for chunk in projections.chunks_mut(200) {
        let text = format!(
            "{}{}{}",
            sql::PROJECTION_COLUMNS,
            plan::anonymous_rows(14, chunk.len()),
            sql::PROJECTION_UPSERT_TAIL
        );
        let mut q = query(AssertSqlSafe(text));
        for (tenant, id, p, updated_at) in chunk {
            let s = &p.summary;
            q = q
                .bind(*tenant)
                .bind(A::KIND.as_str())
                .bind(*id)
                .bind(p.version)
                .bind(s.status)
                .bind(s.terminal)
                .bind(s.service.as_ref().map(|v| v.as_str()))
                .bind(s.priority.map(|v| v.as_str()))
                .bind(s.assignee.as_ref().map(|v| v.as_str()))
                .bind(s.group.as_ref().map(|v| v.as_str()))
                .bind(opt_time(s.window.map(|w| w.0)))
                .bind(opt_time(s.window.map(|w| w.1)))
                .bind(std::mem::take(&mut p.state))
                .bind(updated_at.to_rfc3339());
        }
        q.execute(&mut *conn).await.map_err(err)?;
    }
    for (tenant, (position, hash)) in &batch.heads {
        query(sql::HEAD_PUT).bind(tenant).bind(*position).bind(hash).execute(&mut *conn).await.map_err(err)?;
    }
    for (tenant, rows, at) in &batch.outbox {
        put_outbox(conn, tenant, rows, &at.to_rfc3339()).await?;
    }
    Ok(())
}

/// A unique violation while inserting events means another writer took the
/// version (or chain position) first: report it as transient so the whole
/// command re-runs, re-reads, and ends in a typed `Conflict` (or succeeds
/// under `ExpectedVersion::Any`).
fn event_insert_error(e: sqlx::Error) -> StoreError {
    match classify(B, &e) {
        (Class::Unique, code) => StoreError::Transient { code: code.unwrap_or_default(), source: e },
        _ => err(e),
    }
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What is at `path`, read-only: nothing is created, no pragma is set, no
/// side file is written for a database in rollback-journal mode.
pub(crate) async fn inspect(path: &Path) -> Result<SqliteFile, StoreError> {
    let cannot = |reason: String| StoreError::CannotOpen { path: path.to_path_buf(), reason };
    let foreign = |reason: String| StoreError::ForeignDatabase { path: path.to_path_buf(), reason };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            return match std::fs::metadata(parent) {
                Ok(m) if m.is_dir() => Ok(SqliteFile::Missing),
                Ok(_) => Err(cannot(format!("{} is not a directory", parent.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(cannot(format!("directory {} does not exist", parent.display())))
                }
                Err(e) => Err(cannot(io_reason(&e))),
            };
        }
        Err(e) => return Err(cannot(io_reason(&e))),
    };
    if meta.is_dir() {
        return Err(foreign("it is a directory".to_owned()));
    }
    if !meta.is_file() {
        return Err(foreign("it is not a regular file (a device, a pipe or a socket)".to_owned()));
    }
    let mut header = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut header))
        .map_err(|e| cannot(format!("cannot read it: {}", io_reason(&e))))?;
    if !header.is_empty() && header.as_slice() != SQLITE_MAGIC {
        return Err(foreign("it is not a SQLite database (no SQLite header)".to_owned()));
    }
    // Opening for writing neither truncates nor changes the file.
    if let Err(e) = std::fs::OpenOptions::new().write(true).open(path) {
        return Err(cannot(match e.kind() {
            std::io::ErrorKind::ReadOnlyFilesystem => "read-only: the file system is mounted read-only".to_owned(),
            std::io::ErrorKind::PermissionDenied => "read-only: permission denied for writing".to_owned(),
            _ => io_reason(&e),
        }));
    }
    if header.is_empty() {
        return Ok(SqliteFile::Empty);
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
    let unreadable = |e: sqlx::Error| match classify(B, &e) {
        (_, Some(code)) if code == "26" || code == "11" => {
            foreign(format!("it is not a readable SQLite database: {e}"))
        }
        _ => cannot(e.to_string()),
    };
    let mut conn = SqliteConnection::connect_with(&options).await.map_err(unreadable)?;
    let found = classify_schema(&mut conn).await.map_err(unreadable);
    let _ = conn.close().await;
    match found? {
        Schema::Empty => Ok(SqliteFile::Empty),
        Schema::Ours(version) => Ok(SqliteFile::Ours { version }),
        Schema::Foreign(reason) => Err(foreign(reason)),
    }
}

enum Schema {
    Empty,
    Ours(i64),
    Foreign(String),
}

async fn classify_schema(conn: &mut SqliteConnection) -> Result<Schema, sqlx::Error> {
    let objects: Vec<(String, String)> = query_as(sql::SCHEMA_OBJECTS).fetch_all(&mut *conn).await?;
    let has_migrations = objects.iter().any(|(kind, name)| kind == "table" && name == "_sqlx_migrations");
    if !has_migrations {
        if objects.is_empty() {
            return Ok(Schema::Empty);
        }
        let names: Vec<&str> = objects.iter().take(5).map(|(_, name)| name.as_str()).collect();
        let more = if objects.len() > 5 { ", ..." } else { "" };
        return Ok(Schema::Foreign(format!("it holds another application's schema: {}{more}", names.join(", "))));
    }
    let rows: Vec<(i64, Vec<u8>)> = query_as(sql::MIGRATION_ROWS).fetch_all(&mut *conn).await?;
    if rows.is_empty() {
        // The migrations table is created before the first migration runs:
        // an interrupted first open leaves it alone and empty.
        return Ok(if objects.len() == 1 {
            Schema::Empty
        } else {
            Schema::Foreign("it has an empty _sqlx_migrations table beside other tables".to_owned())
        });
    }
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    for (version, checksum) in &rows {
        if *version > supported {
            continue;
        }
        match MIGRATOR.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum.as_ref() == checksum.as_slice() => {}
            _ => {
                return Ok(Schema::Foreign(format!(
                    "its migration {version} is not this library's (another application's _sqlx_migrations)"
                )));
            }
        }
    }
    if !rows.iter().any(|(v, _)| *v == 1) {
        return Ok(Schema::Foreign("its _sqlx_migrations has no migration 1 of this library".to_owned()));
    }
    Ok(Schema::Ours(rows.iter().map(|(v, _)| *v).max().unwrap_or(0)))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_owned(),
        std::io::ErrorKind::NotADirectory => "a component of the path is not a directory".to_owned(),
        _ => e.to_string(),
    }
}

/// A failure to open the writer connection, in the user's terms.
fn open_error(path: &Path, e: sqlx::Error) -> StoreError {
    let code = classify(B, &e).1.and_then(|c| c.parse::<i32>().ok());
    let cannot = |reason: String| StoreError::CannotOpen { path: path.to_path_buf(), reason };
    match code.map(|c| c & 0xff) {
        // SQLITE_CANTOPEN: for a new file, the directory refused its creation.
        Some(14) => cannot(format!("cannot create or open the file ({e}): permission denied or read-only directory")),
        // SQLITE_READONLY.
        Some(8) => cannot(format!("read-only ({e})")),
        // SQLITE_PERM, SQLITE_AUTH.
        Some(3 | 23) => cannot(format!("permission denied ({e})")),
        // SQLITE_NOTADB, SQLITE_CORRUPT.
        Some(26 | 11) => StoreError::ForeignDatabase { path: path.to_path_buf(), reason: e.to_string() },
        _ => err(e),
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied_version(pool).await?
        && found > supported
    {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    // SQLite has no migration lock: a process opening a new file together
    // with this one may apply a migration between our reading the applied
    // list and applying it (`table events already exists`). While the
    // applied version moves, the other process is migrating: re-read and go on.
    let mut seen = applied_version(pool).await?;
    for attempt in 1u32.. {
        match MIGRATOR.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                let now = applied_version(pool).await?;
                if now == Some(supported) {
                    return Ok(());
                }
                if now != seen && attempt < 50 {
                    seen = now;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                return Err(match e {
                    MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => err(e),
                    other => StoreError::Migration(other),
                });
            }
        }
    }
    Ok(())
}

/// The newest applied migration, if the migrations table exists.
async fn applied_version(pool: &SqlitePool) -> Result<Option<i64>, StoreError> {
    let exists: i64 = query_scalar(sql::MIGRATIONS_TABLE).fetch_one(pool).await.map_err(err)?;
    if exists == 0 {
        return Ok(None);
    }
    query_scalar(sql::SCHEMA_VERSION).fetch_one(pool).await.map_err(err)
}

/// The aggregate's state and version, and the tenant's chain head, in one query.
async fn state_and_head_in<A: Aggregate>(
    conn: &mut SqliteConnection,
    tenant: &str,
    id: &str,
) -> Result<(Option<(A, u64)>, (i64, String)), StoreError> {
    let (version, state, position, hash): (Option<i64>, Option<String>, Option<i64>, Option<String>) =
        query_as(sql::STATE_AND_HEAD)
            .bind(tenant)
            .bind(A::KIND.as_str())
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
    let current = match (version, state) {
        (Some(version), Some(state)) => Some((decode_state::<A>(id, &state)?, plan::from_db_version(version))),
        _ => None,
    };
    let head = match (position, hash) {
        (Some(position), Some(hash)) => (position, hash),
        _ => (0, GENESIS.to_owned()),
    };
    Ok((current, head))
}

async fn exists_in(
    conn: &mut SqliteConnection,
    tenant: &str,
    kinds: &[AggregateKind],
    id: &str,
) -> Result<bool, StoreError> {
    if id.contains('\0') {
        return Ok(false);
    }
    for kind in kinds {
        let found: Option<i64> = query_scalar(sql::EXISTS)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)?;
        if found.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn head_in(conn: &mut SqliteConnection, tenant: &str) -> Result<(i64, String), StoreError> {
    let head: Option<(i64, String)> =
        query_as(sql::HEAD_GET).bind(tenant).fetch_optional(&mut *conn).await.map_err(err)?;
    Ok(head.unwrap_or_else(|| (0, GENESIS.to_owned())))
}

async fn history_in<A: Aggregate>(
    conn: &mut SqliteConnection,
    tenant: &str,
    id: &str,
    up_to: i64,
) -> Result<Vec<Recorded<A::Event>>, StoreError> {
    let rows: Vec<(i64, i64, String, String, String)> = query_as(sql::HISTORY)
        .bind(tenant)
        .bind(A::KIND.as_str())
        .bind(id)
        .bind(up_to)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    rows.into_iter()
        .map(|(position, version, payload, actor, at)| {
            RawHistory { position, version, payload, actor, recorded_at: parse_time("event time", &at)? }.decode::<A>()
        })
        .collect()
}

async fn put_outbox(
    conn: &mut SqliteConnection,
    tenant: &str,
    rows: &[OutboxRow],
    now: &str,
) -> Result<(), StoreError> {
    for row in rows {
        query(sql::OUTBOX_PUT)
            .bind(tenant)
            .bind(&row.topic)
            .bind(&row.dedup_key)
            .bind(&row.payload)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    Ok(())
}
