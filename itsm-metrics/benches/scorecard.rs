//! Full scorecard over 1,000,000 incidents and 250,000 changes generated
//! deterministically in memory (plus 2,000 outages), on one thread.
//!
//! Run: `cargo bench -p itsm-metrics --bench scorecard`. Prints the time to
//! push every record and finish (the scorecard and its ratings), best and
//! median of several runs, with ids off and on, and for two merged partitions.

use std::time::{Duration, Instant};

use itsm_core::Timestamp;
use itsm_core::classify::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};
use itsm_core::id::{ChangeId, IncidentId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
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

fn config(with_ids: bool) -> ScorecardConfig {
    ScorecardConfig::new(ts(FROM), ts(FROM + YEAR))
        .expect("valid period")
        .with_zone(chrono_tz::Europe::Paris)
        .with_ids(with_ids)
}

fn run(
    data: &(Vec<IncidentRecord>, Vec<ChangeRecord>, Vec<OutageRecord>),
    thresholds: &Thresholds,
    with_ids: bool,
    partitions: usize,
) -> (Duration, Scorecard) {
    let start = Instant::now();
    let mut accs: Vec<Accumulator> =
        (0..partitions).map(|_| Accumulator::new(config(with_ids)).expect("valid config")).collect();
    for (k, r) in data.0.iter().enumerate() {
        accs[k % partitions].push_incident(r);
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
    for (label, with_ids, partitions, runs) in [
        ("ids off, 1 partition", false, 1, 7),
        ("ids off, 2 partitions merged", false, 2, 5),
        ("ids on, 1 partition", true, 1, 1),
    ] {
        if std::env::var_os("BENCH_QUICK").is_some() && (with_ids || partitions > 1) {
            continue;
        }
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let (t, card) = run(&data, &thresholds, with_ids, partitions);
            times.push(t);
            last = Some(card);
        }
        times.sort();
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
    let (_, card) = run(&data, &thresholds, false, 1);
    let t = Instant::now();
    let json = itsm_metrics::render::json(&card).expect("json");
    let html = itsm_metrics::render::html(&card);
    println!("render json ({} bytes) + html ({} bytes): {:.3?}", json.len(), html.len(), t.elapsed());
}
