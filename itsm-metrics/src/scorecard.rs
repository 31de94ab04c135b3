//! The scorecard: every metric over the period, per service and in total, with
//! its monthly trends and its ratings. Serializable (see `JSON.md`).

use itsm_core::Timestamp;
use itsm_core::id::ServiceId;
use itsm_core::service::Criticality;
use itsm_core::vocabulary::{ChangeType, FailureClass, Priority};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::RepeatConfig;
use crate::rate::Rate;
use crate::rating::{Level, Rating};
use crate::stats::MannKendall;
use crate::thresholds::{TrendSeries, Unit};

/// The schema name written in every scorecard.
pub const SCHEMA: &str = "itsm-metrics/scorecard/v2";

/// Every metric over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// [`SCHEMA`].
    pub schema: String,
    /// The period and zone.
    pub period: PeriodInfo,
    /// The repeat-incident rule used.
    pub repeat: RepeatConfig,
    /// How many records were pushed.
    pub inputs: InputCounts,
    /// Records (or parts of them) left out because their instants contradict each other.
    pub anomalies: Anomalies,
    /// All services together: every numerator and denominator is the sum over `services`.
    pub total: Metrics,
    /// Per service, sorted by service id.
    pub services: Vec<ServiceMetrics>,
    /// Availability of each business service of the configured service
    /// model, in the model's order (empty without a model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub business_services: Vec<BusinessServiceAvailability>,
    /// Monthly buckets in the zone with incident counts and repeat rates (all services).
    pub months: Vec<MonthRow>,
    /// Mann-Kendall trends of the monthly series.
    pub trends: Vec<TrendResult>,
    /// The (earlier, later) incident pairs behind the repeat rate (only with ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_pairs: Option<Vec<RepeatPair>>,
    /// Distribution of restore times (all incidents restored in the period).
    pub restore_histogram: Vec<HistogramBucket>,
    /// Outage incidents still unrestored at the end of the period (their
    /// downtime runs to `to`), sorted by service, start and incident, so that
    /// a reader can tell a real long outage from a record nobody closed.
    #[serde(default)]
    pub open_outages: Vec<OpenOutage>,
    /// Alert delay (Table 3) and notification timeliness (Table 16), over
    /// all services.
    #[serde(default)]
    pub timeliness: Timeliness,
    /// Levels per metric and per table.
    pub ratings: Ratings,
}

/// How soon alerts arrived and notifications went out (Tables 3 and 16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeliness {
    /// The alert-delay bound in force, in seconds
    /// (`ScorecardConfig::alert_delay_within_seconds`).
    pub alert_delay_bound_seconds: u64,
    /// Alerts received in the period within the bound of firing
    /// (`received_at - fired_at <= bound`) / alerts received in the period
    /// (a negative delay is an anomaly, left out of both).
    pub alert_delay_within: Rate,
    /// The delays of the alerts received in the period, in whole seconds
    /// (truncated).
    pub alert_delay: DurationStats,
    /// The notification bound in force, in seconds
    /// (`NotificationPolicy::within_seconds`).
    pub notification_bound_seconds: u64,
    /// Notifications to people (topics not in
    /// `NotificationPolicy::machine_topics`) created in the period and
    /// delivered within the bound of their creation / those created in the
    /// period that can be judged: delivered, or undelivered past their
    /// deadline (`created_at + bound`) by the end of the period (late).
    pub notified_in_time: Rate,
    /// Delivery delays of the delivered ones, in whole seconds (truncated).
    pub notification_delay: DurationStats,
    /// Created in the period, undelivered, and not due before its end: not judged.
    pub notifications_pending: u64,
}

impl Default for Timeliness {
    /// No data (a scorecard written before these metrics existed reads so).
    fn default() -> Self {
        Timeliness {
            alert_delay_bound_seconds: crate::config::DEFAULT_ALERT_DELAY_WITHIN_SECONDS,
            alert_delay_within: Rate::new(0, 0),
            alert_delay: DurationStats::default(),
            notification_bound_seconds: crate::config::DEFAULT_NOTIFICATION_WITHIN_SECONDS,
            notified_in_time: Rate::new(0, 0),
            notification_delay: DurationStats::default(),
            notifications_pending: 0,
        }
    }
}

/// The period as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodInfo {
    /// First instant inside.
    pub from: Timestamp,
    /// First instant after.
    pub to: Timestamp,
    /// IANA zone of the monthly buckets.
    pub zone: String,
    /// Length in seconds (exact, microsecond precision).
    pub seconds: Decimal,
}

/// Records pushed, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InputCounts {
    /// Incident records.
    pub incidents: u64,
    /// Change records.
    pub changes: u64,
    /// Outage records.
    pub outages: u64,
    /// Alert receipts (Table 3).
    #[serde(default)]
    pub alert_receipts: u64,
    /// Notification records (Table 16).
    #[serde(default)]
    pub notifications: u64,
}

/// Counts of values left out because their instants contradict each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Anomalies {
    /// Incidents restored in the period whose restore instant precedes `impact_start`.
    pub negative_restore_times: u64,
    /// Incidents acknowledged in the period whose acknowledgement precedes `opened_at`.
    pub negative_acknowledge_times: u64,
    /// Outage records whose `end` is not after `start`.
    pub empty_outages: u64,
    /// Alerts received in the period before they fired (the monitoring
    /// system's clock ahead of the engine's).
    #[serde(default)]
    pub negative_alert_delays: u64,
    /// Notifications created in the period whose delivery precedes their creation.
    #[serde(default)]
    pub negative_notification_delays: u64,
}

/// The metrics of a set of services (one service, or all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Change metrics per change type (standard, normal, emergency).
    pub changes: Vec<ChangeTypeMetrics>,
    /// Incident KPIs (Tables 5 and 6) and the repeat rate.
    pub incidents: IncidentKpis,
    /// SLA attainment per priority, P1 to P5.
    pub sla_attainment: Vec<PriorityAttainment>,
    /// Restore time (MTTR) of all incidents restored in the period.
    pub restore_time: DurationStats,
    /// Restore time per failure class (ci, cd, platform, other).
    pub restore_time_by_class: Vec<ClassDuration>,
    /// Time to acknowledge (MTTA = acknowledged_at - opened_at) of incidents acknowledged in the period.
    pub acknowledge_time: DurationStats,
    /// Availability (for the total: summed over services).
    pub availability: Availability,
}

/// One service's metrics and its per-service ratings (availability, downtime).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceMetrics {
    /// The service.
    pub service: ServiceId,
    /// Its metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Ratings of per-service metrics.
    pub ratings: Vec<MetricRating>,
}

/// Change metrics of one change type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeTypeMetrics {
    /// The change type (`normal` = the model's planned change).
    pub change_type: ChangeType,
    /// Implemented changes whose first attempt failed / implemented changes.
    pub first_change_failure_rate: Rate,
    /// Changes with `rollback_failed` / rollback attempts (`rolled_back` or `rollback_failed`).
    pub rollback_failure_rate: Rate,
    /// Secondary form: changes with `rollback_failed` / all implemented changes.
    pub rollback_failure_share_of_implemented: Rate,
    /// Rollback attempts / implemented changes.
    pub rollback_attempt_rate: Rate,
    /// Changes rolled back automatically (`automatic_rollback` with
    /// remediation `rolled_back` or `rollback_failed`: a stage failed and the
    /// change rolled back by itself) / changes whose first attempt failed
    /// (the numerator of `first_change_failure_rate`): Table 8 level 4.
    pub automatic_rollback_share: Rate,
    /// Emergency changes authorized in the period within
    /// `ScorecardConfig::authorization_within_seconds` of their request and
    /// before implementation started / emergency changes authorized in the
    /// period: an emergency change's authorization is its emergency CAB's
    /// decision (Table 9's "convened in time"). No data for the other types.
    pub authorized_in_time: Rate,
}

/// Incident KPIs over incidents opened (or resolved) in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentKpis {
    /// Incidents opened in the period.
    pub total: u64,
    /// Major incidents opened in the period.
    pub major: u64,
    /// Opened in the period and resolved before `to` / opened in the period.
    pub resolution_rate: Rate,
    /// Resolved by `l1` / resolved in the period.
    pub first_line_resolution_rate: Rate,
    /// Resolved by `automation` / resolved in the period.
    pub automated_recovery_share: Rate,
    /// Detected by `monitoring` or `automation` / opened in the period.
    pub proactive_detection_share: Rate,
    /// Resolved in the period within the resolution target / resolved in the
    /// period under a resolution target. An incident for which the SLA policy in
    /// force sets no target can be neither on time nor late: it is left out of
    /// both and counted in `resolved_with_unknown_target` ("no data" when no
    /// incident had a target, never 0%).
    pub on_time_resolution_rate: Rate,
    /// Resolved in the period with no known resolution target (left out of the on-time rate and SLA attainment).
    pub resolved_with_unknown_target: u64,
    /// Repeat incidents / incidents opened in the period.
    pub repeat_rate: Rate,
    /// Incidents opened in the period that are repeats or major and name a
    /// problem (`problem_id`) / incidents opened in the period that are
    /// repeats or major: Table 7's "major, typical or repeated faults become
    /// problems".
    pub problem_review_share: Rate,
}

/// SLA attainment of one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityAttainment {
    /// The priority.
    pub priority: Priority,
    /// Resolved in the period within target / resolved in the period under a
    /// target, for this priority (as the on-time resolution rate).
    pub attainment: Rate,
}

/// Duration statistics of one failure class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassDuration {
    /// The failure class.
    pub failure_class: FailureClass,
    /// Its statistics.
    pub stats: DurationStats,
}

/// Statistics of durations in whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DurationStats {
    /// Number of durations.
    pub n: u64,
    /// Their exact sum in seconds (the mean is `total_seconds / n`; saturates at `u64::MAX`).
    pub total_seconds: u64,
    /// Mean, rounded half-even to 6 decimal places; `None` when `n` is 0.
    pub mean_seconds: Option<Decimal>,
    /// Median (type-7 linear interpolation), within `percentile_error`.
    pub median_seconds: Option<Decimal>,
    /// 90th percentile (type-7 linear interpolation), within `percentile_error`.
    pub p90_seconds: Option<Decimal>,
    /// Bound on the relative error of `median_seconds` and `p90_seconds`: 0
    /// when they are exact (at most `exact_percentiles_up_to` values), 1/256
    /// (0.00390625) when read from bins. Count, sum, mean and max are always exact.
    pub percentile_error: Decimal,
    /// Largest duration.
    pub max_seconds: Option<u64>,
    /// Right-censored: started before `to` and not ended by `to`.
    pub censored: u64,
    /// Ids behind `n` and `censored` (only with ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<DurationIds>,
}

/// Ids behind duration statistics, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DurationIds {
    /// Records measured.
    pub samples: Vec<String>,
    /// Records censored.
    pub censored: Vec<String>,
}

/// An outage incident still unrestored at the end of the period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OpenOutage {
    /// The service.
    pub service: String,
    /// Since when: the incident's impact start.
    pub since: Timestamp,
    /// The incident.
    pub incident: String,
}

/// One business service's availability, rolled up through the service
/// model from the outages of the items it rests on
/// ([`itsm_core::service::availability`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessServiceAvailability {
    /// The business service.
    pub service: ServiceId,
    /// How much it matters.
    pub criticality: Criticality,
    /// (agreed time - downtime) / agreed time, where agreed time is the
    /// period less planned maintenance; downtime scaled to a year over the
    /// whole period.
    pub availability: Availability,
    /// Planned maintenance that took the service down, in seconds.
    pub planned_seconds: Decimal,
    /// Its Table 15 ratings (availability, annual downtime).
    pub ratings: Vec<MetricRating>,
}

/// Availability over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Available microseconds / period microseconds (for the total: summed over services).
    pub availability: Rate,
    /// Unplanned downtime (union of outage intervals clipped to the period), in
    /// seconds; `None` when the input records no outages
    /// ([`ScorecardOptions::outages_recorded`](crate::config::ScorecardOptions)).
    pub downtime_seconds: Option<Decimal>,
    /// Downtime scaled to a 365-day year, in seconds (for the total: summed over
    /// services); `None` as `downtime_seconds`.
    pub annual_downtime_seconds: Option<Decimal>,
    /// Disjoint outage intervals after merging overlaps.
    pub outage_intervals: u64,
}

/// One monthly bucket of the whole scorecard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRow {
    /// `YYYY-MM` in the zone.
    pub month: String,
    /// Start of the bucket.
    pub start: Timestamp,
    /// End of the bucket, exclusive.
    pub end: Timestamp,
    /// Whether the period cuts the month.
    pub partial: bool,
    /// Incidents opened in the bucket.
    pub incidents: u64,
    /// Repeats among them.
    pub repeats: u64,
    /// Repeats / incidents.
    pub repeat_rate: Rate,
}

/// Whether a trend test could be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendStatus {
    /// The test ran.
    Ok,
    /// Fewer periods than required.
    InsufficientData,
}

/// The Table 7 reading of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendReading {
    /// Significant increase: the series grows.
    Grows,
    /// No significant trend: under control.
    UnderControl,
    /// Significant decrease: falling.
    Falling,
}

/// A trend test over a monthly series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendResult {
    /// The series.
    pub series: TrendSeries,
    /// Status.
    pub status: TrendStatus,
    /// Periods with data used.
    pub periods: u64,
    /// Periods required.
    pub needed_periods: u64,
    /// Significance level.
    pub alpha: Decimal,
    /// The test (when it ran).
    pub test: Option<MannKendall>,
    /// The Table 7 reading (when it ran).
    pub reading: Option<TrendReading>,
}

/// A repeat: `later` was opened within the window after `earlier` was resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RepeatPair {
    /// The earlier incident (the most recently resolved one with the same key).
    pub earlier: String,
    /// The repeat.
    pub later: String,
}

/// One bucket of the restore-time histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramBucket {
    /// Label such as `<= 1h`.
    pub label: String,
    /// Inclusive upper bound in seconds; `None` for the last bucket.
    pub upper_seconds: Option<u64>,
    /// Durations in the bucket.
    pub count: u64,
}

/// All ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratings {
    /// The threshold set's name.
    pub thresholds: String,
    /// Per metric.
    pub metrics: Vec<MetricRating>,
    /// Per table: the minimum over its rated metrics.
    pub tables: Vec<TableRating>,
    /// Interpretations in force.
    pub notes: Vec<String>,
}

/// The rating of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRating {
    /// The table.
    pub table: u8,
    /// Metric name (`first_change_failure_rate`, ..., `incident_volume_trend`).
    pub metric: String,
    /// Subject (change type, class, priority, service).
    pub subject: Option<String>,
    /// `metric` or `metric[subject]`.
    pub label: String,
    /// The value in `unit` (percent or hours), rounded to 6 places for display.
    pub value: Option<Decimal>,
    /// Unit of `value`.
    pub unit: Option<Unit>,
    /// Sample size (denominator, n, or periods).
    pub sample: Option<u64>,
    /// Level and evidence.
    #[serde(flatten)]
    pub rating: Rating,
    /// Where the bounds come from.
    pub source: String,
    /// Interpretation notes.
    pub note: Option<String>,
}

/// The level a table's data support.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRating {
    /// The table.
    pub table: u8,
    /// Its title.
    pub title: String,
    /// The minimum level over its rated metrics with data; `no_data` when none has data.
    pub level: Level,
    /// The metric that limits it.
    pub limited_by: Option<String>,
    /// Metrics rated (with data).
    pub rated: Vec<String>,
    /// Metrics without data (not counted).
    pub no_data: Vec<String>,
}

/// The title of a maturity model table.
pub fn table_title(table: u8) -> &'static str {
    match table {
        3 => "Alert convergence and notification",
        5 => "Incident discovery",
        6 => "Incident handling",
        7 => "Incident review",
        8 => "Planned (normal) change",
        9 => "Unplanned (emergency) change",
        15 => "Availability",
        16 => "Emergency incident management",
        _ => "Other",
    }
}
