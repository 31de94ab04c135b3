//! Scorecard assembly: per-service metrics, totals summed from the services,
//! availability, months, the restore-time histogram, and the ratings.

use foldhash::HashSet;

use itsm_core::Timestamp;
use itsm_core::id::{ChangeId, ServiceId};
use itsm_core::service::ServiceModel;
use itsm_core::service::availability::{Outage, roll_up};
use rust_decimal::{Decimal, RoundingStrategy};

use super::Accumulator;
use super::primitives::{CLASSES, DurationAcc, HISTOGRAM_BOUNDS, PRIORITIES, Span, TYPES, Tally, rate_of};
use super::service::ServiceAcc;
use crate::rate::Rate;
use crate::scorecard::{
    Availability, BusinessServiceAvailability, ChangeTypeMetrics, ClassDuration, DurationStats, HistogramBucket,
    IncidentKpis, Metrics, MonthRow, PeriodInfo, PriorityAttainment, RepeatPair, SCHEMA, Scorecard, ServiceMetrics,
};
use crate::thresholds::Thresholds;

/// Seconds in a 365-day year.
pub const YEAR_SECONDS: u64 = 365 * 86_400;

/// What the services add up to across the period.
struct Totals {
    month_opened: Vec<u64>,
    month_repeats: Vec<u64>,
    pairs: Vec<RepeatPair>,
    restore: [DurationAcc; 4],
    ack: DurationAcc,
}

/// Computes the scorecard of `acc`, rated against `thresholds`
/// (see [`Accumulator::finish`]).
pub(super) fn scorecard(acc: Accumulator, thresholds: &Thresholds) -> Scorecard {
    let span = acc.span();
    let (with_ids, limit) = (span.with_ids, span.limit);
    let months_n = acc.months.len();
    let period_micros = (acc.to - acc.from) as u64;
    let outages_recorded = acc.config.options.outages_recorded;
    let timeliness = acc.timeliness.finish(acc.config.alert_delay_within_seconds, &acc.config.notifications, with_ids);
    let mut open_outages = acc.open_outages;
    open_outages.sort();
    let mut names: Vec<ServiceId> = acc.services.keys().cloned().collect();
    names.sort();
    let mut services = acc.services;
    let mut service_metrics = Vec::with_capacity(names.len());
    let mut totals = Totals {
        month_opened: vec![0u64; months_n],
        month_repeats: vec![0u64; months_n],
        pairs: Vec::new(),
        restore: Default::default(),
        ack: DurationAcc::default(),
    };
    let mut item_outages = Vec::new();
    for name in &names {
        let Some(mut svc) = services.remove(name) else { continue };
        if acc.config.service_model.is_some() {
            collect_outages(name, &mut svc, &mut item_outages);
        }
        let metrics = service_metrics_of(svc, &span, &acc.linked_changes, period_micros, outages_recorded, &mut totals);
        service_metrics.push(ServiceMetrics { service: name.clone(), metrics, ratings: Vec::new() });
    }
    // Totals: sums of the service numerators and denominators; durations from all values.
    let mut total = sum_metrics(service_metrics.iter().map(|s| &s.metrics), with_ids);
    let mut all_restore = DurationAcc::default();
    for (i, acc) in totals.restore.iter_mut().enumerate() {
        all_restore.extend_from(acc, limit);
        if let Some(slot) = total.restore_time_by_class.get_mut(i) {
            slot.stats = acc.stats(with_ids);
        }
    }
    total.restore_time = all_restore.stats(with_ids);
    total.acknowledge_time = totals.ack.stats(with_ids);
    let restore_histogram = histogram(&all_restore);
    let (month_opened, month_repeats) = (&totals.month_opened, &totals.month_repeats);
    let months: Vec<MonthRow> = acc
        .months
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| MonthRow {
            month: b.month.clone(),
            start: b.start,
            end: b.end,
            partial: b.partial,
            incidents: month_opened[i],
            repeats: month_repeats[i],
            repeat_rate: Rate::new(month_repeats[i], month_opened[i]),
        })
        .collect();
    let mut pairs = totals.pairs;
    pairs.sort();
    let trends = crate::scoring::trends(&months, thresholds, acc.config.trend_partial_months);
    let period = PeriodInfo {
        from: acc.config.period.from,
        to: acc.config.period.to,
        zone: acc.config.zone.name().to_owned(),
        seconds: Decimal::try_from_i128_with_scale(i128::from(acc.to - acc.from), 6).unwrap_or(Decimal::ZERO),
    };
    let mut card = Scorecard {
        schema: SCHEMA.to_owned(),
        period,
        repeat: acc.config.repeat,
        inputs: acc.inputs,
        anomalies: acc.anomalies,
        total,
        services: service_metrics,
        business_services: Vec::new(),
        months,
        trends,
        repeat_pairs: if with_ids { Some(pairs) } else { None },
        open_outages,
        restore_histogram,
        timeliness,
        ratings: crate::scorecard::Ratings {
            thresholds: String::new(),
            metrics: Vec::new(),
            tables: Vec::new(),
            notes: Vec::new(),
        },
    };
    let mut unmodelled = Vec::new();
    if let Some(model) = &acc.config.service_model {
        (card.business_services, unmodelled) =
            business_services(model, &acc.config.period, item_outages, period_micros, outages_recorded);
    }
    card.ratings = crate::scoring::rate(&mut card, thresholds, period_micros);
    if !unmodelled.is_empty() {
        card.ratings.notes.push(format!(
            "Outages of {} service(s) not in the service model are not rolled up to a business service: {}.",
            unmodelled.len(),
            unmodelled.join(", ")
        ));
    }
    if !outages_recorded {
        card.ratings.notes.push(
            "The input records no outages (no outage source): availability and annual downtime are no data, \
             not 100% and 0 h."
                .to_owned(),
        );
    }
    card
}

/// The metrics of one service; adds its months, repeats, pairs and durations to `totals`.
fn service_metrics_of(
    mut acc: ServiceAcc,
    span: &Span,
    linked: &HashSet<ChangeId>,
    period_micros: u64,
    outages_recorded: bool,
    totals: &mut Totals,
) -> Metrics {
    let (with_ids, limit) = (span.with_ids, span.limit);
    for (t, m) in totals.month_opened.iter_mut().zip(&acc.months) {
        *t += m;
    }
    // Repeats.
    let mut repeats = Tally::default();
    let mut reviews = super::repeat::Reviews::default();
    acc.repeat.find_repeats(
        span.window,
        with_ids,
        &mut repeats,
        &mut totals.month_repeats,
        &mut totals.pairs,
        &mut reviews,
    );
    // Changes.
    let changes = TYPES.iter().zip(acc.changes.iter()).map(|(&t, c)| c.metrics(t, linked, with_ids)).collect();
    // Durations.
    let mut overall = DurationAcc::default();
    let mut by_class = Vec::with_capacity(4);
    for (i, &class) in CLASSES.iter().enumerate() {
        overall.extend_from(&acc.restore[i], limit);
        totals.restore[i].extend_from(&acc.restore[i], limit);
        by_class.push(ClassDuration { failure_class: class, stats: acc.restore[i].stats(with_ids) });
    }
    totals.ack.extend_from(&acc.ack, limit);
    let (down, intervals) = acc.outages.union();
    let (mut on_time, mut judged) = (Tally::default(), Tally::default());
    for (met, resolved) in acc.sla_met.iter().zip(&acc.sla_resolved) {
        on_time.merge(met.clone());
        judged.merge(resolved.clone());
    }
    Metrics {
        changes,
        incidents: IncidentKpis {
            total: acc.opened.n,
            major: acc.major,
            resolution_rate: rate_of(&acc.resolved_by_to, &acc.opened, with_ids),
            first_line_resolution_rate: rate_of(&acc.first_line, &acc.resolved_in_w, with_ids),
            automated_recovery_share: rate_of(&acc.automated, &acc.resolved_in_w, with_ids),
            proactive_detection_share: rate_of(&acc.proactive, &acc.opened, with_ids),
            on_time_resolution_rate: rate_of(&on_time, &judged, with_ids),
            resolved_with_unknown_target: acc.unknown_target,
            repeat_rate: rate_of(&repeats, &acc.opened, with_ids),
            problem_review_share: rate_of(&reviews.reviewed, &reviews.reviewable, with_ids),
        },
        sla_attainment: PRIORITIES
            .iter()
            .enumerate()
            .map(|(i, &p)| PriorityAttainment {
                priority: p,
                attainment: rate_of(&acc.sla_met[i], &acc.sla_resolved[i], with_ids),
            })
            .collect(),
        restore_time: overall.stats(with_ids),
        restore_time_by_class: by_class,
        acknowledge_time: acc.ack.stats(with_ids),
        availability: availability(down, intervals, period_micros, outages_recorded),
    }
}

/// A service's unplanned outages and planned maintenance, as outages of the
/// service model's item of that name.
fn collect_outages(name: &ServiceId, svc: &mut ServiceAcc, out: &mut Vec<Outage>) {
    svc.outages.union();
    svc.planned.union();
    let at = |micros: i64| Timestamp::from_unix_micros(micros);
    for (set, planned) in [(&svc.outages, false), (&svc.planned, true)] {
        for &(from, to) in &set.items {
            if let (Some(from), Some(to)) = (at(from), at(to)) {
                out.push(Outage { item: name.clone(), from, to: Some(to), planned });
            }
        }
    }
}

/// Each business service's availability from the outages of its items; also
/// the services with outages that are not items of the model.
fn business_services(
    model: &ServiceModel,
    period: &crate::period::Period,
    outages: Vec<Outage>,
    period_micros: u64,
    recorded: bool,
) -> (Vec<BusinessServiceAvailability>, Vec<String>) {
    let (known, unknown): (Vec<Outage>, Vec<Outage>) = outages.into_iter().partition(|o| model.item(&o.item).is_some());
    let mut unmodelled: Vec<String> = unknown.into_iter().map(|o| o.item.as_str().to_owned()).collect();
    unmodelled.dedup();
    // Every outage names a model item and ends no earlier than it starts, so
    // the roll-up cannot refuse; an empty list is the safe answer if it did.
    let rolled = roll_up(model, period.from, period.to, &known).unwrap_or_default();
    let list = rolled
        .into_iter()
        .map(|s| {
            let down = u64::try_from(s.down_micros()).unwrap_or(0);
            let agreed = u64::try_from(s.agreed_micros()).unwrap_or(0);
            BusinessServiceAvailability {
                service: s.service.clone(),
                criticality: s.criticality,
                availability: availability_over(down, s.down.len() as u64, agreed, period_micros, recorded),
                planned_seconds: Decimal::try_from_i128_with_scale(i128::from(s.planned_micros()), 6)
                    .unwrap_or(Decimal::ZERO)
                    .normalize(),
                ratings: Vec::new(),
            }
        })
        .collect();
    (list, unmodelled)
}

/// The availability over the whole period.
fn availability(down: u64, intervals: u64, period_micros: u64, recorded: bool) -> Availability {
    availability_over(down, intervals, period_micros, period_micros, recorded)
}

/// (agreed - down) / agreed; the downtime scaled to a year over the period.
fn availability_over(
    down: u64,
    intervals: u64,
    agreed_micros: u64,
    period_micros: u64,
    recorded: bool,
) -> Availability {
    if !recorded || agreed_micros == 0 {
        // No outage source: the downtime is not known (never "100% available").
        return Availability {
            availability: Rate::new(0, 0),
            downtime_seconds: None,
            annual_downtime_seconds: None,
            outage_intervals: 0,
        };
    }
    let down = down.min(agreed_micros);
    let annual = Decimal::try_from_i128_with_scale(i128::from(down) * i128::from(YEAR_SECONDS), 6)
        .ok()
        .and_then(|d| d.checked_div(Decimal::try_from_i128_with_scale(i128::from(period_micros), 6).ok()?))
        .map(|d| d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize())
        .unwrap_or(Decimal::ZERO);
    Availability {
        availability: Rate::new(agreed_micros - down, agreed_micros),
        downtime_seconds: Some(
            Decimal::try_from_i128_with_scale(i128::from(down), 6).unwrap_or(Decimal::ZERO).normalize(),
        ),
        annual_downtime_seconds: Some(annual),
        outage_intervals: intervals,
    }
}

/// A sum of known downtimes: unknown only when no part is known.
fn add_seconds(a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.checked_add(y).unwrap_or(x)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn empty_durations(with_ids: bool) -> DurationStats {
    DurationAcc::default().stats(with_ids)
}

/// Sums the rates of several metrics (durations are filled by the caller).
fn sum_metrics<'a>(items: impl Iterator<Item = &'a Metrics>, with_ids: bool) -> Metrics {
    let e = || Rate::empty(with_ids);
    let mut total = Metrics {
        changes: TYPES
            .iter()
            .map(|&t| ChangeTypeMetrics {
                change_type: t,
                first_change_failure_rate: e(),
                rollback_failure_rate: e(),
                rollback_failure_share_of_implemented: e(),
                rollback_attempt_rate: e(),
                automatic_rollback_share: e(),
                authorized_in_time: e(),
            })
            .collect(),
        incidents: IncidentKpis {
            total: 0,
            major: 0,
            resolution_rate: e(),
            first_line_resolution_rate: e(),
            automated_recovery_share: e(),
            proactive_detection_share: e(),
            on_time_resolution_rate: e(),
            resolved_with_unknown_target: 0,
            repeat_rate: e(),
            problem_review_share: e(),
        },
        sla_attainment: PRIORITIES.iter().map(|&p| PriorityAttainment { priority: p, attainment: e() }).collect(),
        restore_time: empty_durations(with_ids),
        restore_time_by_class: CLASSES
            .iter()
            .map(|&c| ClassDuration { failure_class: c, stats: empty_durations(with_ids) })
            .collect(),
        acknowledge_time: empty_durations(with_ids),
        availability: Availability {
            availability: Rate::new(0, 0),
            downtime_seconds: None,
            annual_downtime_seconds: None,
            outage_intervals: 0,
        },
    };
    fn add(a: &mut Rate, b: &Rate) {
        a.numerator = a.numerator.saturating_add(b.numerator);
        a.denominator = a.denominator.saturating_add(b.denominator);
        if let (Some(x), Some(y)) = (a.ids.as_mut(), b.ids.as_ref()) {
            x.numerator.extend(y.numerator.iter().cloned());
            x.denominator.extend(y.denominator.iter().cloned());
        }
    }
    for m in items {
        for (a, b) in total.changes.iter_mut().zip(&m.changes) {
            add(&mut a.first_change_failure_rate, &b.first_change_failure_rate);
            add(&mut a.rollback_failure_rate, &b.rollback_failure_rate);
            add(&mut a.rollback_failure_share_of_implemented, &b.rollback_failure_share_of_implemented);
            add(&mut a.rollback_attempt_rate, &b.rollback_attempt_rate);
            add(&mut a.automatic_rollback_share, &b.automatic_rollback_share);
            add(&mut a.authorized_in_time, &b.authorized_in_time);
        }
        let (a, b) = (&mut total.incidents, &m.incidents);
        a.total += b.total;
        a.major += b.major;
        add(&mut a.resolution_rate, &b.resolution_rate);
        add(&mut a.first_line_resolution_rate, &b.first_line_resolution_rate);
        add(&mut a.automated_recovery_share, &b.automated_recovery_share);
        add(&mut a.proactive_detection_share, &b.proactive_detection_share);
        add(&mut a.on_time_resolution_rate, &b.on_time_resolution_rate);
        a.resolved_with_unknown_target += b.resolved_with_unknown_target;
        add(&mut a.repeat_rate, &b.repeat_rate);
        add(&mut a.problem_review_share, &b.problem_review_share);
        for (a, b) in total.sla_attainment.iter_mut().zip(&m.sla_attainment) {
            add(&mut a.attainment, &b.attainment);
        }
        let (a, b) = (&mut total.availability, &m.availability);
        add(&mut a.availability, &b.availability);
        a.downtime_seconds = add_seconds(a.downtime_seconds, b.downtime_seconds);
        a.annual_downtime_seconds = add_seconds(a.annual_downtime_seconds, b.annual_downtime_seconds);
        a.outage_intervals += b.outage_intervals;
    }
    for r in rates_mut(&mut total) {
        r.value = crate::rate::rate_value(r.numerator, r.denominator);
        if let Some(ids) = r.ids.as_mut() {
            ids.numerator.sort_unstable();
            ids.denominator.sort_unstable();
        }
    }
    total
}

/// Every rate of a `Metrics`.
fn rates_mut(m: &mut Metrics) -> Vec<&mut Rate> {
    let mut out: Vec<&mut Rate> = Vec::new();
    for c in &mut m.changes {
        out.push(&mut c.first_change_failure_rate);
        out.push(&mut c.rollback_failure_rate);
        out.push(&mut c.rollback_failure_share_of_implemented);
        out.push(&mut c.rollback_attempt_rate);
        out.push(&mut c.automatic_rollback_share);
        out.push(&mut c.authorized_in_time);
    }
    let i = &mut m.incidents;
    out.push(&mut i.resolution_rate);
    out.push(&mut i.first_line_resolution_rate);
    out.push(&mut i.automated_recovery_share);
    out.push(&mut i.proactive_detection_share);
    out.push(&mut i.on_time_resolution_rate);
    out.push(&mut i.repeat_rate);
    out.push(&mut i.problem_review_share);
    for p in &mut m.sla_attainment {
        out.push(&mut p.attainment);
    }
    out.push(&mut m.availability.availability);
    out
}

fn histogram(all: &DurationAcc) -> Vec<HistogramBucket> {
    let mut out: Vec<HistogramBucket> = HISTOGRAM_BOUNDS
        .iter()
        .zip(&all.chart)
        .map(|(&(limit, label), &count)| HistogramBucket { label: label.to_owned(), upper_seconds: Some(limit), count })
        .collect();
    out.push(HistogramBucket {
        label: "> 7d".to_owned(),
        upper_seconds: None,
        count: all.chart.last().copied().unwrap_or(0),
    });
    out
}
