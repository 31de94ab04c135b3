//! Business calendar operations against two naive implementations, in one run.
//!
//! Calendar: Monday to Friday 08:00-18:00 Europe/Berlin with 30 holidays.
//! * `ours`: [`Calendar::business_time`] and [`Calendar::deadline_after`].
//! * `day_by_day`: the loop GLPI-style tools run: one local date at a time,
//!   skip holidays and weekends, convert that day's intervals to instants and
//!   add (or subtract) their overlap.
//! * `minute_reference`: one UTC minute at a time, converted to local time.
//!
//! Spans and durations go up to one year. Run with
//! `cargo bench -p itsm-core --bench calendar -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::hint::black_box;

use chrono::{Datelike, Duration, LocalResult, NaiveDate, TimeZone, Timelike, Weekday};
use chrono_tz::Tz;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use itsm_core::calendar::{Calendar, CalendarDef, Holiday, TimeRange, WeekSchedule};
use itsm_core::{BusinessDuration, Timestamp};

const TZ: Tz = chrono_tz::Europe::Berlin;
const OPEN: u32 = 8 * 60;
const CLOSE: u32 = 18 * 60;

fn holidays() -> BTreeSet<NaiveDate> {
    // 30 dates over 2026 and early 2027, most of them weekdays.
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    (0..30).map(|i| first + Duration::days(1 + i * 15)).collect()
}

fn calendar() -> Calendar {
    let week = WeekSchedule::uniform(
        &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
        &[TimeRange::hours(8, 18).expect("valid interval")],
    );
    let holidays = holidays().into_iter().map(|date| Holiday::Once { date, name: String::new() }).collect();
    let def = CalendarDef { version: 1, time_zone: TZ.name().into(), week, holidays, exceptions: vec![] };
    match Calendar::new(def) {
        Ok(calendar) => calendar,
        Err(e) => panic!("bench calendar: {e}"),
    }
}

fn working_date(date: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> bool {
    date.weekday().num_days_from_monday() < 5 && !holidays.contains(&date)
}

// ---------------------------------------------------------------------------
// Minute stepping.

fn minute_working(minute: i64, holidays: &BTreeSet<NaiveDate>) -> bool {
    match TZ.timestamp_opt(minute * 60, 0) {
        LocalResult::Single(t) => {
            let m = t.hour() * 60 + t.minute();
            working_date(t.date_naive(), holidays) && (OPEN..CLOSE).contains(&m)
        }
        LocalResult::Ambiguous(..) | LocalResult::None => false,
    }
}

fn minutes_business_time(from: i64, to: i64, holidays: &BTreeSet<NaiveDate>) -> u64 {
    (from / 60..to / 60).filter(|m| minute_working(*m, holidays)).count() as u64 * 60
}

fn minutes_deadline(from: i64, seconds: u64, holidays: &BTreeSet<NaiveDate>) -> i64 {
    let mut left = seconds / 60;
    let mut minute = from / 60;
    while left > 0 {
        if minute_working(minute, holidays) {
            left -= 1;
        }
        minute += 1;
    }
    minute * 60
}

// ---------------------------------------------------------------------------
// Day by day.

/// The UTC seconds of a local date's working interval.
fn day_interval(date: NaiveDate) -> (i64, i64) {
    let at = |minute: u32| {
        let local = date.and_hms_opt(minute / 60, minute % 60, 0).unwrap_or_default();
        TZ.from_local_datetime(&local).earliest().map_or(0, |t| t.timestamp())
    };
    (at(OPEN), at(CLOSE))
}

fn days_business_time(from: i64, to: i64, holidays: &BTreeSet<NaiveDate>) -> u64 {
    let Some(first) = TZ.timestamp_opt(from, 0).earliest() else { return 0 };
    let Some(last) = TZ.timestamp_opt(to, 0).earliest() else { return 0 };
    let mut total = 0;
    let mut date = first.date_naive();
    while date <= last.date_naive() {
        if working_date(date, holidays) {
            let (s, e) = day_interval(date);
            let (lo, hi) = (s.max(from), e.min(to));
            if hi > lo {
                total += (hi - lo) as u64;
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
    total
}

fn days_deadline(from: i64, seconds: u64, holidays: &BTreeSet<NaiveDate>) -> i64 {
    let Some(first) = TZ.timestamp_opt(from, 0).earliest() else { return 0 };
    let mut left = seconds as i64;
    let mut date = first.date_naive();
    loop {
        if working_date(date, holidays) {
            let (s, e) = day_interval(date);
            let lo = s.max(from);
            if e > lo {
                if e - lo >= left {
                    return lo + left;
                }
                left -= e - lo;
            }
        }
        date = date.succ_opt().unwrap_or(date);
    }
}

// ---------------------------------------------------------------------------

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(secs).unwrap_or_else(|| Timestamp::from_utc(chrono::DateTime::UNIX_EPOCH))
}

fn benches(c: &mut Criterion) {
    let calendar = calendar();
    let holidays = holidays();
    // Tuesday 2026-01-06 10:17:00 Berlin.
    let start = TZ.with_ymd_and_hms(2026, 1, 6, 10, 17, 0).earliest().map_or(0, |t| t.timestamp());
    let spans = [("1 day", 86_400i64), ("1 week", 7 * 86_400), ("1 month", 30 * 86_400), ("1 year", 365 * 86_400)];
    let durations = [("4 h", 4 * 3600u64), ("5 days", 50 * 3600), ("1 month", 210 * 3600), ("1 year", 2500 * 3600)];

    // The three implementations agree before anything is timed.
    for (label, span) in spans {
        let ours = calendar.business_time(ts(start), ts(start + span)).map(|d| d.as_secs());
        assert_eq!(ours, Ok(days_business_time(start, start + span, &holidays)), "business_time {label}");
        assert_eq!(ours, Ok(minutes_business_time(start, start + span, &holidays)), "business_time {label}");
    }
    for (label, secs) in durations {
        let ours = calendar.deadline_after(ts(start), BusinessDuration::from_secs(secs)).map(|t| t.unix_secs());
        assert_eq!(ours, Ok(days_deadline(start, secs, &holidays)), "deadline_after {label}");
        assert_eq!(ours, Ok(minutes_deadline(start, secs, &holidays)), "deadline_after {label}");
    }

    let mut group = c.benchmark_group("business_time");
    group.sample_size(20);
    for (label, span) in spans {
        let (from, to) = (ts(start), ts(start + span));
        group.bench_with_input(BenchmarkId::new("ours", label), &(from, to), |b, (from, to)| {
            b.iter(|| calendar.business_time(black_box(*from), black_box(*to)))
        });
        group.bench_with_input(BenchmarkId::new("day_by_day", label), &span, |b, span| {
            b.iter(|| days_business_time(black_box(start), black_box(start + span), &holidays))
        });
        group.bench_with_input(BenchmarkId::new("minute_reference", label), &span, |b, span| {
            b.iter(|| minutes_business_time(black_box(start), black_box(start + span), &holidays))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("deadline_after");
    group.sample_size(20);
    for (label, secs) in durations {
        let d = BusinessDuration::from_secs(secs);
        group.bench_with_input(BenchmarkId::new("ours", label), &d, |b, d| {
            b.iter(|| calendar.deadline_after(black_box(ts(start)), black_box(*d)))
        });
        group.bench_with_input(BenchmarkId::new("day_by_day", label), &secs, |b, secs| {
            b.iter(|| days_deadline(black_box(start), black_box(*secs), &holidays))
        });
        group.bench_with_input(BenchmarkId::new("minute_reference", label), &secs, |b, secs| {
            b.iter(|| minutes_deadline(black_box(start), black_box(*secs), &holidays))
        });
    }
    group.finish();
}

criterion_group!(calendar_benches, benches);
criterion_main!(calendar_benches);
