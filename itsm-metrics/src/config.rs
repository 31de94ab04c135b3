//! Scorecard configuration: the period, the zone for monthly buckets, the
//! repeat-incident rule and output options.

use chrono_tz::Tz;
use itsm_core::Timestamp;
use itsm_core::service::ServiceModel;
use serde::{Deserialize, Serialize};

use crate::error::MetricsError;
use crate::period::Period;

/// Thirty days in seconds: the default repeat-incident window.
pub const DEFAULT_REPEAT_WINDOW_SECONDS: u64 = 30 * 24 * 3600;

/// What forms the repeat-incident key (always within one service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatKey {
    /// The service alone.
    Service,
    /// The service and the category (the interchange definition). An empty
    /// category is a value like any other: two uncategorised incidents of one
    /// service share a key.
    #[default]
    ServiceCategory,
    /// The service, the category and the linked problem.
    ServiceCategoryProblem,
}

/// The repeat-incident rule: incident i (opened in W) is a repeat when another
/// incident j with the same key was resolved at or before i was opened and
/// `opened_at(i) - resolved_at(j) <= window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepeatConfig {
    /// The window in seconds (default 30 days, inclusive).
    pub window_seconds: u64,
    /// The key.
    pub key: RepeatKey,
}

impl Default for RepeatConfig {
    fn default() -> Self {
        RepeatConfig { window_seconds: DEFAULT_REPEAT_WINDOW_SECONDS, key: RepeatKey::ServiceCategory }
    }
}

/// Output and precision options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScorecardOptions {
    /// Keep the record ids behind every numerator and denominator (and the
    /// repeat pairs). Memory then grows with the records.
    #[serde(default)]
    pub with_ids: bool,
    /// Durations kept exactly per sample (a service's restore times of one
    /// failure class, its acknowledge times, and the totals): up to this many,
    /// medians and p90 are exact; beyond, they are read from log-linear bins,
    /// within 1/256 of the exact value ([`crate::sketch::BINNED_RELATIVE_ERROR`];
    /// each statistic states which in `percentile_error`). Count, sum, mean and
    /// max stay exact. Default 2,048; `u64::MAX` keeps every value (memory then
    /// grows with the records).
    #[serde(default = "default_exact_limit")]
    pub exact_percentiles_up_to: u64,
    /// Whether the input records outages at all (an outages file, or incidents
    /// that say whether they were outages). Default true. When false, no
    /// outage means "not known", not "no downtime": availability and annual
    /// downtime are "no data" instead of 100% and 0 h.
    #[serde(default = "default_true")]
    pub outages_recorded: bool,
}

fn default_true() -> bool {
    true
}

fn default_exact_limit() -> u64 {
    crate::sketch::DEFAULT_EXACT_LIMIT
}

impl Default for ScorecardOptions {
    fn default() -> Self {
        ScorecardOptions {
            with_ids: false,
            exact_percentiles_up_to: crate::sketch::DEFAULT_EXACT_LIMIT,
            outages_recorded: true,
        }
    }
}

/// Everything a scorecard is computed with, except the thresholds (given at `finish`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScorecardConfig {
    /// The period W = [from, to).
    pub period: Period,
    /// The IANA zone monthly buckets are cut in (default UTC).
    pub zone: Tz,
    /// The repeat-incident rule.
    pub repeat: RepeatConfig,
    /// Output options.
    pub options: ScorecardOptions,
    /// Include months the period cuts (partial months) in trend tests (default false:
    /// a partial month's count is not comparable with a full month's).
    pub trend_partial_months: bool,
    /// The business services and the items they rest on: with a model, the
    /// outages of its items (incidents with `outage`, outage records) are
    /// rolled up to each business service, planned maintenance kept out of
    /// the agreed service time, and Table 15's availability and annual
    /// downtime are rated over the business services
    /// ([`Scorecard::business_services`](crate::Scorecard)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_model: Option<ServiceModel>,
    /// How soon after its request a change's authorization is in time, in
    /// seconds (default 3,600: an emergency CAB convened within the hour;
    /// Table 9 level 2): see `ChangeTypeMetrics::authorized_in_time`.
    #[serde(default = "default_authorization_within")]
    pub authorization_within_seconds: u64,
    /// How late an alert may arrive and still be in time, in seconds: the
    /// delay from `fired_at` (the monitoring system's instant) to
    /// `received_at` (default 180: Table 3 level 2, "alert delay within 3
    /// minutes"); see `Timeliness::alert_delay_within`.
    #[serde(default = "default_alert_delay_within")]
    pub alert_delay_within_seconds: u64,
    /// Which notifications reach people, and how soon they are in time
    /// (Table 16, "users notified in time"); see `Timeliness::notified_in_time`.
    #[serde(default)]
    pub notifications: NotificationPolicy,
}

/// The default of [`ScorecardConfig::alert_delay_within_seconds`]: Table 3's three minutes.
pub const DEFAULT_ALERT_DELAY_WITHIN_SECONDS: u64 = 180;

fn default_alert_delay_within() -> u64 {
    DEFAULT_ALERT_DELAY_WITHIN_SECONDS
}

/// The notification-timeliness policy (Table 16): a notification to people
/// is in time when a sink acknowledged it within `within_seconds` of the
/// event that called for it. A field its JSON leaves out takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationPolicy {
    /// The bound, in seconds (default 300: five minutes; the model names no
    /// figure, so this is the library's reading, configurable).
    pub within_seconds: u64,
    /// Topics addressed to machines, not people, and so not measured
    /// (default `alert.clear`: the message that clears a monitoring alert).
    pub machine_topics: Vec<String>,
}

/// The default of [`NotificationPolicy::within_seconds`].
pub const DEFAULT_NOTIFICATION_WITHIN_SECONDS: u64 = 300;

impl Default for NotificationPolicy {
    fn default() -> Self {
        NotificationPolicy {
            within_seconds: DEFAULT_NOTIFICATION_WITHIN_SECONDS,
            machine_topics: vec!["alert.clear".to_owned()],
        }
    }
}

impl NotificationPolicy {
    /// Whether notifications of `topic` reach people (are measured).
    pub fn measures(&self, topic: &str) -> bool {
        !self.machine_topics.iter().any(|t| t == topic)
    }
}

/// The default of [`ScorecardConfig::authorization_within_seconds`].
pub const DEFAULT_AUTHORIZATION_WITHIN_SECONDS: u64 = 3_600;

fn default_authorization_within() -> u64 {
    DEFAULT_AUTHORIZATION_WITHIN_SECONDS
}

impl ScorecardConfig {
    /// Defaults over `[from, to)`: UTC buckets, 30-day (service, category) repeats, no ids.
    pub fn new(from: Timestamp, to: Timestamp) -> Result<ScorecardConfig, MetricsError> {
        Ok(ScorecardConfig {
            period: Period::new(from, to)?,
            zone: chrono_tz::UTC,
            repeat: RepeatConfig::default(),
            options: ScorecardOptions::default(),
            trend_partial_months: false,
            service_model: None,
            authorization_within_seconds: DEFAULT_AUTHORIZATION_WITHIN_SECONDS,
            alert_delay_within_seconds: DEFAULT_ALERT_DELAY_WITHIN_SECONDS,
            notifications: NotificationPolicy::default(),
        })
    }

    /// This configuration with another zone.
    pub fn with_zone(mut self, zone: Tz) -> ScorecardConfig {
        self.zone = zone;
        self
    }

    /// This configuration with ids kept or not.
    pub fn with_ids(mut self, with_ids: bool) -> ScorecardConfig {
        self.options.with_ids = with_ids;
        self
    }

    /// This configuration with durations kept exactly up to `limit` values per sample.
    pub fn with_exact_percentiles_up_to(mut self, limit: u64) -> ScorecardConfig {
        self.options.exact_percentiles_up_to = limit;
        self
    }

    /// This configuration with outages recorded in the input or not (see
    /// [`ScorecardOptions::outages_recorded`]).
    pub fn with_outages_recorded(mut self, recorded: bool) -> ScorecardConfig {
        self.options.outages_recorded = recorded;
        self
    }

    /// This configuration with availability rolled up to the business
    /// services of `model` (see [`ScorecardConfig::service_model`]).
    pub fn with_service_model(mut self, model: ServiceModel) -> ScorecardConfig {
        self.service_model = Some(model);
        self
    }

    /// This configuration with authorizations in time within `seconds` of
    /// the request (see [`ScorecardConfig::authorization_within_seconds`]).
    pub fn with_authorization_within(mut self, seconds: u64) -> ScorecardConfig {
        self.authorization_within_seconds = seconds;
        self
    }

    /// This configuration with alerts in time within `seconds` of firing
    /// (see [`ScorecardConfig::alert_delay_within_seconds`]).
    pub fn with_alert_delay_within(mut self, seconds: u64) -> ScorecardConfig {
        self.alert_delay_within_seconds = seconds;
        self
    }

    /// This configuration with another notification policy (see
    /// [`ScorecardConfig::notifications`]).
    pub fn with_notifications(mut self, policy: NotificationPolicy) -> ScorecardConfig {
        self.notifications = policy;
        self
    }

    /// This configuration with another repeat rule.
    pub fn with_repeat(mut self, repeat: RepeatConfig) -> ScorecardConfig {
        self.repeat = repeat;
        self
    }
}
