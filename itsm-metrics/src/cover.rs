//! Repeat-incident detection in bounded memory.
//!
//! Incident i (opened at `o`) is a repeat when another incident j of the same
//! key was resolved at `r` with `o - window <= r <= o`. Every resolution `r`
//! therefore *covers* the opening instants `[r, r + window]`, and a key needs
//! only the set of instants covered once (`once`) and the set covered at least
//! twice (`twice`): an opening is a repeat when `once` holds it, or, if the
//! incident's own resolution covers its opening (resolved at the instant it was
//! opened), when `twice` does.
//!
//! Both sets are unions of closed integer intervals, clipped to the period.
//! `once` has at most `period / window + 2` pieces (each piece is at least a
//! window long). A piece of `twice` is `[r_{k+1}, r_k + window]` for two
//! consecutive resolutions, and a gap between pieces needs `r_{k+2} - r_k >
//! window`, so `twice` has at most `2 (period / window + 2)` pieces. The memory
//! is thus bounded by keys x period / window, whatever the number of records,
//! and merging two covers gives the cover of all their resolutions.

/// Sorted, disjoint, non-adjacent closed intervals of integers (a canonical
/// form: equal sets have equal representations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intervals(Vec<(i64, i64)>);

impl Intervals {
    /// Adds `[a, b]` (`a <= b`).
    pub(crate) fn insert(&mut self, a: i64, b: i64) {
        if a > b {
            return;
        }
        let v = &mut self.0;
        // First piece that ends at or after a - 1 (touching counts), last that starts at or before b + 1.
        let first = v.partition_point(|&(_, e)| e < a.saturating_sub(1));
        let end = v.partition_point(|&(s, _)| s <= b.saturating_add(1));
        if first < end {
            let lo = v.get(first).map_or(a, |p| p.0.min(a));
            let hi = v.get(end - 1).map_or(b, |p| p.1.max(b));
            // Usually one piece grows in place; several pieces fold into the first.
            if let Some(piece) = v.get_mut(first) {
                *piece = (lo, hi);
            }
            v.drain(first + 1..end);
        } else {
            v.insert(first, (a, b));
        }
    }

    /// Whether `x` is in the set.
    pub(crate) fn contains(&self, x: i64) -> bool {
        let i = self.0.partition_point(|&(_, e)| e < x);
        self.0.get(i).is_some_and(|&(s, _)| s <= x)
    }

    /// The parts of the set within `[a, b]`.
    fn within(&self, a: i64, b: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let first = self.0.partition_point(|&(_, e)| e < a);
        self.0[first..].iter().take_while(move |&&(s, _)| s <= b).map(move |&(s, e)| (s.max(a), e.min(b)))
    }

    /// Number of pieces.
    pub(crate) fn pieces(&self) -> usize {
        self.0.len()
    }
}

/// The cover of one repeat key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cover {
    once: Intervals,
    twice: Intervals,
}

impl Cover {
    /// Adds a resolution covering `[a, b]`.
    pub(crate) fn add(&mut self, a: i64, b: i64) {
        if a > b {
            return;
        }
        // Instants already covered once are now covered twice (the fields are borrowed apart: no copy).
        for (s, e) in self.once.within(a, b) {
            self.twice.insert(s, e);
        }
        self.once.insert(a, b);
    }

    /// Adds every resolution of `other`.
    pub(crate) fn merge(&mut self, other: &Cover) {
        for &(a, b) in &other.twice.0 {
            self.twice.insert(a, b);
        }
        for &(a, b) in &other.once.0 {
            // Instants both sides cover are covered twice.
            for (s, e) in self.once.within(a, b) {
                self.twice.insert(s, e);
            }
        }
        for &(a, b) in &other.once.0 {
            self.once.insert(a, b);
        }
    }

    /// Whether an opening at `at` is a repeat; `own_covers` when the incident's
    /// own resolution is among those covering `at`.
    pub(crate) fn is_repeat(&self, at: i64, own_covers: bool) -> bool {
        if own_covers { self.twice.contains(at) } else { self.once.contains(at) }
    }

    /// Intervals held.
    pub(crate) fn pieces(&self) -> usize {
        self.once.pieces() + self.twice.pieces()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute(resolutions: &[(i64, i64)], x: i64) -> usize {
        resolutions.iter().filter(|&&(a, b)| a <= x && x <= b).count()
    }

    proptest! {
        #[test]
        fn cover_counts_once_and_twice(
            rs in proptest::collection::vec((0i64..200, 0i64..40), 0..30),
            cut in 0usize..30,
        ) {
            let rs: Vec<(i64, i64)> = rs.into_iter().map(|(a, w)| (a, a + w)).collect();
            let mut whole = Cover::default();
            for &(a, b) in &rs { whole.add(a, b); }
            let cut = cut.min(rs.len());
            let (mut left, mut right) = (Cover::default(), Cover::default());
            for &(a, b) in &rs[..cut] { left.add(a, b); }
            for &(a, b) in &rs[cut..] { right.add(a, b); }
            left.merge(&right);
            prop_assert_eq!(&left, &whole);
            for x in -2..250 {
                let n = brute(&rs, x);
                prop_assert_eq!(whole.is_repeat(x, false), n >= 1, "x {}", x);
                prop_assert_eq!(whole.is_repeat(x, true), n >= 2, "x {}", x);
            }
        }

        #[test]
        fn pieces_stay_bounded_by_span_over_window(
            starts in proptest::collection::vec(0i64..10_000, 0..400),
        ) {
            let window = 1_000;
            let mut c = Cover::default();
            for &s in &starts { c.add(s, s + window); }
            // once: <= span / window + 2; twice: <= 2 (span / window + 2).
            let bound = (11_000 / window + 2) as usize;
            prop_assert!(c.once.pieces() <= bound);
            prop_assert!(c.twice.pieces() <= 2 * bound);
        }
    }
}
