//! Threshold sets as data: per metric and level, a bound with its own comparison
//! operator and an exact decimal value.
//!
//! [`Thresholds::maturity_model`] is the default: the operations maturity model
//! (`shared/reference/maturity-model.md`). Which table is rated from which metric:
//!
//! | Table | Metric (subject) | Source of the bounds |
//! |---|---|---|
//! | 3 Alert convergence | alert delay within the bound (`ScorecardConfig::alert_delay_within_seconds`, 180 s) | library default share (Table 3 names the 3 minutes, not a share) |
//! | 5 Incident discovery | proactive detection share | library default (the model is qualitative) |
//! | 6 Incident handling | on-time resolution rate; SLA attainment (each priority); automated recovery share | library default (qualitative) |
//! | 7 Incident review | Mann-Kendall reading of monthly incident volume and repeat rate; problem review share | library default mapping and bounds |
//! | 8 Planned change | first change failure rate (`normal`); rollback failure rate (`normal`); automatic rollback share (`normal`) | Table 8 (level 1 rollback misprint read as `<= 3%`); library default for the share |
//! | 9 Emergency change | first change failure rate (`emergency`); rollback failure rate (`emergency`); automatic rollback share and authorized in time (`emergency`) | Table 9; library defaults for the shares |
//! | 15 Availability | availability and annual downtime (each service; the worst limits); MTTR mean (`ci`, `cd`, `platform`) | Table 15 |
//! | 16 Emergency incident management | notifications to people in time (`NotificationPolicy`, 300 s) | library default (qualitative) |
//!
//! Table 8 prints level 1's rollback failure rate as `>= 3%`; every other cell is
//! an upper bound and Table 9 prints `<= 3%`, so the default reads it as `<= 3%`
//! and says so in the bound's `note`. [`Thresholds::with_table8_rollback_as_printed`]
//! applies the printed `>=` instead.
//!
//! Table 15 prints level 1 as the complement of level 2 with strict operators
//! (`< 99%` against `> 99%`, `> 8 h` against `< 8 h`): a value exactly at the
//! boundary meets neither and rates below level 1, as the rating rules say. The
//! data keeps the printed operators; change them to close the gap.

use std::collections::HashSet;

use itsm_core::vocabulary::{ChangeType, FailureClass, Priority};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ThresholdError;
use crate::rating::Level;

/// A comparison operator, printed as in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// The printed symbol.
    pub fn symbol(&self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// Whether an upper bound (`<`, `<=`): lower values are better.
    pub fn is_upper_bound(&self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }
}

/// The unit a bound's value is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Percent of the rate (`5` means 5%).
    Percent,
    /// Hours (durations; compared exactly against seconds).
    Hours,
}

impl Unit {
    /// The printed suffix.
    pub fn suffix(&self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::Hours => " h",
        }
    }
}

/// The metrics a threshold can rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// First change failure rate; subject = change type.
    FirstChangeFailureRate,
    /// Rollback failure rate over rollback attempts; subject = change type.
    RollbackFailureRate,
    /// Rollback failures over all implemented changes (secondary form); subject = change type.
    RollbackFailureShareOfImplemented,
    /// Availability of a service; subject = a service id, or none for every service.
    Availability,
    /// Annual downtime of a service (scaled to 365 days); subject as for availability.
    AnnualDowntime,
    /// Mean restore time; subject = failure class, or none for all incidents.
    Mttr,
    /// Proactive detection share (monitoring or automation).
    ProactiveDetectionShare,
    /// On-time resolution rate.
    OnTimeResolutionRate,
    /// SLA attainment; subject = priority `1`..`5`, or none for every priority.
    SlaAttainment,
    /// Automated recovery share.
    AutomatedRecoveryShare,
    /// First-line resolution rate.
    FirstLineResolutionRate,
    /// Resolution rate.
    ResolutionRate,
    /// Repeat incident rate.
    RepeatRate,
    /// Share of failed changes rolled back automatically; subject = change
    /// type, or none for all.
    AutomaticRollbackShare,
    /// Share of repeat and major incidents that name a problem.
    ProblemReviewShare,
    /// Share of authorizations in time; subject = change type, or none for all.
    AuthorizedInTime,
    /// Share of alerts received within the alert-delay bound (Table 3).
    AlertDelayWithin,
    /// Share of notifications to people delivered within the bound (Table 16).
    NotifiedInTime,
}

impl MetricKind {
    /// The stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetricKind::FirstChangeFailureRate => "first_change_failure_rate",
            MetricKind::RollbackFailureRate => "rollback_failure_rate",
            MetricKind::RollbackFailureShareOfImplemented => "rollback_failure_share_of_implemented",
            MetricKind::Availability => "availability",
            MetricKind::AnnualDowntime => "annual_downtime",
            MetricKind::Mttr => "mttr",
            MetricKind::ProactiveDetectionShare => "proactive_detection_share",
            MetricKind::OnTimeResolutionRate => "on_time_resolution_rate",
            MetricKind::SlaAttainment => "sla_attainment",
            MetricKind::AutomatedRecoveryShare => "automated_recovery_share",
            MetricKind::FirstLineResolutionRate => "first_line_resolution_rate",
            MetricKind::ResolutionRate => "resolution_rate",
            MetricKind::RepeatRate => "repeat_rate",
            MetricKind::AutomaticRollbackShare => "automatic_rollback_share",
            MetricKind::ProblemReviewShare => "problem_review_share",
            MetricKind::AuthorizedInTime => "authorized_in_time",
            MetricKind::AlertDelayWithin => "alert_delay_within",
            MetricKind::NotifiedInTime => "notified_in_time",
        }
    }

    /// The unit its bounds must use.
    pub fn unit(&self) -> Unit {
        match self {
            MetricKind::AnnualDowntime | MetricKind::Mttr => Unit::Hours,
            MetricKind::FirstChangeFailureRate
            | MetricKind::RollbackFailureRate
            | MetricKind::RollbackFailureShareOfImplemented
            | MetricKind::Availability
            | MetricKind::ProactiveDetectionShare
            | MetricKind::OnTimeResolutionRate
            | MetricKind::SlaAttainment
            | MetricKind::AutomatedRecoveryShare
            | MetricKind::FirstLineResolutionRate
            | MetricKind::ResolutionRate
            | MetricKind::RepeatRate
            | MetricKind::AutomaticRollbackShare
            | MetricKind::ProblemReviewShare
            | MetricKind::AuthorizedInTime
            | MetricKind::AlertDelayWithin
            | MetricKind::NotifiedInTime => Unit::Percent,
        }
    }
}

/// One level's bound: the metric meets it when `value_of_metric op value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelBound {
    /// Level 1..=5.
    pub level: u8,
    /// Comparison operator.
    pub op: Op,
    /// Exact decimal value in the metric's unit.
    pub value: Decimal,
    /// An interpretation of the source, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The bounds of one metric (and subject) in one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricThresholds {
    /// The maturity model table (5, 6, 7, 8, 9, 15, ...).
    pub table: u8,
    /// The metric.
    pub metric: MetricKind,
    /// The subject (change type, failure class, priority or service); `None` = see [`MetricKind`].
    #[serde(default)]
    pub subject: Option<String>,
    /// The unit of the values.
    pub unit: Unit,
    /// Bounds per level (any order; the highest level met wins).
    pub levels: Vec<LevelBound>,
    /// Where the bounds come from.
    pub source: String,
    /// Notes on interpretation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl MetricThresholds {
    /// `metric` or `metric[subject]`.
    pub fn label(&self) -> String {
        metric_label(self.metric, self.subject.as_deref())
    }
}

/// `metric` or `metric[subject]`.
pub fn metric_label(metric: MetricKind, subject: Option<&str>) -> String {
    match subject {
        Some(s) => format!("{}[{}]", metric.as_str(), s),
        None => metric.as_str().to_owned(),
    }
}

/// A monthly series whose trend is read against Table 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendSeries {
    /// Monthly incident counts.
    IncidentVolume,
    /// Monthly repeat rates.
    RepeatRate,
}

impl TrendSeries {
    /// The stable snake_case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TrendSeries::IncidentVolume => "incident_volume",
            TrendSeries::RepeatRate => "repeat_rate",
        }
    }
}

/// The level a trend reading supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendThresholds {
    /// The table (7).
    pub table: u8,
    /// The series.
    pub series: TrendSeries,
    /// Level for a significant increase.
    pub increasing: Level,
    /// Level for no significant trend.
    pub no_trend: Level,
    /// Level for a significant decrease.
    pub decreasing: Level,
    /// Where the mapping comes from.
    pub source: String,
    /// Notes on interpretation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A complete threshold set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Name and version of the set.
    pub name: String,
    /// Bounds per metric.
    pub metrics: Vec<MetricThresholds>,
    /// Trend readings.
    pub trends: Vec<TrendThresholds>,
    /// Significance level of the Mann-Kendall test (default 0.05).
    pub trend_alpha: Decimal,
    /// Fewest periods for a trend test (default 5: with 4, the exact p-value cannot go below 0.083).
    pub trend_min_periods: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::maturity_model()
    }
}

fn bound(level: u8, op: Op, value: &str) -> LevelBound {
    LevelBound { level, op, value: value.parse().unwrap_or(Decimal::ZERO), note: None }
}

fn change_metrics(table: u8, subject: &str, source: &str, level1_rollback_note: Option<&str>) -> Vec<MetricThresholds> {
    let mut rollback_l1 = bound(1, Op::Le, "3");
    rollback_l1.note = level1_rollback_note.map(str::to_owned);
    vec![
        MetricThresholds {
            table,
            metric: MetricKind::FirstChangeFailureRate,
            subject: Some(subject.to_owned()),
            unit: Unit::Percent,
            levels: vec![
                bound(1, Op::Le, "5"),
                bound(2, Op::Lt, "3"),
                bound(3, Op::Lt, "1"),
                bound(4, Op::Lt, "0.5"),
                bound(5, Op::Lt, "0.1"),
            ],
            source: source.to_owned(),
            note: None,
        },
        MetricThresholds {
            table,
            metric: MetricKind::RollbackFailureRate,
            subject: Some(subject.to_owned()),
            unit: Unit::Percent,
            levels: vec![
                rollback_l1,
                bound(2, Op::Lt, "1"),
                bound(3, Op::Lt, "0.5"),
                bound(4, Op::Lt, "0.1"),
                bound(5, Op::Lt, "0.05"),
            ],
            source: source.to_owned(),
            note: Some(
                "denominator = rollback attempts (remediation rolled_back or rollback_failed); levels 4-5 need thousands of rollbacks to be demonstrated"
                    .to_owned(),
            ),
        },
    ]
}

/// The note on Table 8's level 1 rollback failure bound.
pub const TABLE8_MISPRINT_NOTE: &str = "Table 8 prints level 1 rollback failure rate as \">= 3%\"; every other cell is an upper bound and Table 9 prints \"<= 3%\", so it is read as a misprint for \"<= 3%\". Set op to \">=\" (or use Thresholds::with_table8_rollback_as_printed) for the printed reading.";

fn mttr(subject: &str, l1: &str, l2: &str, l3: &str, l4: &str, l5: &str) -> MetricThresholds {
    MetricThresholds {
        table: 15,
        metric: MetricKind::Mttr,
        subject: Some(subject.to_owned()),
        unit: Unit::Hours,
        levels: vec![bound(1, Op::Gt, l1), bound(2, Op::Lt, l2), bound(3, Op::Lt, l3), bound(4, Op::Lt, l4), bound(5, Op::Lt, l5)],
        source: "Table 15".to_owned(),
        note: Some(
            "rated on the mean restore time (restored_at - impact_start) of incidents restored in the period; level 1 is printed as the complement of level 2, so exactly the level 2 value rates below level 1"
                .to_owned(),
        ),
    }
}

fn qualitative(
    table: u8,
    metric: MetricKind,
    subject: Option<&str>,
    levels: Vec<LevelBound>,
    note: &str,
) -> MetricThresholds {
    MetricThresholds {
        table,
        metric,
        subject: subject.map(str::to_owned),
        unit: Unit::Percent,
        levels,
        source: "library default: the model states this level qualitatively".to_owned(),
        note: Some(note.to_owned()),
    }
}

impl Thresholds {
    /// The operations maturity model's tables 3, 5, 6, 7, 8, 9, 15 and 16 (see the module docs).
    pub fn maturity_model() -> Thresholds {
        let mut metrics = Vec::new();
        metrics.push(qualitative(
            5,
            MetricKind::ProactiveDetectionShare,
            None,
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Gt, "0"), bound(3, Op::Ge, "50"), bound(4, Op::Ge, "80"), bound(5, Op::Ge, "95")],
            "Table 5 level 3 'incidents are found before users report them' read as at least half detected by monitoring or automation; level 2 as some; levels 4-5 as 80% and 95%",
        ));
        let on_time = || {
            vec![
                bound(1, Op::Ge, "0"),
                bound(2, Op::Gt, "50"),
                bound(3, Op::Ge, "95"),
                bound(4, Op::Ge, "95"),
                bound(5, Op::Ge, "95"),
            ]
        };
        metrics.push(qualitative(
            6,
            MetricKind::OnTimeResolutionRate,
            None,
            on_time(),
            "Table 6 level 2 'service levels mostly met' read as more than 50% on time; level 3 'every grade meets its service level' as at least 95%",
        ));
        metrics.push(qualitative(
            6,
            MetricKind::SlaAttainment,
            None,
            on_time(),
            "each priority rated with the on-time bounds; Table 6 level 3 asks every grade to meet its service level, so the worst priority limits the table",
        ));
        metrics.push(qualitative(
            6,
            MetricKind::AutomatedRecoveryShare,
            None,
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "0"), bound(3, Op::Ge, "0"), bound(4, Op::Ge, "10"), bound(5, Op::Gt, "50")],
            "Table 6 level 4 'simple production incidents resolved automatically' read as at least 10% resolved by automation; level 5 'most fixed with no human involvement' as more than 50%",
        ));
        metrics.push(qualitative(
            7,
            MetricKind::ProblemReviewShare,
            None,
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "50"), bound(3, Op::Ge, "50"), bound(4, Op::Ge, "50"), bound(5, Op::Ge, "50")],
            "Table 7 level 2 knowledge 'major, typical or repeated faults become problems' read as at least half of the repeat and major incidents linked to a problem; the knowledge column's levels 3-5 (a knowledge tool, shared with the business, feeding self-healing) are qualitative and add no bound",
        ));
        metrics.extend(change_metrics(8, "normal", "Table 8 (planned change = normal)", Some(TABLE8_MISPRINT_NOTE)));
        metrics.extend(change_metrics(9, "emergency", "Table 9", None));
        for (table, subject) in [(8, "normal"), (9, "emergency")] {
            metrics.push(qualitative(
                table,
                MetricKind::AutomaticRollbackShare,
                Some(subject),
                vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "0"), bound(3, Op::Ge, "0"), bound(4, Op::Ge, "50"), bound(5, Op::Ge, "90")],
                "Table 8 level 4 tools 'automatic self-healing and automatic rollback' read as at least half of the failed changes rolled back by themselves (a stage failed its health checks); level 5 'automatic decisions' as at least 90%; Table 9 takes Table 8's other columns",
            ));
        }
        metrics.push(qualitative(
            9,
            MetricKind::AuthorizedInTime,
            Some("emergency"),
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "90"), bound(3, Op::Ge, "90"), bound(4, Op::Ge, "90"), bound(5, Op::Ge, "90")],
            "Table 9 level 2 'emergency change meetings convened in time' read as at least 90% of the emergency changes authorized within the bound of their request (ScorecardConfig::authorization_within_seconds, default one hour) and before implementation started; changes recorded after the fact are authorized late by definition",
        ));
        metrics.push(qualitative(
            3,
            MetricKind::AlertDelayWithin,
            None,
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "95"), bound(3, Op::Ge, "95"), bound(4, Op::Ge, "95"), bound(5, Op::Ge, "95")],
            "Tables 3 and 4 level 2 'alert delay within 3 minutes' read as at least 95% of the alerts received within the bound of firing (ScorecardConfig::alert_delay_within_seconds, default 180 s), so one alert held up by a network partition does not undo the level; the higher levels keep the bound",
        ));
        metrics.push(qualitative(
            16,
            MetricKind::NotifiedInTime,
            None,
            vec![bound(1, Op::Ge, "0"), bound(2, Op::Ge, "50"), bound(3, Op::Ge, "95"), bound(4, Op::Ge, "95"), bound(5, Op::Ge, "95")],
            "Table 16 level 2 'users sometimes notified' read as at least half of the notifications to people delivered within the bound of their event (NotificationPolicy::within_seconds, default 300 s; machine topics such as alert.clear are not counted); level 3 'users notified in time' as at least 95%; undelivered past the bound counts as late",
        ));
        metrics.push(MetricThresholds {
            table: 15,
            metric: MetricKind::Availability,
            subject: None,
            unit: Unit::Percent,
            levels: vec![
                bound(1, Op::Lt, "99"),
                bound(2, Op::Gt, "99"),
                bound(3, Op::Gt, "99.9"),
                bound(4, Op::Gt, "99.9"),
                bound(5, Op::Gt, "99.9"),
            ],
            source: "Table 15".to_owned(),
            note: Some("rated per service, the worst service limits the table; a time-based value (point estimate); exactly 99% meets neither level 1 (< 99%) nor level 2 (> 99%) and rates below level 1; levels 3-5 share a bound".to_owned()),
        });
        metrics.push(MetricThresholds {
            table: 15,
            metric: MetricKind::AnnualDowntime,
            subject: None,
            unit: Unit::Hours,
            levels: vec![
                bound(1, Op::Gt, "87.6"),
                bound(2, Op::Lt, "87.6"),
                bound(3, Op::Lt, "8.8"),
                bound(4, Op::Lt, "8.8"),
                bound(5, Op::Lt, "8.8"),
            ],
            source: "Table 15".to_owned(),
            note: Some("downtime in the period scaled to a 365-day year, per service; 8.8 h is looser than 99.9% (8.76 h), so the two metrics can differ".to_owned()),
        });
        metrics.push(mttr("ci", "8", "8", "4", "2", "0.5"));
        metrics.push(mttr("cd", "8", "8", "4", "2", "0.5"));
        metrics.push(mttr("platform", "24", "24", "8", "4", "1"));
        let trends = vec![
            TrendThresholds {
                table: 7,
                series: TrendSeries::IncidentVolume,
                increasing: Level::L2,
                no_trend: Level::L3,
                decreasing: Level::L4,
                source: "library default: Table 7 'incident volume trend' column".to_owned(),
                note: Some("significant increase = volume grows (level 2; growth 'with scale' cannot be told from 'exponential'); no significant trend = under control (level 3); significant decrease = falling (level 4)".to_owned()),
            },
            TrendThresholds {
                table: 7,
                series: TrendSeries::RepeatRate,
                increasing: Level::L1,
                no_trend: Level::L3,
                decreasing: Level::L3,
                source: "library default: Table 7 levels 2-3 on repeat incidents".to_owned(),
                note: Some("significant increase = repeats not managed (level 1); no significant increase = repeats controlled (level 3)".to_owned()),
            },
        ];
        Thresholds {
            name:
                "operations maturity model (OOPSA technical operations) tables 3, 5-9, 15, 16; itsm-metrics defaults v2"
                    .to_owned(),
            metrics,
            trends,
            trend_alpha: Decimal::new(5, 2),
            trend_min_periods: 5,
        }
    }

    /// This set with Table 8's level 1 rollback failure bound as printed (`>= 3%`).
    pub fn with_table8_rollback_as_printed(mut self) -> Thresholds {
        for m in &mut self.metrics {
            if m.table == 8 && m.metric == MetricKind::RollbackFailureRate {
                for b in &mut m.levels {
                    if b.level == 1 {
                        b.op = Op::Ge;
                        b.note = Some("as printed in Table 8 (\">= 3%\")".to_owned());
                    }
                }
            }
        }
        self
    }

    /// Parses and validates a threshold set from JSON.
    pub fn from_json(text: &str) -> Result<Thresholds, ThresholdError> {
        let thresholds: Thresholds = serde_json::from_str(text)?;
        thresholds.validate()?;
        Ok(thresholds)
    }

    /// Pretty JSON of this set.
    pub fn to_json(&self) -> Result<String, ThresholdError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Checks levels, units, subjects and the trend settings.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let mut seen = HashSet::new();
        for m in &self.metrics {
            let label = m.label();
            if !seen.insert((m.table, m.metric, m.subject.clone())) {
                return Err(ThresholdError::DuplicateMetric { metric: label });
            }
            if m.unit != m.metric.unit() {
                return Err(ThresholdError::UnitMismatch {
                    metric: label,
                    unit: format!("{:?}", m.unit).to_lowercase(),
                    expected: format!("{:?}", m.metric.unit()).to_lowercase(),
                });
            }
            if let Some(subject) = &m.subject {
                check_subject(m.metric, subject)?;
            }
            let mut levels = HashSet::new();
            for b in &m.levels {
                if !(1..=5).contains(&b.level) {
                    return Err(ThresholdError::InvalidLevel { metric: label, level: b.level });
                }
                if !levels.insert(b.level) {
                    return Err(ThresholdError::DuplicateLevel { metric: label, level: b.level });
                }
            }
        }
        if self.trend_alpha <= Decimal::ZERO || self.trend_alpha >= Decimal::ONE {
            return Err(ThresholdError::InvalidAlpha { alpha: self.trend_alpha.to_string() });
        }
        if self.trend_min_periods < 2 {
            return Err(ThresholdError::InvalidMinPeriods { min: self.trend_min_periods });
        }
        Ok(())
    }
}

fn check_subject(metric: MetricKind, subject: &str) -> Result<(), ThresholdError> {
    let (ok, expected) = match metric {
        MetricKind::FirstChangeFailureRate
        | MetricKind::RollbackFailureRate
        | MetricKind::RollbackFailureShareOfImplemented
        | MetricKind::AutomaticRollbackShare => {
            (ChangeType::parse(subject).is_some(), "a change type: standard, normal, emergency")
        }
        MetricKind::AuthorizedInTime => (subject == "emergency", "emergency (the only type it counts)"),
        MetricKind::Mttr => (FailureClass::parse(subject).is_some(), "a failure class: ci, cd, platform, other"),
        MetricKind::SlaAttainment => (Priority::parse(subject).is_some(), "a priority 1..5"),
        MetricKind::Availability | MetricKind::AnnualDowntime => (!subject.is_empty(), "a service id"),
        MetricKind::ProactiveDetectionShare
        | MetricKind::OnTimeResolutionRate
        | MetricKind::AutomatedRecoveryShare
        | MetricKind::FirstLineResolutionRate
        | MetricKind::ResolutionRate
        | MetricKind::RepeatRate
        | MetricKind::ProblemReviewShare
        | MetricKind::AlertDelayWithin
        | MetricKind::NotifiedInTime => (false, "no subject"),
    };
    if ok {
        Ok(())
    } else {
        Err(ThresholdError::InvalidSubject {
            metric: metric.as_str().to_owned(),
            subject: subject.to_owned(),
            expected: expected.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_valid_and_round_trips_through_json() {
        let t = Thresholds::maturity_model();
        t.validate().unwrap();
        let json = t.to_json().unwrap();
        assert_eq!(Thresholds::from_json(&json).unwrap(), t);
        assert!(json.contains("\"op\": \"<=\""));
        assert!(json.contains("misprint"));
    }

    #[test]
    fn the_shipped_json_file_is_the_default_set() {
        let shipped = include_str!("../thresholds/maturity-model.json");
        assert_eq!(Thresholds::from_json(shipped).unwrap(), Thresholds::maturity_model());
    }

    #[test]
    fn table8_level1_rollback_is_configurable() {
        let printed = Thresholds::maturity_model().with_table8_rollback_as_printed();
        let m = printed.metrics.iter().find(|m| m.table == 8 && m.metric == MetricKind::RollbackFailureRate).unwrap();
        assert_eq!(m.levels.iter().find(|b| b.level == 1).unwrap().op, Op::Ge);
    }

    #[test]
    fn validation_names_what_failed() {
        let mut t = Thresholds::maturity_model();
        t.metrics[0].levels[0].level = 6;
        assert_eq!(t.validate().unwrap_err().to_string(), "proactive_detection_share: level 6 is not in 1..=5");
        let mut t = Thresholds::maturity_model();
        t.metrics[4].subject = Some("urgent".into());
        assert!(t.validate().unwrap_err().to_string().contains("subject `urgent`"));
        assert!(Thresholds::from_json("{").is_err());
    }
}

#[cfg(test)]
mod regenerate {
    /// The shipped JSON is byte for byte what the code generates (the default
    /// set, pretty-printed, one trailing newline), so an edit to either shows
    /// here. `ITSM_REGENERATE=1 cargo test -p itsm-metrics regenerate` rewrites
    /// the file first, then checks it the same way.
    #[test]
    fn regenerate_shipped_thresholds() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/thresholds/maturity-model.json");
        let generated = super::Thresholds::maturity_model().to_json().unwrap() + "\n";
        if std::env::var_os("ITSM_REGENERATE").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap();
        assert!(
            shipped == generated,
            "{path} is not what `Thresholds::maturity_model().to_json()` generates; \
             run `ITSM_REGENERATE=1 cargo test -p itsm-metrics regenerate` if the code is right"
        );
        assert_eq!(super::Thresholds::from_json(&shipped).unwrap(), super::Thresholds::maturity_model());
    }
}
