//! Test fixtures: a fresh store on each backend (as in itsm-store's
//! `tests/it/common.rs`), and messages written through the store.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use itsm_core::Timestamp;
use itsm_core::id::TenantId;
use itsm_store::Store;

/// Whether an unreachable service fails the test (`CI=true`) rather than
/// skipping it.
pub fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The PostgreSQL URL tests use.
pub fn pg_url() -> String {
    std::env::var("ITSM_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique in this process and across processes.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// The current instant.
pub fn now() -> Timestamp {
    Timestamp::from_utc(chrono::Utc::now())
}

/// A fresh database with its store.
pub struct Db {
    pub store: Store,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
}

impl Db {
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = &self.pg_schema {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_url()).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.unwrap();
    Db { store, name: "sqlite", _dir: Some(dir), pg_schema: None }
}

/// A fresh PostgreSQL schema, or `None` (with a loud skip message) when the
/// server cannot be reached outside CI. Under `CI=true` an unreachable server
/// fails the test.
pub async fn postgres() -> Option<Db> {
    use sqlx::Connection;
    let base = pg_url();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) => {
            if ci() {
                panic!("PostgreSQL at {base} is unreachable under CI=true: {e}");
            }
            eprintln!(
                "SKIPPED: PostgreSQL at {base} is unreachable ({e}); set ITSM_PG_URL to run the PostgreSQL tests"
            );
            return None;
        }
    };
    let schema = unique("itsm_notify");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    let store = Store::connect(&url).await.unwrap();
    Some(Db { store, name: "postgres", _dir: None, pg_schema: Some(schema) })
}
