//! Replays a recorded burst of monitoring alerts into an embedded SQLite
//! store with `Store::ingest_alerts`, then resolves every incident it opened
//! and drains the outbox, counting the `alert.clear` messages.
//!
//! The input is JSON lines, one alert delivery per line (`source`,
//! `alert_id`, `object`, `check`, `severity`, `fired_at`, optional
//! `resolved_at`, `labels`, `dedup_key`), in delivery order: several
//! monitored objects, redeliveries, a flapping check, recoveries. Lines are
//! ingested in batches; each batch is decided at the latest alert instant
//! seen so far. Grouping uses the default policy (fingerprint source, object,
//! check; 30-minute window, 10-minute flap interval).
//!
//! `--db PATH` creates a new database at PATH and never deletes what is there: a database
//! of this library already at PATH is refused unless `--replace` is given,
//! and anything else (an input file, a directory, a device, another
//! application's database) is refused, `--replace` or not.
//!
//! ```sh
//! cargo run -p itsm-examples --example alert_storm
//! cargo run -p itsm-examples --example alert_storm -- --input examples/alert_storm.jsonl --db storm.db
//! # 100,000 alerts from the store's benchmark stream, at the default batch of 8:
//! cargo run --release -p itsm-store --example alert_bench -- 100000 1000 --write /tmp/storm.jsonl
//! cargo run --release --example alert_storm -- --input /tmp/storm.jsonl
//! ```
//!
//! It prints the ingestion rate overall and over the first and last tenth of
//! the batches, then the counts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use itsm_core::alert::{Alert, GroupingPolicy};
use itsm_core::id::{ActorId, TenantId};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::vocabulary::ResolvedBy;
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_examples::db;
use itsm_store::{IngestReport, Request, Store};

/// Replays an alert burst into incidents and clears them on resolution.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// JSON-lines file of alert deliveries; default: the bundled examples/alert_storm.jsonl
    /// (found from any working directory).
    #[arg(long)]
    input: Option<PathBuf>,
    /// SQLite file to write (created; a database of this library already there is refused unless --replace);
    /// default: a temporary file, removed at the end.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Replace the --db file if it holds a database of this library (anything else is never replaced).
    #[arg(long)]
    replace: bool,
    /// Alerts per ingested batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

/// The bundled alert burst, wherever the example is run from.
fn bundled_input() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alert_storm.jsonl")
}

fn read_alerts(path: &PathBuf) -> Result<Vec<Alert>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    itsm_core::json::strip_bom(&text)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

async fn run(args: Args) -> Result<(), String> {
    let alerts = read_alerts(&args.input.unwrap_or_else(bundled_input))?;
    let (path, temporary) = match &args.db {
        Some(path) => (path.clone(), false),
        None => (db::temporary("alert-storm"), true),
    };
    let store = db::open(&path, args.replace, db::Existing::Refuse).await?;
    let result = replay(&store, &alerts, args.batch.max(1)).await;
    store.close().await;
    if temporary {
        db::remove_temporary(&path);
    }
    result
}

async fn replay(store: &Store, alerts: &[Alert], batch: usize) -> Result<(), String> {
    let tenant = TenantId::new("acme").map_err(|e| e.to_string())?;
    let bot = Actor::new(ActorId::new("monitoring").map_err(|e| e.to_string())?, tenant.clone(), [Role::Automation]);
    let agent =
        Actor::new(ActorId::new("ann").map_err(|e| e.to_string())?, tenant, [Role::Agent, Role::IncidentManager]);
    let config = DomainConfig::default();
    let policy = GroupingPolicy::default();
    let mut total = IngestReport::default();
    // Invalid alerts (ignored, with their reason) do not move the clock: an
    // instant outside the supported range would make `now` unusable.
    let first = alerts.iter().find(|a| a.validate().is_ok()).or(alerts.first()).ok_or("no alerts in the input")?;
    let mut now = first.fired_at.clamp(Timestamp::MIN, Timestamp::MAX);
    // Wall time per batch, to show whether ingestion slows as history grows.
    let mut took = Vec::with_capacity(alerts.len() / batch + 1);
    for chunk in alerts.chunks(batch) {
        for alert in chunk.iter().filter(|a| a.validate().is_ok()) {
            now = now.max(alert.resolved_at.unwrap_or(alert.fired_at));
        }
        let started = Instant::now();
        let report = store.ingest_alerts(&bot, &config, &policy, chunk, now).await.map_err(|e| e.to_string())?;
        took.push((chunk.len(), started.elapsed()));
        total.absorb(report);
    }
    print_rates(&took);
    println!("alerts received: {}", total.received);
    println!("incidents opened: {}", total.opened.len());
    println!("alerts merged: {}", total.merged);
    println!("alerts annotated: {}", total.annotated);
    println!("duplicates: {}", total.duplicates);
    println!("recoveries: {}", total.recoveries);
    println!("ignored: {}", total.ignored.len());
    let mut by_reason: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for ignored in &total.ignored {
        *by_reason.entry(ignored.reason.name()).or_default() += 1;
    }
    for (reason, count) in &by_reason {
        println!("  ignored as {reason}: {count}");
    }
    for ignored in &total.ignored {
        println!("  ignored {}: {}", ignored.alert, ignored.reason);
    }
    println!("commands refused: {}", total.refused.len());
    for refused in &total.refused {
        println!("  refused {} on {} for {}: {}", refused.command, refused.incident, refused.alert, refused.reason);
    }
    // An engineer resolves every incident an hour after the last alert.
    let resolved_at = Timestamp::from_unix_micros(now.unix_micros() + 3_600_000_000).ok_or("time out of range")?;
    let resolve =
        IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
    for id in &total.opened {
        let loaded = store.load::<Incident>(&agent, id.as_str()).await.map_err(|e| e.to_string())?;
        println!("  {id}: {} alerts, priority {:?}", loaded.state.alerts().len(), loaded.state.priority());
        store
            .execute::<Incident>(Request::new(Context::new(&agent, resolved_at, &config), id.as_str(), &resolve))
            .await
            .map_err(|e| format!("resolving {id}: {e}"))?;
    }
    println!("incidents resolved: {}", total.opened.len());
    let mut clears = 0;
    loop {
        let items =
            store.claim("alert-bridge", Duration::from_secs(60), 100, resolved_at).await.map_err(|e| e.to_string())?;
        if items.is_empty() {
            break;
        }
        for item in items {
            if store.ack(item.id, "alert-bridge", resolved_at).await.map_err(|e| e.to_string())?
                && item.topic == "alert.clear"
            {
                clears += 1;
            }
        }
    }
    println!("clears emitted: {clears}");
    Ok(())
}

/// Ingestion rate overall and over the first and the last tenth of the alerts.
fn print_rates(took: &[(usize, Duration)]) {
    let rate = |part: &[(usize, Duration)]| {
        let alerts: usize = part.iter().map(|p| p.0).sum();
        let secs: f64 = part.iter().map(|p| p.1.as_secs_f64()).sum();
        (alerts, if secs > 0.0 { alerts as f64 / secs } else { 0.0 })
    };
    let (alerts, overall) = rate(took);
    println!("ingestion: {alerts} alerts in {} batches, {overall:.0} alerts/s", took.len());
    let tenth = took.len() / 10;
    if tenth > 0 {
        let (_, first) = rate(&took[..tenth]);
        let (_, last) = rate(&took[took.len() - tenth..]);
        println!(
            "  first tenth {first:.0} alerts/s, last tenth {last:.0} alerts/s, last/first {:.2}",
            if first > 0.0 { last / first } else { 0.0 }
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    itsm_examples::run_main("alert_storm", run(args))
}
