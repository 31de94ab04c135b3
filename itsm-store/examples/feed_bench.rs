//! Event-feed lag at a steady command rate (issue 15's target: at 1,000
//! commands/s, p99 at most 100 ms), beside a baseline in the same run: the
//! commit latency of the same commands (the time from issuing a command to
//! `Store::execute` returning). The feed's own delay is what the lag adds to
//! it.
//!
//! Writers (tokio tasks) add work notes to 200 open incidents at a paced
//! total rate, each command's `now` the wall clock when it is issued. A
//! reader tails `Store::events_after` as an incident manager, waiting on
//! `Store::subscribe` when a page is not full, and takes each event's lag as
//! the wall clock when the page arrives minus the event's `recorded_at`.
//!
//! * SQLite: the reader shares the writers' store (an embedded portal: one
//!   process; another process would find commits by polling, 500 ms).
//! * PostgreSQL: the reader has a store of its own (its own pools and
//!   listener: another portal instance), woken by `LISTEN/NOTIFY`.
//!
//! ```sh
//! cargo run --release -p itsm-store --all-features --example feed_bench -- \
//!     [--rate 1000] [--seconds 10] [--writers 16] [--sqlite-only | --pg-only]
//! ```
//!
//! PostgreSQL: `ITSM_PG_URL` or `postgres://postgres@127.0.0.1:5432/test`, a
//! fresh schema per run, dropped at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use itsm_core::id::{ActorId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident};
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Urgency};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::{ConnectOptions, FeedCursor, ImportCommand, OnReject, Request, Store};
use sqlx::Connection;

const INCIDENTS: usize = 200;

struct Args {
    rate: f64,
    seconds: f64,
    writers: usize,
    sqlite: bool,
    postgres: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args { rate: 1000.0, seconds: 10.0, writers: 16, sqlite: true, postgres: true };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--rate" => a.rate = value("--rate")?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--seconds" => a.seconds = value("--seconds")?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--writers" => a.writers = value("--writers")?.parse().map_err(|e| format!("--writers: {e}"))?,
            "--sqlite-only" => a.postgres = false,
            "--pg-only" => a.sqlite = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.rate <= 0.0 || a.seconds <= 0.0 || a.writers == 0 {
        return Err("--rate, --seconds and --writers must be positive".to_owned());
    }
    Ok(a)
}

fn wall() -> Timestamp {
    Timestamp::from_utc(chrono::Utc::now())
}

fn since(at: Timestamp) -> Duration {
    Duration::from_micros(u64::try_from(wall().unix_micros() - at.unix_micros()).unwrap_or(0))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(rank).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs one backend: `writer_store` takes the commands, `reader_store`
/// tails the feed.
async fn measure(writer_store: Store, reader_store: Store, a: &Args, label: &str) -> Result<(), String> {
    let tenant = TenantId::new("feed-bench").map_err(|e| e.to_string())?;
    let actor = Actor::new(ActorId::new("bench").map_err(|e| e.to_string())?, tenant, [Role::IncidentManager]);
    let config = DomainConfig::default();
    let ids: Vec<String> = (0..INCIDENTS).map(|i| format!("INC-{i}")).collect();
    let opens: Vec<IncidentCommand> = ids
        .iter()
        .map(|id| {
            Ok(IncidentCommand::Open(OpenIncident::new(
                IncidentId::new(id).map_err(|e| e.to_string())?,
                IncidentKind::Production,
                ServiceId::new("mail").map_err(|e| e.to_string())?,
                Text::new("mail is slow").map_err(|e| e.to_string())?,
                Impact::Medium,
                Urgency::Medium,
                DetectionSource::User,
            )))
        })
        .collect::<Result<_, String>>()?;
    let batch: Vec<ImportCommand<'_, Incident>> = ids
        .iter()
        .zip(&opens)
        .map(|(id, open)| ImportCommand { actor: &actor, now: wall(), aggregate_id: id, command: open.clone() })
        .collect();
    writer_store.import_batch(&config, &batch, OnReject::Abort).await.map_err(|e| e.to_string())?;

    // The reader starts at the end of what is there.
    let mut cursor = FeedCursor::START;
    loop {
        let page = reader_store.events_after(&actor, cursor, 1000).await.map_err(|e| e.to_string())?;
        cursor = page.next;
        if !page.more {
            break;
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, actor, stop) = (reader_store.clone(), actor.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut lags = Vec::new();
            let mut signal = store.subscribe();
            let mut cursor = cursor;
            let mut stopping = false;
            loop {
                let page = store.events_after(&actor, cursor, 500).await.map_err(|e| e.to_string())?;
                lags.extend(page.events.iter().map(|e| since(e.event.recorded_at)));
                cursor = page.next;
                if page.more {
                    continue;
                }
                // Stopped: the writers' last commits came before the flag;
                // read once more after seeing it, then end.
                if stopping {
                    return Ok::<_, String>(lags);
                }
                if stop.load(Ordering::Relaxed) {
                    stopping = true;
                    continue;
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), signal.wait()).await;
            }
        })
    };
    let per_writer = Duration::from_secs_f64(a.writers as f64 / a.rate);
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds);
    let mut writers = Vec::new();
    for w in 0..a.writers {
        let (store, actor, ids, stride) = (writer_store.clone(), actor.clone(), ids.clone(), a.writers);
        writers.push(tokio::spawn(async move {
            let config = DomainConfig::default();
            let note = IncidentCommand::AddNote { text: Text::new("checked the relay queue").unwrap(), public: true };
            let mut ticker = tokio::time::interval(per_writer);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut commits = Vec::new();
            let mut n = w;
            while Instant::now() < deadline {
                ticker.tick().await;
                let issued = wall();
                let id = &ids[n % ids.len()];
                // Each writer its own residue class of incidents.
                n += stride;
                store
                    .execute::<Incident>(Request::new(Context::new(&actor, issued, &config), id, &note))
                    .await
                    .map_err(|e| format!("{id}: {e}"))?;
                commits.push(since(issued));
            }
            Ok::<_, String>(commits)
        }));
    }
    let started = Instant::now();
    let mut commits = Vec::new();
    for w in writers {
        commits.extend(w.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut lags = reader.await.map_err(|e| e.to_string())??;
    commits.sort();
    lags.sort();
    if lags.len() != commits.len() {
        return Err(format!("the feed brought {} events for {} commands", lags.len(), commits.len()));
    }
    let (c50, c99) = (percentile(&commits, 0.5), percentile(&commits, 0.99));
    let (l50, l99) = (percentile(&lags, 0.5), percentile(&lags, 0.99));
    println!(
        "{label}: {} commands in {:.1} s ({:.0}/s)\n  commit latency (baseline)  p50 {:>7.2} ms  p99 {:>7.2} ms\n  \
         feed lag                   p50 {:>7.2} ms  p99 {:>7.2} ms   (target p99 <= 100 ms)\n  \
         lag / commit latency, p99  {:.2}",
        commits.len(),
        elapsed.as_secs_f64(),
        commits.len() as f64 / elapsed.as_secs_f64(),
        ms(c50),
        ms(c99),
        ms(l50),
        ms(l99),
        ms(l99) / ms(c99).max(1e-9),
    );
    Ok(())
}

async fn run() -> Result<(), String> {
    let a = args()?;
    if a.sqlite {
        let dir = std::env::temp_dir().join(format!("itsm-feed-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let url = format!("sqlite://{}", dir.join("feed.db").display());
        let store = Store::connect_with(&url, &ConnectOptions { max_connections: 4, ..ConnectOptions::default() })
            .await
            .map_err(|e| e.to_string())?;
        let result = measure(store.clone(), store.clone(), &a, "SQLite (reader in the same store)").await;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    if a.postgres {
        let base =
            std::env::var("ITSM_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("itsm_feed_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&base).await.map_err(|e| format!("PostgreSQL at {base}: {e}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let options = ConnectOptions { max_connections: a.writers.max(4) as u32, ..ConnectOptions::default() };
        let writer = Store::connect_with(&url, &options).await.map_err(|e| e.to_string())?;
        let reader = Store::connect_with(&url, &ConnectOptions::default()).await.map_err(|e| e.to_string())?;
        let result =
            measure(writer.clone(), reader.clone(), &a, "PostgreSQL (reader in another store, LISTEN/NOTIFY)").await;
        writer.close().await;
        reader.close().await;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&mut conn).await;
        result?;
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("feed_bench: {e}");
        std::process::exit(1);
    }
}
