//! Counting primitives shared by the per-service state: the period every push
//! is counted against ([`Span`]), counts with their ids ([`Tally`]), duration
//! samples ([`DurationAcc`]), coalesced outage intervals ([`IntervalSet`]),
//! and the fixed index order of failure classes, change types and priorities.

use itsm_core::vocabulary::{ChangeType, FailureClass, Priority};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::rate::Rate;
use crate::scorecard::{DurationIds, DurationStats};
use crate::sketch::{BINNED_RELATIVE_ERROR, Samples};

pub(super) const CLASSES: [FailureClass; 4] =
    [FailureClass::Ci, FailureClass::Cd, FailureClass::Platform, FailureClass::Other];
pub(super) const TYPES: [ChangeType; 3] = [ChangeType::Standard, ChangeType::Normal, ChangeType::Emergency];
pub(super) const PRIORITIES: [Priority; 5] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5];

/// Histogram bucket upper bounds in seconds.
pub const HISTOGRAM_BOUNDS: [(u64, &str); 10] = [
    (300, "<= 5m"),
    (900, "<= 15m"),
    (1800, "<= 30m"),
    (3600, "<= 1h"),
    (7200, "<= 2h"),
    (14_400, "<= 4h"),
    (28_800, "<= 8h"),
    (86_400, "<= 24h"),
    (259_200, "<= 3d"),
    (604_800, "<= 7d"),
];

#[inline]
pub(super) fn class_index(c: FailureClass) -> usize {
    match c {
        FailureClass::Ci => 0,
        FailureClass::Cd => 1,
        FailureClass::Platform => 2,
        FailureClass::Other => 3,
    }
}

#[inline]
pub(super) fn type_index(t: ChangeType) -> usize {
    match t {
        ChangeType::Standard => 0,
        ChangeType::Normal => 1,
        ChangeType::Emergency => 2,
    }
}

#[inline]
pub(super) fn priority_index(p: Priority) -> usize {
    match p {
        Priority::P1 => 0,
        Priority::P2 => 1,
        Priority::P3 => 2,
        Priority::P4 => 3,
        Priority::P5 => 4,
    }
}

/// The period W = [from, to) and the repeat window in microseconds, with the
/// options every push reads.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) window: i64,
    /// Whether ids are kept.
    pub(super) with_ids: bool,
    /// Values per duration sample kept exactly.
    pub(super) limit: u64,
}

impl Span {
    /// Whether the instant `t` is in W.
    #[inline]
    pub(super) fn contains(&self, t: i64) -> bool {
        self.from <= t && t < self.to
    }
}

/// A count with the ids behind it (ids kept only on request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) n: u64,
    pub(super) ids: Vec<String>,
}

impl Tally {
    #[inline]
    pub(super) fn add(&mut self, id: &str, with_ids: bool) {
        self.n += 1;
        if with_ids {
            self.ids.push(id.to_owned());
        }
    }

    pub(super) fn merge(&mut self, other: Tally) {
        self.n += other.n;
        self.ids.extend(other.ids);
    }
}

pub(super) fn rate_of(num: &Tally, den: &Tally, with_ids: bool) -> Rate {
    if with_ids {
        let mut r = Rate::with_ids(num.ids.clone(), den.ids.clone());
        // Counts stay authoritative (ids are only a view).
        r.numerator = num.n;
        r.denominator = den.n;
        r.value = crate::rate::rate_value(num.n, den.n);
        r
    } else {
        Rate::new(num.n, den.n)
    }
}

/// Durations in whole seconds: count, sum and extremes exact; percentiles exact
/// up to the configured number of values, then from bins (see [`crate::sketch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DurationAcc {
    pub(super) samples: Samples,
    /// Counts per restore-time chart bucket (exact at every size).
    pub(super) chart: [u64; HISTOGRAM_BOUNDS.len() + 1],
    pub(super) ids: Vec<String>,
    pub(super) censored: Tally,
}

impl DurationAcc {
    #[inline]
    pub(super) fn push(&mut self, seconds: u64, id: &str, with_ids: bool, limit: u64) {
        self.samples.push(seconds, limit);
        let bucket = HISTOGRAM_BOUNDS.partition_point(|&(upper, _)| upper < seconds);
        if let Some(c) = self.chart.get_mut(bucket) {
            *c += 1;
        }
        if with_ids {
            self.ids.push(id.to_owned());
        }
    }

    pub(super) fn extend_from(&mut self, other: &DurationAcc, limit: u64) {
        self.samples.merge(&other.samples, limit);
        for (a, b) in self.chart.iter_mut().zip(other.chart) {
            *a += b;
        }
        self.ids.extend(other.ids.iter().cloned());
        self.censored.n += other.censored.n;
        self.censored.ids.extend(other.censored.ids.iter().cloned());
    }

    /// Computes the statistics (sorts exact values in place).
    pub(super) fn stats(&mut self, with_ids: bool) -> DurationStats {
        let count = self.samples.len();
        let mean = if count == 0 {
            None
        } else {
            decimal_from_u128(self.samples.sum())
                .and_then(|s| s.checked_div(Decimal::from(count)))
                .map(|m| m.round_dp_with_strategy(6, RoundingStrategy::MidpointNearestEven).normalize())
        };
        let ids = if with_ids {
            let mut samples = self.ids.clone();
            samples.sort_unstable();
            let mut censored = self.censored.ids.clone();
            censored.sort_unstable();
            Some(DurationIds { samples, censored })
        } else {
            None
        };
        DurationStats {
            n: count,
            total_seconds: u64::try_from(self.samples.sum()).unwrap_or(u64::MAX),
            mean_seconds: mean,
            median_seconds: self.samples.percentile(1, 2),
            p90_seconds: self.samples.percentile(9, 10),
            percentile_error: if self.samples.is_exact() { Decimal::ZERO } else { BINNED_RELATIVE_ERROR },
            max_seconds: self.samples.max(),
            censored: self.censored.n,
            ids,
        }
    }
}

fn decimal_from_u128(v: u128) -> Option<Decimal> {
    i128::try_from(v).ok().and_then(|v| Decimal::try_from_i128_with_scale(v, 0).ok())
}

/// Unplanned outage intervals in microseconds, coalesced lazily.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct IntervalSet {
    pub(super) items: Vec<(i64, i64)>,
    compact_at: usize,
}

impl IntervalSet {
    #[inline]
    pub(super) fn insert(&mut self, start: i64, end: i64) {
        if start >= end {
            return;
        }
        self.items.push((start, end));
        if self.items.len() > self.compact_at.max(64) {
            self.compact();
            self.compact_at = self.items.len() * 2;
        }
    }

    fn compact(&mut self) {
        self.items.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(self.items.len());
        for &(s, e) in &self.items {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        self.items = out;
    }

    pub(super) fn merge(&mut self, other: IntervalSet) {
        for (s, e) in other.items {
            self.insert(s, e);
        }
    }

    /// (total covered microseconds, disjoint intervals).
    pub(super) fn union(&mut self) -> (u64, u64) {
        self.compact();
        let total = self.items.iter().map(|&(s, e)| (e - s) as u64).sum();
        (total, self.items.len() as u64)
    }
}
