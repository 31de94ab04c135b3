//! Imports the Rabobank ITIL data of the BPI Challenge 2014 (incidents and
//! changes), replays every incident through the incident state machine into a
//! store, reports what was accepted and rejected, and prints the maturity
//! scorecard over a period covering the data.
//!
//! ```sh
//! cargo run --release --example import_bpic2014 -- ../shared/data/bpic2014-rabobank-itil
//! ```
//!
//! The directory must hold `Detail_Incident.csv.gz` and `Detail_Change.csv.gz`
//! (or the plain `.csv`). The data's licence is not clear, so it is read where
//! it is and never copied. How each column maps to the domain (failed changes
//! from `# Related Incidents`, no rollback data, the repeat key from the
//! affected CI, the `Europe/Amsterdam` time zone...) is documented in the
//! `itsm_examples::bpic2014` module. The store defaults to a new SQLite file
//! (`--db`, default `bpic2014-replay.db`), or `--db-url postgres://...`;
//! `--no-store` skips it. `--db PATH` never deletes what is there: a database
//! of this library already at PATH is refused unless `--replace` is given
//! (the replayed incident ids need a new database), and anything else (an
//! input file, a directory, a device, another application's database) is
//! refused, `--replace` or not.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{Datelike, NaiveDate};
use clap::Parser;
use itsm_core::incident::Incident;
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::vocabulary::{ChangeOutcome, Remediation};
use itsm_core::{DomainConfig, Timestamp};
use itsm_examples::bpic2014::{self, RowRejection, ZONE};
use itsm_examples::db;
use itsm_metrics::{ScorecardConfig, Thresholds, render};
use itsm_store::{ImportCommand, OnReject, Store};

/// Import the BPIC 2014 Rabobank ITIL incidents and changes and print the scorecard.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Directory holding Detail_Incident.csv(.gz) and Detail_Change.csv(.gz).
    dir: PathBuf,
    /// SQLite file to write the replayed incidents to (created; a database of this library already there is
    /// refused unless --replace).
    #[arg(long, default_value = "bpic2014-replay.db")]
    db: PathBuf,
    /// Replace the --db file if it holds a database of this library (anything else is never replaced).
    #[arg(long)]
    replace: bool,
    /// A store URL instead of --db.
    #[arg(long)]
    db_url: Option<String>,
    /// Replay and report without writing to a store.
    #[arg(long)]
    no_store: bool,
    /// Start of the scorecard period (RFC 3339, or YYYY-MM-DD at midnight in
    /// Europe/Amsterdam); default: the month of the earliest record.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, exclusive; default: the month after the latest record.
    #[arg(long)]
    to: Option<String>,
    /// How many rejected rows to list one by one (all are counted).
    #[arg(long, default_value_t = 20)]
    show_rejected: usize,
}

/// Opens `name.csv.gz`, or else `name.csv`, through the importers' shared
/// reader (gzip told by its first bytes; a damaged stream is a read error).
fn open(dir: &Path, name: &str) -> Result<(String, Box<dyn Read>), String> {
    let gz = dir.join(format!("{name}.csv.gz"));
    let plain = dir.join(format!("{name}.csv"));
    let path = if gz.exists() { gz } else { plain };
    let input = itsm_metrics::import::input::open(&path).map_err(|e| e.to_string())?;
    Ok((path.display().to_string(), Box::new(input)))
}

fn local_midnight(date: NaiveDate) -> Result<Timestamp, String> {
    let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(|| format!("{date} has no midnight"))?;
    itsm_core::change::schedule::local_to_instant(ZONE, midnight, true).ok_or_else(|| format!("{date} is out of range"))
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))?;
    local_midnight(date)
}

/// The first instant of the month (in [`ZONE`]) holding `at`, or of the month after it.
fn month_start(at: Timestamp, next: bool) -> Result<Timestamp, String> {
    let local = at.as_utc().with_timezone(&ZONE).date_naive();
    let (mut year, mut month) = (local.year(), local.month());
    if next {
        (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    }
    let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(|| format!("no month {year}-{month}"))?;
    local_midnight(first)
}

fn print_rejections(rejected: &[RowRejection], show: usize) {
    for r in rejected.iter().take(show) {
        println!("  rejected {r}");
    }
    if rejected.len() > show {
        println!("  ... and {} more rejected rows", rejected.len() - show);
    }
}

async fn store_incidents(store: Store, incidents: &bpic2014::IncidentImport) -> Result<(usize, usize), String> {
    let config = DomainConfig::default();
    let importer = bpic2014::actor();
    let (mut events, mut refused) = (0usize, 0usize);
    let mut batch: Vec<ImportCommand<'_, Incident>> = Vec::new();
    let mut flush = async |batch: &mut Vec<ImportCommand<'_, Incident>>| -> Result<(), String> {
        let report = store.import_batch(&config, batch, OnReject::Skip).await.map_err(|e| e.to_string())?;
        events += report.events;
        refused += report.rejected.len();
        batch.clear();
        Ok(())
    };
    for (id, done) in &incidents.incidents {
        for (at, command) in &done.commands {
            batch.push(ImportCommand { actor: &importer, now: *at, aggregate_id: id, command: command.clone() });
        }
        if batch.len() >= 5_000 {
            flush(&mut batch).await?;
        }
    }
    flush(&mut batch).await?;
    store.close().await;
    Ok((events, refused))
}

fn count_by<T: Ord>(items: impl Iterator<Item = T>) -> std::collections::BTreeMap<T, usize> {
    let mut out = std::collections::BTreeMap::new();
    for item in items {
        *out.entry(item).or_insert(0) += 1;
    }
    out
}

async fn run(args: Args) -> Result<(), String> {
    let config = DomainConfig::default();
    println!("BPI Challenge 2014, Rabobank Group ICT ({})", args.dir.display());
    println!("local times read in {ZONE}; mapping: see the itsm_examples::bpic2014 module docs");

    let (name, reader) = open(&args.dir, "Detail_Incident")?;
    let incidents =
        bpic2014::read_incidents(&name, std::io::BufReader::new(reader), &config).map_err(|e| e.to_string())?;
    println!(
        "{name}: {} rows: {} accepted, {} rejected, {} blank",
        incidents.rows,
        incidents.incidents.len(),
        incidents.rejected.len(),
        incidents.blank_rows
    );
    print_rejections(&incidents.rejected, args.show_rejected);
    println!("incidents replayed through the incident machine: {}", incidents.incidents.len());
    println!("transitions accepted: {}", incidents.accepted.values().sum::<u64>());
    for (command, n) in &incidents.accepted {
        println!("  {n:>7}  {command}");
    }
    println!("transitions refused: {}", incidents.refused.values().sum::<u64>());
    for (reason, n) in &incidents.refused {
        println!("  {n:>7}  {reason}");
    }
    println!("status not Closed (close not replayed): {}", incidents.not_closed);

    let (name, reader) = open(&args.dir, "Detail_Change")?;
    let changes = bpic2014::read_changes(&name, std::io::BufReader::new(reader)).map_err(|e| e.to_string())?;
    let used_rows = changes.rows - changes.rejected.len() as u64 - changes.blank_rows;
    println!(
        "{name}: {} rows: {used_rows} accepted, {} rejected, {} blank",
        changes.rows,
        changes.rejected.len(),
        changes.blank_rows
    );
    print_rejections(&changes.rejected, args.show_rejected);
    println!(
        "changes: {} ({} on several CIs, {} whose rows disagree: first value used)",
        changes.records.len(),
        changes.multi_ci,
        changes.inconsistent
    );
    for (change_type, n) in count_by(changes.records.iter().map(|c| c.change_type)) {
        let of_type: Vec<&ChangeRecord> = changes.records.iter().filter(|c| c.change_type == change_type).collect();
        let implemented = of_type.iter().filter(|c| c.implemented()).count();
        let failed = of_type.iter().filter(|c| c.outcome == Some(ChangeOutcome::Failed)).count();
        println!(
            "  {:<9} {n:>6} changes, {implemented:>6} implemented, {failed:>4} failed (# Related Incidents > 0)",
            change_type.as_str()
        );
    }
    let rollbacks = changes
        .records
        .iter()
        .filter(|c| matches!(c.remediation, Remediation::RolledBack | Remediation::RollbackFailed))
        .count();
    println!(
        "changes with # Related Incidents > 0: {} (implemented or not); rollback attempts: {rollbacks} (the data has no rollback field: rollback failure rate is no data)",
        changes.with_related_incidents
    );
    println!("local times adjusted for DST (gap or overlap): {}", incidents.dst_adjusted + changes.dst_adjusted);

    if args.no_store {
        println!("store: skipped (--no-store)");
    } else {
        // Shown without a password.
        let url = args.db_url.as_deref().map_or_else(|| db::sqlite_url(&args.db), itsm_store::redact_url);
        let store = match &args.db_url {
            Some(url) => db::open_url(url).await?,
            None => db::open(&args.db, args.replace, db::Existing::Refuse).await?,
        };
        let (events, refused) = store_incidents(store, &incidents).await?;
        println!("stored in {url}: {events} incident events ({refused} commands refused by the store)");
    }

    let records: Vec<IncidentRecord> = incidents.incidents.values().map(|d| d.state.to_record()).collect();
    let instants = records
        .iter()
        .flat_map(|r| [Some(r.opened_at), r.resolved_at, r.closed_at])
        .chain(changes.records.iter().flat_map(|c| [c.started_at, c.completed_at]))
        .flatten();
    let (first, last) = instants.fold((None, None), |(lo, hi): (Option<Timestamp>, Option<Timestamp>), t| {
        (Some(lo.map_or(t, |l| l.min(t))), Some(hi.map_or(t, |h| h.max(t))))
    });
    let (Some(first), Some(last)) = (first, last) else { return Err("no record was read".to_owned()) };
    let from = match &args.from {
        Some(text) => parse_instant(text)?,
        None => month_start(first, false)?,
    };
    let to = match &args.to {
        Some(text) => parse_instant(text)?,
        None => month_start(last, true)?,
    };
    println!("scorecard period: {from} .. {to} (data from {first} to {last})");
    println!(
        "note: the extract holds only records closed between 2013-10-01 and 2014-03-31; earlier months hold only long-running incidents, so monthly counts and trends are biased by that censoring"
    );
    println!();
    let card = itsm_metrics::compute(
        // The data has no outage records: downtime is unknown, not zero.
        ScorecardConfig::new(from, to).map_err(|e| e.to_string())?.with_zone(ZONE).with_outages_recorded(false),
        &Thresholds::maturity_model(),
        &records,
        &changes.records,
        &[],
    )
    .map_err(|e| e.to_string())?;
    print!("{}", render::text(&card));
    let i = &card.total.incidents;
    println!("BPIC 2014 reading notes:");
    println!(
        "- on-time resolution and SLA attainment are no data because the data has no SLA: all {} resolved incidents have an unknown target, none is known to be on time or late",
        i.resolved_with_unknown_target
    );
    println!(
        "- availability and annual downtime are no data: the data has no outage records (unknown, not no downtime)"
    );
    println!(
        "- proactive detection is 0%: no incident in the data comes from monitoring; MTTA has no data (no acknowledgement times)"
    );
    println!(
        "- first change failure counts a change as failed when it caused at least one incident (# Related Incidents > 0)"
    );
    Ok(())
}

fn main() -> ExitCode {
    itsm_examples::run_main("import_bpic2014", run(Args::parse()))
}
