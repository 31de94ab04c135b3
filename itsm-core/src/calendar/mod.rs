//! Business calendars: when business time accrues.
//!
//! A [`Calendar`] is an IANA time zone, weekly working intervals in local
//! wall-clock time (several per day), holidays (one-off dates and yearly
//! month/day) and exceptions (an extra working day with its own intervals,
//! closed hours on a date). It answers two questions, both in bounded work:
//! [`Calendar::business_time`] between two instants and
//! [`Calendar::deadline_after`] a business duration from a start.
//!
//! # How local intervals become instants
//!
//! Every working interval of a local date is converted to a pair of UTC
//! instants and business time is measured on the UTC timeline, so a working
//! hour is always 3 600 real seconds:
//!
//! * an interval **start** maps to the *first* instant the wall clock shows
//!   that time: a start inside a spring-forward gap maps to the instant the
//!   gap ends, a start inside a fall-back overlap to the *earlier* instant;
//! * an interval **end** maps to the *last* instant the wall clock shows that
//!   time: an end inside a gap maps to the instant the gap ends, an end inside
//!   an overlap to the *later* instant.
//!
//! So an interval covering a repeated hour is an hour longer, one covering a
//! skipped hour an hour shorter, and `24:00` ends the day at the next local
//! midnight. Consequence of the rule at its edge: an interval that ends exactly
//! where the repeated hour begins (an end of `02:00` on Europe/Berlin's
//! fall-back night) runs until the *second* 02:00 and so includes the first
//! pass through 02:00-03:00. Where the converted intervals of neighbouring
//! days overlap on the UTC timeline, their union counts once.
//!
//! # Bounds
//!
//! Instants must lie in `[1900-01-01T00:00Z, 2100-01-01T00:00Z]` (the tz data
//! of chrono-tz stops changing in 2100) and durations may not exceed
//! [`MAX_BUSINESS_DURATION`]; everything else is a typed [`CalendarError`].
//! Work per call is logarithmic in the span: ordinary weeks are skipped
//! arithmetically and the days that differ from the weekly schedule (holidays,
//! exceptions, days next to a DST transition) are found by binary search in a
//! table prepared when the calendar is built.

mod def;
mod zone;

use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use def::{CalendarDef, CalendarException, Holiday, TimeOfDay, TimeRange, WeekSchedule};

use crate::time::{BusinessDuration, Timestamp};
use zone::ZoneTable;

const DAY: i64 = 86_400;
const MICROS: i64 = 1_000_000;
/// 1900-01-01T00:00:00Z in Unix seconds.
const RANGE_START: i64 = -2_208_988_800;
/// 2100-01-01T00:00:00Z in Unix seconds.
const RANGE_END: i64 = 4_102_444_800;
/// Transition tables reach this far beyond the supported range.
const TABLE_MARGIN: i64 = 16 * DAY;
/// First and last day numbers (days since 1970-01-01) the calendar prepares.
const FIRST_DAY: i32 = -25_567 - 6;
const LAST_DAY: i32 = 47_482 + 6;
/// Day number of 1970-01-01 counted from 0001-01-01 (chrono's CE day 1).
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// Longest business duration accepted: five years of round-the-clock business time.
pub const MAX_BUSINESS_DURATION: BusinessDuration = BusinessDuration::from_secs(5 * 365 * 86_400);
/// Most intervals accepted for one weekday or one exception.
pub const MAX_INTERVALS_PER_DAY: usize = 96;
/// Most holidays, and most exceptions, accepted in one calendar.
pub const MAX_ENTRIES: usize = 10_000;

const WEEKDAYS: [(Weekday, &str); 7] = [
    (Weekday::Mon, "mon"),
    (Weekday::Tue, "tue"),
    (Weekday::Wed, "wed"),
    (Weekday::Thu, "thu"),
    (Weekday::Fri, "fri"),
    (Weekday::Sat, "sat"),
    (Weekday::Sun, "sun"),
];

/// Why a calendar definition or a calendar computation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The time zone name is not in the IANA database.
    #[error("unknown time zone `{name}` (expected an IANA name such as Europe/Berlin)")]
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
    /// An interval does not end after it starts.
    #[error("interval {range} in {location} does not end after it starts")]
    EmptyInterval {
        /// Where the interval is (`week.mon`, `working_day 2026-12-24`).
        location: String,
        /// The interval.
        range: TimeRange,
    },
    /// Two intervals of one day overlap.
    #[error("intervals {first} and {second} in {location} overlap")]
    OverlappingIntervals {
        /// Where the intervals are.
        location: String,
        /// The earlier-starting interval.
        first: TimeRange,
        /// The interval starting inside it.
        second: TimeRange,
    },
    /// A day lists more than [`MAX_INTERVALS_PER_DAY`] intervals.
    #[error("{location} has {count} intervals, more than {MAX_INTERVALS_PER_DAY}")]
    TooManyIntervals {
        /// Where.
        location: String,
        /// How many.
        count: usize,
    },
    /// More than [`MAX_ENTRIES`] holidays or exceptions.
    #[error("calendar has {count} {what}, more than {MAX_ENTRIES}")]
    TooManyEntries {
        /// `holidays` or `exceptions`.
        what: &'static str,
        /// How many.
        count: usize,
    },
    /// A yearly holiday's month and day are not a date in any year.
    #[error("yearly holiday {month:02}-{day:02} is not a date in any year")]
    InvalidYearlyHoliday {
        /// The month given.
        month: u32,
        /// The day given.
        day: u32,
    },
    /// A holiday or exception date outside the supported years.
    #[error("{what} date {date} is outside the supported range 1900-01-01 to 2099-12-31")]
    DateOutOfRange {
        /// `holiday`, `working_day` or `closed_hours`.
        what: &'static str,
        /// The date.
        date: NaiveDate,
    },
    /// Two exceptions of the same kind for one date.
    #[error("two {what} exceptions for {date}")]
    DuplicateException {
        /// `working_day` or `closed_hours`.
        what: &'static str,
        /// The date.
        date: NaiveDate,
    },
    /// An exception without intervals.
    #[error("{what} exception for {date} lists no intervals")]
    EmptyException {
        /// `working_day` or `closed_hours`.
        what: &'static str,
        /// The date.
        date: NaiveDate,
    },
    /// No weekday has working intervals and there is no extra working day.
    #[error("calendar has no working time: every weekday is empty and there is no extra working day")]
    NoWorkingTime,
    /// `business_time` was asked for a span that ends before it starts.
    #[error("business time from {from} to {to}: the start is after the end")]
    StartAfterEnd {
        /// The start given.
        from: Timestamp,
        /// The end given.
        to: Timestamp,
    },
    /// A duration above [`MAX_BUSINESS_DURATION`].
    #[error("business duration {requested} exceeds the maximum of {max}")]
    DurationTooLong {
        /// The duration asked for.
        requested: BusinessDuration,
        /// The maximum.
        max: BusinessDuration,
    },
    /// An instant outside the supported range.
    #[error("instant {at} is outside the supported range 1900-01-01T00:00:00Z to 2100-01-01T00:00:00Z")]
    OutOfRange {
        /// The instant.
        at: Timestamp,
    },
    /// The deadline would fall after the supported range (or the calendar
    /// runs out of working time before it).
    #[error("no deadline {duration} of business time after {start} before 2100-01-01T00:00:00Z")]
    DeadlineOutOfRange {
        /// The start given.
        start: Timestamp,
        /// The duration asked for.
        duration: BusinessDuration,
    },
}

/// A validated business calendar. Cheap to clone (the prepared tables are shared).
///
/// Serialized as its [`CalendarDef`]; deserializing validates.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "CalendarDef", into = "CalendarDef")]
pub struct Calendar {
    def: CalendarDef,
    engine: Arc<Engine>,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar").field("def", &self.def).finish_non_exhaustive()
    }
}

impl PartialEq for Calendar {
    fn eq(&self, other: &Self) -> bool {
        self.def == other.def
    }
}

impl Eq for Calendar {}

impl TryFrom<CalendarDef> for Calendar {
    type Error = CalendarError;

    fn try_from(def: CalendarDef) -> Result<Self, CalendarError> {
        Calendar::new(def)
    }
}

impl From<Calendar> for CalendarDef {
    fn from(calendar: Calendar) -> Self {
        calendar.def
    }
}

impl Calendar {
    /// Validates a definition: known zone, intervals that end after they start
    /// and do not overlap, real dates, no duplicate exceptions, some working time.
    pub fn new(def: CalendarDef) -> Result<Calendar, CalendarError> {
        let plan = Plan::validate(&def)?;
        Ok(Calendar { def, engine: Arc::new(Engine::build(plan)) })
    }

    fn preset(tz: Tz, week: WeekSchedule) -> Calendar {
        let weekly = WEEKDAYS.map(|(day, _)| {
            week.day(day).iter().map(|r| (i64::from(r.start.seconds()), i64::from(r.end.seconds()))).collect()
        });
        let plan =
            Plan { tz, weekly, one_off: Vec::new(), yearly: Vec::new(), working: Vec::new(), closed: Vec::new() };
        let def = CalendarDef {
            version: 1,
            time_zone: tz.name().to_owned(),
            week,
            holidays: Vec::new(),
            exceptions: Vec::new(),
        };
        Calendar { def, engine: Arc::new(Engine::build(plan)) }
    }

    /// Round the clock, every day ("7x24"), in `tz`.
    pub fn twenty_four_seven(tz: Tz) -> Calendar {
        let all_day = TimeRange::new(TimeOfDay::MIDNIGHT, TimeOfDay::END_OF_DAY);
        let days = WEEKDAYS.map(|(day, _)| day);
        Calendar::preset(tz, WeekSchedule::uniform(&days, &[all_day]))
    }

    /// Monday to Friday 09:00-17:00 local time ("5x8") in `tz`, no holidays.
    pub fn five_by_eight(tz: Tz) -> Calendar {
        let office = TimeRange::new(TimeOfDay(9 * 60), TimeOfDay(17 * 60));
        let days = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
        Calendar::preset(tz, WeekSchedule::uniform(&days, &[office]))
    }

    /// The definition this calendar was built from.
    pub fn definition(&self) -> &CalendarDef {
        &self.def
    }

    /// The definition's version.
    pub fn version(&self) -> u32 {
        self.def.version
    }

    /// The time zone.
    pub fn time_zone(&self) -> Tz {
        self.engine.tz
    }

    /// Business seconds in an ordinary week (no holiday, exception or DST change).
    pub fn week_business_time(&self) -> BusinessDuration {
        BusinessDuration::from_secs(u64::try_from(self.engine.week_total).unwrap_or(0))
    }

    /// The earliest and latest instants the calendar accepts.
    pub fn supported_range() -> (Timestamp, Timestamp) {
        let start = Timestamp::from_unix_secs(RANGE_START);
        let end = Timestamp::from_unix_secs(RANGE_END);
        match (start, end) {
            (Some(start), Some(end)) => (start, end),
            // Unreachable: both constants are valid instants.
            _ => (Timestamp::from_utc(chrono::DateTime::UNIX_EPOCH), Timestamp::from_utc(chrono::DateTime::UNIX_EPOCH)),
        }
    }

    fn check_range(at: Timestamp) -> Result<i64, CalendarError> {
        let micros = at.unix_micros();
        if !(RANGE_START * MICROS..=RANGE_END * MICROS).contains(&micros) {
            return Err(CalendarError::OutOfRange { at });
        }
        Ok(micros)
    }

    /// Business time in `[from, to)`, in whole seconds (truncated).
    pub fn business_time(&self, from: Timestamp, to: Timestamp) -> Result<BusinessDuration, CalendarError> {
        let micros = self.business_micros(from, to)?;
        Ok(BusinessDuration::from_secs(u64::try_from(micros / MICROS).unwrap_or(0)))
    }

    /// Business time in `[from, to)` in microseconds (exact, additive over adjacent spans).
    pub(crate) fn business_micros(&self, from: Timestamp, to: Timestamp) -> Result<i64, CalendarError> {
        let a = Calendar::check_range(from)?;
        let b = Calendar::check_range(to)?;
        if a > b {
            return Err(CalendarError::StartAfterEnd { from, to });
        }
        Ok(self.engine.business_micros(a, b))
    }

    /// The instant at which `d` of business time has accrued since `start`:
    /// the smallest `t` with `business_time(start, t) == d` (`start` itself for zero).
    pub fn deadline_after(&self, start: Timestamp, d: BusinessDuration) -> Result<Timestamp, CalendarError> {
        if d > MAX_BUSINESS_DURATION {
            return Err(CalendarError::DurationTooLong { requested: d, max: MAX_BUSINESS_DURATION });
        }
        let amount = i64::try_from(d.as_secs()).unwrap_or(i64::MAX).saturating_mul(MICROS);
        // The microsecond path reports `amount / 10^6` seconds, which is `d`.
        self.deadline_after_micros(start, amount)
    }

    /// [`Calendar::deadline_after`] for an amount in microseconds (at most
    /// [`MAX_BUSINESS_DURATION`] plus as much again).
    pub(crate) fn deadline_after_micros(&self, start: Timestamp, amount: i64) -> Result<Timestamp, CalendarError> {
        let a = Calendar::check_range(start)?;
        let too_long = || CalendarError::DurationTooLong {
            requested: BusinessDuration::from_secs(u64::try_from(amount / MICROS).unwrap_or(u64::MAX)),
            max: MAX_BUSINESS_DURATION,
        };
        let max = i64::try_from(MAX_BUSINESS_DURATION.as_secs()).unwrap_or(i64::MAX).saturating_mul(2 * MICROS);
        if amount > max {
            return Err(too_long());
        }
        let out_of_range = || CalendarError::DeadlineOutOfRange {
            start,
            duration: BusinessDuration::from_secs(u64::try_from(amount / MICROS).unwrap_or(0)),
        };
        let micros = self.engine.deadline_micros(a, amount.max(0)).ok_or_else(out_of_range)?;
        if micros > RANGE_END * MICROS {
            return Err(out_of_range());
        }
        Timestamp::from_unix_micros(micros).ok_or_else(out_of_range)
    }
}

/// A validated definition in the engine's terms (local seconds of day, day numbers).
struct Plan {
    tz: Tz,
    /// Monday first; merged, sorted `[start, end)` seconds of day.
    weekly: [Vec<(i64, i64)>; 7],
    /// Sorted one-off holiday day numbers.
    one_off: Vec<i32>,
    /// Yearly holidays as (month, day).
    yearly: Vec<(u32, u32)>,
    /// Extra working days: day number -> intervals.
    working: Vec<(i32, Vec<(i64, i64)>)>,
    /// Closed hours: day number -> intervals.
    closed: Vec<(i32, Vec<(i64, i64)>)>,
}

fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_CE_DAYS
}

fn date_of(day: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(day.checked_add(UNIX_EPOCH_CE_DAYS)?)
}

fn in_supported_years(date: NaiveDate) -> bool {
    (1900..=2099).contains(&date.year())
}

/// Checks one day's intervals; returns them sorted, merged where they touch, in seconds.
fn check_intervals(location: &str, ranges: &[TimeRange]) -> Result<Vec<(i64, i64)>, CalendarError> {
    if ranges.len() > MAX_INTERVALS_PER_DAY {
        return Err(CalendarError::TooManyIntervals { location: location.to_owned(), count: ranges.len() });
    }
    let mut sorted = ranges.to_vec();
    sorted.sort();
    for range in &sorted {
        if range.start >= range.end {
            return Err(CalendarError::EmptyInterval { location: location.to_owned(), range: *range });
        }
    }
    for pair in sorted.windows(2) {
        if let [first, second] = pair
            && second.start < first.end
        {
            return Err(CalendarError::OverlappingIntervals {
                location: location.to_owned(),
                first: *first,
                second: *second,
            });
        }
    }
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for range in sorted {
        let (s, e) = (i64::from(range.start.seconds()), i64::from(range.end.seconds()));
        match merged.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => merged.push((s, e)),
        }
    }
    Ok(merged)
}

/// `base` minus `cut`, both sorted and disjoint.
fn subtract(base: &[(i64, i64)], cut: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::with_capacity(base.len());
    for &(s, e) in base {
        let mut start = s;
        for &(cs, ce) in cut {
            if ce <= start || cs >= e {
                continue;
            }
            if cs > start {
                out.push((start, cs));
            }
            start = start.max(ce);
        }
        if start < e {
            out.push((start, e));
        }
    }
    out
}

impl Plan {
    fn validate(def: &CalendarDef) -> Result<Plan, CalendarError> {
        let tz: Tz =
            def.time_zone.parse().map_err(|_| CalendarError::UnknownTimeZone { name: def.time_zone.clone() })?;
        let mut weekly: [Vec<(i64, i64)>; 7] = Default::default();
        for (slot, (day, name)) in weekly.iter_mut().zip(WEEKDAYS) {
            *slot = check_intervals(&format!("week.{name}"), def.week.day(day))?;
        }
        if def.holidays.len() > MAX_ENTRIES {
            return Err(CalendarError::TooManyEntries { what: "holidays", count: def.holidays.len() });
        }
        if def.exceptions.len() > MAX_ENTRIES {
            return Err(CalendarError::TooManyEntries { what: "exceptions", count: def.exceptions.len() });
        }
        let mut one_off = Vec::new();
        let mut yearly = Vec::new();
        for holiday in &def.holidays {
            match holiday {
                Holiday::Once { date, .. } => {
                    if !in_supported_years(*date) {
                        return Err(CalendarError::DateOutOfRange { what: "holiday", date: *date });
                    }
                    one_off.push(day_number(*date));
                }
                Holiday::Yearly { month, day, .. } => {
                    // 2000 is a leap year, so 29 February is accepted.
                    if NaiveDate::from_ymd_opt(2000, *month, *day).is_none() {
                        return Err(CalendarError::InvalidYearlyHoliday { month: *month, day: *day });
                    }
                    yearly.push((*month, *day));
                }
            }
        }
        one_off.sort_unstable();
        one_off.dedup();
        yearly.sort_unstable();
        yearly.dedup();
        let mut working: Vec<(i32, Vec<(i64, i64)>)> = Vec::new();
        let mut closed: Vec<(i32, Vec<(i64, i64)>)> = Vec::new();
        for exception in &def.exceptions {
            let (what, date, intervals, list) = match exception {
                CalendarException::WorkingDay { date, intervals } => ("working_day", *date, intervals, &mut working),
                CalendarException::ClosedHours { date, intervals } => ("closed_hours", *date, intervals, &mut closed),
            };
            if !in_supported_years(date) {
                return Err(CalendarError::DateOutOfRange { what, date });
            }
            if intervals.is_empty() {
                return Err(CalendarError::EmptyException { what, date });
            }
            let checked = check_intervals(&format!("{what} {date}"), intervals)?;
            list.push((day_number(date), checked));
        }
        for (what, list) in [("working_day", &mut working), ("closed_hours", &mut closed)] {
            list.sort_by_key(|(day, _)| *day);
            for pair in list.windows(2) {
                if let [(a, _), (b, _)] = pair
                    && a == b
                    && let Some(date) = date_of(*a)
                {
                    return Err(CalendarError::DuplicateException { what, date });
                }
            }
        }
        if weekly.iter().all(Vec::is_empty) && working.is_empty() {
            return Err(CalendarError::NoWorkingTime);
        }
        Ok(Plan { tz, weekly, one_off, yearly, working, closed })
    }
}

/// The prepared calendar: everything the two operations need.
struct Engine {
    tz: Tz,
    zone: Arc<ZoneTable>,
    /// Monday first; local `[start, end)` seconds of day.
    weekly: [Vec<(i64, i64)>; 7],
    /// Business seconds of each weekday, Monday first, repeated for two weeks, as prefix sums.
    week_prefix: [i64; 15],
    week_total: i64,
    /// Days whose local intervals differ from the weekly schedule, sorted.
    irregular: Vec<(i32, Vec<(i64, i64)>)>,
    /// Days whose business time differs from their weekday's, sorted, with prefix sums of the differences.
    delta_days: Vec<i32>,
    delta_prefix: Vec<i64>,
    /// Every instant is business time (every weekday 00:00-24:00, no holidays,
    /// no exceptions): business time is elapsed time.
    always_open: bool,
}

fn weekday_index(day: i32) -> usize {
    // 1970-01-01 (day 0) was a Thursday; Monday is 0.
    usize::try_from((i64::from(day) + 3).rem_euclid(7)).unwrap_or(0)
}

fn to_day(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

impl Engine {
    fn build(plan: Plan) -> Engine {
        let zone = ZoneTable::cached(plan.tz, RANGE_START - TABLE_MARGIN, RANGE_END + TABLE_MARGIN);
        let day_total = plan.weekly.clone().map(|ivs| ivs.iter().map(|(s, e)| e - s).sum::<i64>());
        let mut week_prefix = [0i64; 15];
        let mut running = 0;
        for (i, slot) in week_prefix.iter_mut().enumerate().skip(1) {
            running += day_total.get((i - 1) % 7).copied().unwrap_or(0);
            *slot = running;
        }
        let week_total = day_total.iter().sum();
        let always_open = plan.weekly.iter().all(|day| day.as_slice() == [(0, DAY)])
            && plan.one_off.is_empty()
            && plan.yearly.is_empty()
            && plan.working.is_empty()
            && plan.closed.is_empty();

        // Days whose local plan differs from the weekly schedule.
        let mut days: Vec<i32> = plan.one_off.clone();
        if !plan.yearly.is_empty() {
            for year in 1899..=2100 {
                for &(month, day) in &plan.yearly {
                    if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
                        days.push(day_number(date));
                    }
                }
            }
        }
        days.extend(plan.working.iter().map(|(d, _)| *d));
        days.extend(plan.closed.iter().map(|(d, _)| *d));
        days.sort_unstable();
        days.dedup();
        let irregular = days
            .iter()
            .map(|&day| {
                let base: Vec<(i64, i64)> = match plan.working.binary_search_by_key(&day, |(d, _)| *d) {
                    Ok(i) => plan.working.get(i).map(|(_, v)| v.clone()).unwrap_or_default(),
                    Err(_) if plan.one_off.binary_search(&day).is_ok() || is_yearly(&plan.yearly, day) => Vec::new(),
                    Err(_) => plan.weekly.get(weekday_index(day)).cloned().unwrap_or_default(),
                };
                let intervals = match plan.closed.binary_search_by_key(&day, |(d, _)| *d) {
                    Ok(i) => plan.closed.get(i).map(|(_, cut)| subtract(&base, cut)).unwrap_or(base),
                    Err(_) => base,
                };
                (day, intervals)
            })
            .collect();

        let mut engine = Engine {
            tz: plan.tz,
            zone,
            weekly: plan.weekly,
            week_prefix,
            week_total,
            irregular,
            delta_days: Vec::new(),
            delta_prefix: vec![0],
            always_open,
        };

        // Days whose business time differs: irregular days and days next to a transition.
        let mut special: Vec<i32> = engine.irregular.iter().map(|(d, _)| *d).collect();
        for tr in engine.zone.transitions() {
            for offset in [tr.before, tr.after] {
                let local_day = to_day((tr.at + i64::from(offset)).div_euclid(DAY));
                special.extend((-2..=2).map(|k| local_day.saturating_add(k)));
            }
        }
        special.retain(|d| (FIRST_DAY..=LAST_DAY).contains(d));
        special.sort_unstable();
        special.dedup();
        let mut delta_days = Vec::new();
        let mut delta_prefix = vec![0i64];
        let mut sum = 0i64;
        for day in special {
            let start = engine.window_start(day);
            let end = engine.window_start(day.saturating_add(1));
            let exact = engine.measure(day, start * MICROS, end * MICROS) / MICROS;
            let delta = exact - day_total.get(weekday_index(day)).copied().unwrap_or(0);
            if delta != 0 {
                sum += delta;
                delta_days.push(day);
                delta_prefix.push(sum);
            }
        }
        engine.delta_days = delta_days;
        engine.delta_prefix = delta_prefix;
        engine
    }

    fn local_intervals(&self, day: i32) -> &[(i64, i64)] {
        match self.irregular.binary_search_by_key(&day, |(d, _)| *d) {
            Ok(i) => self.irregular.get(i).map_or(&[], |(_, v)| v.as_slice()),
            Err(_) => self.weekly.get(weekday_index(day)).map_or(&[], Vec::as_slice),
        }
    }

    /// First UTC second of local day `day` (its first instant at or after local midnight).
    fn window_start(&self, day: i32) -> i64 {
        self.zone.earliest(i64::from(day) * DAY)
    }

    /// The local day whose window holds UTC second `t`.
    fn day_of(&self, t: i64) -> i32 {
        let offset = i64::from(self.zone.offset_at(t));
        let mut day = to_day((t + offset).div_euclid(DAY));
        if self.zone.near(t, 3 * DAY, 3 * DAY) {
            for _ in 0..3 {
                if self.window_start(day.saturating_add(1)) <= t {
                    day = day.saturating_add(1);
                }
            }
            for _ in 0..3 {
                if self.window_start(day) > t {
                    day = day.saturating_sub(1);
                }
            }
        }
        day
    }

    /// Calls `f` with the business intervals (UTC seconds, sorted, disjoint)
    /// that can meet the window of `day`, until `f` returns false.
    fn visit(&self, day: i32, mut f: impl FnMut(i64, i64) -> bool) {
        let local = i64::from(day) * DAY;
        if let Some(offset) = self.zone.stable_offset(local, 3 * DAY, 4 * DAY) {
            let shift = local - i64::from(offset);
            for &(s, e) in self.local_intervals(day) {
                if !f(shift + s, shift + e) {
                    return;
                }
            }
            return;
        }
        // Near a transition: resolve the previous day too (its ends may reach
        // into this day's window) and take the union.
        let mut resolved: Vec<(i64, i64)> = Vec::new();
        for d in [day.saturating_sub(1), day] {
            let base = i64::from(d) * DAY;
            for &(s, e) in self.local_intervals(d) {
                let start = self.zone.earliest(base + s);
                let end = self.zone.latest(base + e);
                if start < end {
                    resolved.push((start, end));
                }
            }
        }
        resolved.sort_unstable();
        let mut merged: Option<(i64, i64)> = None;
        for (s, e) in resolved {
            merged = match merged {
                Some((ms, me)) if s <= me => Some((ms, me.max(e))),
                Some((ms, me)) => {
                    if !f(ms, me) {
                        return;
                    }
                    Some((s, e))
                }
                None => Some((s, e)),
            };
        }
        if let Some((ms, me)) = merged {
            f(ms, me);
        }
    }

    /// Business microseconds of `day`'s intervals inside `[a, b)` (microseconds).
    fn measure(&self, day: i32, a: i64, b: i64) -> i64 {
        let mut total = 0;
        self.visit(day, |s, e| {
            let (s, e) = (s * MICROS, e * MICROS);
            if s >= b {
                return false;
            }
            let (lo, hi) = (s.max(a), e.min(b));
            if hi > lo {
                total += hi - lo;
            }
            true
        });
        total
    }

    /// The instant in `[a, b)` at which `amount` microseconds of `day`'s business time have accrued since `a`.
    fn find(&self, day: i32, a: i64, b: i64, amount: i64) -> Option<i64> {
        let mut acc = 0;
        let mut found = None;
        self.visit(day, |s, e| {
            let (s, e) = (s * MICROS, e * MICROS);
            if s >= b {
                return false;
            }
            let (lo, hi) = (s.max(a), e.min(b));
            if hi > lo {
                if acc + (hi - lo) >= amount {
                    found = Some(lo + (amount - acc));
                    return false;
                }
                acc += hi - lo;
            }
            true
        });
        found
    }

    /// Business seconds of the whole days `[from, to)` assuming the weekly schedule.
    fn ordinary(&self, from: i32, to: i32) -> i64 {
        let n = i64::from(to) - i64::from(from);
        let w = weekday_index(from);
        let rest = usize::try_from(n.rem_euclid(7)).unwrap_or(0);
        let partial =
            self.week_prefix.get(w + rest).copied().unwrap_or(0) - self.week_prefix.get(w).copied().unwrap_or(0);
        n.div_euclid(7) * self.week_total + partial
    }

    fn delta_before(&self, day: i32) -> i64 {
        let i = self.delta_days.partition_point(|d| *d < day);
        self.delta_prefix.get(i).copied().unwrap_or(0)
    }

    /// Business seconds of the whole days `[from, to)`.
    fn whole(&self, from: i32, to: i32) -> i64 {
        self.ordinary(from, to) + self.delta_before(to) - self.delta_before(from)
    }

    fn business_micros(&self, a: i64, b: i64) -> i64 {
        if self.always_open {
            return b - a;
        }
        let first = self.day_of(a.div_euclid(MICROS));
        let last = self.day_of(b.div_euclid(MICROS));
        if first >= last {
            return self.measure(first, a, b);
        }
        let head = self.measure(first, a, self.window_start(first + 1) * MICROS);
        let middle = self.whole(first + 1, last) * MICROS;
        let tail = self.measure(last, self.window_start(last) * MICROS, b);
        head + middle + tail
    }

    /// The instant `amount` business microseconds after `a`, if before the end of the prepared days.
    fn deadline_micros(&self, a: i64, amount: i64) -> Option<i64> {
        if amount == 0 {
            return Some(a);
        }
        if self.always_open {
            let t = a.checked_add(amount)?;
            return (self.day_of(t.div_euclid(MICROS)) < LAST_DAY - 2).then_some(t);
        }
        let first = self.day_of(a.div_euclid(MICROS));
        let first_end = self.window_start(first + 1) * MICROS;
        let head = self.measure(first, a, first_end);
        if head >= amount {
            return self.find(first, a, first_end, amount);
        }
        let rest = amount - head;
        let from = first + 1;
        let last_day = LAST_DAY - 2;
        if from >= last_day {
            return None;
        }
        let enough = |x: i32| self.whole(from, x) * MICROS >= rest;
        if !enough(last_day) {
            return None;
        }
        // Gallop from `from` using the ordinary week as an estimate, then bisect.
        let mut lo = from;
        let mut grow: i64 = 7;
        let mut hi = loop {
            let deficit = rest - self.whole(from, lo) * MICROS;
            let estimate = if self.week_total > 0 { deficit / MICROS / self.week_total * 7 } else { 0 };
            let step = estimate.max(grow).min(i64::from(last_day) - i64::from(lo));
            let candidate = to_day(i64::from(lo) + step.max(1));
            if enough(candidate) {
                break candidate;
            }
            lo = candidate;
            grow = grow.saturating_mul(2);
        };
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if enough(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let day = lo;
        let remaining = rest - self.whole(from, day) * MICROS;
        let start = self.window_start(day) * MICROS;
        let end = self.window_start(day + 1) * MICROS;
        self.find(day, start, end, remaining)
    }
}

fn is_yearly(yearly: &[(u32, u32)], day: i32) -> bool {
    date_of(day).is_some_and(|date| yearly.binary_search(&(date.month(), date.day())).is_ok())
}
