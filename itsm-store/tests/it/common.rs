//! Test fixtures: actors, instants, fresh databases on each backend, and raw
//! SQL access for tampering.

use std::sync::atomic::{AtomicU64, Ordering};

use itsm_core::id::{ActorId, TenantId};
use itsm_core::{Actor, DomainConfig, Role, Timestamp};
use itsm_store::{BackendKind, Store};

/// The PostgreSQL URL tests use.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub fn pg_url() -> String {
    std::env::var("ITSM_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn actor(tenant: &str, id: &str) -> Actor {
    Actor::new(ActorId::new(id).unwrap(), TenantId::new(tenant).unwrap(), [Role::Agent, Role::Automation])
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// An instant `secs` seconds after 2026-01-01T00:00:00Z.
pub fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_767_225_600 + secs).unwrap()
}

pub fn config() -> DomainConfig {
    DomainConfig::default()
}

/// An actor of `tenant` with `roles`.
pub fn who(tenant: &TenantId, id: &str, roles: &[Role]) -> Actor {
    Actor::new(ActorId::new(id).unwrap(), tenant.clone(), roles.iter().copied())
}

/// Opens incident `id` on service mail, medium impact and urgency.
pub fn open_titled(id: &str, title: &str) -> itsm_core::incident::IncidentCommand {
    use itsm_core::id::{IncidentId, ServiceId, Text};
    use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
    itsm_core::incident::IncidentCommand::Open(itsm_core::incident::OpenIncident::new(
        IncidentId::new(id).unwrap(),
        IncidentKind::Production,
        ServiceId::new("mail").unwrap(),
        Text::new(title).unwrap(),
        Impact::Medium,
        Urgency::Medium,
        DetectionSource::User,
    ))
}

/// A work note.
pub fn note(text: &str, public: bool) -> itsm_core::incident::IncidentCommand {
    itsm_core::incident::IncidentCommand::AddNote { text: itsm_core::id::Text::new(text).unwrap(), public }
}

/// Runs an incident command as `actor` at `ts(at)`; panics on a refusal.
pub async fn run_incident(
    store: &Store,
    actor: &Actor,
    at: i64,
    id: &str,
    command: itsm_core::incident::IncidentCommand,
) {
    let cfg = DomainConfig::default();
    store
        .execute::<itsm_core::incident::Incident>(itsm_store::Request::new(
            itsm_core::Context::new(actor, ts(at), &cfg),
            id,
            &command,
        ))
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique in this process and across processes.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A fresh database with its store.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
}

impl TestDb {
    pub fn backend(&self) -> BackendKind {
        self.store.backend()
    }

    /// Runs raw SQL statements outside the store (tampering, schema pokes).
    pub async fn raw(&self, statements: &[&str]) -> Result<(), sqlx::Error> {
        use sqlx::Connection;
        match self.backend() {
            BackendKind::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                for s in statements {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string())).execute(&mut conn).await?;
                }
                conn.close().await
            }
            BackendKind::Postgres => {
                #[cfg(feature = "postgres")]
                {
                    let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                    for s in statements {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(s.to_string())).execute(&mut conn).await?;
                    }
                    conn.close().await
                }
                #[cfg(not(feature = "postgres"))]
                unreachable!()
            }
        }
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        #[cfg(feature = "postgres")]
        if let Some(schema) = &self.pg_schema {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url()).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&mut conn)
                    .await;
            }
        }
        let _ = &self.pg_schema;
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.unwrap();
    TestDb { store, url, _dir: Some(dir), pg_schema: None }
}

/// A fresh PostgreSQL schema, or `None` (with a loud skip message) when the
/// server cannot be reached outside CI. Under `CI=true` an unreachable server
/// fails the test.
#[cfg(feature = "postgres")]
pub async fn postgres() -> Option<TestDb> {
    postgres_with(&itsm_store::ConnectOptions::default()).await
}

#[cfg(feature = "postgres")]
pub async fn postgres_with(options: &itsm_store::ConnectOptions) -> Option<TestDb> {
    use sqlx::Connection;
    let base = pg_url();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL at {base} is unreachable under CI=true: {e}");
            }
            eprintln!(
                "SKIPPED: PostgreSQL at {base} is unreachable ({e}); set ITSM_PG_URL to run the PostgreSQL tests"
            );
            return None;
        }
    };
    let schema = unique("itsm_t");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = Store::connect_with(&url, options).await.unwrap();
    Some(TestDb { store, url, _dir: None, pg_schema: Some(schema) })
}

/// Runs a blocking check (a proptest driving async calls through `rt`) on a
/// fresh SQLite database.
pub fn on_sqlite(check: impl FnOnce(&TestDb, &tokio::runtime::Runtime)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(sqlite());
    check(&db, &rt);
    rt.block_on(db.cleanup());
}

/// Runs a blocking check on a fresh PostgreSQL schema (skipped when
/// PostgreSQL is unreachable outside CI, as [`postgres`] says).
#[cfg(feature = "postgres")]
pub fn on_postgres(check: impl FnOnce(&TestDb, &tokio::runtime::Runtime)) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(postgres()) else { return };
    check(&db, &rt);
    rt.block_on(db.cleanup());
}

/// The statement of a migration file that starts with `start` (its comment
/// lines dropped), to run it again in a test.
pub fn migration_statement(migration: &str, start: &str) -> String {
    migration
        .split(';')
        .map(|statement| statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n"))
        .find(|statement| statement.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("the migration has no statement starting {start:?}"))
}

/// Declares one `#[tokio::test]` per backend for each `check_*` function.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::sqlite().await;
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::postgres().await else { return };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// SLA policy version `version`: the default targets scaled by `scale`
/// percent (at least 5), none under a minute, with the given reopen rule.
pub fn scaled_policy(version: u32, scale: u8, new_cycle: bool) -> itsm_core::sla::SlaPolicy {
    use itsm_core::BusinessDuration;
    use itsm_core::sla::{ReopenPolicy, SlaPolicy};
    let mut policy = SlaPolicy { version, ..SlaPolicy::default() };
    let scale = u64::from(scale.max(5));
    for t in &mut policy.targets {
        t.response = BusinessDuration::from_secs((t.response.as_secs() * scale / 100).max(60));
        t.resolution = BusinessDuration::from_secs((t.resolution.as_secs() * scale / 100).max(60));
    }
    policy.reopen = if new_cycle { ReopenPolicy::NewCycle } else { ReopenPolicy::ContinueCycle };
    policy
}
