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
//! ```sh
//! cargo run -p itsm-examples --example alert_storm
//! cargo run -p itsm-examples --example alert_storm -- --input examples/alert_storm.jsonl --db storm.db
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use itsm_core::alert::{Alert, GroupingPolicy};
use itsm_core::classify::ResolvedBy;
use itsm_core::id::{ActorId, TenantId};
use itsm_core::incident::{Incident, IncidentCommand, ResolutionCode};
use itsm_core::{Actor, Context, DomainConfig, Role, Timestamp};
use itsm_store::{IngestReport, Request, Store};

/// Replays an alert burst into incidents and clears them on resolution.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// JSON-lines file of alert deliveries.
    #[arg(long, default_value = "alert_storm.jsonl")]
    input: PathBuf,
    /// SQLite file to use (replaced if it exists); default: a temporary file, removed at the end.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Alerts per ingested batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
}

fn read_alerts(path: &PathBuf) -> Result<Vec<Alert>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

async fn run(args: Args) -> Result<(), String> {
    let alerts = read_alerts(&args.input)?;
    let (path, temporary) = match &args.db {
        Some(path) => (path.clone(), false),
        None => (std::env::temp_dir().join(format!("itsm-alert-storm-{}.db", std::process::id())), true),
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = Store::connect(&format!("sqlite://{}", path.display())).await.map_err(|e| e.to_string())?;
    let result = replay(&store, &alerts, args.batch.max(1)).await;
    store.close().await;
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    result
}

async fn replay(store: &Store, alerts: &[Alert], batch: usize) -> Result<(), String> {
    let tenant = TenantId::new("acme").map_err(|e| e.to_string())?;
    let bot = Actor::new(ActorId::new("monitoring").map_err(|e| e.to_string())?, tenant.clone(), [Role::Automation]);
    let agent = Actor::new(ActorId::new("ann").map_err(|e| e.to_string())?, tenant, [Role::Agent]);
    let config = DomainConfig::default();
    let policy = GroupingPolicy::default();
    let mut total = IngestReport::default();
    let mut now = alerts.first().map(|a| a.fired_at).ok_or("no alerts in the input")?;
    for chunk in alerts.chunks(batch) {
        for alert in chunk {
            now = now.max(alert.resolved_at.unwrap_or(alert.fired_at));
        }
        let report = store.ingest_alerts(&bot, &config, &policy, chunk, now).await.map_err(|e| e.to_string())?;
        total.absorb(report);
    }
    println!("alerts received: {}", total.received);
    println!("incidents opened: {}", total.opened.len());
    println!("alerts merged: {}", total.merged);
    println!("alerts annotated: {}", total.annotated);
    println!("duplicates: {}", total.duplicates);
    println!("recoveries: {}", total.recoveries);
    println!("ignored: {}", total.ignored);
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

fn main() -> ExitCode {
    let args = Args::parse();
    itsm_examples::run_main("alert_storm", run(args))
}
