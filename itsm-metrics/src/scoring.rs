//! Scoring a scorecard: each of its metrics rated against the thresholds
//! (with [`crate::rating`]) and its trend results read.

use std::collections::BTreeSet;

use itsm_core::vocabulary::{ChangeType, FailureClass, Priority};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::accumulator::YEAR_SECONDS;
use crate::rate::Rate;
use crate::rating::{self, Evidence, Level, Rating};
use crate::scorecard::{
    DurationStats, MetricRating, MonthRow, Ratings, Scorecard, TableRating, TrendReading, TrendResult, TrendStatus,
    table_title,
};
use crate::stats::{self, Ratio, SeriesPoint, TrendDirection};
use crate::thresholds::{MetricKind, MetricThresholds, Thresholds, TrendSeries, metric_label};

/// The tables always listed, in order.
const TABLES: [u8; 8] = [3, 5, 6, 7, 8, 9, 15, 16];

/// Trend tests of the monthly series.
pub(crate) fn trends(months: &[MonthRow], thresholds: &Thresholds, include_partial: bool) -> Vec<TrendResult> {
    let alpha = thresholds.trend_alpha.to_f64().unwrap_or(0.05);
    let min = usize::try_from(thresholds.trend_min_periods).unwrap_or(usize::MAX);
    let usable = |m: &&MonthRow| include_partial || !m.partial;
    let volume: Vec<SeriesPoint> = months
        .iter()
        .enumerate()
        .filter(|(_, m)| usable(m))
        .map(|(i, m)| SeriesPoint { position: i as i64, value: Ratio { num: m.incidents, den: 1 } })
        .collect();
    let repeat: Vec<SeriesPoint> = months
        .iter()
        .enumerate()
        .filter(|(_, m)| usable(m) && m.incidents > 0)
        .map(|(i, m)| SeriesPoint { position: i as i64, value: Ratio { num: m.repeats, den: m.incidents } })
        .collect();
    [(TrendSeries::IncidentVolume, volume), (TrendSeries::RepeatRate, repeat)]
        .into_iter()
        .map(|(series, points)| {
            let test = stats::mann_kendall(&points, alpha, min);
            let reading = test.as_ref().map(|t| match t.direction {
                TrendDirection::Increasing => TrendReading::Grows,
                TrendDirection::NoTrend => TrendReading::UnderControl,
                TrendDirection::Decreasing => TrendReading::Falling,
            });
            TrendResult {
                series,
                status: if test.is_some() { TrendStatus::Ok } else { TrendStatus::InsufficientData },
                periods: points.len() as u64,
                needed_periods: thresholds.trend_min_periods,
                alpha: thresholds.trend_alpha,
                test,
                reading,
            }
        })
        .collect()
}

fn percent_value(r: &Rate) -> Option<Decimal> {
    if r.denominator == 0 {
        return None;
    }
    Decimal::from(r.numerator)
        .checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|n| n.checked_div(Decimal::from(r.denominator)))
        .map(round6)
}

fn round6(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize()
}

fn hours_value(num_seconds: u128, den: u128) -> Option<Decimal> {
    if den == 0 {
        return None;
    }
    let n = Decimal::try_from_i128_with_scale(i128::try_from(num_seconds).ok()?, 0).ok()?;
    let d = Decimal::try_from_i128_with_scale(i128::try_from(den).ok()?, 0).ok()?.checked_mul(Decimal::from(3600))?;
    n.checked_div(d).map(round6)
}

fn entry(
    th: &MetricThresholds,
    subject: Option<String>,
    value: Option<Decimal>,
    sample: Option<u64>,
    rating: Rating,
) -> MetricRating {
    MetricRating {
        table: th.table,
        metric: th.metric.as_str().to_owned(),
        label: metric_label(th.metric, subject.as_deref()),
        subject,
        value,
        unit: Some(th.unit),
        sample,
        rating,
        source: th.source.clone(),
        note: th.note.clone(),
    }
}

fn rate_entry(th: &MetricThresholds, subject: Option<String>, r: &Rate) -> MetricRating {
    let rating = rating::rate_proportion(r.numerator, r.denominator, th);
    entry(th, subject, percent_value(r), Some(r.denominator), rating)
}

fn mttr_entry(th: &MetricThresholds, subject: Option<String>, d: &DurationStats) -> MetricRating {
    let total = u128::from(d.total_seconds);
    let rating = rating::rate_time_value(total, u128::from(d.n), th);
    entry(th, subject, hours_value(total, u128::from(d.n)), Some(d.n), rating)
}

/// Availability and annual downtime entries of one service.
fn service_entry(
    th: &MetricThresholds,
    service: &str,
    card_service: &crate::scorecard::Availability,
    period_micros: u64,
) -> MetricRating {
    let a = &card_service.availability;
    if a.denominator == 0 {
        // Outages not recorded: no data, never 100%.
        return entry(th, Some(service.to_owned()), None, None, Rating::no_data());
    }
    let down = u128::from(a.denominator.saturating_sub(a.numerator));
    match th.metric {
        MetricKind::AnnualDowntime => {
            // Annual downtime in seconds = down_us * YEAR_SECONDS / period_us.
            let num = down * u128::from(YEAR_SECONDS);
            let rating = rating::rate_time_value(num, u128::from(period_micros), th);
            entry(th, Some(service.to_owned()), hours_value(num, u128::from(period_micros)), None, rating)
        }
        _ => {
            let rating = rating::rate_time_value(u128::from(a.numerator), u128::from(a.denominator), th);
            entry(th, Some(service.to_owned()), percent_value(a), None, rating)
        }
    }
}

fn change_index(subject: Option<&str>) -> Option<usize> {
    match subject.and_then(ChangeType::parse)? {
        ChangeType::Standard => Some(0),
        ChangeType::Normal => Some(1),
        ChangeType::Emergency => Some(2),
    }
}

/// Rates every metric of `thresholds`, fills per-service ratings, and rates the tables.
pub(crate) fn rate(card: &mut Scorecard, thresholds: &Thresholds, period_micros: u64) -> Ratings {
    let mut metrics = Vec::new();
    for s in &mut card.services {
        s.ratings.clear();
    }
    for th in &thresholds.metrics {
        let total = &card.total;
        match th.metric {
            MetricKind::FirstChangeFailureRate
            | MetricKind::RollbackFailureRate
            | MetricKind::RollbackFailureShareOfImplemented
            | MetricKind::AutomaticRollbackShare
            | MetricKind::AuthorizedInTime => {
                let pick = |c: &crate::scorecard::ChangeTypeMetrics| -> Rate {
                    match th.metric {
                        MetricKind::RollbackFailureRate => c.rollback_failure_rate.clone(),
                        MetricKind::RollbackFailureShareOfImplemented => {
                            c.rollback_failure_share_of_implemented.clone()
                        }
                        MetricKind::AutomaticRollbackShare => c.automatic_rollback_share.clone(),
                        MetricKind::AuthorizedInTime => c.authorized_in_time.clone(),
                        _ => c.first_change_failure_rate.clone(),
                    }
                };
                let rate = match change_index(th.subject.as_deref()) {
                    Some(i) => total.changes.get(i).map(pick).unwrap_or_else(|| Rate::new(0, 0)),
                    None => total.changes.iter().map(pick).fold(Rate::new(0, 0), |a, b| a.sum(&b)),
                };
                metrics.push(rate_entry(th, th.subject.clone(), &rate));
            }
            MetricKind::Mttr => {
                let stats = match th.subject.as_deref().and_then(FailureClass::parse) {
                    Some(class) => total
                        .restore_time_by_class
                        .iter()
                        .find(|c| c.failure_class == class)
                        .map(|c| &c.stats)
                        .unwrap_or(&total.restore_time),
                    None => &total.restore_time,
                };
                metrics.push(mttr_entry(th, th.subject.clone(), stats));
            }
            MetricKind::Availability | MetricKind::AnnualDowntime => {
                // Each service and business service carries its own entry.
                let mut rated: Vec<(MetricRating, u64, u64, bool)> = Vec::new();
                for s in &mut card.services {
                    let e = service_entry(th, s.service.as_str(), &s.metrics.availability, period_micros);
                    s.ratings.push(e.clone());
                    let a = &s.metrics.availability.availability;
                    rated.push((e, a.numerator, a.denominator, false));
                }
                for b in &mut card.business_services {
                    let e = service_entry(th, b.service.as_str(), &b.availability, period_micros);
                    b.ratings.push(e.clone());
                    let a = &b.availability.availability;
                    rated.push((e, a.numerator, a.denominator, true));
                }
                if let Some(subject) = &th.subject {
                    // A business service of that name first, then a service.
                    let found = rated
                        .iter()
                        .filter(|r| r.0.subject.as_deref() == Some(subject.as_str()))
                        .max_by_key(|r| r.3)
                        .map(|r| r.0.clone());
                    metrics
                        .push(found.unwrap_or_else(|| entry(th, Some(subject.clone()), None, None, Rating::no_data())));
                } else {
                    // Over the business services when a service model names
                    // them, else over every service: the worst (lowest level,
                    // then lowest availability, then name) is listed.
                    let business = !card.business_services.is_empty();
                    let mut worst: Option<&(MetricRating, u64, u64, bool)> = None;
                    for r in rated.iter().filter(|r| r.3 == business) {
                        let better = worst.is_none_or(|w| {
                            let by_level = r.0.rating.level.cmp(&w.0.rating.level);
                            let by_value =
                                (u128::from(r.1) * u128::from(w.2)).cmp(&(u128::from(w.1) * u128::from(r.2)));
                            by_level.then(by_value).is_lt()
                        });
                        if better {
                            worst = Some(r);
                        }
                    }
                    match worst {
                        Some(w) => metrics.push(w.0.clone()),
                        None => metrics.push(entry(th, None, None, None, Rating::no_data())),
                    }
                }
            }
            MetricKind::SlaAttainment => {
                let wanted = th.subject.as_deref().and_then(Priority::parse);
                for pa in &total.sla_attainment {
                    if wanted.is_none_or(|p| p == pa.priority) {
                        metrics.push(rate_entry(th, Some(pa.priority.as_str().to_owned()), &pa.attainment));
                    }
                }
            }
            MetricKind::ProactiveDetectionShare => {
                metrics.push(rate_entry(th, None, &total.incidents.proactive_detection_share))
            }
            MetricKind::OnTimeResolutionRate => {
                metrics.push(rate_entry(th, None, &total.incidents.on_time_resolution_rate))
            }
            MetricKind::AutomatedRecoveryShare => {
                metrics.push(rate_entry(th, None, &total.incidents.automated_recovery_share))
            }
            MetricKind::FirstLineResolutionRate => {
                metrics.push(rate_entry(th, None, &total.incidents.first_line_resolution_rate))
            }
            MetricKind::ResolutionRate => metrics.push(rate_entry(th, None, &total.incidents.resolution_rate)),
            MetricKind::RepeatRate => metrics.push(rate_entry(th, None, &total.incidents.repeat_rate)),
            MetricKind::ProblemReviewShare => metrics.push(rate_entry(th, None, &total.incidents.problem_review_share)),
            MetricKind::AlertDelayWithin => metrics.push(rate_entry(th, None, &card.timeliness.alert_delay_within)),
            MetricKind::NotifiedInTime => metrics.push(rate_entry(th, None, &card.timeliness.notified_in_time)),
        }
    }
    for tt in &thresholds.trends {
        let result = card.trends.iter().find(|t| t.series == tt.series);
        let (rating, sample) = match result.and_then(|r| r.test.as_ref().map(|t| (r, t))) {
            Some((r, test)) => {
                let level = match test.direction {
                    TrendDirection::Increasing => tt.increasing,
                    TrendDirection::NoTrend => tt.no_trend,
                    TrendDirection::Decreasing => tt.decreasing,
                };
                let evidence = if test.direction == TrendDirection::NoTrend {
                    Evidence::PointEstimateOnly
                } else {
                    Evidence::Achieved95
                };
                (Rating { level, evidence, demonstrated_level: None, bound: None, wilson: None }, Some(r.periods))
            }
            None => (
                Rating {
                    level: Level::NoData,
                    evidence: Evidence::InsufficientSample { needed: thresholds.trend_min_periods },
                    demonstrated_level: None,
                    bound: None,
                    wilson: None,
                },
                result.map(|r| r.periods),
            ),
        };
        let metric = format!("{}_trend", tt.series.as_str());
        metrics.push(MetricRating {
            table: tt.table,
            label: metric.clone(),
            metric,
            subject: None,
            value: None,
            unit: None,
            sample,
            rating,
            source: tt.source.clone(),
            note: tt.note.clone(),
        });
    }
    let mut tables_seen: BTreeSet<u8> = TABLES.iter().copied().collect();
    tables_seen.extend(metrics.iter().map(|m| m.table));
    let mut order: Vec<u8> = TABLES.to_vec();
    order.extend(tables_seen.iter().copied().filter(|t| !TABLES.contains(t)));
    let tables = order
        .into_iter()
        .map(|table| {
            let mut level = None::<Level>;
            let mut limited_by = None;
            let mut rated = Vec::new();
            let mut no_data = Vec::new();
            for m in metrics.iter().filter(|m| m.table == table) {
                if m.rating.level == Level::NoData {
                    no_data.push(m.label.clone());
                    continue;
                }
                rated.push(m.label.clone());
                if level.is_none_or(|l| m.rating.level < l) {
                    level = Some(m.rating.level);
                    limited_by = Some(m.label.clone());
                }
            }
            TableRating {
                table,
                title: table_title(table).to_owned(),
                level: level.unwrap_or(Level::NoData),
                limited_by,
                rated,
                no_data,
            }
        })
        .collect();
    let mut notes = Vec::new();
    for th in &thresholds.metrics {
        for b in &th.levels {
            if let Some(n) = &b.note {
                notes.push(format!("{} level {}: {}", th.label(), b.level, n));
            }
        }
    }
    notes.push(
        "Evidence for proportions uses the exact 95% Wilson interval; insufficient_sample.needed is the Wilson zero-failure sample size (exact Clopper-Pearson would need 59/99/299/598/2995/5990 for 5/3/1/0.5/0.1/0.05%)."
            .to_owned(),
    );
    notes.push("Time-based values (MTTR, availability, annual downtime) are rated on the point estimate.".to_owned());
    notes.push("A table's level is the minimum over its rated metrics with data; metrics without data are listed and not counted.".to_owned());
    Ratings { thresholds: thresholds.name.clone(), metrics, tables, notes }
}
