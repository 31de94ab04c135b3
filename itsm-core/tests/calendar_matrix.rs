//! Business calendar against an independent minute-stepping reference.
//!
//! The reference walks UTC minutes, converts each one to local wall-clock time
//! with chrono-tz and checks it against the schedule (weekly intervals,
//! holidays, exceptions). It knows nothing of the library's week skipping,
//! transition tables or day windows.

use std::collections::{BTreeSet, HashMap};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Weekday,
};
use chrono_tz::Tz;
use itsm_core::calendar::{
    Calendar, CalendarDef, CalendarError, CalendarException, Holiday, MAX_BUSINESS_DURATION, TimeOfDay, TimeRange,
    WeekSchedule,
};
use itsm_core::{BusinessDuration, Timestamp};
use proptest::prelude::*;

const ZONES: [Tz; 7] = [
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::Berlin,
    chrono_tz::America::Sao_Paulo,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Pacific::Chatham,
];

// ---------------------------------------------------------------------------
// Reference schedule (minutes of day) and its minute-by-minute evaluation.

#[derive(Debug, Clone)]
struct RefCal {
    tz: Tz,
    /// Monday first, `[start, end)` minutes of day.
    weekly: [Vec<(u32, u32)>; 7],
    holidays: BTreeSet<NaiveDate>,
    yearly: Vec<(u32, u32)>,
    working: HashMap<NaiveDate, Vec<(u32, u32)>>,
    closed: HashMap<NaiveDate, Vec<(u32, u32)>>,
}

impl RefCal {
    fn new(tz: Tz) -> Self {
        RefCal {
            tz,
            weekly: Default::default(),
            holidays: BTreeSet::new(),
            yearly: Vec::new(),
            working: HashMap::new(),
            closed: HashMap::new(),
        }
    }

    fn with_days(mut self, days: std::ops::Range<usize>, intervals: &[(u32, u32)]) -> Self {
        for d in days {
            self.weekly[d] = intervals.to_vec();
        }
        self
    }

    /// The local intervals of a date, as the test understands the rules.
    fn intervals(&self, date: NaiveDate) -> Vec<(u32, u32)> {
        let base = if let Some(w) = self.working.get(&date) {
            w.clone()
        } else if self.holidays.contains(&date) || self.yearly.contains(&(date.month(), date.day())) {
            Vec::new()
        } else {
            self.weekly[date.weekday().num_days_from_monday() as usize].clone()
        };
        let closed = self.closed.get(&date).cloned().unwrap_or_default();
        // Split into minutes and drop closed ones; fine for a reference.
        let mut minutes: Vec<u32> = base
            .iter()
            .flat_map(|&(s, e)| s..e)
            .filter(|m| !closed.iter().any(|&(cs, ce)| cs <= *m && *m < ce))
            .collect();
        minutes.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::new();
        for m in minutes {
            match out.last_mut() {
                Some(last) if last.1 == m => last.1 = m + 1,
                _ => out.push((m, m + 1)),
            }
        }
        out
    }

    /// Pure wall-clock membership: the local time of the minute starting at
    /// `minute` (Unix minutes) lies in a working interval of its local date.
    fn wall_clock_working(&self, minute: i64, cache: &mut HashMap<NaiveDate, Vec<(u32, u32)>>) -> bool {
        let local = self.tz.timestamp_opt(minute * 60, 0).unwrap().naive_local();
        let m = local.hour() * 60 + local.minute();
        cache.entry(local.date()).or_insert_with(|| self.intervals(local.date())).iter().any(|&(s, e)| s <= m && m < e)
    }

    fn wall_clock_prefix(&self, first: i64, n: usize) -> Prefix {
        let mut cache = HashMap::new();
        Prefix::build(first, n, |m| self.wall_clock_working(m, &mut cache))
    }

    fn def(&self, version: u32) -> CalendarDef {
        let tr = |v: &Vec<(u32, u32)>| -> Vec<TimeRange> {
            v.iter()
                .map(|&(s, e)| {
                    TimeRange::new(TimeOfDay::hm(s / 60, s % 60).unwrap(), TimeOfDay::hm(e / 60, e % 60).unwrap())
                })
                .collect()
        };
        let mut week = WeekSchedule::default();
        let days = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        for (i, d) in days.iter().enumerate() {
            *week.day_mut(*d) = tr(&self.weekly[i]);
        }
        let mut holidays: Vec<Holiday> =
            self.holidays.iter().map(|d| Holiday::Once { date: *d, name: String::new() }).collect();
        holidays.extend(self.yearly.iter().map(|&(month, day)| Holiday::Yearly { month, day, name: "y".into() }));
        let mut exceptions: Vec<CalendarException> =
            self.working.iter().map(|(d, v)| CalendarException::WorkingDay { date: *d, intervals: tr(v) }).collect();
        exceptions
            .extend(self.closed.iter().map(|(d, v)| CalendarException::ClosedHours { date: *d, intervals: tr(v) }));
        CalendarDef { version, time_zone: self.tz.name().to_owned(), week, holidays, exceptions }
    }

    fn calendar(&self) -> Calendar {
        Calendar::new(self.def(1)).unwrap()
    }
}

/// Prefix sums of working minutes over `[first, first + n)` (Unix minutes).
struct Prefix {
    first: i64,
    cum: Vec<u32>,
}

impl Prefix {
    fn build(first: i64, n: usize, mut working: impl FnMut(i64) -> bool) -> Prefix {
        let mut cum = Vec::with_capacity(n + 1);
        cum.push(0);
        let mut acc = 0;
        for i in 0..n as i64 {
            if working(first + i) {
                acc += 1;
            }
            cum.push(acc);
        }
        Prefix { first, cum }
    }

    fn at(&self, minute: i64) -> u32 {
        self.cum[(minute - self.first) as usize]
    }

    fn business(&self, from: i64, to: i64) -> u32 {
        self.at(to) - self.at(from)
    }

    /// First minute boundary at which `d` working minutes have accrued since `from`.
    fn deadline(&self, from: i64, d: u32) -> Option<i64> {
        let base = self.at(from);
        let i = self.cum.partition_point(|c| *c < base + d);
        (i < self.cum.len()).then(|| self.first + i as i64)
    }
}

fn ts(minute: i64) -> Timestamp {
    Timestamp::from_unix_secs(minute * 60).unwrap()
}

fn offset(tz: Tz, secs: i64) -> i32 {
    tz.offset_from_utc_datetime(&DateTime::from_timestamp(secs, 0).unwrap().naive_utc()).fix().local_minus_utc()
}

/// Offset transitions of `tz` in `year`, to the minute, found by scanning.
fn transitions(tz: Tz, year: i32) -> Vec<i64> {
    let start = Tz::UTC.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap().timestamp();
    let end = Tz::UTC.with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0).unwrap().timestamp();
    let mut out = Vec::new();
    let mut t = start;
    while t < end {
        if offset(tz, t) != offset(tz, t + 3600) {
            let (mut lo, mut hi) = (t / 60, (t + 3600) / 60);
            while hi - lo > 1 {
                let mid = (lo + hi) / 2;
                if offset(tz, mid * 60) == offset(tz, t) { lo = mid } else { hi = mid }
            }
            out.push(hi);
        }
        t += 3600;
    }
    out
}

fn matrix_transitions(tz: Tz) -> Vec<i64> {
    let mut all = Vec::new();
    for year in [2018, 2026] {
        let mut found = transitions(tz, year);
        if found.is_empty() {
            found = transitions(chrono_tz::Europe::Berlin, year);
        }
        all.extend(found);
    }
    all
}

fn local_date(tz: Tz, minute: i64) -> NaiveDate {
    tz.timestamp_opt(minute * 60, 0).unwrap().date_naive()
}

// ---------------------------------------------------------------------------
// Calendars of the matrix.

fn matrix_calendars(tz: Tz, transitions: &[i64]) -> Vec<(&'static str, RefCal, u32)> {
    let all_day = RefCal::new(tz).with_days(0..7, &[(0, 1440)]);
    let office = RefCal::new(tz).with_days(0..5, &[(8 * 60, 18 * 60)]);
    let split = RefCal::new(tz).with_days(0..5, &[(9 * 60, 12 * 60), (13 * 60, 17 * 60)]);
    let mut holidays = office.clone();
    for &t in transitions {
        let date = local_date(tz, t);
        holidays.holidays.insert(date - Duration::days(1));
        holidays.holidays.insert(date + Duration::days(1));
        holidays.working.insert(date, vec![(60, 240), (22 * 60, 1440)]);
        holidays.closed.insert(date + Duration::days(2), vec![(12 * 60, 14 * 60)]);
        let yearly = date + Duration::days(3);
        holidays.yearly.push((yearly.month(), yearly.day()));
    }
    vec![("24x7", all_day, 24 * 60), ("mon-fri 08-18", office, 600), ("split", split, 420), ("holidays", holidays, 600)]
}

#[test]
fn dst_matrix_matches_minute_stepping_reference() {
    let mut checked = 0u64;
    let mut mismatches = Vec::new();
    for tz in ZONES {
        let transitions = matrix_transitions(tz);
        assert!(!transitions.is_empty());
        for (name, reference, day_minutes) in matrix_calendars(tz, &transitions) {
            let calendar = reference.calendar();
            for &t in &transitions {
                let first = t - 36 * 60;
                let n = (36 * 60 + 36 * 60) + 21 * 1440;
                let prefix = reference.wall_clock_prefix(first, n as usize);
                for k in 0..=(72 * 4) {
                    let start = first + k * 15;
                    for d in [30, 240, day_minutes, 5 * day_minutes] {
                        let expected = prefix.deadline(start, d).expect("reference window too small");
                        let got = calendar.deadline_after(ts(start), BusinessDuration::from_minutes(d as u64));
                        if got != Ok(ts(expected)) {
                            mismatches.push(format!(
                                "{tz} {name} deadline_after({}, {d} min): got {got:?}, reference {}",
                                ts(start),
                                ts(expected)
                            ));
                        }
                        let back = calendar.business_time(ts(start), ts(expected));
                        if back != Ok(BusinessDuration::from_minutes(d as u64)) {
                            mismatches.push(format!(
                                "{tz} {name} business_time({}, {}) = {back:?}, expected {d} min",
                                ts(start),
                                ts(expected)
                            ));
                        }
                    }
                    for span in [30, 240, 1440, 5 * 1440] {
                        let expected = prefix.business(start, start + span);
                        let got = calendar.business_time(ts(start), ts(start + span));
                        if got != Ok(BusinessDuration::from_minutes(expected as u64)) {
                            mismatches.push(format!(
                                "{tz} {name} business_time({}, +{span} min) = {got:?}, reference {expected} min",
                                ts(start)
                            ));
                        }
                    }
                    checked += 12;
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches of {checked}, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(10)]
    );
    assert!(checked > 100_000, "only {checked} checks");
}

#[test]
fn year_long_spans_with_holidays_match_reference() {
    // Mon-Fri 08-18, thirty holidays (one-off and yearly), over 2026 plus a margin.
    for tz in ZONES {
        let mut reference = RefCal::new(tz).with_days(0..5, &[(8 * 60, 18 * 60)]);
        let first_day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        for i in 0..24 {
            reference.holidays.insert(first_day + Duration::days(7 + i * 15));
        }
        reference.yearly.extend([(1, 1), (5, 1), (10, 3), (12, 24), (12, 25), (12, 26)]);
        let calendar = reference.calendar();
        let first = Tz::UTC.with_ymd_and_hms(2025, 12, 20, 0, 0, 0).unwrap().timestamp() / 60;
        let n = 460 * 1440;
        let prefix = reference.wall_clock_prefix(first, n);
        for (i, start_offset) in [0i64, 7 * 60 + 13, 3 * 1440 + 8 * 60 + 1, 40 * 1440 + 17 * 60 + 59].iter().enumerate()
        {
            let start = first + start_offset;
            for span_days in [6, 13, 29, 95, 180, 365, 400] {
                let end = start + span_days * 1440 - 17 * i as i64;
                let expected = prefix.business(start, end);
                assert_eq!(
                    calendar.business_time(ts(start), ts(end)),
                    Ok(BusinessDuration::from_minutes(expected as u64)),
                    "{tz} business_time({}, {})",
                    ts(start),
                    ts(end)
                );
            }
            for hours in [1u32, 9, 10, 11, 49, 50, 51, 400, 1000, 2000, 2400] {
                let d = hours * 60 + i as u32;
                let expected = prefix.deadline(start, d).unwrap();
                assert_eq!(
                    calendar.deadline_after(ts(start), BusinessDuration::from_minutes(d as u64)),
                    Ok(ts(expected)),
                    "{tz} deadline_after({}, {d} min)",
                    ts(start)
                );
            }
        }
    }
}

#[test]
fn leap_day_and_year_end() {
    let tz = chrono_tz::Europe::Berlin;
    let mut reference = RefCal::new(tz).with_days(0..5, &[(8 * 60, 18 * 60)]);
    reference.yearly.extend([(2, 29), (12, 31), (1, 1)]);
    let calendar = reference.calendar();
    let first = Tz::UTC.with_ymd_and_hms(2023, 12, 1, 0, 0, 0).unwrap().timestamp() / 60;
    let prefix = reference.wall_clock_prefix(first, 1100 * 1440);
    let at = |y, mo, d, h, mi| tz.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().timestamp() / 60;
    // 2024-02-29 is a Thursday and a holiday; 2023 and 2025 have no 29 February.
    let cases = [
        (at(2024, 2, 28, 12, 0), at(2024, 3, 1, 12, 0), 6 * 60 + 4 * 60),
        (at(2023, 12, 29, 17, 0), at(2024, 1, 2, 9, 0), 60 + 60),
        (at(2024, 12, 30, 17, 30), at(2025, 1, 2, 8, 30), 30 + 30),
        (at(2025, 2, 27, 12, 0), at(2025, 3, 3, 12, 0), 20 * 60),
        // 2024: 262 weekdays minus 29 Feb, 31 Dec and 1 Jan = 259 days of 10 hours,
        // the last ending on Monday 30 December at 18:00.
        (at(2024, 1, 1, 0, 0), at(2024, 12, 30, 18, 0), 259 * 600),
    ];
    for (from, to, minutes) in cases {
        assert_eq!(prefix.business(from, to), minutes, "reference {} .. {}", ts(from), ts(to));
        assert_eq!(calendar.business_time(ts(from), ts(to)), Ok(BusinessDuration::from_minutes(minutes as u64)));
        assert_eq!(calendar.deadline_after(ts(from), BusinessDuration::from_minutes(minutes as u64)), Ok(ts(to)));
    }
    let year = (at(2024, 1, 1, 0, 0), at(2025, 1, 1, 0, 0));
    assert_eq!(calendar.business_time(ts(year.0), ts(year.1)), Ok(BusinessDuration::from_minutes(259 * 600)));
    // Microsecond instants at the year boundary.
    let last = Timestamp::parse_rfc3339("2024-12-31T23:59:59.999999+01:00").unwrap();
    let next = Timestamp::parse_rfc3339("2025-01-02T08:00:00.5+01:00").unwrap();
    assert_eq!(calendar.business_time(last, next), Ok(BusinessDuration::ZERO));
    let d = calendar.deadline_after(last, BusinessDuration::from_secs(1)).unwrap();
    assert_eq!(d, Timestamp::parse_rfc3339("2025-01-02T08:00:01+01:00").unwrap());
    let d = calendar.deadline_after(next, BusinessDuration::from_secs(1)).unwrap();
    assert_eq!(d, Timestamp::parse_rfc3339("2025-01-02T08:00:01.5+01:00").unwrap());
    assert_eq!(calendar.business_time(next, d), Ok(BusinessDuration::from_secs(1)));
}

#[test]
fn dst_rule_at_the_edges_is_the_documented_one() {
    let ny = chrono_tz::America::New_York;
    let at = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
    // Start in the spring-forward gap (2026-03-08 02:30 does not exist): starts at 03:00 EDT.
    let mut week = WeekSchedule {
        sun: vec![TimeRange::new(TimeOfDay::hm(2, 30).unwrap(), TimeOfDay::hm(4, 0).unwrap())],
        ..WeekSchedule::default()
    };
    let cal = Calendar::new(CalendarDef {
        version: 1,
        time_zone: ny.name().into(),
        week: week.clone(),
        holidays: vec![],
        exceptions: vec![],
    })
    .unwrap();
    assert_eq!(
        cal.deadline_after(at("2026-03-08T00:00:00-05:00"), BusinessDuration::ZERO),
        Ok(at("2026-03-08T00:00:00-05:00"))
    );
    assert_eq!(
        cal.deadline_after(at("2026-03-08T00:00:00-05:00"), BusinessDuration::from_secs(1)),
        Ok(at("2026-03-08T03:00:01-04:00"))
    );
    assert_eq!(
        cal.business_time(at("2026-03-08T00:00:00-05:00"), at("2026-03-09T00:00:00-04:00")),
        Ok(BusinessDuration::from_hours(1))
    );
    // The repeated hour (2026-11-01 01:00-02:00 twice): start 01:30 maps to the earlier instant, end to the later.
    week.sun = vec![TimeRange::new(TimeOfDay::hm(1, 30).unwrap(), TimeOfDay::hm(1, 45).unwrap())];
    let cal = Calendar::new(CalendarDef {
        version: 1,
        time_zone: ny.name().into(),
        week,
        holidays: vec![],
        exceptions: vec![],
    })
    .unwrap();
    let day = (at("2026-11-01T00:00:00-04:00"), at("2026-11-02T00:00:00-05:00"));
    assert_eq!(cal.business_time(day.0, day.1), Ok(BusinessDuration::from_minutes(75)));
    assert_eq!(cal.deadline_after(day.0, BusinessDuration::from_secs(1)), Ok(at("2026-11-01T01:30:01-04:00")));
    assert_eq!(cal.deadline_after(day.0, BusinessDuration::from_minutes(75)), Ok(at("2026-11-01T01:45:00-05:00")));
    // Sao Paulo 2018-11-04: midnight does not exist; a 24x7 day starts at 01:00 (-02).
    let sp = Calendar::twenty_four_seven(chrono_tz::America::Sao_Paulo);
    let sat_noon = at("2018-11-03T12:00:00-03:00");
    assert_eq!(sp.business_time(sat_noon, at("2018-11-04T12:00:00-02:00")), Ok(BusinessDuration::from_hours(23)));
    assert_eq!(sp.deadline_after(sat_noon, BusinessDuration::from_hours(12)), Ok(at("2018-11-04T01:00:00-02:00")));
}

#[test]
fn bad_input_is_a_typed_error_in_bounded_time() {
    let berlin = Calendar::five_by_eight(chrono_tz::Europe::Berlin);
    let a = Timestamp::parse_rfc3339("2026-03-02T10:00:00Z").unwrap();
    let b = Timestamp::parse_rfc3339("2026-03-01T10:00:00Z").unwrap();
    assert_eq!(berlin.business_time(a, b), Err(CalendarError::StartAfterEnd { from: a, to: b }));

    let unknown = CalendarDef {
        version: 1,
        time_zone: "Mars/Olympus_Mons".into(),
        week: WeekSchedule::default(),
        holidays: vec![],
        exceptions: vec![],
    };
    assert_eq!(Calendar::new(unknown), Err(CalendarError::UnknownTimeZone { name: "Mars/Olympus_Mons".into() }));
    let json = r#"{"version": 1, "time_zone": "Europe/Narnia", "week": {"mon": [{"start": "09:00", "end": "17:00"}]}}"#;
    let err = serde_json::from_str::<Calendar>(json).unwrap_err().to_string();
    assert!(err.contains("unknown time zone `Europe/Narnia`"), "{err}");

    // No working time at all: refused when built, never a hang.
    let empty = CalendarDef {
        version: 1,
        time_zone: "UTC".into(),
        week: WeekSchedule::default(),
        holidays: vec![],
        exceptions: vec![],
    };
    assert_eq!(Calendar::new(empty), Err(CalendarError::NoWorkingTime));
    // Working time only on one extra day: a later deadline is unreachable, reported as such.
    let one_day = CalendarDef {
        version: 1,
        time_zone: "UTC".into(),
        week: WeekSchedule::default(),
        holidays: vec![],
        exceptions: vec![CalendarException::WorkingDay {
            date: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
            intervals: vec![TimeRange::hours(9, 10).unwrap()],
        }],
    };
    let one_day = Calendar::new(one_day).unwrap();
    assert_eq!(
        one_day.deadline_after(b, BusinessDuration::from_minutes(30)),
        Ok(Timestamp::parse_rfc3339("2026-03-03T09:30:00Z").unwrap())
    );
    assert!(matches!(
        one_day.deadline_after(b, BusinessDuration::from_hours(2)),
        Err(CalendarError::DeadlineOutOfRange { .. })
    ));
    // Every date a yearly holiday: the weekly schedule never applies.
    let mut all_holidays = berlin.definition().clone();
    for month in 1..=12 {
        for day in 1..=31 {
            if NaiveDate::from_ymd_opt(2000, month, day).is_some() {
                all_holidays.holidays.push(Holiday::Yearly { month, day, name: String::new() });
            }
        }
    }
    let never = Calendar::new(all_holidays).unwrap();
    assert!(matches!(
        never.deadline_after(a, BusinessDuration::from_hours(1)),
        Err(CalendarError::DeadlineOutOfRange { .. })
    ));
    assert_eq!(never.business_time(b, a), Ok(BusinessDuration::ZERO));

    // Ten years: over the bound.
    let ten_years = BusinessDuration::from_hours(10 * 365 * 24);
    assert_eq!(
        berlin.deadline_after(a, ten_years),
        Err(CalendarError::DurationTooLong { requested: ten_years, max: MAX_BUSINESS_DURATION })
    );
    // Five years of business time on a 5x8 calendar is about 21 years of calendar time:
    // from 2026 it is computed, from 2090 it runs past 2100.
    assert!(
        berlin.deadline_after(a, MAX_BUSINESS_DURATION).unwrap()
            > Timestamp::parse_rfc3339("2046-01-01T00:00:00Z").unwrap()
    );
    let late = Timestamp::parse_rfc3339("2090-01-01T00:00:00Z").unwrap();
    assert!(matches!(
        berlin.deadline_after(late, MAX_BUSINESS_DURATION),
        Err(CalendarError::DeadlineOutOfRange { .. })
    ));
    let far = Timestamp::parse_rfc3339("2150-01-01T00:00:00Z").unwrap();
    assert_eq!(berlin.business_time(a, far), Err(CalendarError::OutOfRange { at: far }));
    let early = Timestamp::parse_rfc3339("1850-01-01T00:00:00Z").unwrap();
    assert_eq!(
        berlin.deadline_after(early, BusinessDuration::from_hours(1)),
        Err(CalendarError::OutOfRange { at: early })
    );
    let min = Timestamp::from_utc(DateTime::<chrono::Utc>::MIN_UTC);
    let max = Timestamp::from_utc(DateTime::<chrono::Utc>::MAX_UTC);
    assert_eq!(berlin.business_time(min, max), Err(CalendarError::OutOfRange { at: min }));
    // The largest accepted span is computed (arithmetically, not day by day).
    let (lo, hi) = Calendar::supported_range();
    assert!(berlin.business_time(lo, hi).unwrap() > BusinessDuration::from_hours(200 * 52 * 40 - 2000 * 8));
    assert!(Calendar::twenty_four_seven(chrono_tz::UTC).deadline_after(lo, MAX_BUSINESS_DURATION).is_ok());
}

#[test]
fn invalid_definitions_are_typed_errors() {
    let base = || CalendarDef {
        version: 1,
        time_zone: "Europe/Berlin".into(),
        week: WeekSchedule::default(),
        holidays: vec![],
        exceptions: vec![],
    };
    let mut backwards = base();
    backwards.week.mon = vec![TimeRange::hours(17, 9).unwrap()];
    assert!(
        matches!(Calendar::new(backwards), Err(CalendarError::EmptyInterval { location, .. }) if location == "week.mon")
    );
    let mut overlap = base();
    overlap.week.tue = vec![TimeRange::hours(13, 17).unwrap(), TimeRange::hours(9, 14).unwrap()];
    assert_eq!(
        Calendar::new(overlap).unwrap_err().to_string(),
        "intervals 09:00-14:00 and 13:00-17:00 in week.tue overlap"
    );
    let mut touching = base();
    touching.week.wed = vec![TimeRange::hours(9, 12).unwrap(), TimeRange::hours(12, 17).unwrap()];
    assert!(Calendar::new(touching).is_ok());
    let mut bad_yearly = base();
    bad_yearly.week.mon = vec![TimeRange::hours(9, 17).unwrap()];
    bad_yearly.holidays = vec![Holiday::Yearly { month: 2, day: 30, name: String::new() }];
    assert_eq!(Calendar::new(bad_yearly), Err(CalendarError::InvalidYearlyHoliday { month: 2, day: 30 }));
    let date = NaiveDate::from_ymd_opt(2026, 5, 4).unwrap();
    let mut dup = base();
    dup.week.mon = vec![TimeRange::hours(9, 17).unwrap()];
    dup.exceptions = vec![
        CalendarException::ClosedHours { date, intervals: vec![TimeRange::hours(9, 10).unwrap()] },
        CalendarException::ClosedHours { date, intervals: vec![TimeRange::hours(11, 12).unwrap()] },
    ];
    assert_eq!(Calendar::new(dup), Err(CalendarError::DuplicateException { what: "closed_hours", date }));
    for json in [
        r#"{"version": 1, "time_zone": "UTC", "week": {"mon": [{"start": "09:00", "end": "25:00"}]}}"#,
        r#"{"version": 1, "time_zone": "UTC", "week": {"monday": [{"start": "09:00", "end": "17:00"}]}}"#,
        r#"{"version": 1, "time_zone": "UTC", "week": {"mon": [{"start": "12:00", "end": "11:00"}]}}"#,
        r#"{"version": 1, "time_zone": "UTC"}"#,
    ] {
        assert!(serde_json::from_str::<Calendar>(json).is_err(), "{json}");
    }
    // A valid definition round-trips through JSON.
    let json = r#"{"version": 7, "time_zone": "America/New_York",
        "week": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]},
        "holidays": [{"kind": "once", "date": "2026-07-03", "name": "Independence Day (observed)"}, {"kind": "yearly", "month": 12, "day": 25}],
        "exceptions": [{"kind": "working_day", "date": "2026-07-04", "intervals": [{"start": "10:00", "end": "14:00"}]},
                       {"kind": "closed_hours", "date": "2026-07-06", "intervals": [{"start": "09:00", "end": "10:00"}]}]}"#;
    let cal: Calendar = serde_json::from_str(json).unwrap();
    assert_eq!(cal.version(), 7);
    let again: Calendar = serde_json::from_str(&serde_json::to_string(&cal).unwrap()).unwrap();
    assert_eq!(again, cal);
}

// ---------------------------------------------------------------------------
// Random calendars against a reference that applies the documented DST rule
// through chrono-tz's own local-time resolution.

impl RefCal {
    fn resolve(&self, date: NaiveDate, minute: u32, end: bool) -> i64 {
        let local: NaiveDateTime = date.and_hms_opt(0, 0, 0).unwrap() + Duration::minutes(minute as i64);
        for step in 0..48 * 60 {
            match self.tz.from_local_datetime(&(local + Duration::minutes(step))) {
                LocalResult::Single(t) => return t.timestamp(),
                LocalResult::Ambiguous(a, b) => return if end && step == 0 { b.timestamp() } else { a.timestamp() },
                LocalResult::None => continue,
            }
        }
        panic!("no valid local time after {local}");
    }

    fn rule_working(&self, minute: i64, cache: &mut HashMap<NaiveDate, Vec<(i64, i64)>>) -> bool {
        let t = minute * 60;
        let date = local_date(self.tz, minute);
        [date - Duration::days(1), date, date + Duration::days(1)].into_iter().any(|d| {
            let resolved = cache.entry(d).or_insert_with(|| {
                self.intervals(d).iter().map(|&(s, e)| (self.resolve(d, s, false), self.resolve(d, e, true))).collect()
            });
            resolved.iter().any(|&(s, e)| s <= t && t < e)
        })
    }
}

/// Interval boundaries as raw numbers: `0..=96` are quarter hours of the day,
/// larger ones land within two hours of the local time of the DST transition
/// (so boundaries inside gaps and repeated hours are common).
fn boundaries(raw: &[u32], transition_quarter: u32) -> Vec<(u32, u32)> {
    let set: BTreeSet<u32> = raw
        .iter()
        .map(|&r| if r <= 96 { r } else { (transition_quarter + (r - 97) % 17).saturating_sub(8).min(96) })
        .collect();
    let points: Vec<u32> = set.into_iter().map(|q| q * 15).collect();
    points.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

fn random_calendar() -> impl Strategy<Value = (usize, Vec<Vec<u32>>, Vec<i64>, i64, i64, u32)> {
    (
        0..ZONES.len(),
        prop::collection::vec(prop::collection::vec(0u32..=200, 0..=6), 7),
        prop::collection::vec(-6i64..=6, 0..=3),
        -3 * 1440i64..=3 * 1440,
        0i64..=3 * 1440,
        1u32..=2000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn random_calendars_match_the_rule_reference((zone, week, holiday_offsets, start_offset, span, d) in random_calendar(), which in 0usize..4) {
        let tz = ZONES[zone];
        let transitions = matrix_transitions(tz);
        let t = transitions[which % transitions.len()];
        let mut reference = RefCal::new(tz);
        let before = t * 60 + offset(tz, t * 60 - 1) as i64;
        let quarter = (before.rem_euclid(86_400) / 900) as u32;
        for (i, raw) in week.iter().enumerate() {
            reference.weekly[i] = boundaries(raw, quarter);
        }
        let pivot = local_date(tz, t);
        for o in holiday_offsets {
            reference.holidays.insert(pivot + Duration::days(o));
        }
        let weekly_minutes: u32 = reference.weekly.iter().flatten().map(|(s, e)| e - s).sum();
        let built = Calendar::new(reference.def(1));
        if weekly_minutes == 0 {
            prop_assert_eq!(built, Err(CalendarError::NoWorkingTime));
            return Ok(());
        }
        let calendar = built.unwrap();
        let start = t + start_offset;
        let first = start - 1440;
        let n = 40 * 1440;
        let mut cache = HashMap::new();
        let prefix = Prefix::build(first, n, |m| reference.rule_working(m, &mut cache));
        let expected = prefix.business(start, start + span);
        prop_assert_eq!(calendar.business_time(ts(start), ts(start + span)), Ok(BusinessDuration::from_minutes(expected as u64)));
        let d = d.min(weekly_minutes * 2);
        let expected = prefix.deadline(start, d).expect("window");
        prop_assert_eq!(calendar.deadline_after(ts(start), BusinessDuration::from_minutes(d as u64)), Ok(ts(expected)));
    }
}
