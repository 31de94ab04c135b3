//! UTC offset transitions of a time zone, as a sorted table.
//!
//! chrono-tz does not expose its transition list, so the table is recovered
//! once per zone and process by probing the offset every day of the supported
//! range and bisecting each change to the second. This finds every transition
//! except two that cancel out within one day, which the tz database does not
//! contain (its closest transitions are almost a week apart). Tables are
//! cached in a process-wide memo; building one is pure computation.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

const DAY: i64 = 86_400;

/// One change of UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    /// The first UTC second with the new offset.
    pub at: i64,
    /// Offset (local minus UTC, seconds) before `at`.
    pub before: i32,
    /// Offset from `at` on.
    pub after: i32,
}

/// The offsets of one zone over `[from, until)` (UTC seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneTable {
    first: i32,
    transitions: Vec<Transition>,
}

fn probe(tz: Tz, t: i64, fallback: i32) -> i32 {
    match DateTime::from_timestamp(t, 0) {
        Some(at) => tz.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc(),
        None => fallback,
    }
}

impl ZoneTable {
    /// Scans `[from, until)` daily and bisects every offset change.
    pub fn build(tz: Tz, from: i64, until: i64) -> ZoneTable {
        let first = probe(tz, from, 0);
        let mut transitions = Vec::new();
        let mut current = first;
        let mut t = from;
        while t < until {
            let next = t.saturating_add(DAY).min(until);
            let offset = probe(tz, next, current);
            if offset == current {
                t = next;
                continue;
            }
            // probe(lo) == current, probe(hi) != current.
            let (mut lo, mut hi) = (t, next);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if probe(tz, mid, current) == current {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let after = probe(tz, hi, current);
            transitions.push(Transition { at: hi, before: current, after });
            current = after;
            t = hi;
        }
        ZoneTable { first, transitions }
    }

    /// The cached table of `tz` over the supported range.
    pub fn cached(tz: Tz, from: i64, until: i64) -> Arc<ZoneTable> {
        static TABLES: OnceLock<Vec<OnceLock<Arc<ZoneTable>>>> = OnceLock::new();
        let tables = TABLES.get_or_init(|| (0..chrono_tz::TZ_VARIANTS.len()).map(|_| OnceLock::new()).collect());
        match tables.get(tz as usize) {
            Some(cell) => Arc::clone(cell.get_or_init(|| Arc::new(ZoneTable::build(tz, from, until)))),
            None => Arc::new(ZoneTable::build(tz, from, until)),
        }
    }

    /// The transitions found, in order.
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// Index of the first transition after `t` (so `t` lies in segment `index`).
    fn segment_of(&self, t: i64) -> usize {
        self.transitions.partition_point(|tr| tr.at <= t)
    }

    /// Offset of segment `k` (the segment before transition `k`).
    fn segment_offset(&self, k: usize) -> i32 {
        match self.transitions.get(k) {
            Some(tr) => tr.before,
            None => self.transitions.last().map_or(self.first, |tr| tr.after),
        }
    }

    fn segment_start(&self, k: usize) -> i64 {
        match k.checked_sub(1).and_then(|i| self.transitions.get(i)) {
            Some(tr) => tr.at,
            None => i64::MIN,
        }
    }

    fn segment_end(&self, k: usize) -> i64 {
        self.transitions.get(k).map_or(i64::MAX, |tr| tr.at)
    }

    /// The offset in effect at UTC second `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        self.segment_offset(self.segment_of(t))
    }

    /// The offset at `t` if no transition lies within `[t - before, t + after]`.
    pub fn stable_offset(&self, t: i64, before: i64, after: i64) -> Option<i32> {
        let k = self.transitions.partition_point(|tr| tr.at < t.saturating_sub(before));
        match self.transitions.get(k) {
            Some(tr) if tr.at <= t.saturating_add(after) => None,
            _ => Some(self.segment_offset(k)),
        }
    }

    /// Whether a transition lies within `[t - before, t + after]`.
    pub fn near(&self, t: i64, before: i64, after: i64) -> bool {
        let k = self.transitions.partition_point(|tr| tr.at < t.saturating_sub(before));
        self.transitions.get(k).is_some_and(|tr| tr.at <= t.saturating_add(after))
    }

    /// The first UTC second at which the wall clock shows `local` or later.
    ///
    /// For a local time inside a gap this is the instant the gap ends; for a
    /// repeated local time it is the first of the two instants.
    pub fn earliest(&self, local: i64) -> i64 {
        // Segment k shows local times [start_k + o_k, end_k + o_k); the ends grow
        // with k because transitions are days apart and offsets hours.
        let k = self.transitions.partition_point(|tr| tr.at.saturating_add(i64::from(tr.before)) <= local);
        let offset = i64::from(self.segment_offset(k));
        local.saturating_sub(offset).max(self.segment_start(k))
    }

    /// The last UTC second at which the wall clock shows exactly `local`, or,
    /// if it never does (a gap), the instant the gap ends.
    pub fn latest(&self, local: i64) -> i64 {
        let first = self.transitions.partition_point(|tr| tr.at.saturating_add(i64::from(tr.before)) <= local);
        let mut found = None;
        // At most a couple of segments can show the same local time.
        for k in first..first.saturating_add(4).min(self.transitions.len().saturating_add(1)) {
            let offset = i64::from(self.segment_offset(k));
            let t = local.saturating_sub(offset);
            if t < self.segment_start(k) {
                break;
            }
            if t < self.segment_end(k) {
                found = Some(t);
            }
        }
        found.unwrap_or_else(|| self.earliest(local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_2026_transitions_are_found_to_the_second() {
        let from = 1_767_225_600; // 2026-01-01T00:00Z
        let table = ZoneTable::build(chrono_tz::Europe::Berlin, from, from + 365 * DAY);
        let found: Vec<(i64, i32, i32)> = table.transitions().iter().map(|t| (t.at, t.before, t.after)).collect();
        // 2026-03-29T01:00Z and 2026-10-25T01:00Z.
        assert_eq!(found, vec![(1_774_746_000, 3600, 7200), (1_792_890_000, 7200, 3600)]);
        // Spring gap: local 02:30 does not exist; the gap ends at 01:00Z.
        let gap = 1_774_742_400 + 9000; // naive 2026-03-29T02:30
        assert_eq!(table.earliest(gap), 1_774_746_000);
        assert_eq!(table.latest(gap), 1_774_746_000);
        // Fall back: local 02:30 on 2026-10-25 exists at 00:30Z and 01:30Z.
        let local = 1_792_886_400 + 2 * 3600 + 1800; // naive 2026-10-25T02:30
        assert_eq!(table.earliest(local), 1_792_888_200);
        assert_eq!(table.latest(local), 1_792_891_800);
    }
}
