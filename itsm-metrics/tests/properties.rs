//! Property tests: partitions merge to the whole, per-service sums reconcile
//! with totals, totals match brute-force references, availability stays in
//! [0, 1] and counts overlaps once, repeat detection equals an O(n^2)
//! reference, and renderers never panic and show every rating (JSON parses
//! back to the scorecard).

mod common;

use std::collections::BTreeSet;

use common::*;
use itsm_core::id::ServiceId;
use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, Remediation};
use itsm_metrics::scorecard::{DurationStats, Metrics, Scorecard};
use itsm_metrics::{Accumulator, MetricsError, Rate, ScorecardConfig, Thresholds, render};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn whole(
    config: &ScorecardConfig,
    incidents: &[IncidentRecord],
    changes: &[ChangeRecord],
    outages: &[OutageRecord],
) -> Scorecard {
    itsm_metrics::compute(config.clone(), &Thresholds::maturity_model(), incidents, changes, outages).unwrap()
}

fn rates(m: &Metrics) -> Vec<(String, Rate)> {
    let mut out = Vec::new();
    for c in &m.changes {
        let t = c.change_type.as_str();
        out.push((format!("fcfr {t}"), c.first_change_failure_rate.clone()));
        out.push((format!("rollback {t}"), c.rollback_failure_rate.clone()));
        out.push((format!("rollback share {t}"), c.rollback_failure_share_of_implemented.clone()));
        out.push((format!("rollback attempts {t}"), c.rollback_attempt_rate.clone()));
        out.push((format!("automatic rollbacks {t}"), c.automatic_rollback_share.clone()));
        out.push((format!("authorized in time {t}"), c.authorized_in_time.clone()));
    }
    let i = &m.incidents;
    for (n, r) in [
        ("resolution", &i.resolution_rate),
        ("first line", &i.first_line_resolution_rate),
        ("automated", &i.automated_recovery_share),
        ("proactive", &i.proactive_detection_share),
        ("on time", &i.on_time_resolution_rate),
        ("repeat", &i.repeat_rate),
        ("problem review", &i.problem_review_share),
    ] {
        out.push((n.to_owned(), r.clone()));
    }
    for p in &m.sla_attainment {
        out.push((format!("sla {}", p.priority), p.attainment.clone()));
    }
    out.push(("availability".to_owned(), m.availability.availability.clone()));
    out
}

fn durations(m: &Metrics) -> Vec<(String, DurationStats)> {
    let mut out = vec![("restore".to_owned(), m.restore_time.clone()), ("ack".to_owned(), m.acknowledge_time.clone())];
    for c in &m.restore_time_by_class {
        out.push((format!("restore {}", c.failure_class), c.stats.clone()));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn merging_partitions_equals_the_whole(
        (incidents, changes, outages) in arb_records(60),
        parts in proptest::collection::vec(0usize..4, 200),
        with_ids in any::<bool>(),
        key in 0usize..3,
        limit in prop_oneof![Just(0u64), Just(1), Just(3), Just(2048)],
    ) {
        let key = [itsm_metrics::RepeatKey::Service, itsm_metrics::RepeatKey::ServiceCategory, itsm_metrics::RepeatKey::ServiceCategoryProblem][key];
        // Small limits bin the durations: merged bins must equal the whole's bins.
        let config = config(W_DAYS)
            .with_ids(with_ids)
            .with_exact_percentiles_up_to(limit)
            .with_repeat(itsm_metrics::RepeatConfig { key, ..itsm_metrics::RepeatConfig::default() });
        let expected = whole(&config, &incidents, &changes, &outages);
        let mut accs: Vec<Accumulator> = (0..4).map(|_| Accumulator::new(config.clone()).unwrap()).collect();
        // Reverse order inside partitions too: order must not matter.
        for (k, r) in incidents.iter().enumerate().rev() {
            accs[parts[k % parts.len()]].push_incident(r).unwrap();
        }
        for (k, c) in changes.iter().enumerate() {
            accs[parts[(k + 7) % parts.len()]].push_change(c);
        }
        for (k, o) in outages.iter().enumerate().rev() {
            accs[parts[(k + 13) % parts.len()]].push_outage(o);
        }
        let mut it = accs.into_iter().rev();
        let mut merged = it.next().unwrap();
        for a in it {
            merged = a.merge(merged).unwrap();
        }
        let got = merged.finish(&Thresholds::maturity_model());
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn per_service_sums_equal_totals_and_totals_match_reference(
        (incidents, changes, outages) in arb_records(60),
        with_ids in any::<bool>(),
    ) {
        let config = config(W_DAYS).with_ids(with_ids);
        let (from, to) = (config.period.from, config.period.to);
        let card = whole(&config, &incidents, &changes, &outages);
        let total = rates(&card.total);
        for (k, (name, t)) in total.iter().enumerate() {
            let (mut n, mut d) = (0u64, 0u64);
            let mut ids_n = Vec::new();
            let mut ids_d = Vec::new();
            for s in &card.services {
                let r = &rates(&s.metrics)[k].1;
                n += r.numerator;
                d += r.denominator;
                if let Some(ids) = &r.ids {
                    ids_n.extend(ids.numerator.iter().cloned());
                    ids_d.extend(ids.denominator.iter().cloned());
                }
            }
            prop_assert_eq!((n, d), (t.numerator, t.denominator), "{}", name);
            prop_assert!(t.numerator <= t.denominator, "{}", name);
            if let Some(ids) = &t.ids {
                ids_n.sort();
                ids_d.sort();
                prop_assert_eq!(&ids.numerator, &ids_n, "{}", name);
                prop_assert_eq!(&ids.denominator, &ids_d, "{}", name);
                prop_assert_eq!(ids.numerator.len() as u64, t.numerator);
                prop_assert_eq!(ids.denominator.len() as u64, t.denominator);
            }
        }
        let total_d = durations(&card.total);
        for (k, (name, t)) in total_d.iter().enumerate() {
            let (mut n, mut c, mut sum) = (0u64, 0u64, 0u64);
            for s in &card.services {
                let d = &durations(&s.metrics)[k].1;
                n += d.n;
                c += d.censored;
                sum += d.total_seconds;
            }
            prop_assert_eq!((n, c, sum), (t.n, t.censored, t.total_seconds), "{}", name);
        }
        // Brute-force references for the totals.
        let fcfr = reference_fcfr(&changes, &incidents, from, to);
        for c in &card.total.changes {
            let (f, i) = fcfr.get(&c.change_type).copied().unwrap_or((0, 0));
            prop_assert_eq!((c.first_change_failure_rate.numerator, c.first_change_failure_rate.denominator), (f, i));
            prop_assert_eq!(c.first_change_failure_rate.value.is_none(), i == 0);
        }
        let opened: Vec<&IncidentRecord> = incidents.iter().filter(|r| in_w(r.opened_at, from, to)).collect();
        prop_assert_eq!(card.total.incidents.total, opened.len() as u64);
        prop_assert_eq!(card.total.incidents.major, opened.iter().filter(|r| r.major).count() as u64);
        let resolved_by_to = opened.iter().filter(|r| r.resolved_at.is_some_and(|t| t < to)).count() as u64;
        prop_assert_eq!(card.total.incidents.resolution_rate.numerator, resolved_by_to);
        let restored: Vec<&IncidentRecord> = incidents
            .iter()
            .filter(|r| r.restore_instant().is_some_and(|t| in_w(t, from, to)))
            .filter(|r| r.restore_instant().is_some_and(|t| t >= r.impact_start))
            .collect();
        prop_assert_eq!(card.total.restore_time.n, restored.len() as u64);
        let sum: u64 = restored.iter().map(|r| r.restore_instant().unwrap().seconds_since(r.impact_start) as u64).sum();
        prop_assert_eq!(card.total.restore_time.total_seconds, sum);
        let censored = incidents
            .iter()
            .filter(|r| r.impact_start < to && r.restore_instant().is_none_or(|t| t >= to))
            .count() as u64;
        prop_assert_eq!(card.total.restore_time.censored, censored);
        let max = restored.iter().map(|r| r.restore_instant().unwrap().seconds_since(r.impact_start) as u64).max();
        prop_assert_eq!(card.total.restore_time.max_seconds, max);
    }

    #[test]
    fn repeat_detection_equals_brute_force(
        (incidents, _changes, _outages) in arb_records(80),
        window_days in 0i64..40,
    ) {
        let mut config = config(W_DAYS).with_ids(true);
        config.repeat.window_seconds = (window_days * DAY) as u64;
        let (from, to) = (config.period.from, config.period.to);
        let card = whole(&config, &incidents, &[], &[]);
        let expected = reference_repeats(&incidents, from, to, window_days * DAY, key_service_category);
        let got: BTreeSet<(String, String)> = card
            .repeat_pairs
            .clone()
            .unwrap()
            .into_iter()
            .map(|p| (p.earlier, p.later))
            .collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(card.total.incidents.repeat_rate.numerator, expected.len() as u64);
        let later: Vec<String> = expected.iter().map(|(_, l)| l.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        prop_assert_eq!(&card.total.incidents.repeat_rate.ids.as_ref().unwrap().numerator, &later);
        // Without ids the count is the same.
        let plain = whole(&config.clone().with_ids(false), &incidents, &[], &[]);
        prop_assert_eq!(plain.total.incidents.repeat_rate.numerator, expected.len() as u64);
        let month_sum: u64 = plain.months.iter().map(|m| m.repeats).sum();
        prop_assert_eq!(month_sum, expected.len() as u64);
        // Table 7's knowledge share: incidents opened in W that are repeats
        // (the brute-force pairs' later ids) or major, and of them those
        // naming a problem.
        let reviewable: BTreeSet<String> = incidents
            .iter()
            .filter(|i| in_w(i.opened_at, from, to) && (i.major || later.contains(&i.id.as_str().to_owned())))
            .map(|i| i.id.as_str().to_owned())
            .collect();
        let reviewed: BTreeSet<String> = incidents
            .iter()
            .filter(|i| reviewable.contains(i.id.as_str()) && i.problem_id.is_some())
            .map(|i| i.id.as_str().to_owned())
            .collect();
        let share = &card.total.incidents.problem_review_share;
        let ids = share.ids.as_ref().unwrap();
        prop_assert_eq!(&ids.numerator, &reviewed.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(&ids.denominator, &reviewable.iter().cloned().collect::<Vec<_>>());
        let plain_share = &plain.total.incidents.problem_review_share;
        prop_assert_eq!((plain_share.numerator, plain_share.denominator), (share.numerator, share.denominator));
    }

    #[test]
    fn settling_in_opening_order_equals_the_whole(
        (incidents, changes, outages) in arb_records(80),
        window_days in 0i64..40,
        every in 1usize..6,
        with_ids in any::<bool>(),
        by_service in any::<bool>(),
    ) {
        let mut config = config(W_DAYS).with_ids(with_ids);
        config.repeat.window_seconds = (window_days * DAY) as u64;
        // An incident resolved before its own opening can reach back past a settled
        // instant and is refused (`a_resolution_reaching_back_past_a_settled_opening_is_refused`);
        // a stream in opening order of consistent records is always taken.
        let incidents: Vec<IncidentRecord> =
            incidents.into_iter().filter(|r| r.resolved_at.is_none_or(|t| t >= r.opened_at)).collect();
        let expected = whole(&config, &incidents, &changes, &outages);
        let mut sorted = incidents.clone();
        sorted.sort_by_key(|r| r.opened_at);
        // One accumulator, or one per service (services share no repeat key), each settling as it goes.
        let part = |r: &IncidentRecord| if by_service { usize::from(r.service.as_str().ends_with('b')) } else { 0 };
        let mut accs: Vec<Accumulator> = (0..2).map(|_| Accumulator::new(config.clone()).unwrap()).collect();
        let mut seen = [0usize; 2];
        let mut last_settle = [None; 2];
        for r in &sorted {
            let k = part(r);
            if let Err(e) = accs[k].push_incident(r) {
                prop_assert!(false, "{}", e);
            }
            seen[k] += 1;
            if seen[k] % every == 0 {
                accs[k].settle_before(r.opened_at);
                last_settle[k] = Some(r.opened_at);
            }
        }
        for c in &changes {
            accs[0].push_change(c);
        }
        for o in &outages {
            accs[1].push_outage(o);
        }
        if !with_ids && let Some(at) = last_settle[0] {
            // Settling decided (and forgot) every opening before the last settle instant:
            // what waits is exactly the openings in W at or after it.
            let waiting = sorted.iter().filter(|r| part(r) == 0 && r.opened_at >= at && config.period.contains(r.opened_at));
            prop_assert_eq!(accs[0].retained().pending_openings, waiting.count() as u64);
        }
        let mut it = accs.into_iter();
        let first = it.next().unwrap();
        let merged = it.try_fold(first, |a, b| a.merge(b)).unwrap();
        prop_assert_eq!(merged.finish(&Thresholds::maturity_model()), expected);
    }

    #[test]
    fn changes_after_the_last_incident_are_judged_on_arrival(
        (incidents, changes, outages) in arb_records(60),
        with_ids in any::<bool>(),
        split in 0usize..60,
    ) {
        let config = config(W_DAYS).with_ids(with_ids);
        let expected = whole(&config, &incidents, &changes, &outages);
        let mut acc = Accumulator::new(config.clone()).unwrap();
        // Some changes before the promise (kept, then judged by it), the rest after (judged on arrival).
        let split = split.min(changes.len());
        for c in &changes[..split] {
            acc.push_change(c);
        }
        for r in incidents.iter().rev() {
            acc.push_incident(r).unwrap();
        }
        acc.no_more_incidents();
        for c in &changes[split..] {
            acc.push_change(c);
        }
        for o in &outages {
            acc.push_outage(o);
        }
        let retained = acc.retained();
        prop_assert_eq!(retained.pending_changes, 0);
        if !with_ids {
            prop_assert_eq!(retained.pending_openings, 0);
        }
        if let Some(r) = incidents.first() {
            let err = acc.push_incident(r).unwrap_err();
            let complete = matches!(err, itsm_metrics::MetricsError::IncidentsComplete { .. });
            prop_assert!(complete, "{}", err);
            prop_assert_eq!(acc.retained(), retained);
        }
        prop_assert_eq!(acc.finish(&Thresholds::maturity_model()), expected);
    }

    #[test]
    fn a_late_incident_is_refused_and_changes_nothing(
        (incidents, _changes, _outages) in arb_records(40),
    ) {
        let config = config(W_DAYS);
        let mut sorted = incidents.clone();
        sorted.sort_by_key(|r| r.opened_at);
        let Some(last) = sorted.last().cloned() else { return Ok(()) };
        let mut acc = Accumulator::new(config.clone()).unwrap();
        for r in &sorted {
            acc.push_incident(r).unwrap();
        }
        let later = ts(last.opened_at.unix_secs() + 1);
        acc.settle_before(later);
        let before = acc.retained();
        let err = acc.push_incident(&sorted[0]).unwrap_err();
        let is_late = matches!(err, itsm_metrics::MetricsError::LateIncident { .. });
        prop_assert!(is_late);
        prop_assert!(err.to_string().contains(sorted[0].id.as_str()), "{}", err);
        prop_assert_eq!(acc.retained(), before);
        // Settling earlier changes nothing; the result is the whole's.
        acc.settle_before(sorted[0].opened_at);
        prop_assert_eq!(acc.finish(&Thresholds::maturity_model()), whole(&config, &incidents, &[], &[]));
    }

    #[test]
    fn binned_durations_keep_counts_exact_and_percentiles_within_the_bound(
        (incidents, _changes, _outages) in arb_records(80),
        limit in 0u64..4,
    ) {
        let exact = whole(&config(W_DAYS).with_exact_percentiles_up_to(u64::MAX), &incidents, &[], &[]);
        let binned = whole(&config(W_DAYS).with_exact_percentiles_up_to(limit), &incidents, &[], &[]);
        prop_assert_eq!(&exact.restore_histogram, &binned.restore_histogram);
        prop_assert_eq!(&exact.total.incidents, &binned.total.incidents);
        let bound = itsm_metrics::sketch::BINNED_RELATIVE_ERROR;
        let pairs = durations(&exact.total).into_iter().zip(durations(&binned.total));
        for ((name, e), (_, b)) in pairs {
            prop_assert_eq!(e.n, b.n, "{}", name);
            prop_assert_eq!(e.total_seconds, b.total_seconds, "{}", name);
            prop_assert_eq!(e.mean_seconds, b.mean_seconds, "{}", name);
            prop_assert_eq!(e.max_seconds, b.max_seconds, "{}", name);
            prop_assert_eq!(e.censored, b.censored, "{}", name);
            prop_assert_eq!(e.percentile_error, rust_decimal::Decimal::ZERO);
            let binned_now = b.n > limit;
            prop_assert_eq!(b.percentile_error, if binned_now { bound } else { rust_decimal::Decimal::ZERO }, "{}", name);
            for (x, y) in [(e.median_seconds, b.median_seconds), (e.p90_seconds, b.p90_seconds)] {
                let (x, y) = (x.unwrap_or_default(), y.unwrap_or_default());
                prop_assert!((x - y).abs() <= x * bound, "{}: exact {} binned {}", name, x, y);
            }
        }
    }

    #[test]
    fn availability_is_a_proportion_and_counts_overlaps_once(
        intervals in proptest::collection::vec((0usize..2, -3_000i64..12_000, 0i64..4_000, any::<bool>(), any::<bool>()), 0..12),
    ) {
        // W = [BASE, BASE + 10_000 s); brute force over every second.
        let (from, to) = (BASE, BASE + 10_000);
        let config = ScorecardConfig::new(ts(from), ts(to)).unwrap();
        let mut outages = Vec::new();
        let mut incidents = Vec::new();
        for (k, &(svc, start, len, as_incident, planned)) in intervals.iter().enumerate() {
            let service = ["a", "b"][svc];
            if as_incident {
                let mut r = incident(&format!("I{k}"), service, BASE + start, Some(BASE + start + len));
                r.outage = !planned;
                incidents.push(r);
            } else {
                outages.push(OutageRecord {
                    service: ServiceId::new(service).unwrap(),
                    start: ts(BASE + start),
                    end: ts(BASE + start + len),
                    planned,
                });
            }
        }
        let card = whole(&config, &incidents, &[], &outages);
        for s in &card.services {
            let mut down = 0u64;
            for sec in from..to {
                let covered = outages.iter().any(|o| o.service == s.service && !o.planned && o.start.unix_secs() <= sec && sec < o.end.unix_secs())
                    || incidents.iter().any(|r| r.service == s.service && r.outage && r.impact_start.unix_secs() <= sec && sec < r.resolved_at.unwrap().unix_secs());
                down += u64::from(covered);
            }
            let a = &s.metrics.availability.availability;
            prop_assert_eq!(a.denominator, 10_000 * 1_000_000);
            prop_assert_eq!(a.denominator - a.numerator, down * 1_000_000);
            let v = a.value.unwrap();
            prop_assert!(v >= rust_decimal::Decimal::ZERO && v <= rust_decimal::Decimal::ONE);
        }
    }

    #[test]
    fn renderers_never_panic_on_arbitrary_scorecards(
        (incidents, changes, outages) in arb_records(30),
        with_ids in any::<bool>(),
        names in proptest::collection::vec("\\PC{0,12}", 1..4),
        big in any::<u64>(),
        small in any::<u64>(),
        floats in proptest::collection::vec(prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY), any::<f64>()], 4),
        mutate in any::<bool>(),
    ) {
        let config = config(W_DAYS).with_ids(with_ids);
        let mut card = whole(&config, &incidents, &changes, &outages);
        if mutate {
            for (k, name) in names.iter().enumerate() {
                if let (Ok(id), Some(s)) = (ServiceId::new(name.clone()), card.services.get_mut(k)) {
                    s.service = id;
                }
            }
            card.ratings.thresholds = names.join("<script>\u{0}");
            card.total.incidents.repeat_rate = Rate::new(big, small);
            card.total.availability.availability = Rate::new(small, big);
            if let Some(m) = card.months.first_mut() {
                m.incidents = big;
                m.repeats = small;
                m.month = names[0].clone();
            }
            if let Some(b) = card.restore_histogram.first_mut() {
                b.count = big;
                b.label = names[0].clone();
            }
            for t in &mut card.trends {
                if let Some(test) = &mut t.test {
                    test.z = floats[0];
                    test.p_value = floats[1];
                    test.sen_slope = floats[2];
                    test.var_s = floats[3];
                }
            }
            card.total.restore_time.total_seconds = u64::MAX;
            card.total.restore_time.max_seconds = Some(u64::MAX);
        }
        let text = render::text(&card);
        prop_assert!(text.contains("ITSM scorecard"));
        let json = render::json(&card).unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
        let csv = render::csv(&card).unwrap();
        prop_assert!(csv.starts_with("section,service,metric"));
        let html = render::html(&card);
        prop_assert!(html.starts_with("<!DOCTYPE html>"));
        prop_assert!(!html.contains("<script"));
        prop_assert!(!html.contains("src=\"http"));
        check_rendered_ratings(&card, &text, &csv, &html)?;
        check_json_round_trip(&card, &json)?;
    }
}

/// The scorecard's floating-point fields (Wilson bounds, Mann-Kendall
/// statistics), each replaced by `0.0` when `zero` is set.
fn floats(card: &mut Scorecard, zero: bool) -> Vec<f64> {
    let mut out = Vec::new();
    let mut take = |x: &mut f64| {
        out.push(*x);
        if zero {
            *x = 0.0;
        }
    };
    for m in &mut card.ratings.metrics {
        if let Some(w) = &mut m.rating.wilson {
            take(&mut w.lower);
            take(&mut w.upper);
        }
    }
    for t in &mut card.trends {
        if let Some(k) = &mut t.test {
            for x in [&mut k.var_s, &mut k.z, &mut k.p_value, &mut k.tau, &mut k.sen_slope, &mut k.intercept] {
                take(x);
            }
        }
    }
    out
}

/// The JSON render parses back to the scorecard: every field equal, the
/// floating-point ones to within a relative 1e-15 (serde_json's parser may
/// miss the last bit). A non-finite float is written as `null`, which does
/// not parse back: then the JSON must hold a `null` for it and nothing else
/// is compared.
fn check_json_round_trip(card: &Scorecard, json: &str) -> Result<(), TestCaseError> {
    let mut want = card.clone();
    let want_floats = floats(&mut want, true);
    let back: Scorecard = match serde_json::from_str(json) {
        Ok(back) => back,
        Err(e) => {
            prop_assert!(want_floats.iter().any(|x| !x.is_finite()), "the JSON does not parse back: {}", e);
            prop_assert!(json.contains("null"));
            return Ok(());
        }
    };
    let mut got = back;
    let got_floats = floats(&mut got, true);
    prop_assert_eq!(&got, &want);
    prop_assert_eq!(got_floats.len(), want_floats.len());
    for (x, y) in got_floats.iter().zip(&want_floats) {
        prop_assert!((x - y).abs() <= y.abs() * 1e-15, "{} parsed back as {}", y, x);
    }
    Ok(())
}

/// HTML escaping as the page does it (`&`, `<`, `>`, quotes).
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Every rated criterion shows its id and level in each render: a text line,
/// a CSV `rating` row and an HTML row holding both; every table rating its
/// number and level (and title, in text and HTML).
fn check_rendered_ratings(card: &Scorecard, text: &str, csv: &str, html: &str) -> Result<(), TestCaseError> {
    prop_assert!(!card.ratings.metrics.is_empty() && !card.ratings.tables.is_empty());
    let html_rows: Vec<&str> = html.split("<tr>").collect();
    for m in &card.ratings.metrics {
        let level = m.rating.level.as_str();
        let id = m.label.as_str();
        prop_assert!(
            text.lines().any(|l| l.contains(id) && l.split_whitespace().any(|w| w == level)),
            "text shows no `{}` row at {}",
            id,
            level
        );
        prop_assert!(
            csv.lines().any(|l| l.starts_with("rating,") && l.contains(id) && l.split(',').any(|c| c == level)),
            "csv has no `rating` row for `{}` at {}",
            id,
            level
        );
        let cell = format!("<td>{}</td><td>{}</td>", m.table, html_escaped(id));
        prop_assert!(
            html_rows.iter().any(|r| r.starts_with(&cell) && r.contains(&format!(">{level}</td>"))),
            "html has no row for `{}` at {}",
            id,
            level
        );
    }
    for t in &card.ratings.tables {
        let level = t.level.as_str();
        prop_assert!(
            text.lines().any(|l| l.contains(&t.title) && l.split_whitespace().any(|w| w == level)),
            "text shows no table {} at {}",
            t.table,
            level
        );
        let number = t.table.to_string();
        prop_assert!(
            csv.lines().any(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                cells.first() == Some(&"table") && cells.get(2) == Some(&number.as_str()) && cells.contains(&level)
            }),
            "csv has no `table` row for {} at {}",
            t.table,
            level
        );
        let cell = format!("<td>{}</td><td>{}</td>", t.table, html_escaped(&t.title));
        prop_assert!(
            html_rows.iter().any(|r| r.starts_with(&cell) && r.contains(&format!(">{level}</td>"))),
            "html has no row for table {} at {}",
            t.table,
            level
        );
    }
    Ok(())
}

/// A synthetic stream in opening order: `n` incidents over 5 services x 10
/// categories in the period, restore times spread over minutes to days.
fn stream_in_opening_order(n: usize, config: &ScorecardConfig) -> Accumulator {
    let mut acc = Accumulator::new(config.clone()).unwrap();
    let span = W_DAYS * DAY;
    for i in 0..n {
        let opened = BASE + (i as i64) * span / n as i64;
        let duration = 60 + ((i as i64 * 7_919) % (5 * DAY));
        let mut r = incident(&format!("INC{i:08}"), ["a", "b", "c", "d", "e"][i % 5], opened, Some(opened + duration));
        r.category = Some(format!("cat-{}", (i / 5) % 10));
        acc.push_incident(&r).unwrap();
        if i % 1_000 == 999 {
            acc.settle_before(r.opened_at);
        }
    }
    acc
}

#[test]
fn settled_streams_retain_the_same_state_at_ten_times_the_records() {
    let config = config(W_DAYS);
    let small = stream_in_opening_order(20_000, &config).retained();
    let large = stream_in_opening_order(200_000, &config).retained();
    // Openings wait at most one settle interval; durations are binned per sample.
    assert!(large.pending_openings <= 1_000, "{large:?}");
    let samples = 5 * 5; // 5 services x (4 restore classes + acknowledge), at most
    assert!(large.exact_durations <= samples * 2_048, "{large:?}");
    assert!(large.duration_bins <= samples * 7_424, "{large:?}");
    // Covers: at most 3 x (period / window + 2) pieces per key, 50 keys.
    assert!(large.cover_intervals <= 50 * 3 * (W_DAYS as u64 / 30 + 2), "{large:?}");
    // Ten times the records, not ten times the state.
    let size =
        |r: &itsm_metrics::Retained| r.pending_openings + r.exact_durations + r.duration_bins + r.cover_intervals;
    assert!(size(&large) <= size(&small) * 2, "small {small:?} large {large:?}");
    assert_eq!((large.ids, large.pending_changes, large.outage_intervals), (0, 0, 0));
}

#[test]
fn unsettled_streams_keep_openings_until_finish() {
    let mut config = config(W_DAYS);
    config.options.exact_percentiles_up_to = u64::MAX;
    let mut acc = Accumulator::new(config).unwrap();
    for i in 0..3_000i64 {
        acc.push_incident(&incident(&format!("I{i}"), "a", BASE + i * 60, Some(BASE + i * 60 + 30))).unwrap();
    }
    let r = acc.retained();
    assert_eq!(r.pending_openings, 3_000);
    assert_eq!(r.exact_durations, 3_000);
    assert_eq!(r.duration_bins, 0);
}

#[test]
fn merging_after_settling_refuses_an_earlier_resolution_of_the_same_service() {
    let config = config(W_DAYS);
    let mut early = Accumulator::new(config.clone()).unwrap();
    early.push_incident(&incident("E1", "a", BASE + 10, Some(BASE + 5 * DAY))).unwrap();
    let mut late = Accumulator::new(config.clone()).unwrap();
    late.push_incident(&incident("L1", "a", BASE + 2 * DAY, Some(BASE + 3 * DAY))).unwrap();
    late.push_incident(&incident("L2", "a", BASE + 6 * DAY, None)).unwrap();
    late.settle_before(ts(BASE + 7 * DAY));
    // E1's resolution (day 5) could make L2 (day 6) a repeat, but `late` decided it already.
    let err = early.clone().merge(late.clone()).unwrap_err();
    assert!(matches!(err, itsm_metrics::MetricsError::SettledMerge { .. }), "{err}");
    assert!(err.to_string().contains("service a"), "{err}");
    // Another service merges fine, and so does the unsettled pair.
    let mut other = Accumulator::new(config.clone()).unwrap();
    other.push_incident(&incident("O1", "b", BASE + 10, Some(BASE + 5 * DAY))).unwrap();
    assert!(other.merge(late).is_ok());
    let mut late2 = Accumulator::new(config).unwrap();
    late2.push_incident(&incident("L2", "a", BASE + 6 * DAY, None)).unwrap();
    let card = early.merge(late2).unwrap().finish(&Thresholds::maturity_model());
    assert_eq!(card.total.incidents.repeat_rate.numerator, 1);
}

#[test]
fn a_resolution_reaching_back_past_a_settled_opening_is_refused() {
    let config = config(W_DAYS);
    let mut acc = Accumulator::new(config.clone()).unwrap();
    acc.push_incident(&incident("A", "svc", BASE + DAY, None)).unwrap();
    acc.push_incident(&incident("B", "svc", BASE + 2 * DAY, None)).unwrap();
    acc.settle_before(ts(BASE + 2 * DAY)); // A's verdict (not a repeat) is decided
    let before = acc.retained();
    // C opens after the settled instant but claims a resolution before A opened:
    // A would be its repeat, so counting C would contradict a settled verdict.
    let c = incident("C", "svc", BASE + 3 * DAY, Some(BASE + DAY - 60));
    let err = acc.push_incident(&c).unwrap_err();
    assert!(matches!(err, MetricsError::SettledResolution { .. }), "{err}");
    assert!(err.to_string().contains("incident C of service svc"), "{err}");
    assert_eq!(acc.retained(), before);
    // The same record in another service, or resolved after the decided opening, is taken.
    acc.push_incident(&incident("D", "other", BASE + 3 * DAY, Some(BASE + DAY - 60))).unwrap();
    acc.push_incident(&incident("E", "svc", BASE + 3 * DAY, Some(BASE + DAY + 60))).unwrap();
    // Without settling, the same records give the exact answer: A is a repeat of C.
    let card = whole(&config, &[incident("A", "svc", BASE + DAY, None), c], &[], &[]);
    assert_eq!(card.total.incidents.repeat_rate.numerator, 1);
}

#[test]
fn merging_judged_changes_with_incidents_naming_changes_is_refused() {
    let config = config(W_DAYS);
    let mut judged = Accumulator::new(config.clone()).unwrap();
    judged.no_more_incidents();
    judged.push_change(&change(
        "C1",
        "a",
        ChangeType::Normal,
        BASE + DAY,
        ChangeOutcome::Successful,
        Remediation::None,
    ));
    let mut naming = Accumulator::new(config.clone()).unwrap();
    let mut r = incident("I1", "b", BASE + 2 * DAY, None);
    r.caused_by_change = Some(itsm_core::id::ChangeId::new("C1").unwrap());
    naming.push_incident(&r).unwrap();
    let err = judged.clone().merge(naming.clone()).unwrap_err();
    assert!(matches!(err, itsm_metrics::MetricsError::JudgedChangesMerge { judged: 1, .. }), "{err}");
    assert!(err.to_string().contains("C1"), "{err}");
    let err = naming.merge(judged.clone()).unwrap_err();
    assert!(matches!(err, itsm_metrics::MetricsError::JudgedChangesMerge { .. }), "{err}");
    // Without the promise the same records merge, and C1 counts as failed.
    let mut kept = Accumulator::new(config.clone()).unwrap();
    kept.push_change(&change("C1", "a", ChangeType::Normal, BASE + DAY, ChangeOutcome::Successful, Remediation::None));
    let mut naming = Accumulator::new(config).unwrap();
    naming.push_incident(&r).unwrap();
    let card = kept.merge(naming).unwrap().finish(&Thresholds::maturity_model());
    assert_eq!(card.total.changes[1].first_change_failure_rate.numerator, 1);
}

#[test]
fn change_types_are_all_reported() {
    let card = whole(&config(31), &[], &[], &[]);
    let types: Vec<ChangeType> = card.total.changes.iter().map(|c| c.change_type).collect();
    assert_eq!(types, vec![ChangeType::Standard, ChangeType::Normal, ChangeType::Emergency]);
}
