//! The metric definitions of interchange-csv.md on hand-computed examples, the
//! rating boundaries the brief asks for, and the JSON contract.

mod common;

use common::*;
use itsm_core::id::{ChangeId, ServiceId};
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, FailureClass, Remediation, ResolvedBy};
use itsm_metrics::rating::{Evidence, Level};
use itsm_metrics::scorecard::{MetricRating, Scorecard, TrendReading, TrendStatus};
use itsm_metrics::thresholds::TrendSeries;
use itsm_metrics::{RepeatConfig, RepeatKey, ScorecardConfig, Thresholds, render};
use rust_decimal::Decimal;
use serde_json::Value;

fn card(
    config: ScorecardConfig,
    incidents: &[IncidentRecord],
    changes: &[ChangeRecord],
    outages: &[OutageRecord],
) -> Scorecard {
    itsm_metrics::compute(config, &Thresholds::maturity_model(), incidents, changes, outages).unwrap()
}

fn rating<'a>(card: &'a Scorecard, label: &str) -> &'a MetricRating {
    card.ratings.metrics.iter().find(|m| m.label == label).unwrap_or_else(|| panic!("no rating {label}"))
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// `failed` failed normal changes out of `total`, all in January 2026.
fn normal_changes(failed: usize, total: usize) -> Vec<ChangeRecord> {
    (0..total)
        .map(|i| {
            let outcome = if i < failed { ChangeOutcome::Failed } else { ChangeOutcome::Successful };
            change(
                &format!("C{i}"),
                "svc",
                ChangeType::Normal,
                BASE + 3600 + (i as i64 % 86_400),
                outcome,
                Remediation::None,
            )
        })
        .collect()
}

#[test]
fn first_change_failure_rate_boundaries() {
    let cases: [(usize, usize, Level); 4] =
        [(5, 100, Level::L1), (3, 100, Level::L1), (2999, 100_000, Level::L2), (5001, 100_000, Level::BelowLevel1)];
    for (failed, total, want) in cases {
        let c = card(config(31), &[], &normal_changes(failed, total), &[]);
        let r = rating(&c, "first_change_failure_rate[normal]");
        assert_eq!(r.rating.level, want, "{failed}/{total}");
        let fcfr = &c.total.changes[1].first_change_failure_rate;
        assert_eq!((fcfr.numerator, fcfr.denominator), (failed as u64, total as u64));
    }
    // Zero implemented changes: no data, never 0.
    let c = card(config(31), &[], &[], &[]);
    let r = rating(&c, "first_change_failure_rate[normal]");
    assert_eq!(r.rating.level, Level::NoData);
    assert_eq!(r.rating.evidence, Evidence::NoData);
    assert_eq!(c.total.changes[1].first_change_failure_rate.value, None);
    // 1 failure in 200: level 3 on the point estimate only (the Wilson interval shows level 2).
    let c = card(config(31), &[], &normal_changes(1, 200), &[]);
    let r = rating(&c, "first_change_failure_rate[normal]");
    assert_eq!(r.rating.level, Level::L3);
    assert_eq!(r.rating.evidence, Evidence::PointEstimateOnly);
    assert_eq!(r.rating.demonstrated_level, Some(Level::L2));
    // A large perfect record is demonstrated; a small one is not.
    let c = card(config(31), &[], &normal_changes(0, 4000), &[]);
    assert_eq!(rating(&c, "first_change_failure_rate[normal]").rating.evidence, Evidence::Achieved95);
    let c = card(config(31), &[], &normal_changes(0, 40), &[]);
    let r = rating(&c, "first_change_failure_rate[normal]");
    assert_eq!((r.rating.level, r.rating.evidence), (Level::L5, Evidence::InsufficientSample { needed: 3838 }));
}

#[test]
fn a_change_counts_once_however_many_incidents_name_it() {
    let changes = vec![
        change("C1", "svc", ChangeType::Emergency, BASE + 100, ChangeOutcome::Successful, Remediation::None),
        change("C2", "svc", ChangeType::Emergency, BASE + 200, ChangeOutcome::SuccessfulWithIssues, Remediation::None),
        change("C3", "svc", ChangeType::Emergency, BASE + 300, ChangeOutcome::Successful, Remediation::FixedForward),
        // Cancelled and out-of-period changes are not implemented in W.
        ChangeRecord {
            outcome: None,
            ..change("C4", "svc", ChangeType::Emergency, BASE + 400, ChangeOutcome::Failed, Remediation::None)
        },
        change("C5", "svc", ChangeType::Emergency, BASE - 1, ChangeOutcome::Failed, Remediation::None),
    ];
    let mut incidents = Vec::new();
    for k in 0..3 {
        let mut r = incident(&format!("I{k}"), "svc", BASE + 1000 + k, None);
        r.caused_by_change = Some(ChangeId::new("C1").unwrap());
        incidents.push(r);
    }
    let c = card(config(31).with_ids(true), &incidents, &changes, &[]);
    let fcfr = &c.total.changes[2].first_change_failure_rate;
    assert_eq!((fcfr.numerator, fcfr.denominator), (2, 3));
    let ids = fcfr.ids.as_ref().unwrap();
    assert_eq!(ids.numerator, vec!["C1", "C3"]);
    assert_eq!(ids.denominator, vec!["C1", "C2", "C3"]);
}

#[test]
fn problem_review_share_is_over_repeat_and_major_incidents() {
    // I1 resolved; I2 repeats it and names a problem; I3 is major without
    // one; I4 is neither (opened 40 days after I1's resolution). Share: 1 / 2.
    let mut i1 = incident("I1", "svc", BASE + 100, Some(BASE + 200));
    i1.problem_id = Some(itsm_core::id::ProblemId::new("PRB-1").unwrap());
    let mut i2 = incident("I2", "svc", BASE + 300, None);
    i2.problem_id = Some(itsm_core::id::ProblemId::new("PRB-1").unwrap());
    let mut i3 = incident("I3", "other", BASE + 400, None);
    i3.major = true;
    let i4 = incident("I4", "third", BASE + 40 * 86_400, None);
    let c = card(config(60).with_ids(true), &[i1, i2, i3, i4], &[], &[]);
    let share = &c.total.incidents.problem_review_share;
    let ids = share.ids.as_ref().unwrap();
    assert_eq!(ids.numerator, ["I2"]);
    assert_eq!(ids.denominator, ["I2", "I3"]);
    // 50% meets Table 7's level 2 knowledge bound (>= 50%).
    assert_eq!(rating(&c, "problem_review_share").rating.level, Level::L5);
}

#[test]
fn authorized_in_time_is_within_the_bound_and_before_implementation() {
    let ts = |secs: i64| itsm_core::Timestamp::from_unix_secs(secs).unwrap();
    let t = BASE + 86_400;
    let e = |id: &str, requested: i64, authorized: Option<i64>, started: i64| ChangeRecord {
        requested_at: Some(ts(requested)),
        authorized_at: authorized.map(ts),
        started_at: Some(ts(started)),
        ..change(id, "svc", ChangeType::Emergency, started + 600, ChangeOutcome::Successful, Remediation::None)
    };
    let changes = vec![
        // Within the hour, before the start: in time.
        e("E1", t, Some(t + 900), t + 1_800),
        // Two hours after the request: late.
        e("E2", t, Some(t + 7_200), t + 9_000),
        // Recorded after the fact: authorized after implementation started.
        e("E3", t, Some(t + 600), t - 7_200),
        // Authorized before the period: not counted.
        e("E4", BASE - 10_000, Some(BASE - 9_000), BASE - 8_000),
        // Never authorized: not counted.
        e("E5", t, None, t + 600),
        // A normal change's CAB has no bound: not counted.
        ChangeRecord { change_type: ChangeType::Normal, ..e("N1", t, Some(t + 600), t + 1_800) },
    ];
    let c = card(config(31).with_ids(true), &[], &changes, &[]);
    let rate = &c.total.changes[2].authorized_in_time;
    let ids = rate.ids.as_ref().unwrap();
    assert_eq!(ids.numerator, ["E1"]);
    assert_eq!(ids.denominator, ["E1", "E2", "E3"]);
    assert_eq!(c.total.changes[1].authorized_in_time.denominator, 0);
    // 1 in 3 is below Table 9 level 2's library bound (>= 90%).
    assert_eq!(rating(&c, "authorized_in_time[emergency]").rating.level, Level::L1);
    // A two-hour bound takes E2 in.
    let c = card(config(31).with_authorization_within(7_200), &[], &changes, &[]);
    let rate = &c.total.changes[2].authorized_in_time;
    assert_eq!((rate.numerator, rate.denominator), (2, 3));
}

#[test]
fn automatic_rollback_share_is_over_failed_changes() {
    // Four normal changes failed: two rolled back by themselves (one of those
    // rollbacks failed), one rolled back by a person, one judged failed only
    // because an incident names it. A fifth succeeded. Share: 2 / 4.
    let auto = |id: &str, rem| ChangeRecord {
        automatic_rollback: true,
        ..change(id, "svc", ChangeType::Normal, BASE + 10, ChangeOutcome::Failed, rem)
    };
    let changes = vec![
        auto("A1", Remediation::RolledBack),
        auto("A2", Remediation::RollbackFailed),
        change("M1", "svc", ChangeType::Normal, BASE + 20, ChangeOutcome::Failed, Remediation::RolledBack),
        change("L1", "svc", ChangeType::Normal, BASE + 30, ChangeOutcome::Successful, Remediation::None),
        change("OK", "svc", ChangeType::Normal, BASE + 40, ChangeOutcome::Successful, Remediation::None),
    ];
    let mut caused = incident("I1", "svc", BASE + 1000, None);
    caused.caused_by_change = Some(ChangeId::new("L1").unwrap());
    let c = card(config(31).with_ids(true), &[caused], &changes, &[]);
    let n = &c.total.changes[1];
    let share = &n.automatic_rollback_share;
    assert_eq!((share.numerator, share.denominator), (2, 4));
    let ids = share.ids.as_ref().unwrap();
    assert_eq!(ids.numerator, ["A1", "A2"]);
    assert_eq!(ids.denominator, ["A1", "A2", "L1", "M1"]);
    // The rollback metrics count the automatic rollbacks like any other.
    assert_eq!((n.rollback_failure_rate.numerator, n.rollback_failure_rate.denominator), (1, 3));
    // 50% meets Table 8 level 4's library bound (>= 50%), not level 5's (>= 90%).
    let r = rating(&c, "automatic_rollback_share[normal]");
    assert_eq!(r.rating.level, Level::L4);
    // No failed change: no data, never 0.
    let c = card(config(31), &[], &changes[4..], &[]);
    assert_eq!(rating(&c, "automatic_rollback_share[normal]").rating.level, Level::NoData);
}

#[test]
fn rollback_failure_rate_has_both_denominators() {
    let rems = [Remediation::RolledBack, Remediation::RollbackFailed, Remediation::RolledBack, Remediation::None];
    let changes: Vec<ChangeRecord> = rems
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            change(&format!("C{i}"), "svc", ChangeType::Normal, BASE + 10 + i as i64, ChangeOutcome::Failed, r)
        })
        .collect();
    let c = card(config(31), &[], &changes, &[]);
    let n = &c.total.changes[1];
    assert_eq!((n.rollback_failure_rate.numerator, n.rollback_failure_rate.denominator), (1, 3));
    assert_eq!(
        (n.rollback_failure_share_of_implemented.numerator, n.rollback_failure_share_of_implemented.denominator),
        (1, 4)
    );
    assert_eq!((n.rollback_attempt_rate.numerator, n.rollback_attempt_rate.denominator), (3, 4));
    // Table 8 level 1 uses `<= 3%` and says why.
    let th = Thresholds::maturity_model();
    let m = th.metrics.iter().find(|m| m.table == 8 && m.metric.as_str() == "rollback_failure_rate").unwrap();
    let l1 = m.levels.iter().find(|b| b.level == 1).unwrap();
    assert_eq!(l1.op.symbol(), "<=");
    assert!(l1.note.as_deref().unwrap().contains("misprint"));
    assert!(c.ratings.notes.iter().any(|n| n.contains("misprint")));
    // 1 of 40 rollbacks failed (2.5%): level 1 with `<= 3%`; below level 1 with the printed `>= 3%`.
    let changes: Vec<ChangeRecord> = (0..40)
        .map(|i| {
            let rem = if i == 0 { Remediation::RollbackFailed } else { Remediation::RolledBack };
            change(&format!("C{i}"), "svc", ChangeType::Normal, BASE + 10 + i, ChangeOutcome::Failed, rem)
        })
        .collect();
    let corrected = card(config(31), &[], &changes, &[]);
    assert_eq!(rating(&corrected, "rollback_failure_rate[normal]").rating.level, Level::L1);
    let printed = itsm_metrics::compute(
        config(31),
        &Thresholds::maturity_model().with_table8_rollback_as_printed(),
        &[],
        &changes,
        &[],
    )
    .unwrap();
    assert_eq!(rating(&printed, "rollback_failure_rate[normal]").rating.level, Level::BelowLevel1);
    // Table 9 prints `<= 3%` and is unaffected.
    assert!(printed.ratings.metrics.iter().any(|m| m.label == "rollback_failure_rate[emergency]"));
}

#[test]
fn restore_time_statistics_and_censoring() {
    // Restore times 60, 120, 180, 600 s (class ci) and one still open at `to`.
    let mut incidents = Vec::new();
    for (k, d) in [60i64, 120, 180, 600].iter().enumerate() {
        let mut r = incident(&format!("I{k}"), "svc", BASE + DAY, Some(BASE + DAY + d + 30));
        r.restored_at = Some(ts(BASE + DAY + d));
        r.failure_class = FailureClass::Ci;
        r.acknowledged_at = Some(ts(BASE + DAY + 10 * (k as i64 + 1)));
        incidents.push(r);
    }
    let mut open = incident("I9", "svc", BASE + 2 * DAY, None);
    open.failure_class = FailureClass::Ci;
    incidents.push(open);
    // Restored before W: neither sample nor censored.
    incidents.push(incident("I8", "svc", BASE - 3 * DAY, Some(BASE - 2 * DAY)));
    let c = card(config(31).with_ids(true), &incidents, &[], &[]);
    let ci = &c.total.restore_time_by_class[0].stats;
    assert_eq!(ci.n, 4);
    assert_eq!(ci.total_seconds, 960);
    assert_eq!(ci.mean_seconds, Some(dec("240")));
    assert_eq!(ci.median_seconds, Some(dec("150")));
    // p90: h = 3 * 0.9 = 2.7 -> 180 + 0.7 * (600 - 180) = 474.
    assert_eq!(ci.p90_seconds, Some(dec("474")));
    assert_eq!(ci.max_seconds, Some(600));
    assert_eq!(ci.censored, 1);
    assert_eq!(ci.ids.as_ref().unwrap().censored, vec!["I9"]);
    assert_eq!(c.total.restore_time.n, 4);
    let ack = &c.total.acknowledge_time;
    assert_eq!((ack.n, ack.mean_seconds), (4, Some(dec("25"))));
    // MTTR ci = 240 s = 0.0667 h: level 5 (< 0.5 h) on the point estimate.
    let r = rating(&c, "mttr[ci]");
    assert_eq!((r.rating.level, r.rating.evidence), (Level::L5, Evidence::PointEstimateOnly));
    assert_eq!(rating(&c, "mttr[cd]").rating.level, Level::NoData);
}

#[test]
fn mttr_boundary_is_exact_in_seconds() {
    // Exactly 8 h mean: neither level 1 (> 8 h) nor level 2 (< 8 h): below level 1, as printed.
    let mut a = incident("I1", "svc", BASE + DAY, Some(BASE + DAY + 8 * 3600));
    a.failure_class = FailureClass::Cd;
    let c = card(config(31), &[a.clone()], &[], &[]);
    assert_eq!(rating(&c, "mttr[cd]").rating.level, Level::BelowLevel1);
    a.resolved_at = Some(ts(BASE + DAY + 8 * 3600 - 1));
    let c = card(config(31), &[a.clone()], &[], &[]);
    assert_eq!(rating(&c, "mttr[cd]").rating.level, Level::L2);
    a.resolved_at = Some(ts(BASE + DAY + 8 * 3600 + 1));
    let c = card(config(31), &[a], &[], &[]);
    assert_eq!(rating(&c, "mttr[cd]").rating.level, Level::L1);
}

#[test]
fn availability_merges_overlaps_and_scales_to_a_year() {
    // W = 10 days; outages 1h..3h and 2h..4h overlap (3 h down), plus an outage incident 5h..6h
    // and a planned outage that does not count.
    let o = |s: i64, e: i64, planned: bool| OutageRecord {
        service: ServiceId::new("svc").unwrap(),
        start: ts(BASE + s * 3600),
        end: ts(BASE + e * 3600),
        planned,
    };
    let outages = vec![o(1, 3, false), o(2, 4, false), o(10, 20, true)];
    let mut inc = incident("I1", "svc", BASE + 5 * 3600, Some(BASE + 6 * 3600));
    inc.outage = true;
    let c = card(config(10), &[inc], &[], &outages);
    let a = &c.services[0].metrics.availability;
    assert_eq!(a.downtime_seconds, Some(dec("14400")));
    assert_eq!(a.outage_intervals, 2);
    assert_eq!(a.availability.denominator, 10 * 86_400 * 1_000_000);
    assert_eq!(a.availability.denominator - a.availability.numerator, 14_400 * 1_000_000);
    // 4 h in 10 days = 146 h a year.
    assert_eq!(a.annual_downtime_seconds, Some(dec("525600")));
    // 98.33%: level 1 (< 99%).
    assert_eq!(rating(&c, "availability[svc]").rating.level, Level::L1);
    assert_eq!(rating(&c, "annual_downtime[svc]").rating.level, Level::L1);
    // Exactly 99% meets neither printed bound.
    let c = card(config(100), &[], &[], &[o(0, 24, false)]);
    assert_eq!(rating(&c, "availability[svc]").rating.level, Level::BelowLevel1);
    // Exactly 87.6 h of downtime in a 365-day year: annual downtime meets neither
    // "< 87.6 h" (level 2) nor "> 87.6 h" (level 1), as availability at exactly 99%.
    let year = OutageRecord { start: ts(BASE), end: ts(BASE + 315_360), ..o(0, 1, false) };
    let c = card(config(365), &[], &[], std::slice::from_ref(&year));
    assert_eq!(c.services[0].metrics.availability.annual_downtime_seconds, Some(dec("315360")));
    assert_eq!(rating(&c, "annual_downtime[svc]").rating.level, Level::BelowLevel1);
    assert_eq!(rating(&c, "availability[svc]").rating.level, Level::BelowLevel1);
    // One second less: level 2 on both.
    let c = card(config(365), &[], &[], &[OutageRecord { end: ts(BASE + 315_359), ..year }]);
    assert_eq!(rating(&c, "annual_downtime[svc]").rating.level, Level::L2);
    assert_eq!(rating(&c, "availability[svc]").rating.level, Level::L2);
    // No outage at all, with outages recorded: level 5 (> 99.9%).
    let c = card(config(10), &[incident("I1", "svc", BASE, None)], &[], &[]);
    assert_eq!(rating(&c, "availability[svc]").rating.level, Level::L5);
}

#[test]
fn binned_percentiles_show_their_error_bound_in_every_format() {
    // Five restore times with exact values kept only up to four: median and p90 come from bins.
    let rs: Vec<IncidentRecord> = (0..5)
        .map(|i| incident(&format!("I{i}"), "svc", BASE + i * 3600, Some(BASE + i * 3600 + 600 * (i + 1))))
        .collect();
    let binned = card(config(31).with_exact_percentiles_up_to(4), &rs, &[], &[]);
    assert_eq!(binned.total.restore_time.percentile_error, dec("0.00390625"));
    assert!(render::text(&binned).contains("(±0.390625%)"));
    assert!(render::html(&binned).contains("(±0.390625%)"));
    let csv = render::csv(&binned).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",percentile_error"));
    let row = csv.lines().find(|l| l.starts_with("restore_time,,restore_time,all,")).unwrap();
    assert!(row.ends_with(",0.00390625"), "{row}");
    // Exact (the default limit): no bound shown, and 0 in the CSV column.
    let exact = card(config(31), &rs, &[], &[]);
    assert!(!render::text(&exact).contains("±"));
    let csv = render::csv(&exact).unwrap();
    let row = csv.lines().find(|l| l.starts_with("restore_time,,restore_time,all,")).unwrap();
    assert!(row.ends_with(",0"), "{row}");
}

#[test]
fn availability_is_no_data_when_the_input_records_no_outages() {
    let inc = incident("I1", "svc", BASE, Some(BASE + 3600));
    let c = card(config(10).with_outages_recorded(false), std::slice::from_ref(&inc), &[], &[]);
    for a in [&c.services[0].metrics.availability, &c.total.availability] {
        assert_eq!((a.availability.numerator, a.availability.denominator, a.availability.value), (0, 0, None));
        assert_eq!((a.downtime_seconds, a.annual_downtime_seconds), (None, None));
    }
    for label in ["availability[svc]", "annual_downtime[svc]"] {
        assert_eq!(rating(&c, label).rating.level, Level::NoData, "{label}");
    }
    let table = c.ratings.tables.iter().find(|t| t.table == 15).unwrap();
    assert!(table.no_data.iter().any(|m| m == "availability[svc]"), "{table:?}");
    assert!(c.ratings.notes.iter().any(|n| n.contains("records no outages")), "{:?}", c.ratings.notes);
    let json: Value = serde_json::from_str(&render::json(&c).unwrap()).unwrap();
    assert_eq!(json["total"]["availability"]["downtime_seconds"], Value::Null);
    assert_eq!(json["total"]["availability"]["availability"]["value"], Value::Null);
    // Recorded (the default), the same input is 100% available.
    let c = card(config(10), &[inc], &[], &[]);
    assert_eq!(c.total.availability.availability.value, Some(Decimal::ONE));
    assert_eq!(c.total.availability.downtime_seconds, Some(Decimal::ZERO));
}

#[test]
fn repeat_window_is_inclusive_and_configurable() {
    let mut a = incident("A", "svc", BASE + DAY, Some(BASE + 2 * DAY));
    a.category = Some("disk".into());
    let mut b = incident("B", "svc", BASE + 32 * DAY, Some(BASE + 33 * DAY)); // exactly 30 days later
    b.category = Some("disk".into());
    let mut c1 = incident("C", "svc", BASE + 63 * DAY + 1, None); // 30 days + 1 s after B resolved
    c1.category = Some("disk".into());
    let mut d = incident("D", "svc", BASE + 33 * DAY, None); // same instant B was resolved, other category
    d.category = Some("net".into());
    let incidents = vec![a, b, c1, d];
    let c = card(config(90).with_ids(true), &incidents, &[], &[]);
    let pairs: Vec<(String, String)> =
        c.repeat_pairs.clone().unwrap().into_iter().map(|p| (p.earlier, p.later)).collect();
    assert_eq!(pairs, vec![("A".to_owned(), "B".to_owned())]);
    assert_eq!((c.total.incidents.repeat_rate.numerator, c.total.incidents.repeat_rate.denominator), (1, 4));
    // Keyed by service alone, D repeats B (resolved at the same instant D opened).
    let cfg =
        config(90).with_ids(true).with_repeat(RepeatConfig { key: RepeatKey::Service, ..RepeatConfig::default() });
    let c = card(cfg, &incidents, &[], &[]);
    let pairs: Vec<(String, String)> =
        c.repeat_pairs.clone().unwrap().into_iter().map(|p| (p.earlier, p.later)).collect();
    assert_eq!(pairs, vec![("A".to_owned(), "B".to_owned()), ("B".to_owned(), "D".to_owned())]);
    // A one-day window finds none.
    let cfg = config(90).with_repeat(RepeatConfig { window_seconds: 86_400, key: RepeatKey::ServiceCategory });
    assert_eq!(card(cfg, &incidents, &[], &[]).total.incidents.repeat_rate.numerator, 0);
}

#[test]
fn incident_kpis_follow_the_definitions() {
    let mut rs = Vec::new();
    let mut a = incident("A", "svc", BASE + 10, Some(BASE + 100));
    a.resolved_by = Some(ResolvedBy::L1);
    a.resolution_target_met = Some(true);
    a.detected_by = itsm_core::vocabulary::DetectionSource::Monitoring;
    rs.push(a);
    let mut b = incident("B", "svc", BASE + 20, Some(BASE + 200));
    b.resolved_by = Some(ResolvedBy::Automation);
    b.resolution_target_met = Some(false);
    b.priority = itsm_core::vocabulary::Priority::P1;
    rs.push(b);
    let mut c = incident("C", "svc", BASE - 100, Some(BASE + 300)); // opened before W, resolved in W
    c.resolved_by = Some(ResolvedBy::L2);
    rs.push(c);
    rs.push(incident("D", "svc", BASE + 30, Some(BASE + 31 * DAY))); // resolved after `to`
    let card = card(config(31), &rs, &[], &[]);
    let k = &card.total.incidents;
    assert_eq!(k.total, 3);
    assert_eq!((k.resolution_rate.numerator, k.resolution_rate.denominator), (2, 3));
    assert_eq!((k.first_line_resolution_rate.numerator, k.first_line_resolution_rate.denominator), (1, 3));
    assert_eq!((k.automated_recovery_share.numerator, k.automated_recovery_share.denominator), (1, 3));
    assert_eq!((k.proactive_detection_share.numerator, k.proactive_detection_share.denominator), (1, 3));
    // C has no known target: neither on time nor late, so out of both rates.
    assert_eq!((k.on_time_resolution_rate.numerator, k.on_time_resolution_rate.denominator), (1, 2));
    assert_eq!(k.resolved_with_unknown_target, 1);
    let p1 = &card.total.sla_attainment[0].attainment;
    assert_eq!((p1.numerator, p1.denominator), (0, 1));
    let p3 = &card.total.sla_attainment[2].attainment;
    assert_eq!((p3.numerator, p3.denominator), (1, 1));
}

#[test]
fn months_are_cut_in_the_zone_and_trends_need_five_full_months() {
    // 2025-12-31T23:30Z is January in Paris.
    let from = at("2025-12-31T23:00:00Z");
    let to = at("2026-06-30T22:00:00Z");
    let cfg = ScorecardConfig::new(from, to).unwrap().with_zone(chrono_tz::Europe::Paris);
    let mut incidents = Vec::new();
    // Growing monthly volume: 1, 2, 3, 4, 5, 6 incidents in Jan..Jun (Paris).
    let month_starts = [
        "2026-01-01T00:00:00+01:00",
        "2026-02-01T00:00:00+01:00",
        "2026-03-01T00:00:00+01:00",
        "2026-04-01T00:00:00+02:00",
        "2026-05-01T00:00:00+02:00",
        "2026-06-01T00:00:00+02:00",
    ];
    for (m, start) in month_starts.iter().enumerate() {
        for k in 0..=m {
            let t = at(start).unix_secs() + k as i64 * 3600;
            incidents.push(incident(&format!("I{m}-{k}"), "svc", t, None));
        }
    }
    incidents.push(incident("edge", "svc", at("2025-12-31T23:30:00Z").unix_secs(), None));
    let c = card(cfg, &incidents, &[], &[]);
    let months: Vec<(&str, u64, bool)> = c.months.iter().map(|m| (m.month.as_str(), m.incidents, m.partial)).collect();
    assert_eq!(
        months,
        vec![
            ("2026-01", 2, false),
            ("2026-02", 2, false),
            ("2026-03", 3, false),
            ("2026-04", 4, false),
            ("2026-05", 5, false),
            ("2026-06", 6, false)
        ]
    );
    let volume = c.trends.iter().find(|t| t.series == TrendSeries::IncidentVolume).unwrap();
    assert_eq!(volume.status, TrendStatus::Ok);
    assert_eq!(volume.reading, Some(TrendReading::Grows));
    let r = rating(&c, "incident_volume_trend");
    assert_eq!((r.rating.level, r.rating.evidence), (Level::L2, Evidence::Achieved95));
    // Four months only: insufficient data.
    let cfg = ScorecardConfig::new(at("2026-01-01T00:00:00Z"), at("2026-05-01T00:00:00Z")).unwrap();
    let c = card(cfg, &incidents, &[], &[]);
    let volume = c.trends.iter().find(|t| t.series == TrendSeries::IncidentVolume).unwrap();
    assert_eq!(volume.status, TrendStatus::InsufficientData);
    let r = rating(&c, "incident_volume_trend");
    assert_eq!((r.rating.level, r.rating.evidence), (Level::NoData, Evidence::InsufficientSample { needed: 5 }));
}

#[test]
fn tables_take_the_minimum_and_name_the_limit() {
    // Normal changes: FCFR 0.5% (level 3), rollback failure 1/3 (below level 1).
    let mut changes = normal_changes(1, 200);
    changes[0].remediation = Remediation::RollbackFailed;
    changes[1].remediation = Remediation::RolledBack;
    changes[2].remediation = Remediation::RolledBack;
    let c = card(config(31), &[], &changes, &[]);
    let t8 = c.ratings.tables.iter().find(|t| t.table == 8).unwrap();
    assert_eq!(t8.level, Level::BelowLevel1);
    assert_eq!(t8.limited_by.as_deref(), Some("rollback_failure_rate[normal]"));
    let t9 = c.ratings.tables.iter().find(|t| t.table == 9).unwrap();
    assert_eq!(t9.level, Level::NoData);
    let tables: Vec<u8> = c.ratings.tables.iter().map(|t| t.table).collect();
    assert_eq!(tables, vec![3, 5, 6, 7, 8, 9, 15, 16]);
}

fn check_contract(v: &Value, path: &str) {
    match v {
        Value::Object(map) => {
            if map.contains_key("numerator") && map.contains_key("value") {
                assert!(map["numerator"].is_u64(), "{path}.numerator");
                assert!(map["denominator"].is_u64(), "{path}.denominator");
                let value = &map["value"];
                assert!(
                    value.is_null() || value.as_str().is_some_and(|s| s.parse::<Decimal>().is_ok()),
                    "{path}.value"
                );
                assert_eq!(value.is_null(), map["denominator"] == 0, "{path}: null value iff zero denominator");
            }
            if map.contains_key("mean_seconds") {
                for k in ["n", "censored", "total_seconds"] {
                    assert!(map[k].is_u64(), "{path}.{k}");
                }
                for k in ["mean_seconds", "median_seconds", "p90_seconds"] {
                    assert!(map[k].is_null() || map[k].is_string(), "{path}.{k}");
                }
                assert!(map["max_seconds"].is_null() || map["max_seconds"].is_u64(), "{path}.max_seconds");
            }
            if map.contains_key("evidence") {
                assert!(map["level"].is_string(), "{path}.level");
                assert!(map["evidence"]["kind"].is_string(), "{path}.evidence");
            }
            for (k, child) in map {
                check_contract(child, &format!("{path}.{k}"));
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                check_contract(child, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn json_follows_the_contract_and_round_trips() {
    let mut changes = normal_changes(2, 150);
    changes[5].remediation = Remediation::RolledBack;
    let mut inc = incident("I1", "svc", BASE + 100, Some(BASE + 5000));
    inc.outage = true;
    for with_ids in [false, true] {
        let c =
            card(config(31).with_ids(with_ids), &[inc.clone(), incident("I2", "web", BASE + 50, None)], &changes, &[]);
        let json = render::json(&c).unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["schema"], "itsm-metrics/scorecard/v2");
        check_contract(&v, "$");
        let back: Scorecard = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}

#[test]
fn renderers_show_the_essentials() {
    let mut inc = incident("I1", "<b>svc</b>", BASE + 100, Some(BASE + 5000));
    inc.outage = true;
    let c = card(config(200), &[inc], &normal_changes(1, 200), &[]);
    let text = render::text(&c);
    assert!(text.contains("first_change_failure_rate[normal]"));
    assert!(text.contains("1/200 (0.5%)"));
    let csv = render::csv(&c).unwrap();
    assert!(csv.lines().any(|l| l.starts_with("changes,,first_change_failure_rate,normal,1,200,0.005,")));
    let html = render::html(&c);
    assert!(html.contains("<svg") && html.contains("&lt;b&gt;svc&lt;/b&gt;"));
    assert!(!html.contains("<b>svc</b>"));
    // Self-contained: nothing is loaded from anywhere (the only URL is the SVG namespace).
    for outside in ["src=", "href=", "<link", "<script", "@import", "url("] {
        assert!(!html.contains(outside), "the page loads {outside}");
    }
    assert_eq!(html.matches("http").count(), html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
}

#[test]
fn on_time_rate_and_sla_attainment_leave_out_incidents_without_a_target() {
    let mut rs =
        vec![incident("A", "svc", BASE + 10, Some(BASE + 100)), incident("B", "svc", BASE + 20, Some(BASE + 200))];
    for r in &mut rs {
        r.resolution_target_met = None;
    }
    let first = card(config(31), &rs, &[], &[]);
    let rate = &first.total.incidents.on_time_resolution_rate;
    assert_eq!((rate.numerator, rate.denominator, rate.value), (0, 0, None));
    assert_eq!(first.total.incidents.resolved_with_unknown_target, 2);
    // One known verdict counts; the incident without a target stays out (not a miss).
    rs[0].resolution_target_met = Some(true);
    let second = card(config(31), &rs, &[], &[]);
    let rate = &second.total.incidents.on_time_resolution_rate;
    assert_eq!((rate.numerator, rate.denominator), (1, 1));
    assert_eq!(second.total.incidents.resolved_with_unknown_target, 1);
    // The same rule in every service, so the total is the sum of the services.
    let mut other = incident("C", "other", BASE + 30, Some(BASE + 300));
    other.resolution_target_met = Some(false);
    rs.push(other);
    let third = card(config(31), &rs, &[], &[]);
    let rate = &third.total.incidents.on_time_resolution_rate;
    assert_eq!((rate.numerator, rate.denominator), (1, 2));
    let p3 = &third.total.sla_attainment[2].attainment;
    assert_eq!((p3.numerator, p3.denominator), (1, 2));
}

#[test]
fn availability_rolls_up_to_business_services_through_the_service_model() {
    // payroll (critical) needs the app, which runs on either vm; web (high)
    // needs the app and the load balancer. W = 10 days.
    let model: itsm_core::service::ServiceModel = serde_json::from_str(
        r#"{"items": [
            {"id": "payroll", "kind": "business_service", "criticality": "critical"},
            {"id": "web", "kind": "business_service", "criticality": "high"},
            {"id": "app", "kind": "component", "any_of": [["vm-1", "vm-2"]]},
            {"id": "vm-1", "kind": "component"}, {"id": "vm-2", "kind": "component"},
            {"id": "lb", "kind": "component"}],
          "dependencies": [
            {"from": "app", "kind": "part_of", "to": "payroll"},
            {"from": "app", "kind": "part_of", "to": "web"},
            {"from": "lb", "kind": "part_of", "to": "web"},
            {"from": "app", "kind": "runs_on", "to": "vm-1"},
            {"from": "app", "kind": "runs_on", "to": "vm-2"}]}"#,
    )
    .unwrap();
    let o = |svc: &str, s: i64, e: i64, planned: bool| OutageRecord {
        service: ServiceId::new(svc).unwrap(),
        start: ts(BASE + s * 3600),
        end: ts(BASE + e * 3600),
        planned,
    };
    let outages = vec![
        // vm-1 down 1h-5h alone: vm-2 carries the app, nothing is down.
        o("vm-1", 1, 5, false),
        // vm-2 in maintenance 4h-8h: with vm-1 down, 4h-5h is unplanned downtime.
        o("vm-2", 4, 8, true),
        // Both vms in maintenance 30h-32h: planned, not agreed time.
        o("vm-1", 30, 32, true),
        o("vm-2", 30, 32, true),
        // The load balancer: an outage record 50h-53h.
        o("lb", 50, 53, false),
        // A service outside the model.
        o("mail", 1, 2, false),
    ];
    // An outage incident on the app 70h-72h.
    let mut inc = incident("I1", "app", BASE + 70 * 3600, Some(BASE + 72 * 3600));
    inc.outage = true;
    let config = config(10).with_service_model(model);
    let c = card(config.clone(), std::slice::from_ref(&inc), &[], &outages);
    let names: Vec<&str> = c.business_services.iter().map(|b| b.service.as_str()).collect();
    assert_eq!(names, ["payroll", "web"]);
    let hour = 3_600_000_000u64;
    let window = 240 * hour;
    let check = |b: &itsm_metrics::scorecard::BusinessServiceAvailability, down_h: u64, planned_h: u64| {
        let a = &b.availability.availability;
        assert_eq!(
            (a.denominator, a.numerator),
            (window - planned_h * hour, window - planned_h * hour - down_h * hour),
            "{}",
            b.service
        );
        assert_eq!(b.availability.downtime_seconds, Some(Decimal::from(down_h * 3600)), "{}", b.service);
        assert_eq!(b.planned_seconds, Decimal::from(planned_h * 3600), "{}", b.service);
    };
    // payroll: down 4h-5h and 70h-72h (3 h), planned 30h-32h (2 h).
    check(&c.business_services[0], 3, 2);
    // web: also the load balancer's 3 h.
    check(&c.business_services[1], 6, 2);
    // Rated: 3 h of 238 h = 98.74% (level 1); 6 h = 97.48% (level 1, lower):
    // Table 15's availability lists web, the worst business service.
    let payroll = &c.business_services[0].ratings;
    assert_eq!(payroll.iter().map(|r| r.rating.level).collect::<Vec<_>>(), [Level::L1, Level::L1], "{payroll:?}");
    let worst: Vec<&MetricRating> =
        c.ratings.metrics.iter().filter(|m| m.label.starts_with("availability") && m.table == 15).collect();
    assert!(worst.iter().any(|m| m.subject.as_deref() == Some("web")), "{worst:?}");
    assert!(c.business_services.iter().all(|b| b.ratings.len() == 2), "availability and annual downtime each");
    assert!(c.ratings.notes.iter().any(|n| n.contains("not in the service model") && n.contains("mail")));
    // Shown by every renderer.
    assert!(render::text(&c).contains("business services"));
    assert!(render::html(&c).contains("Availability by business service"));
    assert!(render::csv(&c).unwrap().contains("business_service,web,availability"));
    let back: Scorecard = serde_json::from_str(&render::json(&c).unwrap()).unwrap();
    assert_eq!(back.business_services, c.business_services);
    // Without a model nothing is rolled up and the planned records change nothing.
    let plain = card(config.clone().with_service_model(Default::default()), &[inc], &[], &outages);
    assert!(plain.business_services.is_empty());
}
