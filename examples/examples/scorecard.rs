//! The main job: a maturity scorecard from the embedded store.
//!
//! With no arguments it opens (or creates) `./itsm-demo.db`; on first run it
//! fills it by simulating a realistic quarter through the domain machines and
//! the store, then prints the text scorecard. With `--incidents`,
//! `--changes` and `--outages` it computes the scorecard from interchange CSV
//! files instead (rows are validated, and every rejected row is reported with
//! file, line, column and reason).
//!
//! ```sh
//! cargo run --release --example scorecard
//! cargo run --release --example scorecard -- --format html --out scorecard.html
//! cargo run --release --example scorecard -- --incidents incidents.csv --changes changes.csv --from 2026-01-01 --to 2026-04-01
//! ```

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use itsm_core::calendar::Calendar;
use itsm_core::id::TenantId;
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::sla::SlaPolicy;
use itsm_core::{DomainConfig, Timestamp};
use itsm_examples::records::{change_records, incident_records, resolution_met};
use itsm_examples::replay_records::{Importers, replay_change, replay_incident};
use itsm_examples::simulate::{Cast, load_into, quarter, simulate};
use itsm_metrics::{ScorecardConfig, Thresholds, render};
use itsm_store::Store;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
    Html,
}

/// Maturity scorecard: change failure, rollback failure, MTTR, availability,
/// repeat incidents, each rated level 1..5 against the operations maturity model.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// SQLite file of the embedded store (created and filled with a simulated quarter if empty).
    #[arg(long, default_value = "itsm-demo.db")]
    db: PathBuf,
    /// A store URL instead of --db (`sqlite://...` or `postgres://...`).
    #[arg(long)]
    db_url: Option<String>,
    /// Interchange CSV of incidents.
    #[arg(long)]
    incidents: Option<PathBuf>,
    /// Interchange CSV of changes.
    #[arg(long)]
    changes: Option<PathBuf>,
    /// Interchange CSV of outages.
    #[arg(long)]
    outages: Option<PathBuf>,
    /// Start of the period (RFC 3339 or YYYY-MM-DD, UTC); default: the simulated quarter's start.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, exclusive; default: the simulated quarter's end.
    #[arg(long)]
    to: Option<String>,
    /// IANA zone in which monthly buckets are cut.
    #[arg(long, default_value = "UTC")]
    tz: chrono_tz::Tz,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Incidents to simulate on first run.
    #[arg(long, default_value_t = 5_000)]
    simulate_incidents: usize,
    /// Changes to simulate on first run.
    #[arg(long, default_value_t = 600)]
    simulate_changes: usize,
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Timestamp::from_utc(t.and_utc()))
        .ok_or_else(|| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))
}

fn read_csv<T>(
    path: &PathBuf,
    open: impl Fn(
        &str,
        std::fs::File,
    ) -> Result<itsm_metrics::import::Rows<std::fs::File, T>, itsm_metrics::import::ImportError>,
) -> Result<Vec<T>, String> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut rows = open(&name, file).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows.by_ref() {
        match row {
            Ok(record) => out.push(record),
            Err(rejected) => {
                for error in &rejected.errors {
                    eprintln!("{error}");
                }
            }
        }
    }
    let report = rows.into_report();
    eprintln!("{name}: {} rows accepted, {} rejected", report.accepted, report.rejected);
    for warning in &report.warnings {
        eprintln!("{name}: warning: {warning}");
    }
    Ok(out)
}

/// The SLA policy and calendar the on-time resolution rate is judged by: the
/// default policy on a 24x7 UTC calendar.
fn sla() -> (SlaPolicy, Calendar) {
    (SlaPolicy::default(), Calendar::twenty_four_seven(chrono_tz::UTC))
}

/// Keeps the records the domain machines accept; reports the others.
fn replayed<T>(
    path: &std::path::Path,
    records: Vec<T>,
    mut replay: impl FnMut(&mut T) -> Result<(), (String, String)>,
) -> Vec<T> {
    let before = records.len();
    let kept: Vec<T> = records
        .into_iter()
        .filter_map(|mut r| match replay(&mut r) {
            Ok(()) => Some(r),
            Err((id, reason)) => {
                eprintln!("{}: {id}: refused by the domain: {reason}", path.display());
                None
            }
        })
        .collect();
    eprintln!("{}: {} of {before} records replayed through the domain machines", path.display(), kept.len());
    kept
}

async fn from_store(args: &Args, now: Timestamp) -> Result<(Vec<IncidentRecord>, Vec<ChangeRecord>), String> {
    let url = args.db_url.clone().unwrap_or_else(|| format!("sqlite://{}", args.db.display()));
    let store = Store::connect(&url).await.map_err(|e| format!("cannot open {url}: {e}"))?;
    let tenant = TenantId::new("demo").map_err(|e| e.to_string())?;
    let config = DomainConfig::default();
    let cast = Cast::new(&tenant);
    let empty = store
        .events_page(&tenant, itsm_core::AggregateKind::Incident, None, 1)
        .await
        .map_err(|e| e.to_string())?
        .is_empty();
    if empty {
        let sim = simulate(args.seed, &cast, args.simulate_incidents, args.simulate_changes);
        let total = sim.commands();
        let tty = std::io::stderr().is_terminal();
        eprintln!(
            "{url} is empty: simulating a quarter ({} incidents, {} changes, {total} commands) through the domain and the store",
            sim.incident_count, sim.change_count
        );
        let mut done = 0usize;
        let mut progress = |n: usize| {
            done += n;
            if tty {
                let width = 40;
                let filled = done * width / total.max(1);
                eprint!("\r[{}{}] {done}/{total}", "#".repeat(filled), " ".repeat(width - filled));
            }
        };
        let report = load_into(&store, &config, &sim, &mut progress).await?;
        if tty {
            eprintln!();
        }
        eprintln!(
            "committed {} commands, {} events; refused {}",
            report.committed,
            report.events,
            report.refused.len()
        );
        for reason in report.refused.iter().take(10) {
            eprintln!("  refused: {reason}");
        }
    }
    let (policy, calendar) = sla();
    let incidents = incident_records(&store, &tenant, &policy, &calendar, now).await.map_err(|e| e.to_string())?;
    let changes = change_records(&store, &tenant).await.map_err(|e| e.to_string())?;
    store.close().await;
    Ok((incidents, changes))
}

async fn run(args: Args) -> Result<(), String> {
    let (default_from, default_to) = quarter();
    let from = args.from.as_deref().map(parse_instant).transpose()?.unwrap_or(default_from);
    let to = args.to.as_deref().map(parse_instant).transpose()?.unwrap_or(default_to);
    let from_csv = args.incidents.is_some() || args.changes.is_some() || args.outages.is_some();
    let (incidents, changes, outages): (Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>) = if from_csv {
        let tenant = TenantId::new("csv-import").map_err(|e| e.to_string())?;
        let who = Importers::new(&tenant);
        let config = DomainConfig::default();
        let (policy, calendar) = sla();
        let incidents = match &args.incidents {
            Some(p) => replayed(p, read_csv(p, itsm_metrics::import::incidents)?, |r| {
                let (_, events) = replay_incident(r, &who, &config).map_err(|e| (r.id.to_string(), e))?;
                r.resolution_target_met = resolution_met(&events, &policy, &calendar, to);
                Ok(())
            }),
            None => Vec::new(),
        };
        let changes = match &args.changes {
            Some(p) => replayed(p, read_csv(p, itsm_metrics::import::changes)?, |r: &mut ChangeRecord| {
                replay_change(r, &who, &config).map_err(|e| (r.id.to_string(), e))
            }),
            None => Vec::new(),
        };
        let outages = match &args.outages {
            Some(p) => read_csv(p, itsm_metrics::import::outages)?,
            None => Vec::new(),
        };
        (incidents, changes, outages)
    } else {
        let (incidents, changes) = from_store(&args, to).await?;
        (incidents, changes, Vec::new())
    };
    let config = ScorecardConfig::new(from, to).map_err(|e| e.to_string())?.with_zone(args.tz);
    let card = itsm_metrics::compute(config, &Thresholds::maturity_model(), &incidents, &changes, &outages)
        .map_err(|e| e.to_string())?;
    let output = match args.format {
        Format::Text => render::text(&card),
        Format::Json => render::json(&card).map_err(|e| e.to_string())?,
        Format::Csv => render::csv(&card).map_err(|e| e.to_string())?,
        Format::Html => render::html(&card),
    };
    match &args.out {
        Some(path) => std::fs::write(path, output).map_err(|e| format!("{}: {e}", path.display()))?,
        None => print!("{output}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("scorecard", run(Args::parse()))
}
