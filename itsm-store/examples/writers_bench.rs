//! Concurrent writers on distinct incidents of one tenant (issue 13's
//! concurrency benchmark): store commands/s beside a raw sqlx baseline at the
//! same concurrency, on PostgreSQL and on a SQLite file.
//!
//! ```sh
//! cargo run --release -p itsm-store --all-features --example writers_bench -- \
//!     [--writers 1,4,16,64] [--seconds 6] [--warmup 0.3] [--rounds 6] \
//!     [--incidents 4] [--sqlite-only | --pg-only] [--dir PATH] [--verbose]
//! ```
//!
//! Written against the public `itsm-store` API only (`Store::connect_with`,
//! `ConnectOptions`, `Store::execute`, `Request`, `ExpectedVersion`,
//! `Store::close`), so it measures whichever design the crate holds.
//!
//! **The store side.** One tenant (`bench`). For each writer count `W`, `W`
//! writers (tokio tasks, each its own agent) get `--incidents` real
//! `itsm_core::incident::Incident` aggregates each, opened, assigned,
//! acknowledged and started before anything is measured. Then each writer
//! issues `AddNote` work notes (a 63-byte note, the `note_added` event is
//! about 180 bytes of JSON) round-robin over its own incidents only, one
//! command per `Store::execute`, with `ExpectedVersion::Exact` (the version
//! its previous command returned, as a portal would send), no idempotency key.
//! Every level opens fresh incidents; the tenant's log grows across levels.
//!
//! **The baseline.** Raw sqlx at the same concurrency: each of `W` tasks
//! commits one row per transaction into a plain table (tenant, kind, id,
//! version, payload, recorded at), the payload being the JSON of the same
//! `note_added` event, so the row is the size of a stored event.
//!
//! **Pools (the fairness choice).** The store is connected with
//! `ConnectOptions { max_connections: W, .. }` at each level.
//! * PostgreSQL: the store's pool is `W` connections; the baseline's pool is
//!   `W` connections (`PgPoolOptions::max_connections(W)`), `BEGIN; INSERT;
//!   COMMIT` per row.
//! * SQLite: the store (as `itsm-store/src/sqlite.rs` and the crate docs of the
//!   old design say) writes through ONE writer connection (`BEGIN IMMEDIATE`)
//!   whatever `max_connections` is (that sets its read pool), so the baseline
//!   gets the same: a pool of one connection with the store's connection
//!   settings (WAL, `synchronous = FULL`, foreign keys on, `busy_timeout` 5 s,
//!   64 MiB page cache), `BEGIN IMMEDIATE; INSERT; COMMIT` per row, its `W`
//!   tasks queueing for that connection like the store's writers do. SQLite
//!   has one writer at a time anyway; a pool of `W` writer connections would
//!   only add busy-handler sleeps.
//!
//! **Measurement.** Per level, `--rounds` rounds alternate a store segment
//! and a baseline segment (so load changes on the shared machine hit both
//! alike: on a shared virtual disk the commit fsync latency, which bounds a
//! single writer on both sides, swings several-fold from one second to the
//! next, so segments are short and many); each segment connects its pool,
//! warms up (every writer runs for `--warmup` seconds and at least two
//! commands; connections are made, caches filled), waits for all writers on
//! a barrier, then counts the commands
//! completed in `--seconds / --rounds` seconds, and closes its pool. The rate
//! is commands over the time from the first writer's start to the last
//! writer's finish, summed over the rounds. Defaults: 1, 4, 16, 64 writers,
//! 6 s per level and side in 6 rounds of 1 s, 0.3 s warm-up per segment,
//! about 2.5 minutes in all.
//!
//! PostgreSQL: `ITSM_PG_URL` or `postgres://postgres@127.0.0.1:5432/test`; a
//! fresh schema `itsm_writers_bench_<pid>` per run (via
//! `?options[search_path]=`), dropped at the end. Unreachable: exit status 2,
//! unless `--sqlite-only`. SQLite: fresh files in a temporary directory
//! (under `--dir`, default the system temp dir; use a directory on a real
//! disk, `synchronous = FULL` makes fsync part of every commit), removed at
//! the end. Any failed command is reported and makes the exit status 1.
//! `--verbose` prints every segment's rate (to see the spread).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentEvent, OpenIncident};
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::{ConnectOptions, ExpectedVersion, Request, Store};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::Barrier;

const TENANT: &str = "bench";
/// The work note every measured command records.
const NOTE: &str = "disk usage above 90% on host db-7, paging the on-call engineer";

const SQLITE_TABLE: &str = "CREATE TABLE writers_baseline (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, payload TEXT NOT NULL, recorded_at TEXT NOT NULL)";
const PG_TABLE: &str = "CREATE TABLE writers_baseline (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, aggregate_id TEXT NOT NULL, version BIGINT NOT NULL, payload TEXT NOT NULL, recorded_at TIMESTAMPTZ NOT NULL)";
const INSERT: &str = "INSERT INTO writers_baseline (tenant, kind, aggregate_id, version, payload, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Command instants: one second apart, increasing across all writers, so every
/// incident sees its commands in time order.
static CLOCK: AtomicI64 = AtomicI64::new(0);

fn tick() -> Timestamp {
    let secs = CLOCK.fetch_add(1, Ordering::Relaxed);
    // 2026-01-01T00:00:00Z plus a count of commands: always in range.
    Timestamp::from_unix_secs(1_767_225_600 + secs).unwrap_or_else(|| unreachable!("instant in range"))
}

/// Command-line settings.
#[derive(Debug, Clone)]
struct Args {
    writers: Vec<usize>,
    seconds: f64,
    warmup: f64,
    rounds: usize,
    incidents: usize,
    sqlite: bool,
    postgres: bool,
    dir: Option<std::path::PathBuf>,
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        writers: vec![1, 4, 16, 64],
        seconds: 6.0,
        warmup: 0.3,
        rounds: 6,
        incidents: 4,
        sqlite: true,
        postgres: true,
        dir: None,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--writers" => {
                args.writers = value("--writers")?
                    .split(',')
                    .map(|w| w.trim().parse::<usize>().ok().filter(|&n| n > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("--writers takes positive counts separated by commas, e.g. 1,4,16,64")?;
            }
            "--seconds" => {
                args.seconds = value("--seconds")?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("--seconds takes a positive number")?;
            }
            "--warmup" => {
                args.warmup = value("--warmup")?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s >= 0.0)
                    .ok_or("--warmup takes a number of seconds")?;
            }
            "--rounds" => {
                args.rounds = value("--rounds")?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--rounds takes a positive count")?;
            }
            "--incidents" => {
                args.incidents = value("--incidents")?
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or("--incidents takes a positive count (incidents per writer)")?;
            }
            "--dir" => args.dir = Some(value("--dir")?.into()),
            "--sqlite-only" => args.postgres = false,
            "--pg-only" => args.sqlite = false,
            "--verbose" => args.verbose = true,
            "-h" | "--help" => {
                println!(
                    "writers_bench [--writers 1,4,16,64] [--seconds 6] [--warmup 0.3] [--rounds 6] [--incidents 4] [--sqlite-only | --pg-only] [--dir PATH] [--verbose]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if !args.sqlite && !args.postgres {
        return Err("--sqlite-only and --pg-only exclude each other".into());
    }
    Ok(args)
}

/// One writer's own incidents and the versions its last commands returned.
struct Writer {
    actor: Actor,
    ids: Vec<String>,
    versions: Vec<u64>,
    next: usize,
}

impl Writer {
    /// Writer `n` of the `step`-th level in the list (a level may repeat).
    fn new(step: usize, n: usize, incidents: usize) -> Writer {
        let name = format!("writer-{n}");
        let actor = Actor::new(
            ActorId::new(name.as_str()).unwrap_or_else(|e| unreachable!("{e}")),
            TenantId::new(TENANT).unwrap_or_else(|e| unreachable!("{e}")),
            [Role::Agent],
        );
        let ids = (0..incidents).map(|k| format!("INC-L{step}-{n}-{k}")).collect();
        Writer { actor, ids, versions: vec![0; incidents], next: 0 }
    }

    /// The next of its incidents, round-robin.
    fn pick(&mut self) -> usize {
        let i = self.next % self.ids.len();
        self.next += 1;
        i
    }
}

/// What a segment writes through.
#[derive(Clone)]
enum Target {
    Store(Store),
    SqliteRaw(sqlx::SqlitePool),
    PgRaw(sqlx::PgPool),
}

/// Shared, read-only inputs of the writer tasks.
struct Shared {
    config: DomainConfig,
    note: IncidentCommand,
    payload: String,
}

/// One measured operation: a store command or a baseline transaction.
async fn step(target: &Target, w: &mut Writer, shared: &Shared) -> Result<(), String> {
    let i = w.pick();
    match target {
        Target::Store(store) => {
            let ctx = Context::new(&w.actor, tick(), &shared.config);
            let req = Request::<Incident>::new(ctx, &w.ids[i], &shared.note)
                .if_version(ExpectedVersion::Exact(w.versions[i]));
            let committed = store.execute::<Incident>(req).await.map_err(|e| format!("{}: {e}", w.ids[i]))?;
            w.versions[i] = committed.version;
        }
        Target::SqliteRaw(pool) => {
            w.versions[i] += 1;
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| e.to_string())?;
            sqlx::query(INSERT)
                .bind(TENANT)
                .bind("incident")
                .bind(&w.ids[i])
                .bind(w.versions[i] as i64)
                .bind(&shared.payload)
                .bind(tick().to_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
        }
        Target::PgRaw(pool) => {
            w.versions[i] += 1;
            let mut tx = pool.begin().await.map_err(|e| e.to_string())?;
            sqlx::query(INSERT)
                .bind(TENANT)
                .bind("incident")
                .bind(&w.ids[i])
                .bind(w.versions[i] as i64)
                .bind(&shared.payload)
                .bind(tick().as_utc())
                .execute(&mut *tx)
                .await
                .map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// What one segment counted.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ops: u64,
    elapsed: Duration,
}

impl Tally {
    fn rate(self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs every writer on `target`: warm-up, barrier, `measure`; the writers
/// come back for the next segment.
async fn segment(
    target: &Target,
    writers: Vec<Writer>,
    shared: &Arc<Shared>,
    warmup: Duration,
    measure: Duration,
) -> Result<(Tally, Vec<Writer>), String> {
    let barrier = Arc::new(Barrier::new(writers.len()));
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut w| {
            let (target, shared, barrier) = (target.clone(), Arc::clone(shared), Arc::clone(&barrier));
            tokio::spawn(async move {
                let warm_until = Instant::now() + warmup;
                let mut warm = 0;
                let mut failure = None;
                while failure.is_none() && (warm < 2 || Instant::now() < warm_until) {
                    failure = step(&target, &mut w, &shared).await.err();
                    warm += 1;
                }
                // Every writer waits here, failed or not, so none is left
                // waiting for the others.
                barrier.wait().await;
                let started = Instant::now();
                let deadline = started + measure;
                let mut ops = 0u64;
                while failure.is_none() && Instant::now() < deadline {
                    match step(&target, &mut w, &shared).await {
                        Ok(()) => ops += 1,
                        Err(e) => failure = Some(e),
                    }
                }
                (started, Instant::now(), ops, failure, w)
            })
        })
        .collect();
    let mut writers = Vec::with_capacity(tasks.len());
    let (mut first, mut last, mut ops, mut failure) = (None::<Instant>, None::<Instant>, 0, None);
    for t in tasks {
        let (start, end, n, err, w) = t.await.map_err(|e| format!("writer task failed: {e}"))?;
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
        ops += n;
        failure = failure.or(err);
        writers.push(w);
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    Ok((Tally { ops, elapsed }, writers))
}

fn store_options(writers: usize) -> ConnectOptions {
    ConnectOptions { max_connections: writers as u32, ..ConnectOptions::default() }
}

/// Opens, assigns, acknowledges and starts every writer's incidents (not
/// measured), each writer on its own task.
async fn prepare(store: &Store, writers: Vec<Writer>, config: &Arc<Shared>) -> Result<Vec<Writer>, String> {
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|mut w| {
            let (store, shared) = (store.clone(), Arc::clone(config));
            tokio::spawn(async move {
                for i in 0..w.ids.len() {
                    let id = IncidentId::new(w.ids[i].as_str()).map_err(|e| e.to_string())?;
                    let open = IncidentCommand::Open(OpenIncident::new(
                        id,
                        IncidentKind::Production,
                        ServiceId::new("payments").map_err(|e| e.to_string())?,
                        Text::new("checkout returns 502 for some card payments").map_err(|e| e.to_string())?,
                        Impact::Medium,
                        Urgency::High,
                        DetectionSource::Monitoring,
                    ));
                    let assign = IncidentCommand::Assign {
                        group: GroupId::new("payments-l2").map_err(|e| e.to_string())?,
                        assignee: Some(w.actor.id.clone()),
                    };
                    let mut expected = ExpectedVersion::Absent;
                    for cmd in [open, assign, IncidentCommand::Acknowledge, IncidentCommand::Start] {
                        let ctx = Context::new(&w.actor, tick(), &shared.config);
                        let c = store
                            .execute::<Incident>(Request::new(ctx, &w.ids[i], &cmd).if_version(expected))
                            .await
                            .map_err(|e| format!("preparing {}: {e}", w.ids[i]))?;
                        expected = ExpectedVersion::Exact(c.version);
                        w.versions[i] = c.version;
                    }
                }
                Ok::<Writer, String>(w)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.map_err(|e| format!("preparing task failed: {e}"))??);
    }
    Ok(out)
}

/// One row of the result table.
struct Row {
    backend: &'static str,
    writers: usize,
    store: Tally,
    baseline: Tally,
}

impl Row {
    fn rates(&self) -> (f64, f64) {
        (self.store.rate(), self.baseline.rate())
    }
}

/// How a backend builds its baseline pool for `W` writers.
enum Baseline {
    Sqlite(Box<sqlx::sqlite::SqliteConnectOptions>),
    Postgres(String),
}

impl Baseline {
    async fn pool(&self, writers: usize) -> Result<Target, String> {
        match self {
            Baseline::Sqlite(options) => sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with((**options).clone())
                .await
                .map(Target::SqliteRaw)
                .map_err(|e| format!("baseline pool: {e}")),
            Baseline::Postgres(url) => sqlx::postgres::PgPoolOptions::new()
                .max_connections(writers as u32)
                .connect_lazy(url)
                .map(Target::PgRaw)
                .map_err(|e| format!("baseline pool: {e}")),
        }
    }
}

async fn close(target: Target) {
    match target {
        Target::Store(s) => s.close().await,
        Target::SqliteRaw(p) => p.close().await,
        Target::PgRaw(p) => p.close().await,
    }
}

/// Every level on one backend: the store at `store_url`, the baseline as
/// `baseline` builds it.
async fn run_backend(
    backend: &'static str,
    store_url: &str,
    baseline: &Baseline,
    args: &Args,
    shared: &Arc<Shared>,
) -> Result<Vec<Row>, String> {
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.seconds / args.rounds as f64);
    let mut rows = Vec::new();
    for (step, &level) in args.writers.iter().enumerate() {
        let setup = Store::connect_with(store_url, &store_options(level)).await.map_err(|e| format!("store: {e}"))?;
        let writers = (0..level).map(|n| Writer::new(step, n, args.incidents)).collect();
        let mut writers = prepare(&setup, writers, shared).await?;
        setup.close().await;
        let mut raw: Vec<Writer> = (0..level).map(|n| Writer::new(step, n, args.incidents)).collect();
        let (mut store_total, mut base_total) = (Tally::default(), Tally::default());
        for _ in 0..args.rounds {
            let store =
                Store::connect_with(store_url, &store_options(level)).await.map_err(|e| format!("store: {e}"))?;
            let target = Target::Store(store);
            let result = segment(&target, writers, shared, warmup, measure).await;
            close(target).await;
            let (t, w) = result.map_err(|e| format!("{backend}, {level} writers, store: {e}"))?;
            writers = w;
            if args.verbose {
                eprintln!("    {backend} {level} writers, store segment: {:.0}/s", t.rate());
            }
            store_total.ops += t.ops;
            store_total.elapsed += t.elapsed;

            let target = baseline.pool(level).await?;
            let result = segment(&target, raw, shared, warmup, measure).await;
            close(target).await;
            let (t, w) = result.map_err(|e| format!("{backend}, {level} writers, baseline: {e}"))?;
            raw = w;
            if args.verbose {
                eprintln!("    {backend} {level} writers, baseline segment: {:.0}/s", t.rate());
            }
            base_total.ops += t.ops;
            base_total.elapsed += t.elapsed;
        }
        let row = Row { backend, writers: level, store: store_total, baseline: base_total };
        let (s, b) = row.rates();
        eprintln!("  {backend} {level:>3} writers: store {s:>7.0}/s, baseline {b:>7.0}/s, ratio {:.2}", s / b);
        rows.push(row);
    }
    Ok(rows)
}

async fn run_sqlite(args: &Args, shared: &Arc<Shared>) -> Result<Vec<Row>, String> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("itsm-writers-bench-");
    let dir = match &args.dir {
        Some(d) => builder.tempdir_in(d),
        None => builder.tempdir(),
    }
    .map_err(|e| format!("temporary directory: {e}"))?;
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.path().join("baseline.db").display()))
            .map_err(|e| e.to_string())?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("cache_size", "-65536");
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.map_err(|e| e.to_string())?;
    sqlx::raw_sql(SQLITE_TABLE).execute(&mut conn).await.map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    println!("sqlite files: {} (store.db, baseline.db; removed at the end)", dir.path().display());
    run_backend("sqlite", &store_url, &Baseline::Sqlite(Box::new(options)), args, shared).await
}

/// Connects to PostgreSQL (5 s at most), or says why not.
async fn pg_admin(url: &str) -> Result<sqlx::PgConnection, String> {
    match tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5 s".into()),
    }
}

async fn run_postgres(
    url: &str,
    mut admin: sqlx::PgConnection,
    args: &Args,
    shared: &Arc<Shared>,
) -> Result<Vec<Row>, String> {
    let schema = format!("itsm_writers_bench_{}", std::process::id());
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("creating schema {schema}: {e}"))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options[search_path]={schema}");
    println!("postgres schema: {schema} (dropped at the end)");
    let result = async {
        let mut conn = sqlx::PgConnection::connect(&scoped).await.map_err(|e| e.to_string())?;
        sqlx::raw_sql(PG_TABLE).execute(&mut conn).await.map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        run_backend("postgres", &scoped, &Baseline::Postgres(scoped.clone()), args, shared).await
    }
    .await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut admin).await;
    let _ = admin.close().await;
    let rows = result?;
    dropped.map_err(|e| format!("dropping schema {schema}: {e}"))?;
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    println!();
    println!("| backend  | writers | store commands/s | baseline tx/s | ratio |");
    println!("|----------|--------:|-----------------:|--------------:|------:|");
    for r in rows {
        let (s, b) = r.rates();
        println!("| {:<8} | {:>7} | {:>16.0} | {:>13.0} | {:>5.2} |", r.backend, r.writers, s, b, s / b);
    }
    println!();
    println!(
        "(store: {} commands in all; baseline: {} transactions in all)",
        rows.iter().map(|r| r.store.ops).sum::<u64>(),
        rows.iter().map(|r| r.baseline.ops).sum::<u64>()
    );
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("writers_bench: {e}");
            std::process::exit(2);
        }
    };
    let pg_url = std::env::var("ITSM_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    // PostgreSQL is checked first, so an unreachable server fails at once.
    let admin = if args.postgres {
        match pg_admin(&pg_url).await {
            Ok(conn) => Some(conn),
            Err(e) => {
                eprintln!(
                    "writers_bench: PostgreSQL at {} is unreachable: {e}\n  set ITSM_PG_URL, or pass --sqlite-only",
                    itsm_store::redact_url(&pg_url)
                );
                std::process::exit(2);
            }
        }
    } else {
        None
    };

    let text = Text::new(NOTE).unwrap_or_else(|e| unreachable!("{e}"));
    let event = IncidentEvent::NoteAdded {
        text: text.clone(),
        public: false,
        at: tick(),
        by: ActorId::new("writer-0").unwrap_or_else(|e| unreachable!("{e}")),
    };
    let payload = serde_json::to_string(&event).unwrap_or_else(|e| unreachable!("{e}"));
    let shared = Arc::new(Shared {
        config: DomainConfig::default(),
        note: IncidentCommand::AddNote { text, public: false },
        payload,
    });

    let defaults = ConnectOptions::default();
    println!("writers_bench: distinct incidents of one tenant, concurrent writers against a raw sqlx baseline");
    println!(
        "  writers {:?}, {} s measured per level and side in {} alternating rounds, {} s warm-up per segment, {} incidents per writer",
        args.writers, args.seconds, args.rounds, args.warmup, args.incidents
    );
    println!(
        "  store command: Incident AddNote (work note, {} bytes), ExpectedVersion::Exact, no idempotency key; baseline row payload: the note_added event JSON, {} bytes",
        NOTE.len(),
        shared.payload.len()
    );
    println!(
        "  store pool: ConnectOptions {{ max_connections: W (the writer count), acquire_timeout: {:?}, connect_timeout: {:?} }}",
        defaults.acquire_timeout, defaults.connect_timeout
    );
    println!(
        "    postgres: W pooled connections; sqlite: one writer connection (BEGIN IMMEDIATE) plus W read connections"
    );
    println!("  baseline pool: postgres PgPoolOptions::max_connections(W), BEGIN; INSERT; COMMIT");
    println!(
        "    sqlite: 1 connection (as the store's writer), WAL, synchronous=FULL, foreign_keys=ON, busy_timeout=5s, cache_size=-65536, BEGIN IMMEDIATE; INSERT; COMMIT"
    );

    let mut rows = Vec::new();
    let mut failed = false;
    if let Some(admin) = admin {
        match run_postgres(&pg_url, admin, &args, &shared).await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("writers_bench: postgres: {e}");
                failed = true;
            }
        }
    }
    if args.sqlite {
        match run_sqlite(&args, &shared).await {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("writers_bench: sqlite: {e}");
                failed = true;
            }
        }
    }
    print_table(&rows);
    if failed {
        std::process::exit(1);
    }
}
