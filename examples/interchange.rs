//! The interchange-CSV path of the `scorecard` example: read, parse and
//! replay each file on all cores, fold into one metrics accumulator per
//! thread, and merge.
//!
//! Every row is accounted for: read = accepted + rejected (the parser's
//! verdict, with file, physical line, column and reason), and every accepted
//! row is replayed through the domain machines ([`crate::replay_records`])
//! and counted in the metrics. A row the machines refuse would be a bug in
//! the replay mapping; it is still reported (file, line, reason) and marks
//! the run incomplete, never dropped silently. A read error (a truncated or
//! corrupt compressed file among them) is fatal: no scorecard is computed
//! from part of a file.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use itsm_core::calendar::Calendar;
use itsm_core::id::TenantId;
use itsm_core::records::{ChangeRecord, IncidentRecord};
use itsm_core::sla::SlaPolicy;
use itsm_core::{DomainConfig, Timestamp};
use itsm_metrics::import::{self, ImportReport, RejectedRow, Rows, input};
use itsm_metrics::{Accumulator, ScorecardConfig};

use crate::records::resolution_met;
use crate::replay_records::{Importers, replay_change, replay_incident};

/// The interchange files of one run.
#[derive(Debug, Clone, Default)]
pub struct CsvInputs {
    /// `incidents.csv`, plain or gzip.
    pub incidents: Option<PathBuf>,
    /// `changes.csv`.
    pub changes: Option<PathBuf>,
    /// `outages.csv`.
    pub outages: Option<PathBuf>,
    /// Bytes per chunk handed to a thread (default 1 MiB).
    pub chunk_bytes: Option<usize>,
}

/// What happened to one file's rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileSummary {
    /// The file.
    pub file: String,
    /// Rows accepted by the parser.
    pub accepted: u64,
    /// Rows rejected by the parser.
    pub rejected: u64,
    /// Accepted rows replayed through the domain machines (and counted).
    pub replayed: u64,
    /// Accepted rows the domain machines refused (a replay-mapping bug).
    pub refused: u64,
    /// Warnings (unknown columns).
    pub warnings: Vec<String>,
}

impl FileSummary {
    /// Rows read: accepted + rejected.
    pub fn read(&self) -> u64 {
        self.accepted + self.rejected
    }
}

/// Time per stage, summed over threads except `read` and `wall`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Reading, decompressing and splitting (the reading thread).
    pub read: Duration,
    /// Parsing rows into records.
    pub parse: Duration,
    /// The repeated-id rule and rejected-row reports in file order, with the
    /// time a thread waited for its turn.
    pub order: Duration,
    /// Replaying records through the domain machines (with the SLA verdict).
    pub replay: Duration,
    /// Adding records to the accumulators and merging them.
    pub accumulate: Duration,
    /// Wall time of the whole read.
    pub wall: Duration,
}

/// The outcome of a CSV run.
#[derive(Debug)]
pub struct CsvRun {
    /// Every record added and merged; incidents complete (changes judged).
    pub accumulator: Accumulator,
    /// One summary per file, in the order incidents, changes, outages.
    pub files: Vec<FileSummary>,
    /// Whether the input records outages (an outages file or an `outage` column).
    pub outages_recorded: bool,
    /// Time per stage.
    pub stages: StageTimes,
}

impl CsvRun {
    /// Whether every row read counts in the metrics.
    pub fn complete(&self) -> bool {
        self.files.iter().all(|f| f.rejected == 0 && f.refused == 0)
    }
}

/// The SLA policy and calendar the on-time resolution rate is judged by: the
/// default policy on a 24x7 UTC calendar.
pub fn sla() -> (SlaPolicy, Calendar) {
    (SlaPolicy::default(), Calendar::twenty_four_seven(chrono_tz::UTC))
}

struct Worker {
    acc: Accumulator,
    replayed: u64,
    refusals: Vec<String>,
    replay: Duration,
    accumulate: Duration,
}

/// One of the importer's `incidents`, `changes` or `outages` constructors.
type OpenRows<T> = fn(&str, input::Input) -> Result<Rows<input::Input, T>, import::ImportError>;

fn open_rows<T>(path: &Path, open: OpenRows<T>, chunk_bytes: Option<usize>) -> Result<Rows<input::Input, T>, String> {
    let input = input::open(path).map_err(|e| e.to_string())?;
    let name = input.name().to_owned();
    let rows = open(&name, input).map_err(|e| e.to_string())?;
    Ok(match chunk_bytes {
        Some(bytes) => rows.with_chunk_bytes(bytes),
        None => rows,
    })
}

fn summary(report: &ImportReport, replayed: u64, refused: u64) -> FileSummary {
    FileSummary {
        file: report.file.clone(),
        accepted: report.accepted,
        rejected: report.rejected,
        replayed,
        refused,
        warnings: report.warnings.clone(),
    }
}

/// Reads one file in parallel into the workers: `replay` turns an accepted
/// record into the record to count (or the machines' refusal), `push` adds it.
fn run_file<T: Send>(
    rows: Rows<input::Input, T>,
    workers: Vec<Worker>,
    replay: &(dyn Fn(&mut T) -> Result<(), String> + Sync),
    push: fn(&mut Accumulator, &T) -> Result<(), String>,
    id: fn(&T) -> &str,
    say: &Mutex<&mut (dyn FnMut(&str) + Send)>,
    stages: &mut StageTimes,
) -> Result<(Vec<Worker>, FileSummary), String> {
    let file = rows.report().file.clone();
    let before: Vec<(u64, usize)> = workers.iter().map(|w| (w.replayed, w.refusals.len())).collect();
    let outcome = rows.par_for_each(
        workers,
        |w: &mut Worker, batch: Vec<(u64, T)>| {
            let t0 = Instant::now();
            let mut kept = Vec::with_capacity(batch.len());
            for (line, mut record) in batch {
                match replay(&mut record) {
                    Ok(()) => kept.push(record),
                    Err(reason) => {
                        w.refusals.push(format!("{file}:{line}: {}: refused by the domain: {reason}", id(&record)))
                    }
                }
            }
            let t1 = Instant::now();
            for record in &kept {
                match push(&mut w.acc, record) {
                    Ok(()) => w.replayed += 1,
                    Err(reason) => w.refusals.push(format!("{file}: {}: refused by the metrics: {reason}", id(record))),
                }
            }
            w.replay += t1 - t0;
            w.accumulate += t1.elapsed();
        },
        |row: &RejectedRow| {
            let mut say = say.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for e in &row.errors {
                say(&e.to_string());
            }
        },
    );
    stages.read += outcome.stages.read;
    stages.parse += outcome.stages.parse;
    stages.order += outcome.stages.order;
    let report = outcome.report;
    if let Some(fatal) = &report.fatal {
        return Err(fatal.clone());
    }
    let mut workers = outcome.states;
    let (mut replayed, mut refused) = (0, 0);
    for (w, (r0, f0)) in workers.iter_mut().zip(before) {
        replayed += w.replayed - r0;
        refused += (w.refusals.len() - f0) as u64;
        let mut say = say.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in &w.refusals[f0..] {
            say(line);
        }
    }
    Ok((workers, summary(&report, replayed, refused)))
}

/// Computes the accumulator from the interchange files on `threads` threads;
/// `say` receives every rejected row and refusal, in file order per file.
/// The accumulator's config gets `outages_recorded` from the inputs, and
/// exact percentiles (every duration kept: 8 bytes per incident).
pub fn score_csv(
    inputs: &CsvInputs,
    config: ScorecardConfig,
    to: Timestamp,
    threads: usize,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<CsvRun, String> {
    let started = Instant::now();
    let tenant = TenantId::new("csv-import").map_err(|e| e.to_string())?;
    let who = Importers::new(&tenant).undated_at(config.period.from);
    let domain = DomainConfig::default();
    let (policy, calendar) = sla();
    // Open every file first: the headers decide whether outages are recorded.
    let incidents =
        inputs.incidents.as_deref().map(|p| open_rows(p, import::incidents, inputs.chunk_bytes)).transpose()?;
    let changes = inputs.changes.as_deref().map(|p| open_rows(p, import::changes, inputs.chunk_bytes)).transpose()?;
    let outages = inputs.outages.as_deref().map(|p| open_rows(p, import::outages, inputs.chunk_bytes)).transpose()?;
    let outages_recorded = outages.is_some() || incidents.as_ref().is_some_and(|r| r.has_column("outage"));
    let config = config.with_outages_recorded(outages_recorded).with_exact_percentiles_up_to(u64::MAX);
    let threads = threads.max(1);
    let workers = (0..threads)
        .map(|_| {
            Ok(Worker {
                acc: Accumulator::new(config.clone()).map_err(|e| e.to_string())?,
                replayed: 0,
                refusals: Vec::new(),
                replay: Duration::ZERO,
                accumulate: Duration::ZERO,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let say = Mutex::new(say);
    let mut stages = StageTimes::default();
    let mut files = Vec::new();
    let mut workers = workers;
    if let Some(rows) = incidents {
        let replay = |r: &mut IncidentRecord| {
            let (_, events) = replay_incident(r, &who, &domain)?;
            r.resolution_target_met = resolution_met(&events, &policy, &calendar, to);
            Ok(())
        };
        let push = |acc: &mut Accumulator, r: &IncidentRecord| acc.push_incident(r).map_err(|e| e.to_string());
        let (w, summary) =
            run_file(rows, workers, &replay, push, |r: &IncidentRecord| r.id.as_str(), &say, &mut stages)?;
        workers = w;
        files.push(summary);
    }
    if let Some(rows) = changes {
        let replay = |r: &mut ChangeRecord| replay_change(r, &who, &domain);
        let push = |acc: &mut Accumulator, r: &ChangeRecord| {
            acc.push_change(r);
            Ok(())
        };
        let (w, summary) = run_file(rows, workers, &replay, push, |r: &ChangeRecord| r.id.as_str(), &say, &mut stages)?;
        workers = w;
        files.push(summary);
    }
    let t = Instant::now();
    let mut merged: Option<Accumulator> = None;
    for w in workers {
        stages.replay += w.replay;
        stages.accumulate += w.accumulate;
        merged = Some(match merged {
            None => w.acc,
            Some(acc) => acc.merge(w.acc).map_err(|e| e.to_string())?,
        });
    }
    let mut acc = match merged {
        Some(acc) => acc,
        None => Accumulator::new(config).map_err(|e| e.to_string())?,
    };
    acc.no_more_incidents();
    if let Some(mut rows) = outages {
        let mut count = 0;
        for row in rows.by_ref() {
            match row {
                Ok(o) => {
                    acc.push_outage(&o);
                    count += 1;
                }
                Err(rejected) => {
                    let mut say = say.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    for e in &rejected.errors {
                        say(&e.to_string());
                    }
                }
            }
        }
        let report = rows.into_report();
        if let Some(fatal) = report.fatal {
            return Err(fatal);
        }
        files.push(summary(&report, count, 0));
    }
    stages.accumulate += t.elapsed();
    stages.wall = started.elapsed();
    Ok(CsvRun { accumulator: acc, files, outages_recorded, stages })
}
