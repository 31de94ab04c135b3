//! Instants and business durations.
//!
//! [`Timestamp`] is a UTC instant truncated to microseconds, so it round-trips
//! identically through SQLite (RFC 3339 text) and PostgreSQL (`TIMESTAMPTZ`,
//! microsecond precision). [`BusinessDuration`] is an amount of *business*
//! time (time inside a calendar's working hours) in whole seconds. The two are
//! distinct types on purpose: a deadline is an instant, elapsed SLA time is a
//! duration, and mixing them up is the most common SLA bug in existing tools.

use std::fmt;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with microsecond precision.
///
/// Every constructor truncates to microseconds. The domain never reads the
/// system clock: callers pass `now` in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Wraps a chrono UTC instant, truncating it to microseconds.
    pub fn from_utc(at: DateTime<Utc>) -> Self {
        Timestamp(at.trunc_subsecs(6))
    }

    /// The instant `secs` seconds after the Unix epoch, if representable.
    pub fn from_unix_secs(secs: i64) -> Option<Self> {
        DateTime::from_timestamp(secs, 0).map(Timestamp)
    }

    /// The instant `micros` microseconds after the Unix epoch, if representable.
    pub fn from_unix_micros(micros: i64) -> Option<Self> {
        DateTime::from_timestamp_micros(micros).map(Timestamp)
    }

    /// Parses an RFC 3339 timestamp with an offset (`2026-03-08T02:30:00-05:00`).
    pub fn parse_rfc3339(text: &str) -> Result<Self, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text).map(|t| Timestamp::from_utc(t.with_timezone(&Utc)))
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
        TimeDelta::try_seconds(seconds).and_then(|d| self.0.checked_add_signed(d)).map(Timestamp)
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

    #[test]
    fn offsets_are_normalised_to_utc() {
        let ts = Timestamp::parse_rfc3339("2026-03-08T02:30:00-05:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-03-08T07:30:00.000000Z");
        assert!(Timestamp::parse_rfc3339("2026-03-08 02:30").is_err());
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
