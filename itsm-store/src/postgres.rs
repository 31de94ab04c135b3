//! The PostgreSQL backend's own parts: the first connection (reported in the
//! user's terms, never with the password), the pool and the migrations.
//! Everything a command does is in [`crate::core`].
//!
//! `READ COMMITTED`; a command locks only its own aggregate's row
//! (`SELECT ... FOR UPDATE`), so writers of distinct aggregates of one tenant
//! run in parallel. Outbox claims use `FOR UPDATE SKIP LOCKED`. Instants are
//! `TIMESTAMPTZ`. Connections set `lock_timeout = 5s`.

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::core::{Core, migrate};
use crate::dialect::Pools;
use crate::error::StoreError;
use crate::model::ConnectOptions;
use crate::retry;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

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

/// Opens a PostgreSQL store: one connection first (bounded by the connect
/// timeout), then the pool and the migrations.
pub(crate) async fn connect(url: &str, opts: &ConnectOptions) -> Result<Core<Postgres>, StoreError> {
    let options: PgConnectOptions =
        url.parse().map_err(|e: sqlx::Error| StoreError::validation("url", e.to_string()))?;
    // Like SQLite's busy timeout: a lock held elsewhere for more than 5 s
    // fails the attempt (55P03, retried) instead of hanging.
    let options = options.options([("lock_timeout", "5s")]);
    let target = crate::redact_url(url);
    // One connection first, bounded by the connect timeout: a closed port
    // or a wrong password is reported at once, in the user's terms,
    // instead of as a pool timeout after the acquire timeout.
    match tokio::time::timeout(opts.connect_timeout, <PgConnection as sqlx::Connection>::connect_with(&options)).await {
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
    retry::retry(|| migrate(&pool, &MIGRATOR)).await?;
    Ok(Core::new(Pools { write: pool.clone(), read: pool }, target))
}
