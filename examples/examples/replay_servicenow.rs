//! Replays the public ServiceNow incident event log (UCI 498, CC BY 4.0,
//! DOI 10.24432/C57S4H) through the incident state machine into a store, and
//! prints what was accepted and refused, MTTR by priority and the reopen rate.
//!
//! ```sh
//! cargo run --release --example replay_servicenow -- ../shared/data/uci-incident-event-log/incident_event_log.csv.gz
//! ```
//!
//! The path may be the `.csv.gz` or a plain `.csv` (such as the excerpt in
//! `examples/fixtures/`). The store defaults to a new SQLite file
//! (`--db`, default `servicenow-replay.db`), or `--db-url postgres://...`.
//! `--db PATH` never deletes what is there: a database of this library
//! already at PATH is refused unless `--replace` is given (the replay's
//! incident ids need a new database), and anything else (the input log
//! itself, a directory, a device, another application's database) is
//! refused, `--replace` or not.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use itsm_core::id::{ProblemId, ServiceId, Text};
use itsm_core::incident::{Incident, IncidentCommand};
use itsm_core::problem::{Problem, ProblemCommand};
use itsm_core::records::IncidentRecord;
use itsm_core::vocabulary::Priority;
use itsm_core::{DomainConfig, Timestamp};
use itsm_examples::db;
use itsm_examples::servicenow::{actor, replay};
use itsm_metrics::{ScorecardConfig, Thresholds};
use itsm_store::{ImportCommand, OnReject};

/// Replay the ServiceNow incident event log through the incident machine.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The event log (`incident_event_log.csv.gz` or a plain CSV).
    path: PathBuf,
    /// SQLite file to write to (created; a database of this library already there is refused unless --replace).
    #[arg(long, default_value = "servicenow-replay.db")]
    db: PathBuf,
    /// Replace the --db file if it holds a database of this library (anything else is never replaced).
    #[arg(long)]
    replace: bool,
    /// A store URL instead of --db.
    #[arg(long)]
    db_url: Option<String>,
}

fn hours(seconds: Option<rust_decimal::Decimal>) -> String {
    seconds.map(|s| format!("{:.1} h", s / rust_decimal::Decimal::from(3600))).unwrap_or_else(|| "-".to_owned())
}

async fn run(args: Args) -> Result<(), String> {
    // Plain or gzip (told by the first bytes); a damaged gzip is a read error, fatal before the store is opened.
    let reader = itsm_metrics::import::input::open(&args.path).map_err(|e| e.to_string())?;
    let config = DomainConfig::default();
    let r = replay(std::io::BufReader::new(reader), &config).map_err(|e| format!("{}: {e}", args.path.display()))?;

    // Shown without a password.
    let url = args.db_url.as_deref().map_or_else(|| db::sqlite_url(&args.db), itsm_store::redact_url);
    let store = match &args.db_url {
        Some(url) => db::open_url(url).await?,
        None => db::open(&args.db, args.replace, db::Existing::Refuse).await?,
    };
    let importer = actor();
    let mut stored_events = 0usize;
    let mut refused_by_store = 0usize;
    // The log names problems but has no problem table: open each referenced
    // problem (at its first reference) so the incidents' links resolve.
    let mut problems: BTreeMap<ProblemId, (Timestamp, ServiceId)> = BTreeMap::new();
    for done in r.incidents.values() {
        for (at, command) in &done.commands {
            if let IncidentCommand::LinkProblem { problem } = command {
                let entry = problems.entry(problem.clone()).or_insert((*at, done.state.service().clone()));
                entry.0 = entry.0.min(*at);
            }
        }
    }
    let opens: Vec<(ProblemId, Timestamp, ProblemCommand)> = problems
        .into_iter()
        .map(|(id, (at, service))| {
            let title = Text::new(format!("{id} (from the ServiceNow log)")).unwrap_or_default();
            (id.clone(), at, ProblemCommand::Open { id, service, title, incidents: Default::default() })
        })
        .collect();
    let problem_batch: Vec<ImportCommand<'_, Problem>> = opens
        .iter()
        .map(|(id, at, command)| ImportCommand {
            actor: &importer,
            now: *at,
            aggregate_id: id.as_str(),
            command: command.clone(),
        })
        .collect();
    let report = store.import_batch(&config, &problem_batch, OnReject::Skip).await.map_err(|e| e.to_string())?;
    stored_events += report.events;
    refused_by_store += report.rejected.len();
    let mut batch: Vec<ImportCommand<'_, Incident>> = Vec::new();
    for (number, done) in &r.incidents {
        for (at, command) in &done.commands {
            batch.push(ImportCommand { actor: &importer, now: *at, aggregate_id: number, command: command.clone() });
        }
        if batch.len() >= 5_000 {
            let report = store.import_batch(&config, &batch, OnReject::Skip).await.map_err(|e| e.to_string())?;
            stored_events += report.events;
            refused_by_store += report.rejected.len();
            batch.clear();
        }
    }
    let report = store.import_batch(&config, &batch, OnReject::Skip).await.map_err(|e| e.to_string())?;
    stored_events += report.events;
    refused_by_store += report.rejected.len();
    store.close().await;

    let total = r.incidents.len() + r.quarantined_incidents.len();
    println!("ServiceNow event log replay ({})", args.path.display());
    println!("rows read: {}", r.rows);
    println!("incidents: {total} ({} replayed, {} quarantined)", r.incidents.len(), r.quarantined_incidents.len());
    for (number, reason) in r.quarantined_incidents.iter().take(10) {
        println!("  quarantined incident {number}: {reason}");
    }
    println!("rows quarantined: {}", r.quarantined_rows.values().sum::<u64>());
    for (reason, n) in &r.quarantined_rows {
        println!("  {n:>7}  {reason}");
    }
    println!("transitions accepted: {}", r.accepted.values().sum::<u64>());
    for (command, n) in &r.accepted {
        println!("  {n:>7}  {command}");
    }
    println!("transitions refused: {}", r.rejected.values().sum::<u64>());
    for (reason, n) in &r.rejected {
        println!("  {n:>7}  {reason}");
    }
    println!("clock adjustments (a step dated before the previous one): {}", r.clock_adjusted);
    println!("logged priority differs from the impact x urgency matrix: {}", r.priority_disagreements);
    println!("logged reopen_count differs from reopens replayed: {}", r.reopen_disagreements);
    println!("stored in {url}: {stored_events} events ({refused_by_store} commands refused by the store)");

    // MTTR by priority through the metrics crate, over the whole log.
    let records: Vec<IncidentRecord> = r.incidents.values().map(|d| d.state.to_record()).collect();
    let Some(from) = records.iter().map(|r| r.opened_at).min() else {
        return Err("no incident was replayed".to_owned());
    };
    let to = records
        .iter()
        .filter_map(|r| r.restore_instant())
        .chain(records.iter().map(|r| r.opened_at))
        .max()
        .and_then(|t| t.plus_seconds(1))
        .unwrap_or(from);
    let mut by_priority: BTreeMap<Priority, Vec<IncidentRecord>> = BTreeMap::new();
    for record in &records {
        by_priority.entry(record.priority).or_default().push(record.clone());
    }
    println!("MTTR by priority (restore = resolved_at - opened_at, {from} .. {to}):");
    println!("  priority       n      mean    median       p90  unrestored");
    for (priority, group) in &by_priority {
        // A few tens of thousands of durations: keep every one, so medians and p90 are exact.
        let config = ScorecardConfig::new(from, to).map_err(|e| e.to_string())?.with_exact_percentiles_up_to(u64::MAX);
        let card =
            itsm_metrics::compute(config, &Thresholds::maturity_model(), group, &[], &[]).map_err(|e| e.to_string())?;
        let all = &card.total.restore_time;
        println!(
            "  P{:<7} {:>7} {:>9} {:>9} {:>9} {:>11}",
            priority.as_str(),
            all.n,
            hours(all.mean_seconds),
            hours(all.median_seconds),
            hours(all.p90_seconds),
            all.censored
        );
    }
    let resolved = records.iter().filter(|r| r.resolved_at.is_some()).count();
    let reopened = records.iter().filter(|r| r.reopen_count > 0).count();
    println!(
        "reopen rate: {reopened}/{resolved} resolved incidents reopened at least once ({:.2}%)",
        if resolved == 0 { 0.0 } else { 100.0 * reopened as f64 / resolved as f64 }
    );
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("replay_servicenow", run(Args::parse()))
}
