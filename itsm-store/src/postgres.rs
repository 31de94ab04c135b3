//! The PostgreSQL backend: one pool, `READ COMMITTED`, and a per-tenant lock
//! on the tenant's chain head row (`SELECT ... FOR UPDATE`) taken first by
//! every command, which serializes a tenant's appends (the audit chain needs
//! it) and makes the version check race-free. Outbox claims use
//! `FOR UPDATE SKIP LOCKED`. Instants are `TIMESTAMPTZ`. Connections set
//! `lock_timeout = 5s`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use itsm_core::alert::{Alert, Correlator, GroupingPolicy};
use itsm_core::incident::Incident;
use itsm_core::{Actor, Aggregate, AggregateKind, DomainConfig, Timestamp};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, query, query_as, query_scalar};

use crate::error::{Backend, Class, ExecError, StoreError, classify, db_error};
use crate::ingest::{IngestReport, Run};
use crate::model::{
    Committed, ConnectOptions, FillClaim, ImportCommand, ImportReport, OnReject, OutboxItem, QueueFilter, Recorded,
    Request,
};
use crate::plan::{self, ChainFields, GENESIS, IdempotentResult, OutboxRow, check_expected, decode_state, link};
use crate::rows::{RawEvent, RawHistory, RawProjection};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

const B: Backend = Backend::Postgres;

fn err(e: sqlx::Error) -> StoreError {
    db_error(B, e)
}

/// SQL of the PostgreSQL backend.
mod sql {
    pub const MIGRATIONS_TABLE: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
    pub const SCHEMA_VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";
    pub const IDEM_GET: &str =
        "SELECT request_hash, aggregate_kind, aggregate_id, result FROM idempotency WHERE tenant = $1 AND key = $2";
    pub const IDEM_PUT: &str = "INSERT INTO idempotency (tenant, key, request_hash, aggregate_kind, aggregate_id, result, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    pub const STATE_GET: &str =
        "SELECT version, state, updated_at FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const EXISTS: &str = "SELECT 1 FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const HEAD_GET: &str = "SELECT position, hash FROM chain_heads WHERE tenant = $1";
    pub const HEAD_LOCK: &str = "SELECT position, hash FROM chain_heads WHERE tenant = $1 FOR UPDATE";
    pub const HEAD_INIT: &str =
        "INSERT INTO chain_heads (tenant, position, hash) VALUES ($1, 0, $2) ON CONFLICT (tenant) DO NOTHING";
    pub const HEAD_PUT: &str = "UPDATE chain_heads SET position = $2, hash = $3 WHERE tenant = $1";
    pub const EVENT_COLUMNS: &str = "INSERT INTO events (tenant, aggregate_kind, aggregate_id, version, event_name, payload, actor, recorded_at, chain_position, hash) VALUES ";
    pub const WRITE_PROJECTION: &str = "pr AS (INSERT INTO aggregates (tenant, kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, state, updated_at) VALUES ";
    pub const WRITE_PROJECTION_TAIL: &str = " ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, status = excluded.status, terminal = excluded.terminal, \
        service = excluded.service, priority = excluded.priority, assignee = excluded.assignee, grp = excluded.grp, \
        window_start = excluded.window_start, window_end = excluded.window_end, state = excluded.state, updated_at = excluded.updated_at \
        WHERE aggregates.version < excluded.version RETURNING 1)";
    pub const PROJECTION_COLUMNS: &str = "INSERT INTO aggregates (tenant, kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, state, updated_at) VALUES ";
    pub const PROJECTION_UPSERT_TAIL: &str = " ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, status = excluded.status, terminal = excluded.terminal, \
        service = excluded.service, priority = excluded.priority, assignee = excluded.assignee, grp = excluded.grp, \
        window_start = excluded.window_start, window_end = excluded.window_end, state = excluded.state, updated_at = excluded.updated_at";
    pub const OUTBOX_PUT: &str = "INSERT INTO outbox (tenant, topic, dedup_key, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
        ON CONFLICT (tenant, topic, dedup_key) DO NOTHING";
    pub const HISTORY: &str = "SELECT position, version, payload, actor, recorded_at FROM events \
        WHERE tenant = $1 AND aggregate_kind = $2 AND aggregate_id = $3 AND version <= $4 ORDER BY version";
    pub const QUEUE_ASSIGNEE: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND NOT terminal AND assignee = $2 ORDER BY priority IS NULL, priority, updated_at, kind, id LIMIT $3";
    pub const QUEUE_GROUP: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND NOT terminal AND grp = $2 ORDER BY priority IS NULL, priority, updated_at, kind, id LIMIT $3";
    pub const DUE_BEFORE: &str = "SELECT kind, id, version, status, terminal, service, priority, assignee, grp, window_start, window_end, due_at, updated_at FROM aggregates \
        WHERE tenant = $1 AND NOT terminal AND due_at IS NOT NULL AND due_at < $2 ORDER BY due_at, kind, id LIMIT $3";
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
        WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND (lease_until IS NULL OR lease_until <= $3) \
        ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
        RETURNING id, tenant, topic, dedup_key, payload, created_at, attempts, lease_until";
    pub const ACK: &str = "UPDATE outbox SET delivered_at = $3 \
        WHERE id = $1 AND lease_owner = $2 AND delivered_at IS NULL AND lease_until > $3";
    pub const CORRELATOR_INIT: &str = "INSERT INTO alert_correlators (tenant, state, version, observed, updated_at) \
        VALUES ($1, $2, 0, 0, $3) ON CONFLICT (tenant) DO NOTHING";
    pub const CORRELATOR_LOCK: &str =
        "SELECT state, version, observed FROM alert_correlators WHERE tenant = $1 FOR UPDATE";
    pub const CORRELATOR_PUT: &str = "UPDATE alert_correlators SET state = $2, version = version + 1, observed = $3, updated_at = $4 WHERE tenant = $1";
    pub const CATCH_UP: &str = "SELECT aggregate_id, payload, chain_position FROM events \
        WHERE tenant = $1 AND chain_position > $2 AND aggregate_kind = $3 ORDER BY chain_position";
    pub const STATE_VERSION_GET: &str =
        "SELECT version, state FROM aggregates WHERE tenant = $1 AND kind = $2 AND id = $3";
    pub const HOLDS_RECORDS: &str = "SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM aggregates) \
        OR EXISTS (SELECT 1 FROM chain_heads) OR EXISTS (SELECT 1 FROM idempotency) OR EXISTS (SELECT 1 FROM outbox) \
        OR EXISTS (SELECT 1 FROM executed_escalations) OR EXISTS (SELECT 1 FROM alert_correlators) \
        OR EXISTS (SELECT 1 FROM fill_markers)";
    /// Self-conflicting: two claims serialize; plain reads are not blocked.
    pub const MARKER_LOCK: &str = "LOCK TABLE fill_markers IN SHARE ROW EXCLUSIVE MODE";
    pub const MARKER_GET: &str = "SELECT started_at, completed_at FROM fill_markers WHERE name = $1";
    pub const MARKER_PUT: &str = "INSERT INTO fill_markers (name, started_at) VALUES ($1, $2)";
    pub const MARKER_COMPLETE: &str =
        "UPDATE fill_markers SET completed_at = $2 WHERE name = $1 AND completed_at IS NULL";
    pub const ESCALATION_PUT: &str = "INSERT INTO executed_escalations (tenant, escalation_id, payload, executed_at) VALUES ($1, $2, $3, $4) \
        ON CONFLICT (tenant, escalation_id) DO NOTHING";
}

type Utc64 = DateTime<Utc>;

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
    Option<Utc64>,
    Option<Utc64>,
    Option<Utc64>,
    Utc64,
);

/// id, tenant, topic, dedup_key, payload, created_at, attempts, lease_until.
type OutboxTuple = (i64, String, String, String, String, Utc64, i32, Utc64);

type EventTuple = (i64, String, String, String, i64, String, String, String, Utc64, i64, String);

fn projection(t: ProjectionTuple) -> RawProjection {
    RawProjection {
        kind: t.0,
        id: t.1,
        version: t.2,
        status: t.3,
        terminal: t.4,
        service: t.5,
        priority: t.6,
        assignee: t.7,
        group: t.8,
        window_start: t.9.map(Timestamp::from_utc),
        window_end: t.10.map(Timestamp::from_utc),
        due_at: t.11.map(Timestamp::from_utc),
        updated_at: Timestamp::from_utc(t.12),
    }
}

fn event(t: EventTuple) -> RawEvent {
    RawEvent {
        position: t.0,
        tenant: t.1,
        kind: t.2,
        aggregate_id: t.3,
        version: t.4,
        event_name: t.5,
        payload: t.6,
        actor: t.7,
        recorded_at: Timestamp::from_utc(t.8),
        chain_position: t.9,
        hash: t.10,
    }
}

fn opt_time(at: Option<Timestamp>) -> Option<Utc64> {
    at.map(|t| t.as_utc())
}

/// Commits; a connection lost during `COMMIT` leaves the outcome unknown
/// ([`StoreError::OutcomeUnknown`], which only idempotent callers retry).
async fn commit(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| match classify(B, &e).0 {
        Class::Connection => StoreError::OutcomeUnknown { source: e },
        _ => err(e),
    })
}

/// The PostgreSQL store.
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// The URL without its password, for messages and `Debug`.
    target: String,
}

/// Shows the redacted URL only: the pool's connect options hold the password.
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("target", &self.target).finish_non_exhaustive()
    }
}

/// A failed first connection, in the user's terms, without credentials.
fn connect_error(target: &str, options: &PgConnectOptions, e: sqlx::Error) -> StoreError {
    let unreachable = |reason: String| StoreError::Unreachable { target: target.to_owned(), reason };
    let refused = |reason: String| StoreError::Refused { target: target.to_owned(), reason };
    let at = format!("{}:{}", options.get_host(), options.get_port());
    match &e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                unreachable(format!("connection refused: nothing accepts connections at {at}"))
            }
            std::io::ErrorKind::TimedOut => unreachable(format!("no answer from {at}")),
            _ => unreachable(format!("cannot connect to {at}: {io}")),
        },
        sqlx::Error::Tls(tls) => refused(format!("TLS failed: {tls}")),
        sqlx::Error::Database(db) => {
            let reason = match db.code().as_deref() {
                Some("28P01" | "28000") => format!("authentication failed for user {}", options.get_username()),
                Some("3D000") => format!("database {} does not exist", options.get_database().unwrap_or("?")),
                Some("53300") => "too many connections".to_owned(),
                Some("57P03") => "the server is starting up or shutting down".to_owned(),
                _ => db.message().to_owned(),
            };
            refused(reason)
        }
        sqlx::Error::Protocol(p) => refused(format!("protocol error: {p}")),
        _ => unreachable(e.to_string()),
    }
}

impl PgStore {
    pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> Result<Self, StoreError> {
        let options: PgConnectOptions =
            url.parse().map_err(|e: sqlx::Error| StoreError::validation("url", e.to_string()))?;
        // Like SQLite's busy timeout: a lock held elsewhere for more than 5 s
        // fails the attempt (55P03, retried) instead of hanging.
        let options = options.options([("lock_timeout", "5s")]);
        let target = crate::redact_url(url);
        // One connection first, bounded by the connect timeout: a closed port
        // or a wrong password is reported at once, in the user's terms,
        // instead of as a pool timeout after the acquire timeout.
        match tokio::time::timeout(opts.connect_timeout, <PgConnection as sqlx::Connection>::connect_with(&options))
            .await
        {
            Err(_) => {
                return Err(StoreError::Unreachable {
                    target,
                    reason: format!("no answer within {:?}", opts.connect_timeout),
                });
            }
            Ok(Err(e)) => return Err(connect_error(&target, &options, e)),
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(options);
        plan::retry(|| migrate(&pool)).await?;
        Ok(PgStore { pool, target })
    }

    pub(crate) async fn holds_records(&self) -> Result<bool, StoreError> {
        query_scalar(sql::HOLDS_RECORDS).fetch_one(&self.pool).await.map_err(err)
    }

    pub(crate) async fn claim_fill(&self, name: &str, now: Timestamp) -> Result<FillClaim, StoreError> {
        let mut tx = self.begin().await?;
        query(sql::MARKER_LOCK).execute(&mut *tx).await.map_err(err)?;
        let marker: Option<(Utc64, Option<Utc64>)> =
            query_as(sql::MARKER_GET).bind(name).fetch_optional(&mut *tx).await.map_err(err)?;
        let claim = match marker {
            Some((started, Some(completed))) => FillClaim::Complete {
                started_at: Timestamp::from_utc(started),
                completed_at: Timestamp::from_utc(completed),
            },
            Some((started, None)) => FillClaim::Incomplete { started_at: Timestamp::from_utc(started) },
            None if query_scalar::<_, bool>(sql::HOLDS_RECORDS).fetch_one(&mut *tx).await.map_err(err)? => {
                FillClaim::Occupied
            }
            None => {
                query(sql::MARKER_PUT).bind(name).bind(now.as_utc()).execute(&mut *tx).await.map_err(err)?;
                FillClaim::Claimed
            }
        };
        commit(tx).await?;
        Ok(claim)
    }

    pub(crate) async fn complete_fill(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = query(sql::MARKER_COMPLETE).bind(name).bind(now.as_utc()).execute(&mut *tx).await.map_err(err)?;
        let found = done.rows_affected() == 1
            || query_as::<_, (Utc64, Option<Utc64>)>(sql::MARKER_GET)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?
                .is_some();
        commit(tx).await?;
        Ok(found)
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.map_err(err)
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
        // Lock first, then read: under READ COMMITTED a statement that waits
        // for the lock would read the aggregate from its earlier snapshot.
        let (mut chain_position, mut chain_hash) = lock_head(&mut tx, tenant).await?;
        let current = state_in::<A>(&mut tx, tenant, id).await?;
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
        let actual = current.as_ref().map_or(0, |c| c.1);
        check_expected(req.expected, actual)?;
        for r in A::references(req.command) {
            if !exists_in(&mut tx, tenant, r.kind.aggregate_kinds(), &r.id).await? {
                return Err(StoreError::missing_reference(&r).into());
            }
        }
        let plan = plan::decide::<A>(current, &req.ctx, id, req.command)?;
        let now = req.ctx.now;
        let now_text = now.to_rfc3339();
        let actor = req.ctx.actor.id.as_str();
        // One statement appends the events, upserts the projection and moves
        // the chain head (fewer round trips than three statements).
        let mut links = Vec::with_capacity(plan.rows.len());
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
                recorded_at: &now_text,
                chain_position,
            };
            chain_hash = link(&chain_hash, &fields);
            links.push((chain_position, chain_hash.clone()));
        }
        let mut q = query_as::<_, (i64, i64)>(AssertSqlSafe(write_statement(plan.rows.len())));
        for (row, (position, hash)) in plan.rows.iter().zip(links) {
            q = q
                .bind(tenant)
                .bind(kind)
                .bind(id)
                .bind(row.version)
                .bind(row.name)
                .bind(&row.payload)
                .bind(actor)
                .bind(now.as_utc())
                .bind(position)
                .bind(hash);
        }
        let p = &plan.projection;
        let s = &p.summary;
        let written = q
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
            .bind(now.as_utc())
            .bind(chain_position)
            .bind(&chain_hash)
            .fetch_all(&mut *tx)
            .await
            .map_err(event_insert_error)?;
        if written.len() != plan.rows.len() || written.first().map(|w| w.1) != Some(1) {
            return Err(StoreError::Conflict { expected: req.expected, actual }.into());
        }
        let positions: Vec<i64> = written.into_iter().map(|w| w.0).collect();
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
                .bind(now.as_utc())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        put_outbox(&mut tx, tenant, &plan.outbox, now).await?;
        commit(tx).await?;
        Ok(plan::committed(plan, id, actor, now, &positions))
    }

    pub(crate) async fn import_batch<A: Aggregate>(
        &self,
        config: &DomainConfig,
        commands: &[ImportCommand<'_, A>],
        on_reject: OnReject,
    ) -> Result<ImportReport<A::Error>, ExecError<A::Error>> {
        let mut tx = self.begin().await?;
        let conn: &mut PgConnection = &mut tx;
        let mut batch = plan::Batch::<A>::default();
        let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in commands {
            wanted.entry(c.actor.tenant.as_str()).or_default().push(c.aggregate_id);
        }
        // Tenants in sorted order: every writer locks heads in the same order.
        for (tenant, mut ids) in wanted {
            let (position, hash) = lock_head(conn, tenant).await?;
            batch.chain_head(tenant, position, hash);
            ids.sort_unstable();
            ids.dedup();
            for chunk in ids.chunks(500) {
                let text = format!(
                    "SELECT id, version, state FROM aggregates WHERE tenant = $1 AND kind = $2 AND id IN ({})",
                    plan::placeholders(3, chunk.len())
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
        }
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
        let tenant = actor.tenant.as_str();
        let incident_kind = AggregateKind::Incident.as_str();
        let mut tx = self.begin().await?;
        let conn: &mut PgConnection = &mut tx;
        // Lock order: the tenant's correlator row, then its chain head (every
        // other writer takes only the head), then read.
        let empty = serde_json::to_string(&Correlator::new()).map_err(|e| StoreError::Aggregate(e.to_string()))?;
        query(sql::CORRELATOR_INIT)
            .bind(tenant)
            .bind(&empty)
            .bind(now.as_utc())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        let (state, version, observed): (String, i64, i64) =
            query_as(sql::CORRELATOR_LOCK).bind(tenant).fetch_one(&mut *conn).await.map_err(err)?;
        let (head, hash) = lock_head(conn, tenant).await?;
        let mut run = Run::new(actor, config, policy, now, Some(&state))?;
        run.batch.chain_head(tenant, head, hash);
        // Incident events written by other paths since the last ingestion
        // (none to read for a new correlator: it follows no incident).
        if version > 0 && observed < head && !run.follows_nothing() {
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
        write_batch(conn, &mut run.batch, |i| (tenant, ids[i].as_str(), actor_id, now)).await?;
        let head = run.batch.heads.get(tenant).map_or(head, |h| h.0);
        query(sql::CORRELATOR_PUT)
            .bind(tenant)
            .bind(run.state_json()?)
            .bind(head)
            .bind(now.as_utc())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        commit(tx).await?;
        Ok(run.report)
    }

    pub(crate) async fn load<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<(A, u64, Timestamp)>, StoreError> {
        let row: Option<(i64, String, Utc64)> = query_as(sql::STATE_GET)
            .bind(tenant)
            .bind(A::KIND.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some((version, state, updated_at)) = row else { return Ok(None) };
        Ok(Some((decode_state::<A>(id, &state)?, plan::from_db_version(version), Timestamp::from_utc(updated_at))))
    }

    pub(crate) async fn history<A: Aggregate>(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<Recorded<A::Event>>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
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
            query_as(text).bind(tenant).bind(who).bind(limit).fetch_all(&self.pool).await.map_err(err)?;
        Ok(rows.into_iter().map(projection).collect())
    }

    pub(crate) async fn due_before(
        &self,
        tenant: &str,
        before: Timestamp,
        limit: i64,
    ) -> Result<Vec<RawProjection>, StoreError> {
        let rows: Vec<ProjectionTuple> = query_as(sql::DUE_BEFORE)
            .bind(tenant)
            .bind(before.as_utc())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(projection).collect())
    }

    pub(crate) async fn set_due(
        &self,
        tenant: &str,
        kind: AggregateKind,
        id: &str,
        due: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let done = query(sql::SET_DUE)
            .bind(tenant)
            .bind(kind.as_str())
            .bind(id)
            .bind(opt_time(due))
            .execute(&self.pool)
            .await
            .map_err(err)?;
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
            .bind(from.as_utc())
            .bind(to.as_utc())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(projection).collect())
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
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok(rows.into_iter().map(event).collect())
    }

    pub(crate) async fn chain_page(&self, tenant: &str, after: i64, limit: i64) -> Result<Vec<RawEvent>, StoreError> {
        let rows: Vec<EventTuple> =
            query_as(sql::CHAIN_PAGE).bind(tenant).bind(after).bind(limit).fetch_all(&self.pool).await.map_err(err)?;
        Ok(rows.into_iter().map(event).collect())
    }

    pub(crate) async fn chain_head(&self, tenant: &str) -> Result<Option<(i64, String)>, StoreError> {
        query_as(sql::HEAD_GET).bind(tenant).fetch_optional(&self.pool).await.map_err(err)
    }

    pub(crate) async fn claim(
        &self,
        consumer: &str,
        lease_until: Timestamp,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<OutboxTuple> = query_as(sql::CLAIM)
            .bind(consumer)
            .bind(lease_until.as_utc())
            .bind(now.as_utc())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let mut items = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.0,
                    tenant: r.1,
                    topic: r.2,
                    dedup_key: r.3,
                    payload: serde_json::from_str(&r.4).map_err(|e| StoreError::corrupt("outbox payload", r.0, e))?,
                    created_at: Timestamp::from_utc(r.5),
                    attempts: u32::try_from(r.6).unwrap_or(0),
                    lease_until: Timestamp::from_utc(r.7),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub(crate) async fn ack(&self, id: i64, consumer: &str, now: Timestamp) -> Result<bool, StoreError> {
        let done = query(sql::ACK).bind(id).bind(consumer).bind(now.as_utc()).execute(&self.pool).await.map_err(err)?;
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
        let done = query(sql::ESCALATION_PUT)
            .bind(tenant)
            .bind(escalation_id)
            .bind(payload)
            .bind(now.as_utc())
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
        put_outbox(&mut tx, tenant, std::slice::from_ref(&row), now).await?;
        commit(tx).await?;
        Ok(true)
    }
}

/// The statement of [`PgStore::execute`] for `events` events: `events` rows
/// of 10 values, then 14 projection values, then the chain head's position
/// and hash; it yields each event's position and the count of projection rows
/// written (0 when the version guard refused).
fn write_statement(events: usize) -> String {
    let projection = 10 * events + 1;
    let head = projection + 14;
    format!(
        "WITH ev AS ({}{} RETURNING position, version), {}{}{}, \
         hd AS (UPDATE chain_heads SET position = ${}, hash = ${} WHERE tenant = $1 RETURNING 1) \
         SELECT ev.position, (SELECT count(*) FROM pr) FROM ev ORDER BY ev.version",
        sql::EVENT_COLUMNS,
        plan::value_rows(10, events),
        sql::WRITE_PROJECTION,
        plan::value_rows_from(projection, 14, 1),
        sql::WRITE_PROJECTION_TAIL,
        head,
        head + 1,
    )
}

/// Writes a decided batch: events, projections, chain heads, outbox. `who`
/// gives a command's tenant, aggregate id, actor id and instant by index.
async fn write_batch<'c, A: Aggregate>(
    conn: &mut PgConnection,
    batch: &mut plan::Batch<A>,
    who: impl Fn(usize) -> (&'c str, &'c str, &'c str, Timestamp),
) -> Result<(), StoreError> {
    let mut events = batch.take_events().into_iter().peekable();
    while events.peek().is_some() {
        let chunk: Vec<_> = events.by_ref().take(500).collect();
        let text = format!("{}{}", sql::EVENT_COLUMNS, plan::value_rows(10, chunk.len()));
        let mut q = query(AssertSqlSafe(text));
        for e in chunk {
            let (tenant, id, actor, at) = who(e.command);
            q = q
                .bind(tenant)
                .bind(A::KIND.as_str())
                .bind(id)
                .bind(e.version)
                .bind(e.name)
                .bind(e.payload)
                .bind(actor)
                .bind(at.as_utc())
                .bind(e.chain_position)
                .bind(e.hash);
        }
        q.execute(&mut *conn).await.map_err(event_insert_error)?;
    }
    let projections = batch.dirty_projections()?;
    for chunk in projections.chunks(200) {
        let text =
            format!("{}{}{}", sql::PROJECTION_COLUMNS, plan::value_rows(14, chunk.len()), sql::PROJECTION_UPSERT_TAIL);
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
                .bind(&p.state)
                .bind(updated_at.as_utc());
        }
        q.execute(&mut *conn).await.map_err(err)?;
    }
    for (tenant, (position, hash)) in &batch.heads {
        query(sql::HEAD_PUT).bind(tenant).bind(*position).bind(hash).execute(&mut *conn).await.map_err(err)?;
    }
    for (tenant, rows, at) in &batch.outbox {
        put_outbox(conn, tenant, rows, *at).await?;
    }
    Ok(())
}

/// See the SQLite backend: a unique violation on the event log is a race
/// lost to another writer; the command re-runs and re-reads.
fn event_insert_error(e: sqlx::Error) -> StoreError {
    match classify(B, &e) {
        (Class::Unique, code) => StoreError::Transient { code: code.unwrap_or_default(), source: e },
        _ => err(e),
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let supported = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied_version(pool).await?
        && found > supported
    {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    match MIGRATOR.run(pool).await {
        Ok(()) => Ok(()),
        // Another process may have applied the same migration first.
        Err(_) if applied_version(pool).await? == Some(supported) => Ok(()),
        Err(MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _)) => Err(err(e)),
        Err(other) => Err(StoreError::Migration(other)),
    }
}

/// The newest applied migration, if the migrations table exists.
async fn applied_version(pool: &PgPool) -> Result<Option<i64>, StoreError> {
    let exists: bool = query_scalar(sql::MIGRATIONS_TABLE).fetch_one(pool).await.map_err(err)?;
    if !exists {
        return Ok(None);
    }
    query_scalar(sql::SCHEMA_VERSION).fetch_one(pool).await.map_err(err)
}

/// Locks the tenant's chain head row, creating it first if needed.
async fn lock_head(conn: &mut PgConnection, tenant: &str) -> Result<(i64, String), StoreError> {
    let head: Option<(i64, String)> =
        query_as(sql::HEAD_LOCK).bind(tenant).fetch_optional(&mut *conn).await.map_err(err)?;
    if let Some(head) = head {
        return Ok(head);
    }
    query(sql::HEAD_INIT).bind(tenant).bind(GENESIS).execute(&mut *conn).await.map_err(err)?;
    query_as(sql::HEAD_LOCK).bind(tenant).fetch_one(&mut *conn).await.map_err(err)
}

async fn state_in<A: Aggregate>(
    conn: &mut PgConnection,
    tenant: &str,
    id: &str,
) -> Result<Option<(A, u64)>, StoreError> {
    let row: Option<(i64, String, Utc64)> = query_as(sql::STATE_GET)
        .bind(tenant)
        .bind(A::KIND.as_str())
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err)?;
    match row {
        Some((version, state, _)) => Ok(Some((decode_state::<A>(id, &state)?, plan::from_db_version(version)))),
        None => Ok(None),
    }
}

async fn exists_in(
    conn: &mut PgConnection,
    tenant: &str,
    kinds: &[AggregateKind],
    id: &str,
) -> Result<bool, StoreError> {
    if id.contains('\0') {
        return Ok(false);
    }
    for kind in kinds {
        let found: Option<i32> = query_scalar(sql::EXISTS)
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

async fn history_in<A: Aggregate>(
    conn: &mut PgConnection,
    tenant: &str,
    id: &str,
    up_to: i64,
) -> Result<Vec<Recorded<A::Event>>, StoreError> {
    let rows: Vec<(i64, i64, String, String, Utc64)> = query_as(sql::HISTORY)
        .bind(tenant)
        .bind(A::KIND.as_str())
        .bind(id)
        .bind(up_to)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
    rows.into_iter()
        .map(|(position, version, payload, actor, at)| {
            RawHistory { position, version, payload, actor, recorded_at: Timestamp::from_utc(at) }.decode::<A>()
        })
        .collect()
}

async fn put_outbox(
    conn: &mut PgConnection,
    tenant: &str,
    rows: &[OutboxRow],
    now: Timestamp,
) -> Result<(), StoreError> {
    for row in rows {
        query(sql::OUTBOX_PUT)
            .bind(tenant)
            .bind(&row.topic)
            .bind(&row.dedup_key)
            .bind(&row.payload)
            .bind(now.as_utc())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    Ok(())
}
