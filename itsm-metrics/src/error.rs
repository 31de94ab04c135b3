//! Errors of the metrics crate, each naming what failed.

use itsm_core::Timestamp;

/// Why a scorecard could not be configured, accumulated or merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The period `[from, to)` is empty or reversed.
    #[error("period is empty: from {from} is not before to {to}")]
    EmptyPeriod {
        /// Start of the period.
        from: Timestamp,
        /// End of the period.
        to: Timestamp,
    },
    /// The period covers more months than the crate supports.
    #[error("period spans more than {max} months")]
    PeriodTooLong {
        /// The largest supported number of monthly buckets.
        max: usize,
    },
    /// A month start could not be represented in the time zone.
    #[error("month {year}-{month:02} cannot be placed in time zone {zone}")]
    MonthOutOfRange {
        /// Year of the month.
        year: i32,
        /// Month number 1-12.
        month: u32,
        /// The IANA zone name.
        zone: String,
    },
    /// An incident opened before the instant the accumulator was settled at.
    #[error(
        "incident {id} opened at {opened_at} arrived after the accumulator was settled before {settled_before}: \
         once settled, incidents must come in opening order"
    )]
    LateIncident {
        /// The incident.
        id: String,
        /// When it opened.
        opened_at: Timestamp,
        /// The instant the accumulator was settled at.
        settled_before: Timestamp,
    },
    /// An incident resolved before its own opening, at or before an opening of
    /// its service whose repeat verdict was already settled: counting it could
    /// change that verdict (only a resolution before the incident's own opening
    /// can reach back past the settled instant).
    #[error(
        "incident {id} of service {service} opened at {opened_at} but was resolved earlier, at {resolved_at}, \
         at or before the opening at {decided_opening} whose repeat verdict was already settled"
    )]
    SettledResolution {
        /// The incident.
        id: String,
        /// Its service.
        service: String,
        /// When it opened.
        opened_at: Timestamp,
        /// When it was resolved (before it opened).
        resolved_at: Timestamp,
        /// The latest opening of the service whose verdict was settled.
        decided_opening: Timestamp,
    },
    /// A merge where one side settled a repeat verdict that a resolution on the other side could change.
    #[error(
        "cannot merge accumulators: service {service} has a resolution at {resolved_at} on one side, \
         but the other side already settled the repeat verdict of an opening at {decided_opening}"
    )]
    SettledMerge {
        /// The service both sides hold.
        service: String,
        /// The latest opening of the service the settled side decided.
        decided_opening: Timestamp,
        /// The other side's earliest resolution of the service.
        resolved_at: Timestamp,
    },
    /// An incident pushed after [`crate::Accumulator::no_more_incidents`].
    #[error(
        "incident {id} arrived after the accumulator was told no more incidents would come \
         (changes were already judged against the incidents it had)"
    )]
    IncidentsComplete {
        /// The incident.
        id: String,
    },
    /// A merge where one side judged changes without keeping them and the other holds incidents naming changes.
    #[error(
        "cannot merge accumulators: one side judged {judged} changes after its last incident, \
         and the other holds incidents naming changes (e.g. {named}) that could be among them"
    )]
    JudgedChangesMerge {
        /// Changes the first side judged without keeping.
        judged: u64,
        /// The smallest change id the other side's incidents name.
        named: String,
    },
    /// Two accumulators built with different configurations cannot be merged.
    #[error("cannot merge accumulators: their {field} differ")]
    ConfigMismatch {
        /// The configuration field that differs.
        field: &'static str,
    },
}

/// Why a threshold set was refused.
#[derive(Debug, thiserror::Error)]
pub enum ThresholdError {
    /// The JSON text is not a threshold set.
    #[error("threshold JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// A level outside 1..=5.
    #[error("{metric}: level {level} is not in 1..=5")]
    InvalidLevel {
        /// The metric (and subject) concerned.
        metric: String,
        /// The level found.
        level: u8,
    },
    /// The same level twice for one metric.
    #[error("{metric}: level {level} is given twice")]
    DuplicateLevel {
        /// The metric (and subject) concerned.
        metric: String,
        /// The repeated level.
        level: u8,
    },
    /// A unit that does not fit the metric.
    #[error("{metric}: unit {unit} does not fit this metric (expected {expected})")]
    UnitMismatch {
        /// The metric (and subject) concerned.
        metric: String,
        /// The unit given.
        unit: String,
        /// The unit expected.
        expected: String,
    },
    /// A subject the metric does not know.
    #[error("{metric}: subject `{subject}` is not valid ({expected})")]
    InvalidSubject {
        /// The metric concerned.
        metric: String,
        /// The subject given.
        subject: String,
        /// What was expected.
        expected: String,
    },
    /// The same metric and subject twice.
    #[error("{metric} is given twice")]
    DuplicateMetric {
        /// The metric (and subject) concerned.
        metric: String,
    },
    /// A trend significance level outside (0, 1).
    #[error("trend alpha {alpha} is not in (0, 1)")]
    InvalidAlpha {
        /// The value given.
        alpha: String,
    },
    /// Fewer than 2 periods required for a trend.
    #[error("trend minimum periods {min} is less than 2")]
    InvalidMinPeriods {
        /// The value given.
        min: u64,
    },
}

/// Why a scorecard could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// JSON serialization failed.
    #[error("JSON rendering failed: {0}")]
    Json(#[from] serde_json::Error),
    /// CSV writing failed.
    #[error("CSV rendering failed: {0}")]
    Csv(#[from] csv::Error),
    /// The CSV writer could not hand back its buffer.
    #[error("CSV rendering failed: {0}")]
    CsvBuffer(String),
    /// The CSV output is not UTF-8 (cannot happen with UTF-8 input).
    #[error("CSV rendering produced invalid UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
}
