//! The scorecard from the store at scan speed (issue 18): the store path
//! (the metrics read model scanned into an `itsm_metrics::Accumulator`,
//! incidents in opening order settling repeat verdicts as they go, then
//! changes) against the in-memory scorecard over the same records
//! (`itsm_metrics::compute` over two `Vec`s), both in one run. The store
//! path runs first, so the peak resident set printed after it (`VmHWM`,
//! Linux) is its own; the in-memory baseline's records are then collected
//! (not timed) and only `compute` is timed.
//!
//! The tenant `scorecard-bench`: `INCIDENTS` incidents (default 1,000,000;
//! open, and resolve for nine in ten, at varied durations) on 50 services
//! and 97 categories, and `--changes N` standard changes (default 250,000;
//! create, schedule, start, complete with a failure in twenty, close) under
//! the default SLA policy on a 24x7 calendar stored as configuration
//! version 1, written through `Store::import_batch` (which writes the read
//! model in the same transactions). The fill is timed, in events per second.
//!
//! ```sh
//! cargo run --release -p itsm-store --example scorecard_bench -- [INCIDENTS] [--changes N] [--db URL]
//! # default: a fresh SQLite file in a temporary directory. With --db (a
//! # sqlite:// path or, with --all-features, a postgres:// URL) the tenant is
//! # filled only when it is empty, then reused.
//! ```

use std::time::Instant;

use futures_util::TryStreamExt;
use itsm_core::calendar::Calendar;
use itsm_core::change::{ChangeSpec, StandardChange, StandardCommand, Strategy, Window};
use itsm_core::id::{ActorId, ChangeId, IncidentId, ServiceId, TemplateId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, ResolutionCode};
use itsm_core::sla::SlaPolicy;
use itsm_core::versioned::Versioned;
use itsm_core::vocabulary::{ChangeOutcome, DetectionSource, Impact, IncidentKind, Remediation, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, DomainConfig, Role, Timestamp};
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds};
use itsm_store::{ImportCommand, OnReject, Store};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600;
const SERVICES: usize = 50;
/// Aggregates per import transaction.
const BATCH: usize = 5_000;
/// Records between two `settle_before` calls.
const SETTLE_EVERY: usize = 4_096;

fn ts(secs: i64) -> Result<Timestamp, String> {
    Timestamp::from_unix_secs(secs).ok_or_else(|| format!("instant {secs} out of range"))
}

fn peak_rss_mib() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or_else(|| "unknown".to_owned(), |kib| format!("{} MiB", kib / 1024))
}

fn services() -> Result<Vec<ServiceId>, String> {
    (0..SERVICES).map(|i| ServiceId::new(format!("service-{i:02}")).map_err(|e| e.to_string())).collect()
}

/// Imports a batch, returning the events written.
async fn import<A: Aggregate>(store: &Store, batch: &[ImportCommand<'_, A>]) -> Result<usize, String> {
    let config = DomainConfig::default();
    let report = store.import_batch(&config, batch, OnReject::Abort).await.map_err(|e| e.to_string())?;
    Ok(report.events)
}

async fn fill_incidents(store: &Store, actor: &Actor, n: usize) -> Result<usize, String> {
    let services = services()?;
    let ids: Vec<String> = (0..n).map(|i| format!("INC{i:07}")).collect();
    let mut events = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let mut batch: Vec<ImportCommand<'_, Incident>> = Vec::with_capacity(chunk.len() * 2);
        for &i in chunk {
            let opened = START + (i as i64) * 7;
            let mut open = OpenIncident::new(
                IncidentId::new(ids[i].as_str()).map_err(|e| e.to_string())?,
                IncidentKind::Production,
                services[i % SERVICES].clone(),
                Text::new("generated").map_err(|e| e.to_string())?,
                Impact::Medium,
                Urgency::Medium,
                DetectionSource::Monitoring,
            );
            open.category = Text::new(format!("symptom-{}", i % 97)).ok();
            batch.push(ImportCommand {
                actor,
                now: ts(opened)?,
                aggregate_id: &ids[i],
                command: IncidentCommand::Open(open),
            });
            if i % 10 != 9 {
                // From ten minutes to about a day and a half: some within the
                // resolution target, some past it.
                let resolved = opened + 600 + (i as i64 * 7_919) % 120_000;
                batch.push(ImportCommand {
                    actor,
                    now: ts(resolved)?,
                    aggregate_id: &ids[i],
                    command: IncidentCommand::Resolve {
                        code: ResolutionCode::Fixed,
                        resolved_by: ResolvedBy::L1,
                        restored_at: None,
                    },
                });
            }
        }
        events += import(store, &batch).await?;
    }
    Ok(events)
}

async fn fill_changes(store: &Store, actor: &Actor, n: usize) -> Result<usize, String> {
    let services = services()?;
    let ids: Vec<String> = (0..n).map(|i| format!("CHG{i:07}")).collect();
    let template = TemplateId::new("os-patch").map_err(|e| e.to_string())?;
    let mut events = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let mut batch: Vec<ImportCommand<'_, StandardChange>> = Vec::with_capacity(chunk.len() * 5);
        for &i in chunk {
            let at = START + (i as i64) * 28;
            let spec = ChangeSpec {
                id: ChangeId::new(ids[i].as_str()).map_err(|e| e.to_string())?,
                service: services[i % SERVICES].clone(),
                title: Text::new("patch").map_err(|e| e.to_string())?,
                strategy: Strategy::BigBang,
                auto_rollback: false,
            };
            let window = Window::new(ts(at + 3_600)?, ts(at + 7_200)?).ok_or("empty window")?;
            let failed = i % 20 == 0;
            let commands = [
                (at, StandardCommand::Create { spec, template: template.clone() }),
                (at + 60, StandardCommand::Schedule { window, override_reason: None }),
                (at + 3_600, StandardCommand::Start),
                (
                    at + 5_400,
                    StandardCommand::Complete {
                        outcome: if failed { ChangeOutcome::Failed } else { ChangeOutcome::Successful },
                        remediation: if failed { Remediation::RolledBack } else { Remediation::None },
                    },
                ),
                (at + 7_200, StandardCommand::Close),
            ];
            for (when, command) in commands {
                batch.push(ImportCommand { actor, now: ts(when)?, aggregate_id: &ids[i], command });
            }
        }
        events += import(store, &batch).await?;
    }
    Ok(events)
}

async fn run(url: &str, incidents: usize, changes: usize) -> Result<(), String> {
    let store = Store::connect(url).await.map_err(|e| format!("{}: {e}", itsm_store::redact_url(url)))?;
    let tenant = TenantId::new("scorecard-bench").map_err(|e| e.to_string())?;
    let actor =
        Actor::new(ActorId::new("bench").map_err(|e| e.to_string())?, tenant.clone(), Role::ALL.iter().copied());
    let empty = std::pin::pin!(store.incident_records(&tenant)).try_next().await.map_err(|e| e.to_string())?.is_none();
    if empty {
        let from = ts(START - 86_400)?;
        store
            .add_config_version(&tenant, Versioned::new(1, from, SlaPolicy::default()), from)
            .await
            .map_err(|e| e.to_string())?;
        store
            .add_config_version(&tenant, Versioned::new(1, from, Calendar::twenty_four_seven(chrono_tz::UTC)), from)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut events = fill_incidents(&store, &actor, incidents).await?;
        events += fill_changes(&store, &actor, changes).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "fill: {incidents} incidents and {changes} changes, {events} events through import_batch in {secs:.1} s \
             ({:.0} events/s)",
            events as f64 / secs
        );
    } else {
        println!("reusing tenant {tenant} of {}", itsm_store::redact_url(url));
    }
    let to = ts(START + 400 * 86_400)?;
    let config = ScorecardConfig::new(ts(START)?, to).map_err(|e| e.to_string())?;
    let thresholds = Thresholds::maturity_model();

    // The store path.
    let started = Instant::now();
    let mut acc = Accumulator::new(config.clone()).map_err(|e| e.to_string())?;
    let mut n = 0usize;
    let mut scan = std::pin::pin!(store.incident_records(&tenant));
    while let Some(r) = scan.try_next().await.map_err(|e| e.to_string())? {
        acc.push_incident(&r).map_err(|e| e.to_string())?;
        n += 1;
        if n.is_multiple_of(SETTLE_EVERY) {
            acc.settle_before(r.opened_at);
        }
    }
    acc.no_more_incidents();
    let mut c = 0usize;
    let mut scan = std::pin::pin!(store.change_records(&tenant));
    while let Some(r) = scan.try_next().await.map_err(|e| e.to_string())? {
        acc.push_change(&r);
        c += 1;
    }
    let from_store = acc.finish(&thresholds);
    let store_secs = started.elapsed().as_secs_f64();
    let store_peak = peak_rss_mib();
    println!(
        "store path: {n} incident and {c} change records scanned into the scorecard in {store_secs:.2} s, peak resident set {store_peak}"
    );

    // The in-memory baseline over the same records.
    let incidents: Vec<_> = store.incident_records(&tenant).try_collect().await.map_err(|e| e.to_string())?;
    let changes: Vec<_> = store.change_records(&tenant).try_collect().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let in_memory = itsm_metrics::compute(config, &thresholds, &incidents, &changes, &[]).map_err(|e| e.to_string())?;
    let memory_secs = started.elapsed().as_secs_f64();
    println!(
        "in memory: the same {} + {} records in {memory_secs:.2} s; store path / in memory = {:.2}x",
        incidents.len(),
        changes.len(),
        store_secs / memory_secs
    );
    let same = serde_json::to_value(&from_store).map_err(|e| e.to_string())?
        == serde_json::to_value(&in_memory).map_err(|e| e.to_string())?;
    println!("scorecards identical: {same}");
    store.close().await;
    if same { Ok(()) } else { Err("the store path's scorecard differs from the in-memory one".to_owned()) }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut incidents = 1_000_000usize;
    let mut changes = 250_000usize;
    let mut url: Option<String> = None;
    let mut args = std::env::args().skip(1);
    let count = |what: &str, text: Option<String>| -> Result<usize, String> {
        let text = text.ok_or_else(|| format!("{what} needs a number"))?;
        text.replace('_', "").parse().map_err(|_| format!("{what} must be a whole number, got `{text}`"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--db" => url = Some(args.next().ok_or("--db needs a URL")?),
            "--changes" => changes = count("--changes", args.next())?,
            _ => incidents = count("INCIDENTS", Some(arg))?,
        }
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("scorecard_bench.db").display()));
    run(&url, incidents, changes).await
}
