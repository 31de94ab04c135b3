//! Peak memory of streaming incident records from the store to the metrics
//! crate, beside the naive baseline that loads every record first.
//!
//! ```sh
//! cargo run --release --example stream_memory -- fill   --db /tmp/stream.db --incidents 1000000
//! cargo run --release --example stream_memory -- stream --db /tmp/stream.db
//! cargo run --release --example stream_memory -- collect --db /tmp/stream.db
//! ```
//!
//! `fill` issues open + resolve commands for N incidents through the domain
//! and the store (bulk import). `stream` folds the event log one aggregate at
//! a time straight into an `itsm_metrics::Accumulator`; `collect` first
//! collects every record into a `Vec` (what a caller without streaming would
//! do). Each phase runs in its own process and prints its peak resident set
//! (`VmHWM` from `/proc/self/status`, Linux).
//!
//! `--db PATH` is never deleted: `fill` creates a new database there and
//! refuses a database of this library already at PATH unless `--replace` is
//! given; `stream` and `collect` open an existing one. Anything else at PATH
//! (a directory, a device, another application's database, any other file)
//! is refused, `--replace` or not.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use itsm_core::calendar::Calendar;
use itsm_core::id::{IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, ResolutionCode};
use itsm_core::sla::SlaPolicy;
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, ResolvedBy, Urgency};
use itsm_core::{Actor, DomainConfig, Role, Timestamp};
use itsm_examples::records::{for_each_incident_record, incident_records};
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds};
use itsm_store::{ImportCommand, OnReject, Store};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Phase {
    Fill,
    Stream,
    Collect,
}

/// Peak memory of streaming records from the store to the metrics crate.
#[derive(Debug, Parser)]
struct Args {
    /// Which phase to run.
    phase: Phase,
    /// The SQLite file (fill: created; stream, collect: read).
    #[arg(long)]
    db: PathBuf,
    /// fill: replace the --db file if it holds a database of this library (anything else is never replaced).
    #[arg(long)]
    replace: bool,
    /// Incidents to create (fill).
    #[arg(long, default_value_t = 1_000_000)]
    incidents: usize,
    /// Stream without settling repeat verdicts as the stream advances (every
    /// opening then waits for the end, 16 bytes each).
    #[arg(long)]
    unsettled: bool,
}

/// Records between two `settle_before` calls (each is a pass over the services).
const SETTLE_EVERY: usize = 4_096;

const START: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ts(secs: i64) -> Result<Timestamp, String> {
    Timestamp::from_unix_secs(secs).ok_or_else(|| format!("instant {secs} out of range"))
}

async fn fill(store: &Store, actor: &Actor, n: usize) -> Result<(), String> {
    let config = DomainConfig::default();
    let services: Vec<ServiceId> = (0..50)
        .map(|i| ServiceId::new(format!("service-{i:02}")))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let ids: Vec<String> = (0..n).map(|i| format!("INC{i:07}")).collect();
    let mut done = 0usize;
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let mut batch: Vec<ImportCommand<'_, Incident>> = Vec::with_capacity(chunk.len() * 2);
        for &i in chunk {
            let opened = START + (i as i64) * 7;
            let mut open = OpenIncident::new(
                IncidentId::new(ids[i].as_str()).map_err(|e| e.to_string())?,
                IncidentKind::Production,
                services[i % services.len()].clone(),
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
            batch.push(ImportCommand {
                actor,
                now: ts(opened + 600 + (i as i64 % 50_000))?,
                aggregate_id: &ids[i],
                command: IncidentCommand::Resolve {
                    code: ResolutionCode::Fixed,
                    resolved_by: ResolvedBy::L1,
                    restored_at: None,
                },
            });
        }
        store.import_batch(&config, &batch, OnReject::Abort).await.map_err(|e| e.to_string())?;
        done += chunk.len();
    }
    println!("filled {done} incidents");
    Ok(())
}

async fn run(args: Args) -> Result<(), String> {
    let existing = match args.phase {
        Phase::Fill => itsm_examples::db::Existing::Refuse,
        Phase::Stream | Phase::Collect => itsm_examples::db::Existing::Read,
    };
    let store = itsm_examples::db::open(&args.db, args.replace, existing).await?;
    let tenant = TenantId::new("bench").map_err(|e| e.to_string())?;
    let actor =
        Actor::new(itsm_core::id::ActorId::new("bench").map_err(|e| e.to_string())?, tenant.clone(), [Role::Agent]);
    let policy = SlaPolicy::default();
    let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
    let (from, to) = (ts(START)?, ts(START + 400 * 86_400)?);
    let config = ScorecardConfig::new(from, to).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let records = match args.phase {
        Phase::Fill => {
            fill(&store, &actor, args.incidents).await?;
            0
        }
        Phase::Stream => {
            let mut acc = Accumulator::new(config).map_err(|e| e.to_string())?;
            let mut n = 0usize;
            let mut failed: Option<itsm_metrics::MetricsError> = None;
            // STREAM_WITHOUT_METRICS=1 measures the read path alone (attribution).
            let push = std::env::var_os("STREAM_WITHOUT_METRICS").is_none();
            // The store streams in id order; `fill` issues ids in opening order (as
            // ServiceNow numbers are), so the stream is in opening order and the
            // accumulator can settle repeat verdicts as it goes. Were it not, the
            // next push would be refused (a typed error), never miscounted.
            let settle = !args.unsettled;
            for_each_incident_record(&store, &tenant, &policy, &calendar, to, |r| {
                if !push || failed.is_some() {
                    n += 1;
                    return;
                }
                if let Err(e) = acc.push_incident(&r) {
                    failed = Some(e);
                }
                n += 1;
                if settle && n.is_multiple_of(SETTLE_EVERY) {
                    acc.settle_before(r.opened_at);
                }
            })
            .await
            .map_err(|e| e.to_string())?;
            if let Some(e) = failed {
                return Err(e.to_string());
            }
            println!("retained before finish: {:?}", acc.retained());
            let card = acc.finish(&Thresholds::maturity_model());
            println!("scorecard over {} incidents", card.inputs.incidents);
            n
        }
        Phase::Collect => {
            let all = incident_records(&store, &tenant, &policy, &calendar, to).await.map_err(|e| e.to_string())?;
            let card = itsm_metrics::compute(config, &Thresholds::maturity_model(), &all, &[], &[])
                .map_err(|e| e.to_string())?;
            println!("scorecard over {} incidents", card.inputs.incidents);
            all.len()
        }
    };
    store.close().await;
    println!(
        "{:?}: {records} records in {:.1} s, peak resident set {} MiB",
        args.phase,
        started.elapsed().as_secs_f64(),
        peak_rss_kib().map(|k| (k / 1024).to_string()).unwrap_or_else(|| "unknown".to_owned())
    );
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("stream_memory", run(Args::parse()))
}
