//! Full scorecard over 1,000,000 incidents and 250,000 changes generated
//! deterministically in memory (plus 2,000 outages), on one thread.
//!
//! Run: `cargo bench -p itsm-metrics --bench scorecard`. Prints the time to
//! push every record and finish (the scorecard and its ratings), best and
//! median of several runs, with ids off and on, and for two merged partitions.
//!
//! Then the same figures the way a user would otherwise compute them: the
//! records loaded into a SQLite file in a temp dir (not timed), the indexes a
//! user would add (timed apart) and SQL queries with window functions (timed
//! per group), checked equal to the accumulator's figures (the bench aborts
//! otherwise), with the ratio SQL / accumulator. `BENCH_NO_SQL` skips this part;
//! `BENCH_SQL_RUNS=n` repeats the queries (best of n; default 1).

use std::time::{Duration, Instant};

use itsm_core::Timestamp;
use itsm_core::id::{ChangeId, IncidentId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};
use itsm_metrics::{Accumulator, Scorecard, ScorecardConfig, Thresholds};

const INCIDENTS: usize = 1_000_000;
const CHANGES: usize = 250_000;
const OUTAGES: usize = 2_000;
const SERVICES: usize = 200;
const CATEGORIES: usize = 250;
/// 2025-01-01T00:00:00Z.
const FROM: i64 = 1_735_689_600;
const YEAR: i64 = 365 * 86_400;

/// SplitMix64: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Roughly exponential with the given mean, in seconds.
    fn exp(&mut self, mean: f64) -> i64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (-(1.0 - u).ln() * mean) as i64
    }
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_unix_secs(s).expect("timestamp in range")
}

fn generate() -> (Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>) {
    let mut rng = Rng(0x1234_5678);
    let services: Vec<ServiceId> =
        (0..SERVICES).map(|i| ServiceId::new(format!("service-{i:03}")).expect("valid id")).collect();
    let categories: Vec<String> = (0..CATEGORIES).map(|i| format!("category-{i:02}")).collect();
    let mut changes = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let completed = FROM - 30 * 86_400 + rng.below((YEAR + 30 * 86_400) as u64) as i64;
        let roll = rng.below(1000);
        let (outcome, remediation) = match roll {
            0..=9 => (Some(ChangeOutcome::Failed), Remediation::RolledBack),
            10..=11 => (Some(ChangeOutcome::Failed), Remediation::RollbackFailed),
            12..=19 => (Some(ChangeOutcome::SuccessfulWithIssues), Remediation::FixedForward),
            20..=39 => (None, Remediation::None),
            _ => (Some(ChangeOutcome::Successful), Remediation::None),
        };
        changes.push(ChangeRecord {
            id: ChangeId::new(format!("CHG{i:07}")).expect("valid id"),
            change_type: ChangeType::ALL[rng.below(3) as usize],
            service: services[rng.below(SERVICES as u64) as usize].clone(),
            requested_at: None,
            planned_start: None,
            planned_end: None,
            started_at: Some(ts(completed - 1800)),
            completed_at: Some(ts(completed)),
            outcome,
            remediation,
            automatic_rollback: false,
            authorized_at: None,
        });
    }
    let mut incidents = Vec::with_capacity(INCIDENTS);
    for i in 0..INCIDENTS {
        let opened = FROM - 20 * 86_400 + rng.below((YEAR + 20 * 86_400) as u64) as i64;
        let impact = opened - rng.exp(600.0);
        let restored = if rng.below(100) < 97 { Some(opened + rng.exp(4.0 * 3600.0)) } else { None };
        let resolved = restored.map(|r| r + rng.exp(1800.0));
        let svc = rng.below(SERVICES as u64) as usize;
        let caused = if rng.below(100) < 5 {
            Some(ChangeId::new(format!("CHG{:07}", rng.below(CHANGES as u64))).expect("valid id"))
        } else {
            None
        };
        incidents.push(IncidentRecord {
            id: IncidentId::new(format!("INC{i:08}")).expect("valid id"),
            kind: IncidentKind::ALL[rng.below(5) as usize],
            service: services[svc].clone(),
            category: Some(categories[rng.below(CATEGORIES as u64) as usize].clone()),
            priority: Priority::ALL[rng.below(5) as usize],
            detected_by: DetectionSource::ALL[rng.below(4) as usize],
            opened_at: ts(opened),
            acknowledged_at: Some(ts(opened + rng.exp(300.0))),
            impact_start: ts(impact),
            restored_at: restored.map(ts),
            resolved_at: resolved.map(ts),
            closed_at: resolved.map(|r| ts(r + 86_400)),
            resolved_by: resolved.map(|_| ResolvedBy::ALL[rng.below(5) as usize]),
            major: rng.below(100) == 0,
            reopen_count: 0,
            caused_by_change: caused,
            problem_id: None,
            failure_class: FailureClass::ALL[rng.below(4) as usize],
            outage: rng.below(50) == 0,
            resolution_target_met: Some(rng.below(10) < 9),
        });
    }
    let mut outages = Vec::with_capacity(OUTAGES);
    for _ in 0..OUTAGES {
        let start = FROM + rng.below(YEAR as u64) as i64;
        outages.push(OutageRecord {
            service: services[rng.below(SERVICES as u64) as usize].clone(),
            start: ts(start),
            end: ts(start + 60 + rng.exp(3600.0)),
            planned: rng.below(4) == 0,
        });
    }
    (incidents, changes, outages)
}

fn config(with_ids: bool, exact: bool) -> ScorecardConfig {
    ScorecardConfig::new(ts(FROM), ts(FROM + YEAR))
        .expect("valid period")
        .with_zone(chrono_tz::Europe::Paris)
        .with_ids(with_ids)
        .with_exact_percentiles_up_to(if exact { u64::MAX } else { itsm_metrics::sketch::DEFAULT_EXACT_LIMIT })
}

fn run(
    data: &(Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>),
    thresholds: &Thresholds,
    with_ids: bool,
    partitions: usize,
    exact: bool,
) -> (Duration, Scorecard) {
    let start = Instant::now();
    let mut accs: Vec<Accumulator> =
        (0..partitions).map(|_| Accumulator::new(config(with_ids, exact)).expect("valid config")).collect();
    for (k, r) in data.0.iter().enumerate() {
        accs[k % partitions].push_incident(r).expect("unsettled accumulators take any order");
    }
    for (k, c) in data.1.iter().enumerate() {
        accs[k % partitions].push_change(c);
    }
    for (k, o) in data.2.iter().enumerate() {
        accs[k % partitions].push_outage(o);
    }
    let pushed = start.elapsed();
    let mut it = accs.into_iter();
    let mut acc = it.next().expect("one partition");
    for other in it {
        acc = acc.merge(other).expect("same config");
    }
    let merged = start.elapsed();
    let card = acc.finish(thresholds);
    let total = start.elapsed();
    if std::env::var_os("BENCH_PHASES").is_some() {
        println!("  phases: push {pushed:.3?}, merge {:.3?}, finish {:.3?}", merged - pushed, total - merged);
    }
    (total, card)
}

fn main() {
    let t0 = Instant::now();
    let data = generate();
    println!(
        "generated {} incidents, {} changes, {} outages in {:.2?}",
        data.0.len(),
        data.1.len(),
        data.2.len(),
        t0.elapsed()
    );
    let thresholds = Thresholds::maturity_model();
    // Best time and scorecard of the first configuration (ids off, 1 partition), for the SQL comparison.
    let mut reference: Option<(Duration, Scorecard)> = None;
    for (label, with_ids, partitions, runs, exact) in [
        ("ids off, 1 partition", false, 1, 7, false),
        ("ids off, 1 partition, every percentile exact", false, 1, 3, true),
        ("ids off, 2 partitions merged", false, 2, 5, false),
        ("ids on, 1 partition", true, 1, 1, false),
    ] {
        if std::env::var_os("BENCH_QUICK").is_some() && (with_ids || partitions > 1 || exact) {
            continue;
        }
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let (t, card) = run(&data, &thresholds, with_ids, partitions, exact);
            times.push(t);
            last = Some(card);
        }
        times.sort();
        if reference.is_none()
            && let Some(card) = &last
        {
            reference = Some((times[0], card.clone()));
        }
        println!(
            "full scorecard ({label}): best {:.3?}, median {:.3?} over {runs} runs",
            times[0],
            times[times.len() / 2]
        );
        if let Some(card) = last {
            let t = &card.total;
            println!(
                "  check: opened {} | restore n {} mean {:?} s | fcfr normal {}/{} | repeats {}/{}",
                t.incidents.total,
                t.restore_time.n,
                t.restore_time.mean_seconds,
                t.changes[1].first_change_failure_rate.numerator,
                t.changes[1].first_change_failure_rate.denominator,
                t.incidents.repeat_rate.numerator,
                t.incidents.repeat_rate.denominator
            );
        }
    }
    let (_, card) = run(&data, &thresholds, false, 1, false);
    let t = Instant::now();
    let json = itsm_metrics::render::json(&card).expect("json");
    let html = itsm_metrics::render::html(&card);
    println!("render json ({} bytes) + html ({} bytes): {:.3?}", json.len(), html.len(), t.elapsed());
    if std::env::var_os("BENCH_NO_SQL").is_none()
        && let Some((best, card)) = reference
    {
        sql_comparison(&data, &card, best);
    }
}

/// Loads the records into SQLite, runs the SQL reference, checks it against `card` and prints the table.
fn sql_comparison(
    data: &(Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>),
    card: &Scorecard,
    accumulator: Duration,
) {
    let runs: usize = std::env::var("BENCH_SQL_RUNS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("itsm-scorecard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the temp dir");
    let path = dir.join("scorecard.db");
    let period = sql_reference::Period {
        from: FROM,
        to: FROM + YEAR,
        repeat_window: i64::try_from(card.repeat.window_seconds).expect("repeat window in range"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let outcome = rt.block_on(async {
        let mut conn = sql_reference::open(&path).await?;
        let t = Instant::now();
        sql_reference::load(&mut conn, &data.0, &data.1, &data.2).await?;
        let load = t.elapsed();
        let index = sql_reference::create_indexes(&mut conn).await?;
        let mut best = [Duration::MAX; 5];
        let mut first = None;
        for _ in 0..runs {
            let (results, times) = sql_reference::run_queries(&mut conn, period).await?;
            for (b, t) in best.iter_mut().zip(times) {
                *b = (*b).min(t);
            }
            first.get_or_insert(results);
        }
        sqlx::Connection::close(conn).await?;
        Ok::<_, sqlx::Error>((load, index, best, first))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (load, index, times, results) = match outcome {
        Ok(v) => v,
        Err(e) => {
            eprintln!("SQL reference failed: {e}");
            std::process::exit(1);
        }
    };
    let Some(results) = results else { return };
    let mismatches = sql_reference::compare(card, &results, period);
    if !mismatches.is_empty() {
        eprintln!(
            "ABORT: the SQL reference and the accumulator give different figures, so timing them is meaningless:"
        );
        for m in &mismatches {
            eprintln!("  {m}");
        }
        std::process::exit(1);
    }
    let t = &card.total;
    println!(
        "SQL reference (SQLite file, one connection, 64 MiB cache): load {load:.2?} (not timed), \
         indexes {index:.3?}; figures equal to the accumulator's"
    );
    println!(
        "  checked: fcfr normal {}/{} | rollback normal {}/{} | restore n {} median {:?} s p90 {:?} s | \
         {} services' availability | repeats {}/{}",
        t.changes[1].first_change_failure_rate.numerator,
        t.changes[1].first_change_failure_rate.denominator,
        t.changes[1].rollback_failure_rate.numerator,
        t.changes[1].rollback_failure_rate.denominator,
        t.restore_time.n,
        t.restore_time.median_seconds,
        t.restore_time.p90_seconds,
        card.services.len(),
        t.incidents.repeat_rate.numerator,
        t.incidents.repeat_rate.denominator,
    );
    let runs_note = if runs == 1 { "one run".to_owned() } else { format!("best of {runs} runs") };
    println!("  {:<34} {:>12} {:>12}", format!("SQL ({runs_note})"), "time", "SQL / acc");
    let acc = accumulator.as_secs_f64();
    for (name, time) in sql_reference::GROUPS.iter().zip(times) {
        println!("  {name:<34} {:>12.3?} {:>11.1}x", time, time.as_secs_f64() / acc);
    }
    let total: Duration = times.iter().sum();
    println!("  {:<34} {:>12.3?} {:>11.1}x", "SQL total", total, total.as_secs_f64() / acc);
    println!(
        "  {:<34} {:>12.3?} {:>11.1}x",
        "SQL total + index creation",
        total + index,
        (total + index).as_secs_f64() / acc
    );
    println!("  {:<34} {:>12.3?} {:>11.1}x", "accumulator (full scorecard, best)", accumulator, 1.0);
}

// In this file rather than `benches/sql_reference.rs`: Cargo would build that as a bench target of its own.
mod sql_reference {
    //! The scorecard's figures computed the way a user would otherwise compute
    //! them: the records in a SQLite file (tables mirroring the interchange CSV
    //! columns, instants as integer Unix seconds) and SQL with window functions.
    //! Used by the `scorecard` bench to time the SQL against the accumulator and
    //! to check that both give the same figures.

    use std::collections::HashMap;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use itsm_core::Timestamp;
    use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
    use itsm_core::vocabulary::{FailureClass, Priority};
    use itsm_metrics::Scorecard;
    use itsm_metrics::scorecard::DurationStats;
    use rust_decimal::Decimal;
    use rust_decimal::prelude::ToPrimitive;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

    /// W = [from, to) in Unix seconds, and the repeat window in seconds.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Period {
        pub(crate) from: i64,
        pub(crate) to: i64,
        pub(crate) repeat_window: i64,
    }

    const SCHEMA: &[&str] = &[
        "CREATE TABLE incidents (
            id TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL,
            service TEXT NOT NULL,
            category TEXT,
            priority INTEGER,
            impact INTEGER,
            urgency INTEGER,
            detected_by TEXT NOT NULL,
            opened_at INTEGER NOT NULL,
            acknowledged_at INTEGER,
            impact_start INTEGER,
            restored_at INTEGER,
            resolved_at INTEGER,
            closed_at INTEGER,
            resolved_by TEXT,
            major INTEGER NOT NULL,
            reopen_count INTEGER NOT NULL,
            caused_by_change TEXT,
            problem_id TEXT,
            failure_class TEXT,
            outage INTEGER NOT NULL
        )",
        "CREATE TABLE changes (
            id TEXT PRIMARY KEY NOT NULL,
            type TEXT NOT NULL,
            service TEXT NOT NULL,
            requested_at INTEGER,
            planned_start INTEGER,
            planned_end INTEGER,
            started_at INTEGER,
            completed_at INTEGER,
            outcome TEXT NOT NULL,
            remediation TEXT NOT NULL
        )",
        "CREATE TABLE outages (
            service TEXT NOT NULL,
            start INTEGER NOT NULL,
            \"end\" INTEGER NOT NULL,
            planned INTEGER NOT NULL
        )",
    ];

    /// The indexes a user would add after reading the query plans: a covering index for the repeat
    /// lookup (without `id` every candidate costs a table lookup: about 2x slower), the change link,
    /// and a partial index on outage incidents (without it, after `ANALYZE`, SQLite walks the whole
    /// table through the repeat index to get rows by service: availability about 10x slower).
    const INDEXES: &[&str] = &[
        "CREATE INDEX incidents_repeat_key ON incidents (service, category, resolved_at, id)",
        "CREATE INDEX incidents_caused_by_change ON incidents (caused_by_change)",
        "CREATE INDEX incidents_outage ON incidents (service, impact_start) WHERE outage = 1",
        "ANALYZE",
    ];

    /// Rows per multi-row INSERT (21 columns x 1,000 stays under SQLite's 32,766 variables).
    const CHUNK: usize = 1_000;

    fn secs(t: Timestamp) -> i64 {
        t.unix_micros().div_euclid(1_000_000)
    }

    fn opt_secs(t: Option<Timestamp>) -> Option<i64> {
        t.map(secs)
    }

    fn priority_number(p: Priority) -> i64 {
        Priority::ALL.iter().position(|&q| q == p).map_or(0, |i| i as i64 + 1)
    }

    /// Opens (creates) the database file with a 64 MiB page cache, as `itsm-store` does.
    pub(crate) async fn open(path: &Path) -> Result<SqliteConnection, sqlx::Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("cache_size", "-65536");
        SqliteConnection::connect_with(&options).await
    }

    /// Creates the tables and loads every record in one transaction.
    pub(crate) async fn load(
        conn: &mut SqliteConnection,
        incidents: &[IncidentRecord],
        changes: &[ChangeRecord],
        outages: &[OutageRecord],
    ) -> Result<(), sqlx::Error> {
        for ddl in SCHEMA {
            sqlx::query(*ddl).execute(&mut *conn).await?;
        }
        let mut tx = conn.begin().await?;
        for chunk in incidents.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO incidents (id, kind, service, category, priority, impact, urgency, detected_by, opened_at, \
                 acknowledged_at, impact_start, restored_at, resolved_at, closed_at, resolved_by, major, reopen_count, \
                 caused_by_change, problem_id, failure_class, outage) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.as_str().to_owned())
                    .push_bind(r.kind.as_str())
                    .push_bind(r.service.as_str().to_owned())
                    .push_bind(r.category.clone())
                    .push_bind(priority_number(r.priority))
                    .push_bind(None::<i64>)
                    .push_bind(None::<i64>)
                    .push_bind(r.detected_by.as_str())
                    .push_bind(secs(r.opened_at))
                    .push_bind(opt_secs(r.acknowledged_at))
                    .push_bind(secs(r.impact_start))
                    .push_bind(opt_secs(r.restored_at))
                    .push_bind(opt_secs(r.resolved_at))
                    .push_bind(opt_secs(r.closed_at))
                    .push_bind(r.resolved_by.map(|b| b.as_str()))
                    .push_bind(r.major)
                    .push_bind(i64::from(r.reopen_count))
                    .push_bind(r.caused_by_change.as_ref().map(|c| c.as_str().to_owned()))
                    .push_bind(r.problem_id.as_ref().map(|p| p.as_str().to_owned()))
                    // The CSV leaves `failure_class` empty for "other".
                    .push_bind((r.failure_class != FailureClass::Other).then(|| r.failure_class.as_str()))
                    .push_bind(r.outage);
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in changes.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO changes (id, type, service, requested_at, planned_start, planned_end, started_at, \
                 completed_at, outcome, remediation) ",
            );
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id.as_str().to_owned())
                    .push_bind(c.change_type.as_str())
                    .push_bind(c.service.as_str().to_owned())
                    .push_bind(opt_secs(c.requested_at))
                    .push_bind(opt_secs(c.planned_start))
                    .push_bind(opt_secs(c.planned_end))
                    .push_bind(opt_secs(c.started_at))
                    .push_bind(opt_secs(c.completed_at))
                    // A record without an outcome is a cancelled change.
                    .push_bind(c.outcome.map_or("cancelled", |o| o.as_str()))
                    .push_bind(c.remediation.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
        for chunk in outages.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO outages (service, start, \"end\", planned) ");
            q.push_values(chunk, |mut b, o| {
                b.push_bind(o.service.as_str().to_owned())
                    .push_bind(secs(o.start))
                    .push_bind(secs(o.end))
                    .push_bind(o.planned);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Creates the indexes; returns the time taken.
    pub(crate) async fn create_indexes(conn: &mut SqliteConnection) -> Result<Duration, sqlx::Error> {
        let start = Instant::now();
        for ddl in INDEXES {
            sqlx::query(*ddl).execute(&mut *conn).await?;
        }
        Ok(start.elapsed())
    }

    /// First change failure rate and rollback failure rate, per change type.
    const CHANGES_SQL: &str = "
    SELECT type,
           COUNT(*) AS implemented,
           SUM(CASE WHEN outcome = 'failed' OR remediation <> 'none'
                      OR id IN (SELECT caused_by_change FROM incidents WHERE caused_by_change IS NOT NULL)
                    THEN 1 ELSE 0 END) AS failed,
           SUM(remediation = 'rollback_failed') AS rollback_failed,
           SUM(remediation IN ('rolled_back', 'rollback_failed')) AS rollback_attempts
    FROM changes
    WHERE outcome <> 'cancelled' AND completed_at >= ?1 AND completed_at < ?2
    GROUP BY type
    ORDER BY type";

    /// Restore time per failure class and overall ('all'): n, sum, mean, type-7 median and p90, max, censored.
    const RESTORE_SQL: &str = "
    WITH d AS (
        SELECT COALESCE(failure_class, 'other') AS class,
               COALESCE(restored_at, resolved_at) - impact_start AS secs
        FROM incidents
        WHERE COALESCE(restored_at, resolved_at) >= ?1 AND COALESCE(restored_at, resolved_at) < ?2
          AND COALESCE(restored_at, resolved_at) >= impact_start
    ),
    both_levels AS (
        SELECT class, secs FROM d
        UNION ALL
        SELECT 'all', secs FROM d
    ),
    ranked AS (
        SELECT class, secs,
               ROW_NUMBER() OVER (PARTITION BY class ORDER BY secs) - 1 AS k,
               COUNT(*) OVER (PARTITION BY class) AS n
        FROM both_levels
    ),
    stats AS (
        SELECT class, MAX(n) AS n, SUM(secs) AS total, AVG(secs) AS mean, MAX(secs) AS max_secs,
               MAX(CASE WHEN k = (n - 1) / 2 THEN secs END) AS med_lo,
               MAX(CASE WHEN k = (n - 1) / 2 + 1 THEN secs END) AS med_hi,
               MAX(CASE WHEN k = (n - 1) * 9 / 10 THEN secs END) AS p90_lo,
               MAX(CASE WHEN k = (n - 1) * 9 / 10 + 1 THEN secs END) AS p90_hi
        FROM ranked
        GROUP BY class
    ),
    censored AS (
        SELECT COALESCE(failure_class, 'other') AS class, COUNT(*) AS c
        FROM incidents
        WHERE impact_start < ?2
          AND (COALESCE(restored_at, resolved_at) IS NULL OR COALESCE(restored_at, resolved_at) >= ?2)
        GROUP BY 1
    ),
    classes(class) AS (VALUES ('ci'), ('cd'), ('platform'), ('other'), ('all'))
    SELECT classes.class AS class,
           COALESCE(s.n, 0) AS n,
           COALESCE(s.total, 0) AS total,
           CAST(s.mean AS REAL) AS mean,
           CAST(s.med_lo + ((s.n - 1) % 2) / 2.0 * (COALESCE(s.med_hi, s.med_lo) - s.med_lo) AS REAL) AS median,
           CAST(s.p90_lo + ((s.n - 1) * 9 % 10) / 10.0 * (COALESCE(s.p90_hi, s.p90_lo) - s.p90_lo) AS REAL) AS p90,
           s.max_secs AS max_secs,
           CASE WHEN classes.class = 'all' THEN (SELECT COALESCE(SUM(c), 0) FROM censored)
                ELSE COALESCE(cz.c, 0) END AS censored
    FROM classes
    LEFT JOIN stats AS s ON s.class = classes.class
    LEFT JOIN censored AS cz ON cz.class = classes.class";

    /// Downtime per service: unplanned outages and outage incidents, clipped to W, overlaps merged
    /// (gaps and islands: a new island starts where an interval begins after every earlier end).
    const AVAILABILITY_SQL: &str = "
    WITH intervals AS (
        SELECT service, MAX(start, ?1) AS s, MIN(\"end\", ?2) AS e
        FROM outages
        WHERE planned = 0 AND \"end\" > start
        UNION ALL
        SELECT service, MAX(impact_start, ?1) AS s, MIN(COALESCE(restored_at, resolved_at, ?2), ?2) AS e
        FROM incidents
        WHERE outage = 1
    ),
    marked AS (
        SELECT service, s, e,
               CASE WHEN s <= MAX(e) OVER (PARTITION BY service ORDER BY s, e
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                    THEN 0 ELSE 1 END AS starts_island
        FROM intervals
        WHERE s < e
    ),
    numbered AS (
        SELECT service, s, e,
               SUM(starts_island) OVER (PARTITION BY service ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
        FROM marked
    ),
    islands AS (
        SELECT service, MIN(s) AS s, MAX(e) AS e FROM numbered GROUP BY service, island
    )
    SELECT service,
           SUM(e - s) AS down_seconds,
           COUNT(*) AS intervals,
           CAST(1.0 - SUM(e - s) * 1.0 / (?2 - ?1) AS REAL) AS availability
    FROM islands
    GROUP BY service
    ORDER BY service";

    /// Repeat incidents: opened in W, with another incident of the same (service, category)
    /// resolved at or before the opening and within the window.
    const REPEATS_SQL: &str = "
    SELECT COUNT(*) AS opened,
           COALESCE(SUM(CASE WHEN EXISTS (
               SELECT 1 FROM incidents AS j
               WHERE j.service = i.service AND j.category IS i.category
                 AND j.resolved_at BETWEEN i.opened_at - ?3 AND i.opened_at
                 AND j.id <> i.id) THEN 1 ELSE 0 END), 0) AS repeats
    FROM incidents AS i
    WHERE i.opened_at >= ?1 AND i.opened_at < ?2";

    /// Incident KPIs (Tables 5 and 6).
    const KPIS_SQL: &str = "
    SELECT COUNT(*) FILTER (WHERE opened_at >= ?1 AND opened_at < ?2) AS opened,
           COUNT(*) FILTER (WHERE opened_at >= ?1 AND opened_at < ?2 AND resolved_at < ?2) AS resolved_by_to,
           COUNT(*) FILTER (WHERE resolved_at >= ?1 AND resolved_at < ?2) AS resolved_in_w,
           COUNT(*) FILTER (WHERE resolved_at >= ?1 AND resolved_at < ?2 AND resolved_by = 'l1') AS first_line,
           COUNT(*) FILTER (WHERE resolved_at >= ?1 AND resolved_at < ?2 AND resolved_by = 'automation') AS automated,
           COUNT(*) FILTER (WHERE opened_at >= ?1 AND opened_at < ?2
                              AND detected_by IN ('monitoring', 'automation')) AS proactive
    FROM incidents";

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct ChangeRow {
        pub(crate) change_type: String,
        pub(crate) implemented: i64,
        pub(crate) failed: i64,
        pub(crate) rollback_failed: i64,
        pub(crate) rollback_attempts: i64,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct RestoreRow {
        pub(crate) class: String,
        pub(crate) n: i64,
        pub(crate) total: i64,
        pub(crate) mean: Option<f64>,
        pub(crate) median: Option<f64>,
        pub(crate) p90: Option<f64>,
        pub(crate) max: Option<i64>,
        pub(crate) censored: i64,
    }

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct AvailabilityRow {
        pub(crate) service: String,
        pub(crate) down_seconds: i64,
        pub(crate) intervals: i64,
        pub(crate) availability: f64,
    }

    #[derive(Debug, Clone, Default, PartialEq)]
    pub(crate) struct Kpis {
        pub(crate) opened: i64,
        pub(crate) resolved_by_to: i64,
        pub(crate) resolved_in_w: i64,
        pub(crate) first_line: i64,
        pub(crate) automated: i64,
        pub(crate) proactive: i64,
        pub(crate) repeats: i64,
        pub(crate) repeat_opened: i64,
    }

    #[derive(Debug, Clone, Default, PartialEq)]
    pub(crate) struct SqlResults {
        pub(crate) changes: Vec<ChangeRow>,
        pub(crate) restore: Vec<RestoreRow>,
        pub(crate) availability: Vec<AvailabilityRow>,
        pub(crate) kpis: Kpis,
    }

    /// The query groups, in the order they run and are reported.
    pub(crate) const GROUPS: [&str; 5] = [
        "change failure + rollback",
        "restore time (median, p90)",
        "availability (islands)",
        "repeat incidents",
        "incident KPIs",
    ];

    /// Runs every query group once; returns the results and each group's time.
    pub(crate) async fn run_queries(
        conn: &mut SqliteConnection,
        p: Period,
    ) -> Result<(SqlResults, [Duration; 5]), sqlx::Error> {
        let mut out = SqlResults::default();
        let mut times = [Duration::ZERO; 5];

        let t = Instant::now();
        let rows = sqlx::query(CHANGES_SQL).bind(p.from).bind(p.to).fetch_all(&mut *conn).await?;
        times[0] = t.elapsed();
        for r in rows {
            out.changes.push(ChangeRow {
                change_type: r.try_get("type")?,
                implemented: r.try_get("implemented")?,
                failed: r.try_get("failed")?,
                rollback_failed: r.try_get("rollback_failed")?,
                rollback_attempts: r.try_get("rollback_attempts")?,
            });
        }

        let t = Instant::now();
        let rows = sqlx::query(RESTORE_SQL).bind(p.from).bind(p.to).fetch_all(&mut *conn).await?;
        times[1] = t.elapsed();
        for r in rows {
            out.restore.push(RestoreRow {
                class: r.try_get("class")?,
                n: r.try_get("n")?,
                total: r.try_get("total")?,
                mean: r.try_get("mean")?,
                median: r.try_get("median")?,
                p90: r.try_get("p90")?,
                max: r.try_get("max_secs")?,
                censored: r.try_get("censored")?,
            });
        }

        let t = Instant::now();
        let rows = sqlx::query(AVAILABILITY_SQL).bind(p.from).bind(p.to).fetch_all(&mut *conn).await?;
        times[2] = t.elapsed();
        for r in rows {
            out.availability.push(AvailabilityRow {
                service: r.try_get("service")?,
                down_seconds: r.try_get("down_seconds")?,
                intervals: r.try_get("intervals")?,
                availability: r.try_get("availability")?,
            });
        }

        let t = Instant::now();
        let row = sqlx::query(REPEATS_SQL).bind(p.from).bind(p.to).bind(p.repeat_window).fetch_one(&mut *conn).await?;
        times[3] = t.elapsed();
        out.kpis.repeat_opened = row.try_get("opened")?;
        out.kpis.repeats = row.try_get("repeats")?;

        let t = Instant::now();
        let row = sqlx::query(KPIS_SQL).bind(p.from).bind(p.to).fetch_one(&mut *conn).await?;
        times[4] = t.elapsed();
        out.kpis.opened = row.try_get("opened")?;
        out.kpis.resolved_by_to = row.try_get("resolved_by_to")?;
        out.kpis.resolved_in_w = row.try_get("resolved_in_w")?;
        out.kpis.first_line = row.try_get("first_line")?;
        out.kpis.automated = row.try_get("automated")?;
        out.kpis.proactive = row.try_get("proactive")?;

        Ok((out, times))
    }

    fn dec(d: Option<Decimal>) -> Option<f64> {
        d.and_then(|d| d.to_f64())
    }

    /// Within rounding: the accumulator rounds the mean to 6 places; SQL works in doubles.
    fn close(a: Option<f64>, b: Option<f64>) -> bool {
        match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 + 1e-12 * a.abs().max(b.abs()),
            _ => false,
        }
    }

    /// Within the accumulator's stated relative error (0 when exact), plus rounding.
    fn within(a: Option<f64>, b: Option<f64>, bound: rust_decimal::Decimal) -> bool {
        let bound = bound.to_f64().unwrap_or(0.0);
        match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 + 1e-12 * a.abs().max(b.abs()) + bound * b.abs(),
            (a, b) => close(a, b),
        }
    }

    fn compare_durations(label: &str, acc: &DurationStats, sql: Option<&RestoreRow>, out: &mut Vec<String>) {
        let Some(sql) = sql else {
            out.push(format!("restore time {label}: no SQL row"));
            return;
        };
        let pairs = [
            ("n", acc.n as i64 == sql.n, format!("{}", acc.n), format!("{}", sql.n)),
            ("sum", acc.total_seconds as i64 == sql.total, format!("{}", acc.total_seconds), format!("{}", sql.total)),
            (
                "mean",
                close(dec(acc.mean_seconds), sql.mean),
                format!("{:?}", acc.mean_seconds),
                format!("{:?}", sql.mean),
            ),
            (
                "median",
                within(dec(acc.median_seconds), sql.median, acc.percentile_error),
                format!("{:?} (error bound {})", acc.median_seconds, acc.percentile_error),
                format!("{:?}", sql.median),
            ),
            (
                "p90",
                within(dec(acc.p90_seconds), sql.p90, acc.percentile_error),
                format!("{:?} (error bound {})", acc.p90_seconds, acc.percentile_error),
                format!("{:?}", sql.p90),
            ),
            (
                "max",
                acc.max_seconds.map(|m| m as i64) == sql.max,
                format!("{:?}", acc.max_seconds),
                format!("{:?}", sql.max),
            ),
            ("censored", acc.censored as i64 == sql.censored, format!("{}", acc.censored), format!("{}", sql.censored)),
        ];
        for (what, same, a, s) in pairs {
            if !same {
                out.push(format!("restore time {label} {what}: accumulator {a}, SQL {s}"));
            }
        }
    }

    fn compare_rate(label: &str, rate: &itsm_metrics::Rate, num: i64, den: i64, out: &mut Vec<String>) {
        if rate.numerator as i64 != num || rate.denominator as i64 != den {
            out.push(format!("{label}: accumulator {}/{}, SQL {num}/{den}", rate.numerator, rate.denominator));
        }
    }

    /// Every difference between the accumulator's scorecard and the SQL results (empty when equal).
    pub(crate) fn compare(card: &Scorecard, sql: &SqlResults, p: Period) -> Vec<String> {
        let mut out = Vec::new();
        let t = &card.total;
        // Changes, per type.
        for c in &t.changes {
            let name = c.change_type.as_str();
            let row = sql.changes.iter().find(|r| r.change_type == name);
            let (implemented, failed, rb_failed, rb_attempts) =
                row.map_or((0, 0, 0, 0), |r| (r.implemented, r.failed, r.rollback_failed, r.rollback_attempts));
            compare_rate(
                &format!("first change failure rate ({name})"),
                &c.first_change_failure_rate,
                failed,
                implemented,
                &mut out,
            );
            compare_rate(
                &format!("rollback failure rate ({name})"),
                &c.rollback_failure_rate,
                rb_failed,
                rb_attempts,
                &mut out,
            );
        }
        for r in &sql.changes {
            if !t.changes.iter().any(|c| c.change_type.as_str() == r.change_type) {
                out.push(format!("SQL change type {} unknown to the accumulator", r.change_type));
            }
        }
        // Restore time, per class and overall.
        let restore = |class: &str| sql.restore.iter().find(|r| r.class == class);
        for c in &t.restore_time_by_class {
            let name = c.failure_class.as_str();
            compare_durations(name, &c.stats, restore(name), &mut out);
        }
        compare_durations("overall", &t.restore_time, restore("all"), &mut out);
        // Availability, per service.
        let period_micros = (p.to - p.from) * 1_000_000;
        let by_service: HashMap<&str, &AvailabilityRow> =
            sql.availability.iter().map(|r| (r.service.as_str(), r)).collect();
        let mut seen = 0usize;
        for s in &card.services {
            let name = s.service.as_str();
            let a = &s.metrics.availability;
            let (down, intervals) = match by_service.get(name) {
                Some(r) => {
                    seen += 1;
                    (r.down_seconds, r.intervals)
                }
                None => (0, 0),
            };
            compare_rate(
                &format!("availability ({name}, microseconds)"),
                &a.availability,
                period_micros - down * 1_000_000,
                period_micros,
                &mut out,
            );
            if a.outage_intervals as i64 != intervals {
                out.push(format!(
                    "merged outage intervals ({name}): accumulator {}, SQL {intervals}",
                    a.outage_intervals
                ));
            }
        }
        if seen != sql.availability.len() {
            out.push(format!(
                "SQL reports downtime for {} services unknown to the accumulator",
                sql.availability.len() - seen
            ));
        }
        // Repeats and KPIs.
        let i = &t.incidents;
        let k = &sql.kpis;
        compare_rate("repeat rate", &i.repeat_rate, k.repeats, k.repeat_opened, &mut out);
        if i.total as i64 != k.opened {
            out.push(format!("incidents opened: accumulator {}, SQL {}", i.total, k.opened));
        }
        compare_rate("resolution rate", &i.resolution_rate, k.resolved_by_to, k.opened, &mut out);
        compare_rate(
            "first-line resolution rate",
            &i.first_line_resolution_rate,
            k.first_line,
            k.resolved_in_w,
            &mut out,
        );
        compare_rate("automated recovery share", &i.automated_recovery_share, k.automated, k.resolved_in_w, &mut out);
        compare_rate("proactive detection share", &i.proactive_detection_share, k.proactive, k.opened, &mut out);
        out
    }
}
