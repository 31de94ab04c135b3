//! Store benchmarks: single-command commit throughput beside a raw sqlx
//! baseline (one same-size row per transaction, same connection settings), on
//! a SQLite file and on PostgreSQL (when `ITSM_PG_URL` or the default
//! `postgres://postgres@127.0.0.1:5432/test` is reachable), and bulk import
//! events/s through `import_batch`.
//!
//! Run: `cargo run --release -p itsm-store --all-features --example store_bench [commands] [import_events]`

#[allow(dead_code)]
#[path = "../tests/it/ticket.rs"]
mod ticket;

use std::str::FromStr;
use std::time::{Duration, Instant};

use itsm_core::id::{ActorId, TenantId};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::{ExpectedVersion, ImportCommand, OnReject, Request, Store};
use sqlx::{AssertSqlSafe, Connection};
use ticket::{Ticket, TicketCommand, open};

const AGGREGATES: usize = 100;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(1_767_225_600 + secs).unwrap()
}

fn actor(tenant: &str) -> Actor {
    Actor::new(ActorId::new("bench").unwrap(), TenantId::new(tenant).unwrap(), [Role::Agent])
}

/// The note every measured command records: about the size of a typical event.
fn note() -> TicketCommand {
    TicketCommand::Note { text: "disk usage above 90% on host db-7, paging the on-call engineer".into() }
}

/// Opens the aggregates the measured commands note on.
async fn prepare_store(store: &Store, tenant: &str) {
    let a = actor(tenant);
    let cfg = DomainConfig::default();
    for i in 0..AGGREGATES {
        let id = format!("B-{i}");
        let cmd = open(&id, "bench");
        store.execute::<Ticket>(Request::new(Context::new(&a, ts(0), &cfg), &id, &cmd)).await.unwrap();
    }
}

/// Commits commands `from..to`, one transaction each; the time taken.
async fn store_commits(store: &Store, tenant: &str, from: usize, to: usize) -> Duration {
    let a = actor(tenant);
    let cfg = DomainConfig::default();
    let cmd = note();
    let started = Instant::now();
    for i in from..to {
        let id = format!("B-{}", i % AGGREGATES);
        let ctx = Context::new(&a, ts(i as i64), &cfg);
        store.execute::<Ticket>(Request::new(ctx, &id, &cmd).if_version(ExpectedVersion::Any)).await.unwrap();
    }
    started.elapsed()
}

/// The JSON of one event row, as the baseline's payload.
fn row_payload() -> String {
    serde_json::to_string(&ticket::TicketEvent::Noted {
        text: "disk usage above 90% on host db-7, paging the on-call engineer".into(),
    })
    .unwrap()
}

const BASELINE_TABLE: &str = "CREATE TABLE bench (id INTEGER PRIMARY KEY, tenant TEXT, kind TEXT, aggregate_id TEXT, version INTEGER, payload TEXT, recorded_at TEXT)";
const BASELINE_TABLE_PG: &str = "CREATE TABLE bench (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant TEXT, kind TEXT, aggregate_id TEXT, version BIGINT, payload TEXT, recorded_at TIMESTAMPTZ)";
const BASELINE_INSERT: &str =
    "INSERT INTO bench (tenant, kind, aggregate_id, version, payload, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)";

async fn sqlite_baseline_pool(path: &std::path::Path) -> sqlx::SqlitePool {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    sqlx::raw_sql(BASELINE_TABLE).execute(&pool).await.unwrap();
    pool
}

/// Raw sqlx: one same-size row per `BEGIN IMMEDIATE` transaction.
async fn sqlite_baseline(pool: &sqlx::SqlitePool, from: usize, to: usize) -> Duration {
    let payload = row_payload();
    let started = Instant::now();
    for i in from..to {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query(BASELINE_INSERT)
            .bind("bench")
            .bind("incident")
            .bind(format!("B-{}", i % AGGREGATES))
            .bind(i as i64)
            .bind(&payload)
            .bind(ts(i as i64).to_rfc3339())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

/// Raw sqlx: one same-size row per transaction.
async fn pg_baseline(pool: &sqlx::PgPool, from: usize, to: usize) -> Duration {
    let payload = row_payload();
    let started = Instant::now();
    for i in from..to {
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(BASELINE_INSERT)
            .bind("bench")
            .bind("incident")
            .bind(format!("B-{}", i % AGGREGATES))
            .bind(i as i64)
            .bind(&payload)
            .bind(ts(i as i64).as_utc())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    started.elapsed()
}

/// Rounds of the store and the baseline alternate, so load changes on the
/// machine hit both alike.
const ROUNDS: usize = 10;

fn report(backend: &str, n: usize, ours: Duration, base: Duration) {
    let ours = n as f64 / ours.as_secs_f64();
    let base = n as f64 / base.as_secs_f64();
    println!(
        "{backend:<8} single-command commits: {ours:>7.0}/s   raw sqlx baseline: {base:>7.0}/s   ratio {:.2}",
        ours / base
    );
}

/// Imports `events` events (aggregates of 10 events each) in batches of
/// 10,000 commands; events/s.
async fn import(store: &Store, events: usize) -> f64 {
    let a = actor("import");
    let cfg = DomainConfig::default();
    let per = 10;
    let aggregates = events / per;
    let ids: Vec<String> = (0..aggregates).map(|i| format!("IMP-{i}")).collect();
    let cmds: Vec<(usize, TicketCommand)> = (0..aggregates)
        .flat_map(|i| {
            std::iter::once((i, open(&ids[i], "imported incident")))
                .chain((1..per).map(move |k| (i, if k % 2 == 0 { TicketCommand::Bump } else { note() })))
        })
        .collect();
    let batch: Vec<ImportCommand<'_, Ticket>> = cmds
        .iter()
        .enumerate()
        .map(|(n, (i, c))| ImportCommand { actor: &a, now: ts(n as i64), aggregate_id: &ids[*i], command: c.clone() })
        .collect();
    let started = Instant::now();
    let mut written = 0;
    for chunk in batch.chunks(10_000) {
        written += store.import_batch(&cfg, chunk, OnReject::Abort).await.unwrap().events;
    }
    written as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3000);
    let import_events: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = tempfile_dir();

    let store = Store::connect(&format!("sqlite://{}", dir.join("store.db").display())).await.unwrap();
    prepare_store(&store, "bench").await;
    let pool = sqlite_baseline_pool(&dir.join("baseline.db")).await;
    let (mut ours, mut base) = (Duration::ZERO, Duration::ZERO);
    for r in 0..ROUNDS {
        let (from, to) = (r * n / ROUNDS, (r + 1) * n / ROUNDS);
        ours += store_commits(&store, "bench", from, to).await;
        base += sqlite_baseline(&pool, from, to).await;
    }
    report("sqlite", n, ours, base);
    pool.close().await;
    let rate = import(&store, import_events).await;
    println!("sqlite   import_batch: {rate:>9.0} events/s ({import_events} events, 10,000 commands per transaction)");
    store.close().await;

    let pg = std::env::var("ITSM_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match sqlx::PgConnection::connect(&pg).await {
        Ok(mut conn) => {
            let schema = format!("itsm_bench_{}", std::process::id());
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let sep = if pg.contains('?') { '&' } else { '?' };
            let url = format!("{pg}{sep}options[search_path]={schema}");
            let store = Store::connect(&url).await.unwrap();
            prepare_store(&store, "bench").await;
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
            sqlx::raw_sql(BASELINE_TABLE_PG).execute(&pool).await.unwrap();
            let (mut ours, mut base) = (Duration::ZERO, Duration::ZERO);
            for r in 0..ROUNDS {
                let (from, to) = (r * n / ROUNDS, (r + 1) * n / ROUNDS);
                ours += store_commits(&store, "bench", from, to).await;
                base += pg_baseline(&pool, from, to).await;
            }
            report("postgres", n, ours, base);
            pool.close().await;
            let rate = import(&store, import_events).await;
            println!(
                "postgres import_batch: {rate:>9.0} events/s ({import_events} events, 10,000 commands per transaction)"
            );
            store.close().await;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut conn).await.unwrap();
        }
        Err(e) => println!("postgres: skipped ({e})"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("itsm-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
