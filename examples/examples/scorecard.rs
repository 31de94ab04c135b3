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
use itsm_examples::records::{for_each_change_record, for_each_incident_record, resolution_met};
use itsm_examples::replay_records::{Importers, replay_change, replay_incident};
use itsm_examples::simulate::{Cast, load_into, quarter, simulate};
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds, render};
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
    /// Start of the period (RFC 3339, or YYYY-MM-DD = midnight in --tz); default: the simulated quarter's start.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, exclusive (RFC 3339, or YYYY-MM-DD = midnight in --tz); default: the simulated quarter's end.
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

/// An RFC 3339 instant, or a date meaning its first instant in `zone` (so that
/// `--from 2026-01-01 --tz Europe/Paris` starts on a month boundary of the zone).
fn parse_instant(text: &str, zone: chrono_tz::Tz) -> Result<Timestamp, String> {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))?;
    let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(|| format!("`{text}`: no midnight"))?;
    // The earliest instant of the date (a DST gap at midnight moves it later).
    (0..=24 * 60)
        .find_map(|m| (midnight + chrono::Duration::minutes(m)).and_local_timezone(zone).earliest())
        .map(|t| Timestamp::from_utc(t.with_timezone(&chrono::Utc)))
        .ok_or_else(|| format!("`{text}` does not exist in {zone}"))
}

/// The accepted rows of one file with their physical lines (rejected rows are
/// reported, never dropped silently), and whether its header has the column `probe`.
fn read_csv<T>(
    path: &PathBuf,
    open: impl Fn(
        &str,
        std::fs::File,
    ) -> Result<itsm_metrics::import::Rows<std::fs::File, T>, itsm_metrics::import::ImportError>,
    probe: &str,
) -> Result<(Vec<(u64, T)>, bool), String> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| format!("{name}: {e}"))?;
    let mut rows = open(&name, file).map_err(|e| e.to_string())?;
    let has_probe = rows.has_column(probe);
    let mut out = Vec::new();
    while let Some(row) = rows.next() {
        match row {
            Ok(record) => out.push((rows.last_line(), record)),
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
    if let Some(fatal) = report.fatal {
        // The file could not be read to its end: a scorecard of part of it would mislead.
        return Err(fatal);
    }
    Ok((out, has_probe))
}

/// The SLA policy and calendar the on-time resolution rate is judged by: the
/// default policy on a 24x7 UTC calendar.
fn sla() -> (SlaPolicy, Calendar) {
    (SlaPolicy::default(), Calendar::twenty_four_seven(chrono_tz::UTC))
}

/// Keeps the records the domain machines accept; reports the others with
/// their file and line.
fn replayed<T>(
    path: &std::path::Path,
    records: Vec<(u64, T)>,
    mut replay: impl FnMut(&mut T) -> Result<(), (String, String)>,
) -> Vec<T> {
    let before = records.len();
    let kept: Vec<T> = records
        .into_iter()
        .filter_map(|(line, mut r)| match replay(&mut r) {
            Ok(()) => Some(r),
            Err((id, reason)) => {
                eprintln!("{}:{line}: {id}: refused by the domain: {reason}", path.display());
                None
            }
        })
        .collect();
    eprintln!("{}: {} of {before} records replayed through the domain machines", path.display(), kept.len());
    kept
}

/// Streams the store's records into an accumulator (filling the store first
/// if it is empty): incidents one aggregate at a time, then changes, which are
/// judged on arrival once every incident is in.
async fn from_store(args: &Args, metrics: ScorecardConfig, now: Timestamp) -> Result<Accumulator, String> {
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
    let mut acc = Accumulator::new(metrics).map_err(|e| e.to_string())?;
    let mut refused = None;
    for_each_incident_record(&store, &tenant, &policy, &calendar, now, |r| {
        if refused.is_none()
            && let Err(e) = acc.push_incident(&r)
        {
            refused = Some(e);
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if let Some(e) = refused {
        return Err(e.to_string());
    }
    acc.no_more_incidents();
    for_each_change_record(&store, &tenant, |c| acc.push_change(&c)).await.map_err(|e| e.to_string())?;
    store.close().await;
    Ok(acc)
}

async fn run(args: Args) -> Result<(), String> {
    let (default_from, default_to) = quarter();
    let from = args.from.as_deref().map(|t| parse_instant(t, args.tz)).transpose()?.unwrap_or(default_from);
    let to = args.to.as_deref().map(|t| parse_instant(t, args.tz)).transpose()?.unwrap_or(default_to);
    let from_csv = args.incidents.is_some() || args.changes.is_some() || args.outages.is_some();
    let config = ScorecardConfig::new(from, to).map_err(|e| e.to_string())?.with_zone(args.tz);
    let thresholds = Thresholds::maturity_model();
    let card = if from_csv {
        let tenant = TenantId::new("csv-import").map_err(|e| e.to_string())?;
        let who = Importers::new(&tenant);
        let domain = DomainConfig::default();
        let (policy, calendar) = sla();
        let (incidents, outage_column): (Vec<IncidentRecord>, bool) = match &args.incidents {
            Some(p) => {
                let (rows, outage_column) = read_csv(p, itsm_metrics::import::incidents, "outage")?;
                let kept = replayed(p, rows, |r| {
                    let (_, events) = replay_incident(r, &who, &domain).map_err(|e| (r.id.to_string(), e))?;
                    r.resolution_target_met = resolution_met(&events, &policy, &calendar, to);
                    Ok(())
                });
                (kept, outage_column)
            }
            None => (Vec::new(), false),
        };
        let changes: Vec<ChangeRecord> = match &args.changes {
            Some(p) => replayed(p, read_csv(p, itsm_metrics::import::changes, "id")?.0, |r: &mut ChangeRecord| {
                replay_change(r, &who, &domain).map_err(|e| (r.id.to_string(), e))
            }),
            None => Vec::new(),
        };
        let outages: Vec<OutageRecord> = match &args.outages {
            Some(p) => read_csv(p, itsm_metrics::import::outages, "service")?.0.into_iter().map(|(_, o)| o).collect(),
            None => Vec::new(),
        };
        // Without an outages file or an `outage` column, downtime is unknown, not zero.
        let recorded = args.outages.is_some() || outage_column;
        if !recorded {
            eprintln!("no outage source (no --outages, no `outage` column): availability is reported as no data");
        }
        let config = config.with_outages_recorded(recorded);
        itsm_metrics::compute(config, &thresholds, &incidents, &changes, &outages).map_err(|e| e.to_string())?
    } else {
        from_store(&args, config, to).await?.finish(&thresholds)
    };
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
