//! Instants and business durations.
//!
//! [`Timestamp`] is a UTC instant truncated to microseconds, so it round-trips
//! identically through SQLite (RFC 3339 text) and PostgreSQL (`TIMESTAMPTZ`,
//! microsecond precision). [`BusinessDuration`] is an amount of *business*
//! time (time inside a calendar's working hours) in whole seconds. The two are
//! distinct types on purpose: a deadline is an instant, elapsed SLA time is a
//! duration, and mixing them up is the most common SLA bug in existing tools.
//!
//! # Range
//!
//! Every `Timestamp` lies in the years 0000 to 9999 UTC, what RFC 3339 text
//! (JSON, SQLite) can hold; the parsers accept exactly that, so whatever the
//! library writes it reads back. Instants that come from *outside* (alert times,
//! histories, commands) must lie in the narrower supported range
//! [`Timestamp::MIN`] to [`Timestamp::MAX`] (1000-01-01 to 9000-01-01 UTC),
//! checked with [`Timestamp::check_supported`] where they are ingested. The
//! thousand years left on each side exceed every span the library adds to or
//! subtracts from an instant (alert windows, flap and reopen intervals of at
//! most 366 days, business deadlines of at most 5 years, which calendars only
//! compute up to 2100 anyway, store leases, an hour in the examples), so no
//! instant computed from a supported one falls outside what can be stored.
//! `docs/limits.md` lists this with the other limits.

use std::fmt;

use chrono::{DateTime, Datelike, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with microsecond precision.
///
/// Every constructor truncates to microseconds. The domain never reads the
/// system clock: callers pass `now` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a chrono UTC instant, truncating it to microseconds. A leap
    /// second (chrono's nanoseconds of 1,000,000,000 and more, which a
    /// parsed `:60` gives) becomes the ordinary second after it, which is
    /// what its RFC 3339 text reads back as: every `Timestamp` survives JSON
    /// and both databases unchanged.
    pub fn from_utc(at: DateTime<Utc>) -> Self {
        Timestamp(without_leap_second(at).trunc_subsecs(6))
    }

    /// `at` as [`Timestamp::from_utc`] makes it, if its UTC year is 0000 to
    /// 9999 (what RFC 3339 text, and so JSON and SQLite, can hold); `None`
    /// otherwise. Instants read from outside input are built with this (or
    /// the parsers).
    pub fn try_from_utc(at: DateTime<Utc>) -> Option<Self> {
        let at = without_leap_second(at);
        in_range(&at).then(|| Timestamp::from_utc(at))
    }

    /// The instant `secs` seconds after the Unix epoch, if its UTC year is 0000 to 9999.
    pub fn from_unix_secs(secs: i64) -> Option<Self> {
        DateTime::from_timestamp(secs, 0).filter(in_range).map(Timestamp)
    }

    /// The instant `micros` microseconds after the Unix epoch, if its UTC year is 0000 to 9999.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).filter(in_range).map(Timestamp)
    }

    /// The earliest supported input instant, 1000-01-01T00:00:00Z (see the
    /// [module documentation](self) for why the range is narrower than RFC 3339's).
    pub const MIN: Timestamp = Timestamp(match DateTime::from_timestamp(-30_610_224_000, 0) {
        Some(at) => at,
        None => DateTime::<Utc>::MIN_UTC,
    });

    /// The latest supported input instant, 9000-01-01T00:00:00Z.
    pub const MAX: Timestamp = Timestamp(match DateTime::from_timestamp(221_845_392_000, 0) {
        Some(at) => at,
        None => DateTime::<Utc>::MAX_UTC,
    });

    /// Whether the instant lies in the supported range [`Timestamp::MIN`] ..= [`Timestamp::MAX`].
    pub fn is_supported(&self) -> bool {
        (Timestamp::MIN..=Timestamp::MAX).contains(self)
    }

    /// Checks that an instant from outside input lies in the supported range.
    pub fn check_supported(self) -> Result<Self, TimestampError> {
        if self.is_supported() { Ok(self) } else { Err(TimestampError::Unsupported { at: self }) }
    }

    /// Parses an RFC 3339 timestamp with an offset (`2026-03-08T02:30:00-05:00`).
    /// An offset that moves the instant out of the years 0000 to 9999 in UTC
    /// (`0000-01-01T00:00:00+01:00`) is refused: it could not be written back.
    /// A date and time without an offset is refused as [`TimestampError::NoOffset`].
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimestampError> {
        let at = match DateTime::parse_from_rfc3339(text) {
            Ok(at) => at.with_timezone(&Utc),
            Err(_) if lacks_offset(text) => return Err(TimestampError::NoOffset { text: text.to_owned() }),
            Err(error) => return Err(error.into()),
        };
        Timestamp::try_from_utc(at).ok_or(TimestampError::OutOfRange)
    }

    /// The wrapped chrono instant.
    pub fn as_utc(&self) -> DateTime<Utc> {
        self.0
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Whole seconds since the Unix epoch (floor).
    pub fn unix_secs(&self) -> i64 {
        self.0.timestamp()
    }

    /// This instant plus `seconds` of wall-clock (not business) time.
    pub fn plus_seconds(&self, seconds: i64) -> Option<Self> {
        TimeDelta::try_seconds(seconds).and_then(|d| self.0.checked_add_signed(d)).filter(in_range).map(Timestamp)
    }

    /// Wall-clock seconds from `earlier` to `self` (negative when `earlier` is later),
    /// truncated towards zero.
    pub fn seconds_since(&self, earlier: Timestamp) -> i64 {
        (self.0 - earlier.0).num_seconds()
    }

    /// RFC 3339 text in UTC with microseconds, as stored by the SQLite backend.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }
}

/// `at`, or for a leap second the ordinary second after it (the instant its
/// text `...:60` denotes). A leap second whose next second chrono cannot
/// hold (at the end of its range) is kept.
fn without_leap_second(at: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = at.timestamp_subsec_nanos();
    if nanos < 1_000_000_000 {
        return at;
    }
    at.timestamp().checked_add(1).and_then(|secs| DateTime::from_timestamp(secs, nanos - 1_000_000_000)).unwrap_or(at)
}

/// Whether RFC 3339 can write `at` in UTC (years 0000 to 9999).
fn in_range(at: &DateTime<Utc>) -> bool {
    (0..=9999).contains(&at.year())
}

/// Whether `text` is a date and time that would be RFC 3339 with an offset added.
fn lacks_offset(text: &str) -> bool {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dt%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .any(|format| chrono::NaiveDateTime::parse_from_str(text, format).is_ok())
}

/// Why a text is not a [`Timestamp`], or an instant is not supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// A date and time without a UTC offset: which zone it means is unknown.
    #[error("`{text}` has no UTC offset: write it as RFC 3339 with Z or ±hh:mm (`2026-03-01T09:00:00Z`)")]
    NoOffset {
        /// The text given.
        text: String,
    },
    /// Outside the supported range [`Timestamp::MIN`] ..= [`Timestamp::MAX`].
    #[error("instant {at} is outside the supported range {} to {}", Timestamp::MIN, Timestamp::MAX)]
    Unsupported {
        /// The instant.
        at: Timestamp,
    },
    /// Not RFC 3339 with an offset.
    #[error("{0}")]
    Syntax(#[from] chrono::ParseError),
    /// RFC 3339, but outside the years 0000 to 9999 once converted to UTC.
    #[error("the instant is outside the years 0000 to 9999 in UTC")]
    OutOfRange,
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Timestamp::from_utc(at)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// An amount of business time in whole seconds (never negative).
///
/// Business time only accrues inside a calendar's working intervals; one
/// business day of a 5x8 calendar is eight hours of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BusinessDuration(u64);

impl BusinessDuration {
    /// No business time.
    pub const ZERO: BusinessDuration = BusinessDuration(0);

    /// `secs` seconds of business time.
    pub const fn from_secs(secs: u64) -> Self {
        BusinessDuration(secs)
    }

    /// `minutes` minutes of business time.
    pub const fn from_minutes(minutes: u64) -> Self {
        BusinessDuration(minutes * 60)
    }

    /// `hours` hours of business time.
    pub const fn from_hours(hours: u64) -> Self {
        BusinessDuration(hours * 3600)
    }

    /// Whole seconds.
    pub const fn as_secs(&self) -> u64 {
        self.0
    }

    /// The sum, saturating at `u64::MAX` seconds.
    pub fn saturating_add(self, other: BusinessDuration) -> Self {
        BusinessDuration(self.0.saturating_add(other.0))
    }

    /// The difference, or zero when `other` is larger.
    pub fn saturating_sub(self, other: BusinessDuration) -> Self {
        BusinessDuration(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for BusinessDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_truncate_to_microseconds_and_round_trip_as_text() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        let ts = Timestamp::from_utc(at);
        assert_eq!(ts.unix_micros() % 1_000_000, 123_456);
        let text = serde_json::to_string(&ts).unwrap();
        assert_eq!(text, "\"2023-11-14T22:13:20.123456Z\"");
        let back: Timestamp = serde_json::from_str(&text).unwrap();
        assert_eq!(back, ts);
    }

    /// A leap second is the ordinary second after it, whatever second it
    /// sits on: chrono keeps a parsed `:60` as nanoseconds past 10^9, and a
    /// zone offset with seconds (Amsterdam's +0:19:32 before 1937) moves it
    /// off `:59`, where its text would read back as another instant (found
    /// by the `bpic2014_incidents` fuzz target).
    #[test]
    fn leap_seconds_become_the_next_second_and_survive_json() {
        use chrono::{FixedOffset, NaiveDate, TimeZone};
        let on = |secs: i64, nanos: u32| DateTime::from_timestamp(secs, nanos).unwrap();
        // Local 09:00:60 at +0:17:30 (Brussels before 1892): 08:43:29 + leap.
        let local = NaiveDate::from_ymd_opt(1850, 10, 1).unwrap().and_hms_nano_opt(9, 0, 59, 1_000_000_000).unwrap();
        let odd = FixedOffset::east_opt(17 * 60 + 30).unwrap().from_local_datetime(&local).unwrap().to_utc();
        assert_eq!((odd.timestamp(), odd.timestamp_subsec_nanos()), (-3_763_206_991, 1_000_000_000));
        for (leap, plain) in [
            (odd, on(-3_763_206_990, 0)),
            // 23:59:59 + leap and a half: 00:00:00.5 the next day.
            (on(1_483_228_799, 1_500_000_000), on(1_483_228_800, 500_000_000)),
        ] {
            let ts = Timestamp::from_utc(leap);
            assert_eq!(ts, Timestamp::from_utc(plain));
            assert_eq!(Timestamp::try_from_utc(leap), Some(ts));
            let back: Timestamp = serde_json::from_str(&serde_json::to_string(&ts).unwrap()).unwrap();
            assert_eq!(back, ts);
            assert_eq!(Timestamp::parse_rfc3339(&ts.to_rfc3339()).unwrap(), ts);
        }
        // A leap second at the very end of the range is the year 10000: refused.
        assert_eq!(Timestamp::try_from_utc(on(253_402_300_799, 1_000_000_000)), None);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let ts = Timestamp::parse_rfc3339("2026-03-08T02:30:00-05:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-03-08T07:30:00.000000Z");
        assert!(Timestamp::parse_rfc3339("2026-03-08 02:30").is_err());
    }

    /// Fuzzing regression (`fuzz/corpus/*/regression-timestamp-*`): an instant
    /// outside the years 0000 to 9999 in UTC was accepted and written as
    /// `-0001-...` or `+10000-...`, which no parser reads back.
    #[test]
    fn instants_rfc3339_cannot_write_are_refused() {
        for text in ["0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"] {
            assert_eq!(Timestamp::parse_rfc3339(text), Err(TimestampError::OutOfRange), "{text}");
            assert!(serde_json::from_str::<Timestamp>(&format!("\"{text}\"")).is_err(), "{text}");
        }
        for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
            let at = Timestamp::parse_rfc3339(text).unwrap();
            let back: Timestamp = serde_json::from_str(&serde_json::to_string(&at).unwrap()).unwrap();
            assert_eq!(back, at);
            assert_eq!(at.plus_seconds(if text.starts_with('0') { -1 } else { 1 }), None);
        }
        let year_minus_13 = DateTime::from_timestamp(-62_577_000_000, 0).unwrap();
        assert_eq!(Timestamp::try_from_utc(year_minus_13), None);
        assert_eq!(Timestamp::from_unix_secs(-62_577_000_000), None);
        assert_eq!(Timestamp::from_unix_micros(i64::MAX), None);
    }

    #[test]
    fn a_date_and_time_without_offset_says_so() {
        for text in ["2026-03-01T09:00:00", "2026-03-01 09:00:00.5", "2026-03-01T09:00"] {
            assert_eq!(Timestamp::parse_rfc3339(text), Err(TimestampError::NoOffset { text: text.to_owned() }));
        }
        let err = serde_json::from_str::<Timestamp>("\"2026-03-01T09:00:00\"").map(|_| ()).unwrap_err().to_string();
        assert!(
            err.starts_with("`2026-03-01T09:00:00` has no UTC offset: write it as RFC 3339 with Z or ±hh:mm"),
            "{err}"
        );
        // Other bad texts keep chrono's description; a good one parses.
        assert!(matches!(Timestamp::parse_rfc3339("yesterday"), Err(TimestampError::Syntax(_))));
        assert!(matches!(Timestamp::parse_rfc3339("2026-02-30T09:00:00"), Err(TimestampError::Syntax(_))));
        assert!(Timestamp::parse_rfc3339("2026-03-01T09:00:00+01:00").is_ok());
    }

    #[test]
    fn the_supported_range_is_inside_what_can_be_written() {
        assert_eq!(Timestamp::MIN.to_rfc3339(), "1000-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::MAX.to_rfc3339(), "9000-01-01T00:00:00.000000Z");
        assert_eq!(Timestamp::parse_rfc3339("1000-01-01T00:00:00Z"), Ok(Timestamp::MIN));
        assert_eq!(Timestamp::parse_rfc3339("9000-01-01T00:00:00Z"), Ok(Timestamp::MAX));
        assert!(Timestamp::MIN.is_supported() && Timestamp::MAX.is_supported());
        let late = Timestamp::parse_rfc3339("9999-12-31T23:30:00Z").unwrap();
        assert_eq!(late.check_supported(), Err(TimestampError::Unsupported { at: late }));
        let message = TimestampError::Unsupported { at: late }.to_string();
        assert_eq!(
            message,
            "instant 9999-12-31T23:30:00.000000Z is outside the supported range \
             1000-01-01T00:00:00.000000Z to 9000-01-01T00:00:00.000000Z"
        );
        assert!(Timestamp::MAX.plus_seconds(1).is_some_and(|t| !t.is_supported()));
        assert!(Timestamp::MIN.plus_seconds(-1).is_some_and(|t| !t.is_supported()));
        // A thousand years of margin: the longest spans the library adds stay writable.
        let ten_years = 10 * 366 * 86_400;
        assert!(Timestamp::MAX.plus_seconds(ten_years).is_some());
        assert!(Timestamp::MIN.plus_seconds(-ten_years).is_some());
    }

    #[test]
    fn business_durations_display_and_saturate() {
        assert_eq!(BusinessDuration::from_minutes(90).to_string(), "1h30m00s");
        assert_eq!(
            BusinessDuration::from_secs(5).saturating_sub(BusinessDuration::from_secs(9)),
            BusinessDuration::ZERO
        );
    }
}
