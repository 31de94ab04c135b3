//! The serde shape of a calendar definition (JSON configuration).

use std::fmt;

use chrono::{NaiveDate, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A local wall-clock time of day with minute precision, `00:00` to `24:00`
/// inclusive (`24:00` is the end of the day and only makes sense as an interval end).
///
/// Serialized as `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub(super) u32);

impl TimeOfDay {
    /// `00:00`.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    /// `24:00`, the end of the day.
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(24 * 60);

    /// `hour:minute`; `None` unless `hour < 24 && minute < 60` or it is exactly `24:00`.
    pub const fn hm(hour: u32, minute: u32) -> Option<Self> {
        if (hour < 24 && minute < 60) || (hour == 24 && minute == 0) {
            Some(TimeOfDay(hour * 60 + minute))
        } else {
            None
        }
    }

    /// Parses `"HH:MM"` (two digits each); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 5 || bytes.get(2) != Some(&b':') {
            return None;
        }
        let digits = |a: usize, b: usize| -> Option<u32> {
            let hi = bytes.get(a).filter(|c| c.is_ascii_digit())?;
            let lo = bytes.get(b).filter(|c| c.is_ascii_digit())?;
            Some(u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
        };
        TimeOfDay::hm(digits(0, 1)?, digits(3, 4)?)
    }

    /// Minutes since local midnight (0 to 1440).
    pub const fn minutes(self) -> u32 {
        self.0
    }

    /// Seconds since local midnight (0 to 86 400).
    pub const fn seconds(self) -> u32 {
        self.0 * 60
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        TimeOfDay::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid time of day `{text}`, expected HH:MM between 00:00 and 24:00"))
        })
    }
}

/// A half-open local working interval `[start, end)` within one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    /// First working minute (local wall-clock time).
    pub start: TimeOfDay,
    /// End of the interval, exclusive (`24:00` for the end of the day).
    pub end: TimeOfDay,
}

impl TimeRange {
    /// `[start, end)`; validity (start before end) is checked by [`super::Calendar::new`].
    pub const fn new(start: TimeOfDay, end: TimeOfDay) -> Self {
        TimeRange { start, end }
    }

    /// `[start_hour:00, end_hour:00)`; `None` if an hour is above 24.
    pub const fn hours(start_hour: u32, end_hour: u32) -> Option<Self> {
        match (TimeOfDay::hm(start_hour, 0), TimeOfDay::hm(end_hour, 0)) {
            (Some(start), Some(end)) => Some(TimeRange { start, end }),
            _ => None,
        }
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Working intervals for each weekday, in local wall-clock time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeekSchedule {
    /// Monday.
    pub mon: Vec<TimeRange>,
    /// Tuesday.
    pub tue: Vec<TimeRange>,
    /// Wednesday.
    pub wed: Vec<TimeRange>,
    /// Thursday.
    pub thu: Vec<TimeRange>,
    /// Friday.
    pub fri: Vec<TimeRange>,
    /// Saturday.
    pub sat: Vec<TimeRange>,
    /// Sunday.
    pub sun: Vec<TimeRange>,
}

impl WeekSchedule {
    /// The same intervals on each of `days`, nothing on the others.
    pub fn uniform(days: &[Weekday], intervals: &[TimeRange]) -> Self {
        let mut week = WeekSchedule::default();
        for day in days {
            *week.day_mut(*day) = intervals.to_vec();
        }
        week
    }

    /// The intervals of one weekday.
    pub fn day(&self, day: Weekday) -> &[TimeRange] {
        match day {
            Weekday::Mon => &self.mon,
            Weekday::Tue => &self.tue,
            Weekday::Wed => &self.wed,
            Weekday::Thu => &self.thu,
            Weekday::Fri => &self.fri,
            Weekday::Sat => &self.sat,
            Weekday::Sun => &self.sun,
        }
    }

    /// The intervals of one weekday, mutable.
    pub fn day_mut(&mut self, day: Weekday) -> &mut Vec<TimeRange> {
        match day {
            Weekday::Mon => &mut self.mon,
            Weekday::Tue => &mut self.tue,
            Weekday::Wed => &mut self.wed,
            Weekday::Thu => &mut self.thu,
            Weekday::Fri => &mut self.fri,
            Weekday::Sat => &mut self.sat,
            Weekday::Sun => &mut self.sun,
        }
    }
}

/// A day without working time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Holiday {
    /// One date (`{"kind": "once", "date": "2026-05-01"}`).
    Once {
        /// The local date.
        date: NaiveDate,
        /// A label for people; not interpreted.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        name: String,
    },
    /// The same month and day every year (`{"kind": "yearly", "month": 12, "day": 25}`);
    /// 29 February only falls in leap years.
    Yearly {
        /// Month, 1 to 12.
        month: u32,
        /// Day of the month, 1 to 31 (valid for the month in some year).
        day: u32,
        /// A label for people; not interpreted.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        name: String,
    },
}

/// A one-date deviation from the weekly schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CalendarException {
    /// Work on `date` exactly during `intervals`, instead of the weekly schedule
    /// and even if the date is a holiday (an extra working day).
    WorkingDay {
        /// The local date.
        date: NaiveDate,
        /// The working intervals of that date (at least one).
        intervals: Vec<TimeRange>,
    },
    /// No work during `intervals` on `date` (closed hours); the rest of the
    /// day's schedule stays.
    ClosedHours {
        /// The local date.
        date: NaiveDate,
        /// The closed intervals (at least one).
        intervals: Vec<TimeRange>,
    },
}

impl CalendarException {
    /// The date the exception applies to.
    pub fn date(&self) -> NaiveDate {
        match self {
            CalendarException::WorkingDay { date, .. } | CalendarException::ClosedHours { date, .. } => *date,
        }
    }
}

/// A calendar as configured: validated into a [`super::Calendar`] by
/// [`super::Calendar::new`] (or when a `Calendar` is deserialized).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    /// Version of this definition; clocks record which version they used.
    pub version: u32,
    /// IANA time zone name (`Europe/Berlin`); working intervals are local times there.
    pub time_zone: String,
    /// Weekly working intervals.
    #[serde(default)]
    pub week: WeekSchedule,
    /// Days off.
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    /// Extra working days and closed hours.
    #[serde(default)]
    pub exceptions: Vec<CalendarException>,
}
