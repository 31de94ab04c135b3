//! Alert-ingestion throughput into a fresh SQLite file through the public API
//! (`Store::connect`, `Store::ingest_alerts`), and whether it stays flat as
//! history grows (issue 13: at least 20,000 alerts/s, and the rate over the
//! last 10,000 alerts within 20% of the rate over the first 10,000).
//!
//! The stream (seeded, so every run ingests the same deliveries): 500
//! monitored objects, one check each, default grouping policy (fingerprint
//! source/object/check, 30-minute window, 10-minute flap interval, 1-hour
//! reopen window). The clock advances 0 to 2 s per delivery. A fifth of the
//! objects flap: their deliveries alternate between a firing (a new alert) and
//! its recovery (about 10 minutes apart, each object's turn coming round at
//! random, so both sides of the 10-minute flap interval occur). On the other
//! objects a firing recovers
//! with probability 1/2, 1 to 20 minutes later. 20% of deliveries redeliver
//! an earlier firing (one of the last 2,000). Severities: mostly critical,
//! major and minor, 10% warnings (annotate only). Each batch is ingested at
//! the latest instant of its alerts.
//!
//! ```sh
//! cargo run --release -p itsm-store --example alert_bench -- [TOTAL [BATCH]]
//! # defaults: TOTAL 100000, BATCH 1000
//! # the same stream as JSON lines, for the alert_storm example, without ingesting it:
//! cargo run --release -p itsm-store --example alert_bench -- 100000 1000 --write /tmp/storm.jsonl
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use itsm_core::alert::{Alert, AlertSeverity, GroupingPolicy};
use itsm_core::id::{ActorId, ServiceId, TenantId};
use itsm_core::{Actor, DomainConfig, Role, Timestamp};
use itsm_store::{IngestReport, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const OBJECTS: usize = 500;
/// Every fifth object flaps.
const FLAP_EVERY: usize = 5;
const REDELIVERY_SHARE: f64 = 0.2;
/// Redeliveries pick one of this many latest firings.
const REDELIVERY_REACH: usize = 2_000;
/// The first and last stretch whose rates are compared.
const STRETCH: usize = 10_000;
const SEED: u64 = 13;

/// `total` deliveries in delivery order.
fn stream(total: usize) -> Result<Vec<Alert>, String> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let start: i64 = 1_772_442_000; // 2026-03-02T09:00:00Z
    let at = |secs: i64| Timestamp::from_unix_secs(secs).ok_or_else(|| format!("instant {secs} out of range"));
    let objects: Vec<ServiceId> = (0..OBJECTS)
        .map(|i| ServiceId::new(format!("svc-{i:03}")).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut out: Vec<Alert> = Vec::with_capacity(total);
    let mut recent: VecDeque<Alert> = VecDeque::with_capacity(REDELIVERY_REACH);
    // Recoveries due, by instant (unsorted; the earliest due is delivered first).
    let mut pending: Vec<Alert> = Vec::new();
    // The last firing of each flapping object not yet recovered.
    let mut flapping: Vec<Option<Alert>> = vec![None; OBJECTS];
    let mut clock = start;
    let mut next_id = 0u64;
    while out.len() < total {
        clock += rng.random_range(0..=2);
        let now = at(clock)?;
        if !recent.is_empty() && rng.random_bool(REDELIVERY_SHARE) {
            let back = rng.random_range(0..recent.len());
            out.push(recent[recent.len() - 1 - back].clone());
            continue;
        }
        // Otherwise a recovery that is due goes first.
        if let Some(i) = pending.iter().position(|r| r.resolved_at.is_some_and(|t| t <= now)) {
            out.push(pending.swap_remove(i));
            continue;
        }
        let object = rng.random_range(0..OBJECTS);
        if object % FLAP_EVERY == 0
            && let Some(firing) = flapping[object].take()
        {
            // Flapping: this object's firing recovers before its next firing.
            let resolved = firing.fired_at.max(now);
            out.push(firing.recovered(resolved));
            continue;
        }
        next_id += 1;
        let severity = match rng.random_range(0..10) {
            0..=2 => AlertSeverity::Critical,
            3..=5 => AlertSeverity::Major,
            6..=8 => AlertSeverity::Minor,
            _ => AlertSeverity::Warning,
        };
        let firing = Alert::new("prom", format!("a-{next_id}"), objects[object].clone(), "health", severity, now);
        if object % FLAP_EVERY == 0 {
            // Its recovery is the object's next delivery.
            flapping[object] = Some(firing.clone());
        } else if rng.random_bool(0.5) {
            pending.push(firing.clone().recovered(at(clock + rng.random_range(60..=1_200))?));
        }
        if recent.len() == REDELIVERY_REACH {
            recent.pop_front();
        }
        recent.push_back(firing.clone());
        out.push(firing);
    }
    Ok(out)
}

fn rate(alerts: usize, elapsed: Duration) -> f64 {
    alerts as f64 / elapsed.as_secs_f64().max(1e-9)
}

async fn run(total: usize, batch: usize) -> Result<(), String> {
    let alerts = stream(total)?;
    let redeliveries = total - {
        let mut keys: Vec<(&str, bool)> =
            alerts.iter().map(|a| (a.alert_id.as_str(), a.resolved_at.is_some())).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    };
    let recoveries = alerts.iter().filter(|a| a.resolved_at.is_some()).count();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("alert_bench.db");
    let store = Store::connect(&format!("sqlite://{}", path.display())).await.map_err(|e| e.to_string())?;
    let tenant = TenantId::new("bench").map_err(|e| e.to_string())?;
    let bot = Actor::new(ActorId::new("monitoring").map_err(|e| e.to_string())?, tenant, [Role::Automation]);
    let (config, policy) = (DomainConfig::default(), GroupingPolicy::default());
    println!(
        "alert_bench: {total} alerts ({recoveries} recovery messages, {redeliveries} redeliveries), {OBJECTS} objects, \
         batches of {batch}, SQLite file {}",
        path.display()
    );
    // (alerts ingested so far, time so far) after each batch.
    let mut marks: Vec<(usize, Duration)> = vec![(0, Duration::ZERO)];
    let mut report = IngestReport::default();
    let started = Instant::now();
    let mut next_print = STRETCH;
    for chunk in alerts.chunks(batch) {
        let now = chunk.iter().map(|a| a.resolved_at.unwrap_or(a.fired_at)).max().ok_or("empty batch")?;
        report.absorb(store.ingest_alerts(&bot, &config, &policy, chunk, now).await.map_err(|e| e.to_string())?);
        let done = marks.last().map_or(0, |m| m.0) + chunk.len();
        marks.push((done, started.elapsed()));
        if done >= next_print || done == total {
            // The rate over the latest stretch of about STRETCH alerts.
            let from = marks.iter().rev().find(|m| m.0 + STRETCH <= done).copied().unwrap_or((0, Duration::ZERO));
            println!(
                "  {done:>7} alerts  {:>8.1} s  {:>9.0} alerts/s over alerts {}..{done}",
                marks.last().map_or(0.0, |m| m.1.as_secs_f64()),
                rate(done - from.0, marks.last().map_or(Duration::ZERO, |m| m.1) - from.1),
                from.0
            );
            next_print = done + STRETCH;
        }
    }
    let elapsed = started.elapsed();
    store.close().await;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    // First stretch: batches from the start until STRETCH alerts (or half the
    // run when shorter); last stretch: batches from the end back as far.
    let stretch = STRETCH.min(total / 2).max(1);
    let first = marks.iter().find(|m| m.0 >= stretch).copied().unwrap_or((total, elapsed));
    let last_from = marks.iter().rev().find(|m| m.0 + stretch <= total).copied().unwrap_or((0, Duration::ZERO));
    let end = marks.last().copied().unwrap_or((total, elapsed));
    let (first_rate, last_rate) = (rate(first.0, first.1), rate(end.0 - last_from.0, end.1 - last_from.1));
    println!("total:   {total} alerts in {:.2} s = {:.0} alerts/s", elapsed.as_secs_f64(), rate(total, elapsed));
    println!("first:   alerts 0..{} at {first_rate:.0} alerts/s", first.0);
    println!("last:    alerts {}..{} at {last_rate:.0} alerts/s", last_from.0, end.0);
    println!("ratio:   last/first = {:.3}", last_rate / first_rate.max(1e-9));
    println!(
        "outcome: {} incidents opened, {} merged, {} reopened, {} annotated, {} recoveries, {} duplicates, \
         {} ignored, {} commands refused, {} events; database file {:.1} MB",
        report.opened.len(),
        report.merged,
        report.reopened,
        report.annotated,
        report.recoveries,
        report.duplicates,
        report.ignored.len(),
        report.refused.len(),
        report.events,
        size as f64 / 1e6
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let parse = |name: &str, arg: Option<String>, default: usize| -> Result<usize, String> {
        match arg {
            None => Ok(default),
            Some(text) => match text.replace('_', "").parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                Ok(_) | Err(_) => Err(format!("{name} must be a positive whole number, got `{text}`")),
            },
        }
    };
    let total = parse("TOTAL", args.next(), 100_000)?;
    let batch = parse("BATCH", args.next(), 1_000)?;
    let usage = "usage: alert_bench [TOTAL [BATCH [--write PATH]]]";
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => run(total, batch).await,
        (Some("--write"), Some(path), None) => write(total, std::path::Path::new(&path)),
        (Some(extra), _, _) => Err(format!("unexpected argument `{extra}`; {usage}")),
    }
}

/// Writes the stream as JSON lines (the alert_storm example's input); a file
/// already at `path` is refused, never replaced.
fn write(total: usize, path: &std::path::Path) -> Result<(), String> {
    use std::io::Write;
    let alerts = stream(total)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for alert in &alerts {
        let line = serde_json::to_string(alert).map_err(|e| e.to_string())?;
        writeln!(out, "{line}").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    out.flush().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("wrote {} alerts to {}", alerts.len(), path.display());
    Ok(())
}
