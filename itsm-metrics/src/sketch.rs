//! Duration samples in bounded memory: exact values up to a limit, then a
//! log-linear histogram whose percentiles are within a stated relative error.
//!
//! The representation is a pure function of the multiset of values and the
//! limit: `Exact` while there are at most `limit` values, `Binned` beyond.
//! Merging two samples therefore gives the same state as pushing every value
//! into one, whatever the partitioning (property-tested in `tests/properties.rs`).
//!
//! Bins: values below 256 have a bin each (exact). A value `v >= 256` with
//! highest set bit `k` goes to the bin of width `2^(k-7)` that contains it, so
//! a bin is never wider than `v / 128`. A percentile is read as the midpoint of
//! the bin that holds the order statistic, clamped to the exact minimum and
//! maximum: it is off by less than half a bin, i.e. by less than
//! [`BINNED_RELATIVE_ERROR`] (1/256) of the true value, and type-7 interpolation
//! between two such estimates keeps that bound.

use rust_decimal::Decimal;

/// Sub-bins per octave, as a power of two (2^7 = 128).
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// The bound on the relative error of a percentile read from bins: 1/256.
pub const BINNED_RELATIVE_ERROR: Decimal = Decimal::from_parts(390_625, 0, 0, false, 8);

/// Default number of values kept exactly per sample before binning.
pub const DEFAULT_EXACT_LIMIT: u64 = 2048;

/// The bin of a value.
#[inline]
fn bin_of(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let k = 63 - v.leading_zeros();
    let shift = k - SUB_BITS;
    let m = v >> shift;
    (u64::from(shift) * SUB + m) as usize
}

/// The inclusive value range of a bin.
fn bin_range(index: usize) -> (u64, u64) {
    let i = index as u64;
    if i < 2 * SUB {
        return (i, i);
    }
    let shift = i / SUB - 1;
    let m = i - shift * SUB;
    let lo = m << shift;
    let hi = lo.saturating_add((1u64 << shift) - 1);
    (lo, hi)
}

/// The values, exact or binned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Values {
    /// Every value (unsorted until read).
    Exact(Vec<u64>),
    /// Counts per bin, indexed by bin (grown to the highest bin used).
    Binned(Vec<u64>),
}

/// A multiset of durations in whole seconds, with exact count, sum, min and max.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Samples {
    values: Values,
    n: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Samples {
    fn default() -> Self {
        Samples { values: Values::Exact(Vec::new()), n: 0, sum: 0, min: u64::MAX, max: 0 }
    }
}

fn bin_into(counts: &mut Vec<u64>, v: u64, times: u64) {
    let b = bin_of(v);
    if counts.len() <= b {
        counts.resize(b + 1, 0);
    }
    if let Some(c) = counts.get_mut(b) {
        *c += times;
    }
}

impl Samples {
    /// Number of values.
    pub(crate) fn len(&self) -> u64 {
        self.n
    }

    /// Exact sum.
    pub(crate) fn sum(&self) -> u128 {
        self.sum
    }

    /// Largest value.
    pub(crate) fn max(&self) -> Option<u64> {
        (self.n > 0).then_some(self.max)
    }

    /// Whether percentiles are exact.
    pub(crate) fn is_exact(&self) -> bool {
        matches!(self.values, Values::Exact(_))
    }

    /// Values (exact) or bins currently held: the memory that depends on input.
    pub(crate) fn retained(&self) -> (u64, u64) {
        match &self.values {
            Values::Exact(v) => (v.len() as u64, 0),
            Values::Binned(c) => (0, c.len() as u64),
        }
    }

    fn to_bins(values: &[u64]) -> Vec<u64> {
        let mut counts = Vec::new();
        for &v in values {
            bin_into(&mut counts, v, 1);
        }
        counts
    }

    /// Adds a value; switches to bins when the count passes `limit`.
    pub(crate) fn push(&mut self, v: u64, limit: u64) {
        self.n += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        match &mut self.values {
            Values::Exact(values) if self.n <= limit => values.push(v),
            Values::Exact(values) => {
                let mut counts = Self::to_bins(values);
                bin_into(&mut counts, v, 1);
                self.values = Values::Binned(counts);
            }
            Values::Binned(counts) => bin_into(counts, v, 1),
        }
    }

    /// Adds every value of `other` (the same state as pushing them one by one).
    pub(crate) fn merge(&mut self, other: &Samples, limit: u64) {
        if other.n == 0 {
            return;
        }
        let n = self.n + other.n;
        let values = match (&mut self.values, &other.values) {
            (Values::Exact(a), Values::Exact(b)) if n <= limit => {
                a.extend_from_slice(b);
                None
            }
            (mine, theirs) => {
                let mut counts = match mine {
                    Values::Exact(a) => Self::to_bins(a),
                    Values::Binned(c) => std::mem::take(c),
                };
                match theirs {
                    Values::Exact(b) => {
                        for &v in b {
                            bin_into(&mut counts, v, 1);
                        }
                    }
                    Values::Binned(c) => {
                        if counts.len() < c.len() {
                            counts.resize(c.len(), 0);
                        }
                        for (a, b) in counts.iter_mut().zip(c) {
                            *a += b;
                        }
                    }
                }
                Some(Values::Binned(counts))
            }
        };
        if let Some(v) = values {
            self.values = v;
        }
        self.n = n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The type-7 percentile `p_num / p_den`: exact for exact samples, within
    /// [`BINNED_RELATIVE_ERROR`] otherwise. Sorts exact values in place.
    pub(crate) fn percentile(&mut self, p_num: u64, p_den: u64) -> Option<Decimal> {
        let (min, max) = (self.min, self.max);
        match &mut self.values {
            Values::Exact(values) => {
                values.sort_unstable();
                let values: &[u64] = values;
                crate::stats::percentile_type7(values.len(), |i| values.get(i).copied().unwrap_or(0), p_num, p_den)
            }
            Values::Binned(counts) => {
                let counts: &[u64] = counts;
                let n = usize::try_from(self.n).ok()?;
                // Order statistics are read from the cumulative counts; at most two are needed.
                let at = |rank: usize| -> Decimal { binned_order_statistic(counts, rank as u64, min, max) };
                crate::stats::percentile_type7_decimal(n, at, p_num, p_den)
            }
        }
    }

    /// Number of values `<= limit` is kept by the caller (chart counters); this
    /// is only for exact samples in tests.
    #[cfg(test)]
    fn sorted_exact(&self) -> Option<Vec<u64>> {
        match &self.values {
            Values::Exact(v) => {
                let mut v = v.clone();
                v.sort_unstable();
                Some(v)
            }
            Values::Binned(_) => None,
        }
    }
}

/// The estimate of the order statistic of 0-based `rank`: its bin's midpoint,
/// clamped to the exact extremes.
fn binned_order_statistic(counts: &[u64], rank: u64, min: u64, max: u64) -> Decimal {
    let mut seen = 0u64;
    for (index, &c) in counts.iter().enumerate() {
        seen += c;
        if seen > rank {
            let (lo, hi) = bin_range(index);
            let (lo, hi) = (lo.max(min), hi.min(max));
            let mid = Decimal::from(lo) + (Decimal::from(hi) - Decimal::from(lo)) / Decimal::TWO;
            return mid.normalize();
        }
    }
    Decimal::from(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bins_tile_the_range() {
        let mut expected_lo = 0u64;
        for index in 0..bin_of(u64::MAX) + 1 {
            let (lo, hi) = bin_range(index);
            assert_eq!(lo, expected_lo, "bin {index}");
            assert!(hi >= lo);
            assert_eq!(bin_of(lo), index);
            assert_eq!(bin_of(hi), index);
            // Half a bin is less than 1/256 of any value in it.
            assert!((hi - lo) as u128 * 256 < 2 * lo.max(1) as u128 || hi == lo, "bin {index}");
            if hi == u64::MAX {
                return;
            }
            expected_lo = hi + 1;
        }
        panic!("bins do not reach u64::MAX");
    }

    #[test]
    fn exact_up_to_the_limit_then_binned() {
        let mut s = Samples::default();
        for v in [600u64, 300, 60, 0] {
            s.push(v, 4);
        }
        assert!(s.is_exact());
        assert_eq!(s.percentile(1, 2), Some(Decimal::from(180)));
        s.push(1_000_000, 4);
        assert!(!s.is_exact());
        assert_eq!(s.len(), 5);
        assert_eq!(s.max(), Some(1_000_000));
        // The median 300 is exact (bin of width 2 at 300, clamped midpoint 300.5 -> within 1/256).
        let m = s.percentile(1, 2).unwrap_or_default();
        assert!((m - Decimal::from(300)).abs() <= Decimal::from(300) * BINNED_RELATIVE_ERROR, "{m}");
    }

    proptest! {
        #[test]
        fn binned_percentiles_are_within_the_stated_error(
            values in proptest::collection::vec(prop_oneof![0u64..300, 0u64..10_000_000, any::<u64>()], 1..400),
            p in 0u64..=100,
        ) {
            let mut exact = Samples::default();
            let mut binned = Samples::default();
            for &v in &values {
                exact.push(v, u64::MAX);
                binned.push(v, 0);
            }
            prop_assert!(exact.is_exact() && !binned.is_exact());
            let truth = exact.percentile(p, 100).unwrap_or_default();
            let estimate = binned.percentile(p, 100).unwrap_or_default();
            prop_assert!((estimate - truth).abs() <= truth * BINNED_RELATIVE_ERROR,
                "p{} estimate {} truth {}", p, estimate, truth);
        }

        #[test]
        fn merging_equals_pushing_everything(
            values in proptest::collection::vec(0u64..100_000, 0..200),
            cut in 0usize..200,
            limit in 0u64..150,
        ) {
            let cut = cut.min(values.len());
            let mut whole = Samples::default();
            for &v in &values { whole.push(v, limit); }
            let (mut a, mut b) = (Samples::default(), Samples::default());
            for &v in &values[..cut] { a.push(v, limit); }
            for &v in &values[cut..] { b.push(v, limit); }
            a.merge(&b, limit);
            prop_assert_eq!(a.is_exact(), whole.is_exact());
            prop_assert_eq!(a.percentile(1, 2), whole.percentile(1, 2));
            prop_assert_eq!(a.percentile(9, 10), whole.percentile(9, 10));
            prop_assert_eq!(a.max(), whole.max());
            prop_assert_eq!(a.sum(), whole.sum());
            if let (Some(x), Some(y)) = (a.sorted_exact(), whole.sorted_exact()) {
                prop_assert_eq!(x, y);
            }
        }
    }
}
