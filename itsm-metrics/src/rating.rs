//! Rating a metric against a threshold set: its level, compared exactly, and
//! the evidence behind it.
//!
//! **Level.** The highest level whose bound the metric meets, compared with
//! rational arithmetic on integers (`numerator * 10^k` against
//! `bound_mantissa * denominator`, arbitrary precision, never floats), with the
//! operator the table prints. A value meeting no bound is [`Level::BelowLevel1`];
//! a zero denominator (or no sample) is [`Level::NoData`].
//!
//! **Evidence** for proportions (change failure, rollback failure, shares):
//! the 95% Wilson score interval is placed exactly against each bound
//! (see [`crate::stats`]). A bound is *demonstrated* when the whole interval
//! meets it (the upper end for `<`/`<=`, the lower end for `>`/`>=`).
//! - [`Evidence::Achieved95`]: the attained level's bound is demonstrated
//!   (for below level 1: the whole interval fails every bound).
//! - [`Evidence::PointEstimateOnly`]: it is not, but either a lower level is
//!   demonstrated (`demonstrated_level`), or the sample was large enough that
//!   a perfect record could have demonstrated the attained level (so the
//!   observed failures, not the sample size, stand in the way).
//! - [`Evidence::InsufficientSample`]: no level is demonstrated and even a
//!   perfect record (zero failures, or all successes for `>` bounds) at this
//!   sample size could not demonstrate the attained level; `needed` is the
//!   smallest sample at which it could (Wilson, e.g. 73 / 125 / 381 / 765 /
//!   3838 / 7680 for 5% / 3% / 1% / 0.5% / 0.1% / 0.05%; the exact
//!   Clopper-Pearson figures 59 / 99 / 299 / 598 / 2995 / 5990 are in
//!   [`crate::stats::clopper_pearson_zero_failure_n`]).
//! - [`Evidence::NoData`]: nothing to rate.
//!
//! Example: 1 failure in 200 changes (0.5%) is level 3 (`< 1%`; not `< 0.5%`);
//! its Wilson interval [0.09%, 2.78%] demonstrates level 2 (`< 3%`) but not
//! level 3, so the evidence is point estimate only.
//!
//! Time-based values (MTTR mean, availability as a share of time, annual
//! downtime) are rated on the point estimate: evidence
//! [`Evidence::PointEstimateOnly`] (no interval is claimed).

use std::cmp::Ordering;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::stats::{self, End, Exact, WilsonInterval};
use crate::thresholds::{LevelBound, MetricThresholds, Op, Unit};
use num_bigint::BigInt;

/// A maturity level, or no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Nothing to rate (zero denominator, no sample, too few periods).
    #[serde(rename = "no_data")]
    NoData,
    /// Meets no level's bound.
    #[serde(rename = "below_level_1")]
    BelowLevel1,
    /// Level 1.
    #[serde(rename = "level_1")]
    L1,
    /// Level 2.
    #[serde(rename = "level_2")]
    L2,
    /// Level 3.
    #[serde(rename = "level_3")]
    L3,
    /// Level 4.
    #[serde(rename = "level_4")]
    L4,
    /// Level 5.
    #[serde(rename = "level_5")]
    L5,
}

impl Level {
    /// Level `n` for 1..=5.
    pub fn from_number(n: u8) -> Option<Level> {
        match n {
            1 => Some(Level::L1),
            2 => Some(Level::L2),
            3 => Some(Level::L3),
            4 => Some(Level::L4),
            5 => Some(Level::L5),
            _ => None,
        }
    }

    /// 1..=5 for a level, `None` otherwise.
    pub fn number(&self) -> Option<u8> {
        match self {
            Level::L1 => Some(1),
            Level::L2 => Some(2),
            Level::L3 => Some(3),
            Level::L4 => Some(4),
            Level::L5 => Some(5),
            Level::NoData | Level::BelowLevel1 => None,
        }
    }

    /// The stable name (`level_3`, `below_level_1`, `no_data`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::NoData => "no_data",
            Level::BelowLevel1 => "below_level_1",
            Level::L1 => "level_1",
            Level::L2 => "level_2",
            Level::L3 => "level_3",
            Level::L4 => "level_4",
            Level::L5 => "level_5",
        }
    }
}

/// How far the data back a rating (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Nothing to rate.
    NoData,
    /// The 95% interval also meets the attained level's bound.
    #[serde(rename = "achieved_95")]
    Achieved95,
    /// Only the point estimate meets it.
    PointEstimateOnly,
    /// Even a perfect record at this sample size could not demonstrate the attained level.
    InsufficientSample {
        /// The smallest sample at which a perfect record would demonstrate it.
        needed: u64,
    },
}

impl Evidence {
    /// The stable name (`achieved_95`, `point_estimate_only`, `insufficient_sample`, `no_data`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Evidence::NoData => "no_data",
            Evidence::Achieved95 => "achieved_95",
            Evidence::PointEstimateOnly => "point_estimate_only",
            Evidence::InsufficientSample { .. } => "insufficient_sample",
        }
    }
}

/// A level with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The level the point estimate meets.
    pub level: Level,
    /// How far the data back it.
    pub evidence: Evidence,
    /// For proportions: the highest level whose bound the whole 95% Wilson interval meets.
    pub demonstrated_level: Option<Level>,
    /// The attained level's bound.
    pub bound: Option<BoundText>,
    /// For proportions: the 95% Wilson interval (display only).
    pub wilson: Option<WilsonInterval>,
}

/// A bound as printed: operator, value and unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundText {
    /// Operator.
    pub op: Op,
    /// Value in `unit`.
    pub value: Decimal,
    /// Unit.
    pub unit: Unit,
}

impl Rating {
    /// A rating with no data.
    pub fn no_data() -> Rating {
        Rating { level: Level::NoData, evidence: Evidence::NoData, demonstrated_level: None, bound: None, wilson: None }
    }
}

/// The bound's value as an exact fraction in the metric's base quantity:
/// a fraction of 1 for percent, seconds for hours.
fn bound_exact(b: &LevelBound, unit: Unit) -> Exact {
    match unit {
        Unit::Percent => Exact::from_decimal(b.value, 100),
        Unit::Hours => {
            let e = Exact::from_decimal(b.value, 1);
            Exact { num: e.num * 3600u32, den: e.den }
        }
    }
}

fn meets(value: &Exact, op: Op, bound: &Exact) -> bool {
    // value.num / value.den  op  bound.num / bound.den, dens > 0.
    let ord = (&value.num * &bound.den).cmp(&(&bound.num * &value.den));
    match op {
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    }
}

/// The highest level met by `value` and its bound.
fn level_of<'a>(value: &Exact, th: &'a MetricThresholds) -> (Level, Option<&'a LevelBound>) {
    let mut best: Option<&LevelBound> = None;
    for b in th.levels.iter().filter(|b| Level::from_number(b.level).is_some()) {
        if meets(value, b.op, &bound_exact(b, th.unit)) && best.is_none_or(|cur| b.level > cur.level) {
            best = Some(b);
        }
    }
    match best.and_then(|b| Level::from_number(b.level).map(|l| (l, b))) {
        Some((level, b)) => (level, Some(b)),
        None => (Level::BelowLevel1, None),
    }
}

fn bound_text(b: Option<&LevelBound>, unit: Unit) -> Option<BoundText> {
    b.map(|b| BoundText { op: b.op, value: b.value, unit })
}

/// Whether the whole Wilson interval of `x / n` meets `op t`.
fn interval_meets(x: u64, n: u64, op: Op, t: &Exact) -> bool {
    let (end, accept): (End, &[Ordering]) = match op {
        Op::Lt => (End::Upper, &[Ordering::Less]),
        Op::Le => (End::Upper, &[Ordering::Less, Ordering::Equal]),
        Op::Gt => (End::Lower, &[Ordering::Greater]),
        Op::Ge => (End::Lower, &[Ordering::Greater, Ordering::Equal]),
    };
    stats::wilson_end_cmp(x, n, end, t, accept).unwrap_or(false)
}

/// Whether the whole Wilson interval of `x / n` fails `op t`.
fn interval_fails(x: u64, n: u64, op: Op, t: &Exact) -> bool {
    let (end, accept): (End, &[Ordering]) = match op {
        Op::Lt => (End::Lower, &[Ordering::Greater, Ordering::Equal]),
        Op::Le => (End::Lower, &[Ordering::Greater]),
        Op::Gt => (End::Upper, &[Ordering::Less, Ordering::Equal]),
        Op::Ge => (End::Upper, &[Ordering::Less]),
    };
    stats::wilson_end_cmp(x, n, end, t, accept).unwrap_or(false)
}

/// Rates the proportion `numerator / denominator` (see the module docs).
pub fn rate_proportion(numerator: u64, denominator: u64, th: &MetricThresholds) -> Rating {
    if denominator == 0 {
        return Rating::no_data();
    }
    let value = Exact { num: BigInt::from(numerator), den: BigInt::from(denominator) };
    let (level, attained) = level_of(&value, th);
    let wilson = stats::wilson_interval(numerator, denominator);
    let valid = numerator <= denominator;
    let mut demonstrated: Option<&LevelBound> = None;
    if valid {
        for b in th.levels.iter().filter(|b| Level::from_number(b.level).is_some()) {
            if interval_meets(numerator, denominator, b.op, &bound_exact(b, th.unit))
                && demonstrated.is_none_or(|cur| b.level > cur.level)
            {
                demonstrated = Some(b);
            }
        }
    }
    let demonstrated_level = demonstrated.and_then(|b| Level::from_number(b.level));
    let evidence = if !valid {
        Evidence::PointEstimateOnly
    } else {
        match attained {
            None => {
                let all_fail =
                    th.levels.iter().all(|b| interval_fails(numerator, denominator, b.op, &bound_exact(b, th.unit)));
                if all_fail { Evidence::Achieved95 } else { Evidence::PointEstimateOnly }
            }
            Some(b) => {
                let t = bound_exact(b, th.unit);
                if interval_meets(numerator, denominator, b.op, &t) {
                    Evidence::Achieved95
                } else if demonstrated.is_some() {
                    Evidence::PointEstimateOnly
                } else {
                    let accept: &[Ordering] = match b.op {
                        Op::Lt => &[Ordering::Less],
                        Op::Le => &[Ordering::Less, Ordering::Equal],
                        Op::Gt => &[Ordering::Greater],
                        Op::Ge => &[Ordering::Greater, Ordering::Equal],
                    };
                    match stats::wilson_perfect_sample_n(&t, b.op.is_upper_bound(), accept) {
                        Some(needed) if denominator < needed => Evidence::InsufficientSample { needed },
                        Some(_) | None => Evidence::PointEstimateOnly,
                    }
                }
            }
        }
    };
    Rating { level, evidence, demonstrated_level, bound: bound_text(attained, th.unit), wilson }
}

/// Rates a time-based value `num / den` in the metric's base quantity (seconds
/// for hour bounds, a fraction for percent bounds) on its point estimate.
/// `den == 0` is no data.
pub fn rate_time_value(num: u128, den: u128, th: &MetricThresholds) -> Rating {
    if den == 0 {
        return Rating::no_data();
    }
    let value = Exact { num: BigInt::from(num), den: BigInt::from(den) };
    let (level, attained) = level_of(&value, th);
    Rating {
        level,
        evidence: Evidence::PointEstimateOnly,
        demonstrated_level: None,
        bound: bound_text(attained, th.unit),
        wilson: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thresholds::{MetricKind, Thresholds};

    fn fcfr_normal() -> MetricThresholds {
        Thresholds::maturity_model()
            .metrics
            .into_iter()
            .find(|m| m.metric == MetricKind::FirstChangeFailureRate && m.subject.as_deref() == Some("normal"))
            .unwrap()
    }

    #[test]
    fn boundaries_are_exact() {
        let th = fcfr_normal();
        assert_eq!(rate_proportion(5, 100, &th).level, Level::L1);
        assert_eq!(rate_proportion(3, 100, &th).level, Level::L1);
        assert_eq!(rate_proportion(2999, 100_000, &th).level, Level::L2);
        assert_eq!(rate_proportion(5001, 100_000, &th).level, Level::BelowLevel1);
        assert_eq!(rate_proportion(0, 0, &th).level, Level::NoData);
        assert_eq!(rate_proportion(0, 0, &th).evidence, Evidence::NoData);
    }

    #[test]
    fn evidence_follows_the_wilson_interval() {
        let th = fcfr_normal();
        let r = rate_proportion(1, 200, &th);
        assert_eq!(r.level, Level::L3);
        assert_eq!(r.evidence, Evidence::PointEstimateOnly);
        assert_eq!(r.demonstrated_level, Some(Level::L2));
        // A perfect record that is too small to show anything.
        let r = rate_proportion(0, 50, &th);
        assert_eq!(r.level, Level::L5);
        assert_eq!(r.evidence, Evidence::InsufficientSample { needed: 3838 });
    }
}
