//! The main job: a maturity scorecard from the embedded store.
//!
//! With no arguments it opens (or creates) `./itsm-demo.db`; on first run it
//! fills it by simulating a realistic quarter through the domain machines and
//! the store, then prints the text scorecard. The fill goes only into a store
//! that holds no records at all and is marked complete last: a store holding
//! other records (a replay, another tenant), an interrupted fill, or a fill
//! another run is making now is refused with an error, never scored. `--db`
//! is opened, never deleted; anything but a database of this library is
//! refused. With `--incidents`,
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
use itsm_core::id::TenantId;
use itsm_core::{DomainConfig, Timestamp};
use itsm_examples::db;
use itsm_examples::interchange::{CsvInputs, CsvRun, score_csv};
use itsm_examples::monitoring::{INCIDENTS_PER_BURST, deliver_notifications, monitor};
use itsm_examples::records::{accumulate, ensure_service_model, ensure_sla};
use itsm_examples::simulate::{Cast, load_into, quarter, review_problem_proposals, simulate};
use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds, render};
use itsm_store::{FillClaim, Store};

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
    /// A service model (JSON: business services, configuration items and
    /// their dependencies) to roll availability up to business services
    /// with. Without it, the store's service model in force at the end of
    /// the period is used, if the tenant has one.
    #[arg(long)]
    service_model: Option<PathBuf>,
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
    /// Threads reading CSV inputs (default: the available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the time spent per stage (read, parse, replay, accumulate, render) to stderr.
    #[arg(long)]
    timings: bool,
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

/// How a CSV run reads: the counts per file, and the time per stage with `--timings`.
fn report_files(run: &CsvRun, timings: bool) {
    for f in &run.files {
        for w in &f.warnings {
            eprintln!("{}: warning: {w}", f.file);
        }
        eprintln!(
            "{}: {} rows read: {} accepted, {} rejected; {} replayed through the domain machines and counted{}",
            f.file,
            f.read(),
            f.accepted,
            f.rejected,
            f.replayed,
            if f.refused > 0 {
                format!(", {} refused by the domain (a replay-mapping bug)", f.refused)
            } else {
                String::new()
            }
        );
    }
    if !run.outages_recorded {
        eprintln!("no outage source (no --outages, no `outage` column): availability is reported as no data");
    }
    if timings {
        let s = run.stages;
        eprintln!(
            "timings: wall {:.3} s; read {:.3} s (reading thread); parse {:.3} s, file order {:.3} s, replay {:.3} s, accumulate {:.3} s (summed over threads)",
            s.wall.as_secs_f64(),
            s.read.as_secs_f64(),
            s.parse.as_secs_f64(),
            s.order.as_secs_f64(),
            s.replay.as_secs_f64(),
            s.accumulate.as_secs_f64()
        );
    }
}

/// The fill marker of the simulated quarter ([`Store::claim_fill`]), shared
/// with the portal, which seeds the same quarter into an empty database.
use itsm_examples::portal::seed::DEMO_FILL;

/// The wall clock, for the fill marker only (the scorecard itself is computed
/// at `--to`).
fn wall_clock() -> Timestamp {
    Timestamp::from_utc(chrono::Utc::now())
}

/// Claims the store for the demo fill: true when this run must fill it,
/// false when a complete fill is there; an error (nothing written) for a
/// store holding an interrupted or running fill, or any other records.
async fn claim_demo_fill(store: &Store, shown: &str) -> Result<bool, String> {
    match store.claim_fill(DEMO_FILL, wall_clock()).await.map_err(|e| format!("{shown}: {e}"))? {
        FillClaim::Claimed => Ok(true),
        FillClaim::Complete { .. } => Ok(false),
        FillClaim::Incomplete { started_at } => Err(format!(
            "{shown} holds an incomplete demo fill (started at {started_at}, never marked complete): it was \
             interrupted, or another scorecard run is filling it now; it is not scored. Wait for that run to \
             finish, or use a new --db"
        )),
        FillClaim::Occupied => Err(format!(
            "{shown} holds records that are not a scorecard demo fill (of some tenant or kind): the simulated \
             quarter is only written into a store that holds no records at all, and only a complete demo fill is \
             scored. Use a new --db, or score exported records with --incidents/--changes"
        )),
    }
}

/// Streams the store's records into an accumulator (filling the store first
/// if it holds no records at all): incidents one aggregate at a time, then
/// changes, which are judged on arrival once every incident is in. The fill
/// spans many transactions, so it is claimed with a marker first and marked
/// complete last ([`Store::claim_fill`]): a store holding an interrupted fill,
/// a fill running in another process, or other records is refused, never
/// scored or added to. An existing `--db` is opened (never deleted);
/// anything but a database of this library is refused.
async fn from_store(args: &Args, metrics: ScorecardConfig, now: Timestamp) -> Result<Accumulator, String> {
    // Shown without a password.
    let url = args.db_url.as_deref().map_or_else(|| db::sqlite_url(&args.db), itsm_store::redact_url);
    let store = match &args.db_url {
        Some(db_url) => db::open_url(db_url).await?,
        None => db::open(&args.db, false, db::Existing::Append).await?,
    };
    let tenant = TenantId::new("demo").map_err(|e| e.to_string())?;
    let config = DomainConfig::default();
    let cast = Cast::new(&tenant);
    let claimed = claim_demo_fill(&store, &url).await;
    if claimed.is_err() {
        store.close().await;
    }
    if claimed? {
        // The SLA the verdicts are judged by, stored before the first command.
        let stored = match ensure_sla(&store, &tenant, now).await {
            Ok(()) => ensure_service_model(&store, &tenant, now).await,
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            store.close().await;
            return Err(format!("{url}: {e}"));
        }
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
        // Monitoring: the quarter's alert bursts, received a little after they fired (Table 3).
        let bursts = args.simulate_incidents / INCIDENTS_PER_BURST;
        let monitored = monitor(&store, &config, &cast, args.seed, bursts).await?;
        eprintln!(
            "monitoring: {} alerts in {} bursts ({} held up in a backlog) opened {} incidents; \
             {} joined the incident of their root cause; {} suppressed by maintenance ({} set off by the work); refused {}",
            monitored.alerts,
            monitored.bursts,
            monitored.backlogged,
            monitored.opened,
            monitored.root_caused,
            monitored.suppressed,
            monitored.during_maintenance,
            monitored.refused.len()
        );
        for reason in monitored.refused.iter().take(10) {
            eprintln!("  refused: {reason}");
        }
        // The problem manager reviews the quarter's problem proposals (Table 7).
        let review = review_problem_proposals(&store, &config, &cast, now).await?;
        eprintln!(
            "problem proposals from repeat and major incidents: {} proposed, {} accepted (opened and linked); refused {}",
            review.proposed,
            review.accepted,
            review.refused.len()
        );
        for reason in review.refused.iter().take(10) {
            eprintln!("  refused: {reason}");
        }
        // The notifications, delivered as a dispatcher running through the quarter would have (Table 16).
        let delivered = deliver_notifications(&store, args.seed).await?;
        eprintln!(
            "notifications: {} delivered, {} of them held by a webhook outage",
            delivered.delivered, delivered.held
        );
        store.complete_fill(DEMO_FILL, wall_clock()).await.map_err(|e| format!("{url}: {e}"))?;
    }
    // A demo store filled before the SLA and the service model were stored
    // gets them now (its verdicts are judged again under the SLA).
    let read = async {
        ensure_sla(&store, &tenant, now).await.map_err(|e| format!("{url}: {e}"))?;
        ensure_service_model(&store, &tenant, now).await.map_err(|e| format!("{url}: {e}"))?;
        let mut metrics = metrics;
        if metrics.service_model.is_none() {
            let history = store.config_history(&tenant).await.map_err(|e| format!("{url}: {e}"))?;
            if let Some(stored) = history.service_models.in_force_at(metrics.period.to) {
                metrics = metrics.with_service_model(stored.value.clone());
            }
        }
        let mut acc = Accumulator::new(metrics).map_err(|e| e.to_string())?;
        accumulate(&store, &tenant, &mut acc, now, |line| eprintln!("{line}")).await?;
        Ok::<_, String>(acc)
    }
    .await;
    store.close().await;
    read
}

/// Whether the report covers all of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Every row read counts.
    Complete,
    /// Rows were rejected (or refused); the report covers the rest.
    Partial,
}

/// Exit status when the report was written but rows were rejected.
const EXIT_PARTIAL: u8 = 3;

async fn run(args: Args) -> Result<Coverage, String> {
    let (default_from, default_to) = quarter();
    let from = args.from.as_deref().map(|t| parse_instant(t, args.tz)).transpose()?.unwrap_or(default_from);
    let to = args.to.as_deref().map(|t| parse_instant(t, args.tz)).transpose()?.unwrap_or(default_to);
    let from_csv = args.incidents.is_some() || args.changes.is_some() || args.outages.is_some();
    let mut config = ScorecardConfig::new(from, to).map_err(|e| e.to_string())?.with_zone(args.tz);
    if let Some(path) = &args.service_model {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let model =
            itsm_core::json::from_json("service model", &text).map_err(|e| format!("{}: {e}", path.display()))?;
        config = config.with_service_model(model);
    }
    let thresholds = Thresholds::maturity_model();
    let started = std::time::Instant::now();
    let (card, coverage) = if from_csv {
        let inputs = CsvInputs {
            incidents: args.incidents.clone(),
            changes: args.changes.clone(),
            outages: args.outages.clone(),
            chunk_bytes: None,
        };
        let threads = args.threads.unwrap_or_else(itsm_metrics::import::parallel::available_threads);
        let mut say = |line: &str| eprintln!("{line}");
        let run = score_csv(&inputs, config, to, threads, &mut say)?;
        report_files(&run, args.timings);
        let coverage = if run.complete() { Coverage::Complete } else { Coverage::Partial };
        (run.accumulator.finish(&thresholds), coverage)
    } else {
        (from_store(&args, config, to).await?.finish(&thresholds), Coverage::Complete)
    };
    let rendering = std::time::Instant::now();
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
    if args.timings {
        eprintln!(
            "timings: finish and render {:.3} s; total {:.3} s",
            rendering.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
    if coverage == Coverage::Partial {
        eprintln!(
            "the report covers the rows that were accepted: some rows were rejected (exit status {EXIT_PARTIAL})"
        );
    }
    Ok(coverage)
}

fn main() -> ExitCode {
    let coverage = std::cell::Cell::new(Coverage::Complete);
    let args = Args::parse();
    let code = itsm_examples::run_main("scorecard", async {
        coverage.set(run(args).await?);
        Ok(())
    });
    match coverage.get() {
        Coverage::Partial => ExitCode::from(EXIT_PARTIAL),
        Coverage::Complete => code,
    }
}
