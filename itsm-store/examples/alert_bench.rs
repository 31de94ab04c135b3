//! Alert-ingestion throughput into the embedded SQLite store
//! (`Store::ingest_alerts`), in batches of 1, 100 and 1,000 alerts.
//!
//! The stream: groups of 20 alerts (one monitored object each, all fired
//! within 3 minutes, so each group is one incident), 20 % of deliveries
//! redelivering an earlier alert, in delivery order. Each batch size runs on
//! a fresh database file (WAL, `synchronous = FULL`), one writer.
//!
//! ```sh
//! cargo run --release -p itsm-store --example alert_bench
//! ```

use std::time::Instant;

use itsm_core::alert::{Alert, AlertSeverity, GroupingPolicy};
use itsm_core::id::{ActorId, ServiceId, TenantId};
use itsm_core::{Actor, DomainConfig, Role, Timestamp};
use itsm_store::{IngestReport, Store};

/// `total` deliveries: distinct alerts in groups of 20, and every fifth
/// delivery a redelivery of a recent alert.
fn stream(total: usize) -> Vec<Alert> {
    let base = 1_772_442_000;
    let severities = [AlertSeverity::Minor, AlertSeverity::Major, AlertSeverity::Critical];
    let mut out: Vec<Alert> = Vec::with_capacity(total);
    let mut distinct = 0usize;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    while out.len() < total {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        if out.len() % 5 == 4 && distinct > 0 {
            let back = (seed % (distinct.min(200) as u64)) as usize;
            let original = out.iter().rev().nth(back).cloned();
            if let Some(a) = original {
                out.push(a);
                continue;
            }
        }
        let (g, k) = (distinct / 20, distinct % 20);
        let at = Timestamp::from_unix_secs(base + (g as i64) * 600 + (k as i64) * 9).expect("instant");
        let object = ServiceId::new(format!("svc-{g}")).expect("id");
        out.push(Alert::new("prom", format!("a-{g}-{k}"), object, "cpu", severities[(g + k) % 3], at));
        distinct += 1;
    }
    out
}

async fn run(batch: usize, total: usize) -> Result<(f64, IngestReport), String> {
    let dir = std::env::temp_dir().join(format!("itsm-alert-bench-{}-{batch}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = Store::connect(&url).await.map_err(|e| e.to_string())?;
    let tenant = TenantId::new("bench").map_err(|e| e.to_string())?;
    let bot = Actor::new(ActorId::new("monitoring").map_err(|e| e.to_string())?, tenant, [Role::Automation]);
    let (config, policy) = (DomainConfig::default(), GroupingPolicy::default());
    let alerts = stream(total);
    let now = alerts.iter().map(|a| a.fired_at).max().ok_or("empty stream")?;
    let mut report = IngestReport::default();
    let started = Instant::now();
    for chunk in alerts.chunks(batch) {
        report.absorb(store.ingest_alerts(&bot, &config, &policy, chunk, now).await.map_err(|e| e.to_string())?);
    }
    let secs = started.elapsed().as_secs_f64();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((total as f64 / secs, report))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    println!("alert ingestion into SQLite (WAL, synchronous=FULL), one writer");
    println!("{:>6} {:>8} {:>10} {:>8} {:>7} {:>10}", "batch", "alerts", "alerts/s", "opened", "merged", "duplicates");
    for (batch, total) in [(1usize, 2_000usize), (100, 20_000), (1000, 20_000)] {
        let (rate, report) = run(batch, total).await?;
        println!(
            "{batch:>6} {total:>8} {rate:>10.0} {:>8} {:>7} {:>10}",
            report.opened.len(),
            report.merged,
            report.duplicates
        );
    }
    Ok(())
}
