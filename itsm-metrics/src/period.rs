//! The period W = [from, to) and its monthly buckets cut in an IANA time zone.

use chrono::{Datelike, NaiveDate, TimeZone};
use chrono_tz::Tz;
use itsm_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::MetricsError;

/// Most monthly buckets a period may have (100 years).
pub const MAX_MONTHS: usize = 1200;

/// A half-open period `[from, to)` of UTC instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First instant inside.
    pub from: Timestamp,
    /// First instant after.
    pub to: Timestamp,
}

impl Period {
    /// The period, checked to be non-empty.
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Period, MetricsError> {
        if from >= to {
            return Err(MetricsError::EmptyPeriod { from, to });
        }
        Ok(Period { from, to })
    }

    /// Whether `at` lies in `[from, to)`.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }
}

/// One monthly bucket: the part of a calendar month (in the zone) inside the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthBucket {
    /// `YYYY-MM` in the zone.
    pub month: String,
    /// Start of the bucket (UTC instant).
    pub start: Timestamp,
    /// End of the bucket, exclusive.
    pub end: Timestamp,
    /// Whether the period cuts this month (it does not cover the whole calendar month).
    pub partial: bool,
}

/// The monthly buckets of a period, with a fast lookup by instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Months {
    /// Bucket starts in microseconds, then the period end: `len = buckets + 1`.
    pub(crate) bounds: Vec<i64>,
    pub(crate) buckets: Vec<MonthBucket>,
}

impl Months {
    /// Cuts `period` at the starts of calendar months in `zone`.
    pub(crate) fn new(period: &Period, zone: Tz) -> Result<Months, MetricsError> {
        let local = period.from.as_utc().with_timezone(&zone);
        let (mut year, mut month) = (local.year(), local.month());
        let mut bounds = vec![period.from.unix_micros()];
        let mut labels = vec![(year, month)];
        let first_is_month_start = month_start(year, month, zone)? == period.from.unix_micros();
        let end = period.to.unix_micros();
        // After the loop, `next_start` is the start of the first month beginning at or after `to`.
        let next_start = loop {
            (year, month) = next_month(year, month);
            let start = month_start(year, month, zone)?;
            if start >= end || start <= *bounds.last().unwrap_or(&i64::MIN) {
                break start;
            }
            bounds.push(start);
            labels.push((year, month));
            if labels.len() > MAX_MONTHS {
                return Err(MetricsError::PeriodTooLong { max: MAX_MONTHS });
            }
        };
        bounds.push(end);
        let n = labels.len();
        let mut buckets = Vec::with_capacity(n);
        for (i, (y, m)) in labels.iter().enumerate() {
            let start = Timestamp::from_unix_micros(bounds[i]).unwrap_or(period.from);
            let stop = Timestamp::from_unix_micros(bounds[i + 1]).unwrap_or(period.to);
            let partial = (i == 0 && !first_is_month_start) || (i + 1 == n && end != next_start);
            buckets.push(MonthBucket { month: format!("{y:04}-{m:02}"), start, end: stop, partial });
        }
        Ok(Months { bounds, buckets })
    }

    /// The bucket index of an instant inside the period.
    pub(crate) fn index(&self, micros: i64) -> usize {
        // bounds[i] <= micros < bounds[i + 1]
        let pos = self.bounds.partition_point(|&b| b <= micros);
        pos.saturating_sub(1).min(self.buckets.len().saturating_sub(1))
    }

    /// Number of buckets.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month >= 12 { (year.saturating_add(1), 1) } else { (year, month + 1) }
}

/// Local midnight of the 1st of the month in `zone`, as UTC microseconds. A
/// skipped local midnight (DST gap) moves to the first valid local time after
/// it; an ambiguous one takes the earlier instant.
fn month_start(year: i32, month: u32, zone: Tz) -> Result<i64, MetricsError> {
    let err = || MetricsError::MonthOutOfRange { year, month, zone: zone.name().to_owned() };
    let date = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(err)?;
    let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(err)?;
    for minutes in (0..=48 * 60).step_by(15) {
        let local = midnight.checked_add_signed(chrono::TimeDelta::minutes(minutes)).ok_or_else(err)?;
        match zone.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => return Ok(t.timestamp_micros()),
            chrono::LocalResult::Ambiguous(a, _) => return Ok(a.timestamp_micros()),
            chrono::LocalResult::None => continue,
        }
    }
    Err(err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn months_are_cut_in_the_zone() {
        let p = Period::new(ts("2026-01-01T00:00:00+01:00"), ts("2026-04-01T00:00:00+02:00")).unwrap();
        let m = Months::new(&p, chrono_tz::Europe::Paris).unwrap();
        let names: Vec<&str> = m.buckets.iter().map(|b| b.month.as_str()).collect();
        assert_eq!(names, vec!["2026-01", "2026-02", "2026-03"]);
        assert!(m.buckets.iter().all(|b| !b.partial));
        // 2026-01-31T23:30:00Z is already February in Paris.
        assert_eq!(m.index(ts("2026-01-31T23:30:00Z").unix_micros()), 1);
        let utc = Months::new(&p, chrono_tz::UTC).unwrap();
        assert_eq!(utc.buckets.len(), 4);
        assert!(utc.buckets[0].partial && utc.buckets[3].partial);
    }

    #[test]
    fn empty_and_huge_periods_are_refused() {
        assert!(Period::new(ts("2026-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z")).is_err());
        let p = Period::new(ts("1900-01-01T00:00:00Z"), ts("2100-01-01T00:00:00Z")).unwrap();
        assert_eq!(Months::new(&p, chrono_tz::UTC), Err(MetricsError::PeriodTooLong { max: MAX_MONTHS }));
    }
}
