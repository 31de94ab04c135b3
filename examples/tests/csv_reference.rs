//! The CSV → scorecard path against a plain reference implementation of the
//! metric definitions in `interchange-csv.md`, written here for the test.
//!
//! Generated rows cover every order of facts the format accepts (an
//! acknowledgement after the resolution or the closure, a restore before the
//! acknowledgement, at the opening, after the resolution or without a
//! resolution, an `impact_start` before or after opening, zero-length
//! incidents, reopen counts, a `closed_at` without a resolution, successful
//! changes that needed remediation, changes without any instant, open
//! outages). Every row must be accepted, replayed through the domain machines
//! without a refusal, and counted; the scorecard must equal the reference,
//! read on one thread or several with small chunks.

use std::path::Path;

use itsm_core::Timestamp;
use itsm_core::sla::{SlaPolicy, TargetKind};
use itsm_core::vocabulary::{IncidentKind, Priority};
use itsm_examples::interchange::{CsvInputs, score_csv};
use itsm_metrics::{Scorecard, ScorecardConfig, Thresholds};
use proptest::prelude::*;
use rust_decimal::Decimal;

const BASE: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400;
const FROM: i64 = BASE;
const TO: i64 = BASE + 30 * DAY;
const SERVICES: [&str; 3] = ["erp", "mail", "web"];
const KINDS: [&str; 5] = ["production", "business", "security", "desktop", "service_request"];

#[derive(Debug, Clone)]
struct Inc {
    kind: usize,
    service: usize,
    category: Option<&'static str>,
    priority: u8,
    detected_by: Option<&'static str>,
    opened: i64,
    ack: Option<i64>,
    impact_start: Option<i64>,
    restored: Option<i64>,
    resolved: Option<i64>,
    closed: Option<i64>,
    resolved_by: Option<&'static str>,
    major: bool,
    reopens: u32,
    cause: Option<usize>,
    class: Option<&'static str>,
    outage: bool,
}

impl Inc {
    fn start(&self) -> i64 {
        self.impact_start.unwrap_or(self.opened)
    }
    fn restore(&self) -> Option<i64> {
        self.restored.or(self.resolved)
    }
}

#[derive(Debug, Clone)]
struct Chg {
    kind: &'static str,
    service: usize,
    requested: Option<i64>,
    planned: Option<(i64, i64)>,
    started: Option<i64>,
    completed: Option<i64>,
    outcome: &'static str,
    remediation: &'static str,
}

#[derive(Debug, Clone)]
struct Out {
    service: usize,
    start: i64,
    end: i64,
    planned: bool,
}

fn incident(changes: usize) -> impl Strategy<Value = Inc> {
    let times = (
        (FROM - 20 * DAY)..(TO + 5 * DAY),
        prop::option::weighted(0.85, 0i64..5 * DAY),
        prop_oneof![3 => Just(None), 1 => (-7_200i64..0).prop_map(Some), 1 => (1i64..7_200).prop_map(Some)],
        prop_oneof![2 => Just(None), 1 => (0i64..3 * DAY).prop_map(Some), 1 => Just(Some(0))],
        prop::option::of(0i64..6 * DAY),
        prop::option::weighted(0.6, 0i64..3 * DAY),
        any::<bool>(),
    );
    let facts = (
        0..KINDS.len(),
        0..SERVICES.len(),
        prop::option::of(prop::sample::select(vec!["db", "net"])),
        1u8..=5,
        prop::option::of(prop::sample::select(vec!["monitoring", "user", "service_desk", "automation"])),
        prop::option::of(prop::sample::select(vec!["l1", "l2", "l3", "automation", "vendor"])),
        any::<bool>(),
        0u32..3,
        prop::option::weighted(0.2, 0..changes.max(1)),
        prop::option::of(prop::sample::select(vec!["ci", "cd", "platform"])),
        prop::bool::weighted(0.3),
    );
    (times, facts).prop_map(
        move |(
            (opened, resolve_after, impact, restore_after, ack_after, close_after, close_unresolved),
            (kind, service, category, priority, detected_by, resolved_by, major, reopens, cause, class, outage),
        )| {
            let resolved = resolve_after.map(|d| opened + d);
            let mut impact_start = impact.map(|d| opened + d);
            // The restore is at or after the impact start, anywhere else in time.
            let restored = restore_after.map(|d| impact_start.unwrap_or(opened) + d);
            if restored.is_none()
                && let Some(r) = resolved
                && r < impact_start.unwrap_or(opened)
            {
                impact_start = None;
            }
            let closed = match (resolved, close_after) {
                (Some(r), Some(c)) => Some(r + c),
                (None, Some(c)) if close_unresolved => Some(opened + c),
                _ => None,
            };
            Inc {
                kind,
                service,
                category,
                priority,
                detected_by,
                opened,
                ack: ack_after.map(|d| opened + d),
                impact_start,
                restored,
                resolved,
                closed,
                resolved_by: resolved.and(resolved_by),
                major,
                reopens,
                cause: if changes == 0 { None } else { cause },
                class,
                outage,
            }
        },
    )
}

fn change() -> impl Strategy<Value = Chg> {
    (
        prop::sample::select(vec!["standard", "normal", "emergency"]),
        0..SERVICES.len(),
        prop::option::of((FROM - 5 * DAY)..(TO + 2 * DAY)),
        prop::option::of(((FROM - 5 * DAY)..(TO + 2 * DAY), 0i64..DAY)),
        prop::option::of((FROM - 5 * DAY)..(TO + 2 * DAY)),
        0i64..DAY,
        prop::sample::select(vec!["successful", "successful_with_issues", "failed", "cancelled"]),
        prop::sample::select(vec!["none", "rolled_back", "rollback_failed", "fixed_forward"]),
    )
        .prop_map(|(kind, service, requested, planned, started, duration, outcome, remediation)| {
            let implemented = outcome != "cancelled";
            // An implemented change needs `completed_at`; a cancelled one may have nothing at all.
            let started = if implemented { Some(started.unwrap_or(FROM + DAY)) } else { started };
            let completed = if implemented { started.map(|s| s + duration) } else { None };
            Chg {
                kind,
                service,
                requested,
                planned: planned.map(|(s, d)| (s, s + d)),
                started,
                completed,
                outcome,
                remediation,
            }
        })
}

fn outage() -> impl Strategy<Value = Out> {
    (0..SERVICES.len(), (FROM - 2 * DAY)..(TO + DAY), 1i64..DAY, prop::bool::weighted(0.3))
        .prop_map(|(service, start, d, planned)| Out { service, start, end: start + d, planned })
}

fn t(s: i64) -> String {
    Timestamp::from_unix_secs(s).unwrap().to_rfc3339()
}

fn o(s: Option<i64>) -> String {
    s.map(t).unwrap_or_default()
}

fn write(dir: &Path, incs: &[Inc], chgs: &[Chg], outs: &[Out]) {
    let mut s = String::from(
        "id,kind,service,category,priority,detected_by,opened_at,acknowledged_at,impact_start,restored_at,resolved_at,closed_at,resolved_by,major,reopen_count,caused_by_change,failure_class,outage\r\n",
    );
    for (i, x) in incs.iter().enumerate() {
        s += &format!(
            "I{i},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            KINDS[x.kind],
            SERVICES[x.service],
            x.category.unwrap_or(""),
            x.priority,
            x.detected_by.unwrap_or(""),
            t(x.opened),
            o(x.ack),
            o(x.impact_start),
            o(x.restored),
            o(x.resolved),
            o(x.closed),
            x.resolved_by.unwrap_or(""),
            x.major,
            x.reopens,
            x.cause.map(|c| format!("C{c}")).unwrap_or_default(),
            x.class.unwrap_or(""),
            x.outage
        );
    }
    std::fs::write(dir.join("incidents.csv"), s).unwrap();
    let mut s = String::from(
        "id,type,service,requested_at,planned_start,planned_end,started_at,completed_at,outcome,remediation\n",
    );
    for (i, c) in chgs.iter().enumerate() {
        s += &format!(
            "C{i},{},{},{},{},{},{},{},{},{}\n",
            c.kind,
            SERVICES[c.service],
            o(c.requested),
            o(c.planned.map(|p| p.0)),
            o(c.planned.map(|p| p.1)),
            o(c.started),
            o(c.completed),
            c.outcome,
            c.remediation
        );
    }
    std::fs::write(dir.join("changes.csv"), s).unwrap();
    let mut s = String::from("service,start,end,planned\n");
    for x in outs {
        s += &format!("{},{},{},{}\n", SERVICES[x.service], t(x.start), t(x.end), x.planned);
    }
    std::fs::write(dir.join("outages.csv"), s).unwrap();
}

/// Type-7 percentile of sorted whole seconds, exactly.
fn percentile(sorted: &[i64], p: Decimal) -> Option<Decimal> {
    if sorted.is_empty() {
        return None;
    }
    let h = Decimal::from(sorted.len() - 1) * p;
    let k = h.floor();
    let i = usize::try_from(k.mantissa()).ok()? / 10usize.pow(k.scale());
    let lo = Decimal::from(sorted[i]);
    let hi = Decimal::from(*sorted.get(i + 1).unwrap_or(&sorted[i]));
    Some((lo + (h - k) * (hi - lo)).normalize())
}

fn union_seconds(mut v: Vec<(i64, i64)>) -> i64 {
    v.retain(|(s, e)| e > s);
    v.sort();
    let mut total = 0;
    let mut cur: Option<(i64, i64)> = None;
    for (s, e) in v {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    total + cur.map_or(0, |(s, e)| e - s)
}

fn num_den(r: &itsm_metrics::Rate) -> (u64, u64) {
    (r.numerator, r.denominator)
}

fn check(card: &Scorecard, incs: &[Inc], chgs: &[Chg], outs: &[Out]) -> Result<(), TestCaseError> {
    let in_w = |x: i64| (FROM..TO).contains(&x);
    // Changes.
    for (ti, kind) in ["standard", "normal", "emergency"].iter().enumerate() {
        let implemented: Vec<(usize, &Chg)> = chgs
            .iter()
            .enumerate()
            .filter(|(_, c)| c.kind == *kind && c.outcome != "cancelled" && c.completed.is_some_and(in_w))
            .collect();
        let named = |i: usize| incs.iter().any(|x| x.cause == Some(i));
        let failed =
            implemented.iter().filter(|(i, c)| c.outcome == "failed" || c.remediation != "none" || named(*i)).count()
                as u64;
        let attempts =
            implemented.iter().filter(|(_, c)| matches!(c.remediation, "rolled_back" | "rollback_failed")).count();
        let rollback_failed = implemented.iter().filter(|(_, c)| c.remediation == "rollback_failed").count();
        let m = &card.total.changes[ti];
        prop_assert_eq!(num_den(&m.first_change_failure_rate), (failed, implemented.len() as u64), "{} cfr", kind);
        prop_assert_eq!(
            num_den(&m.rollback_failure_rate),
            (rollback_failed as u64, attempts as u64),
            "{} rollback",
            kind
        );
        // The CSV format has no automatic-rollback column: none of the failed
        // changes rolled back by itself.
        prop_assert_eq!(num_den(&m.automatic_rollback_share), (0, failed), "{} automatic rollback", kind);
        // Nor an authorization instant: no change counts as authorized.
        prop_assert_eq!(num_den(&m.authorized_in_time), (0, 0), "{} authorized in time", kind);
    }
    // Incident KPIs.
    let opened: Vec<&Inc> = incs.iter().filter(|x| in_w(x.opened)).collect();
    let resolved_in_w: Vec<&Inc> = incs.iter().filter(|x| x.resolved.is_some_and(in_w)).collect();
    let k = &card.total.incidents;
    prop_assert_eq!(k.total, opened.len() as u64);
    let n = opened.len() as u64;
    prop_assert_eq!(
        num_den(&k.resolution_rate),
        (opened.iter().filter(|x| x.resolved.is_some_and(|r| r < TO)).count() as u64, n)
    );
    let by = |who: &str| resolved_in_w.iter().filter(|x| x.resolved_by == Some(who)).count() as u64;
    prop_assert_eq!(num_den(&k.first_line_resolution_rate), (by("l1"), resolved_in_w.len() as u64));
    prop_assert_eq!(num_den(&k.automated_recovery_share), (by("automation"), resolved_in_w.len() as u64));
    let proactive = opened.iter().filter(|x| matches!(x.detected_by, Some("monitoring" | "automation"))).count() as u64;
    prop_assert_eq!(num_den(&k.proactive_detection_share), (proactive, n));
    // On time: resolved in W within the policy's resolution target, on a 24x7 calendar.
    let policy = SlaPolicy::default();
    let (mut met, mut judged, mut unknown) = (0u64, 0u64, 0u64);
    for x in &resolved_in_w {
        let kind = IncidentKind::parse(KINDS[x.kind]).unwrap();
        let priority = Priority::parse(&x.priority.to_string()).unwrap();
        match policy.targets_for(kind, priority).and_then(|t| t.get(TargetKind::Resolution)) {
            Some(target) => {
                judged += 1;
                if x.resolved.unwrap() - x.opened <= target.as_secs() as i64 {
                    met += 1;
                }
            }
            None => unknown += 1,
        }
    }
    prop_assert_eq!(num_den(&k.on_time_resolution_rate), (met, judged), "on time");
    prop_assert_eq!(k.resolved_with_unknown_target, unknown);
    // Repeats: an earlier incident of the same key resolved at or before the opening, within 30 days.
    let is_repeat = |i: &Inc| {
        incs.iter().any(|j| {
            !std::ptr::eq(i, j)
                && (j.service, j.category) == (i.service, i.category)
                && j.resolved.is_some_and(|r| r <= i.opened && i.opened - r <= 30 * DAY)
        })
    };
    let repeats = opened.iter().filter(|i| is_repeat(i)).count() as u64;
    prop_assert_eq!(num_den(&k.repeat_rate), (repeats, n), "repeats");
    // Table 7's knowledge share: the generated rows name no problem.
    let reviewable = opened.iter().filter(|i| i.major || is_repeat(i)).count() as u64;
    prop_assert_eq!(num_den(&k.problem_review_share), (0, reviewable), "problem review");
    // Restore times.
    let mut restores: Vec<i64> =
        incs.iter().filter_map(|x| x.restore().filter(|r| in_w(*r)).map(|r| r - x.start())).collect();
    restores.sort_unstable();
    let censored = incs.iter().filter(|x| x.start() < TO && x.restore().is_none_or(|r| r >= TO)).count() as u64;
    let d = &card.total.restore_time;
    prop_assert_eq!(d.n, restores.len() as u64);
    prop_assert_eq!(d.total_seconds, restores.iter().sum::<i64>() as u64);
    prop_assert_eq!(d.max_seconds, restores.last().map(|m| *m as u64));
    prop_assert_eq!(d.censored, censored);
    prop_assert_eq!(d.median_seconds.map(|m| m.normalize()), percentile(&restores, Decimal::new(5, 1)));
    prop_assert_eq!(d.p90_seconds.map(|m| m.normalize()), percentile(&restores, Decimal::new(9, 1)));
    // Availability: unplanned outages and outage incidents (open ones run to `to`), clipped, once.
    let mut open_outages = Vec::new();
    for (si, name) in SERVICES.iter().enumerate() {
        let mut intervals: Vec<(i64, i64)> =
            outs.iter().filter(|x| x.service == si && !x.planned).map(|x| (x.start, x.end)).collect();
        for (i, x) in incs.iter().enumerate().filter(|(_, x)| x.service == si && x.outage) {
            let end = x.restore().unwrap_or(TO);
            intervals.push((x.start(), end));
            if x.start() < TO && end >= TO {
                open_outages.push(((*name).to_owned(), x.start(), format!("I{i}")));
            }
        }
        let clipped: Vec<(i64, i64)> = intervals.into_iter().map(|(s, e)| (s.max(FROM), e.min(TO))).collect();
        let down = union_seconds(clipped);
        let service = card.services.iter().find(|s| s.service.as_str() == *name);
        let got = service.and_then(|s| s.metrics.availability.downtime_seconds).unwrap_or_default();
        prop_assert_eq!(got.normalize(), Decimal::from(down).normalize(), "downtime of {}", name);
    }
    open_outages.sort();
    let got: Vec<(String, i64, String)> =
        card.open_outages.iter().map(|o| (o.service.clone(), o.since.unix_secs(), o.incident.clone())).collect();
    prop_assert_eq!(got, open_outages, "open outages");
    prop_assert_eq!(card.inputs.incidents, incs.len() as u64);
    prop_assert_eq!(card.inputs.changes, chgs.len() as u64);
    Ok(())
}

fn score(dir: &Path, threads: usize, chunk: Option<usize>) -> (itsm_examples::interchange::CsvRun, Vec<String>) {
    let inputs = CsvInputs {
        incidents: Some(dir.join("incidents.csv")),
        changes: Some(dir.join("changes.csv")),
        outages: Some(dir.join("outages.csv")),
        chunk_bytes: chunk,
    };
    let config =
        ScorecardConfig::new(Timestamp::from_unix_secs(FROM).unwrap(), Timestamp::from_unix_secs(TO).unwrap()).unwrap();
    let mut said = Vec::new();
    let mut say = |l: &str| said.push(l.to_owned());
    let run = score_csv(&inputs, config, Timestamp::from_unix_secs(TO).unwrap(), threads, &mut say).unwrap();
    (run, said)
}

fn scenario() -> impl Strategy<Value = (Vec<Inc>, Vec<Chg>, Vec<Out>)> {
    prop::collection::vec(change(), 0..12).prop_flat_map(|chgs| {
        let n = chgs.len();
        (prop::collection::vec(incident(n), 0..40), Just(chgs), prop::collection::vec(outage(), 0..5))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every row counts, and the scorecard equals the reference, on one thread and on several.
    #[test]
    fn csv_scorecard_equals_the_reference((incs, chgs, outs) in scenario(), chunk in 40usize..600) {
        let dir = std::env::temp_dir().join(format!("itsm-csv-ref-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &incs, &chgs, &outs);
        let (one, said) = score(&dir, 1, None);
        prop_assert!(said.is_empty(), "rows were rejected or refused: {said:#?}");
        for f in &one.files {
            prop_assert_eq!((f.rejected, f.refused), (0, 0), "{:?}", f);
            prop_assert_eq!(f.replayed, f.accepted);
        }
        let accepted: Vec<u64> = one.files.iter().map(|f| f.accepted).collect();
        prop_assert_eq!(accepted, vec![incs.len() as u64, chgs.len() as u64, outs.len() as u64]);
        let thresholds = Thresholds::maturity_model();
        let card = one.accumulator.finish(&thresholds);
        check(&card, &incs, &chgs, &outs)?;
        let (many, said) = score(&dir, 3, Some(chunk));
        prop_assert!(said.is_empty());
        prop_assert_eq!(many.accumulator.finish(&thresholds), card, "three threads with {}-byte chunks differ", chunk);
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The counts by file in a fixed example: nothing is lost between reading and counting.
#[test]
fn summary_counts_reconcile() {
    let dir = std::env::temp_dir().join(format!("itsm-csv-ref-fixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, &[], &[], &[]);
    let (run, said) = score(&dir, 2, None);
    assert!(said.is_empty());
    assert!(run.complete());
    assert_eq!(run.files.iter().map(|f| f.read()).sum::<u64>(), 0);
    std::fs::remove_dir_all(&dir).ok();
}
