//! # itsm-metrics
//!
//! ITSM process metrics computed exactly from [`itsm_core::records`], rated
//! against the operations maturity model (Tables 5-9 and 15), with the
//! evidence behind every rating.
//!
//! ```
//! use itsm_core::Timestamp;
//! use itsm_metrics::{Accumulator, ScorecardConfig, Thresholds};
//!
//! let from = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")?;
//! let to = Timestamp::parse_rfc3339("2026-07-01T00:00:00Z")?;
//! let mut acc = Accumulator::new(ScorecardConfig::new(from, to)?.with_zone(chrono_tz::Europe::Paris))?;
//! // acc.push_incident(&incident); acc.push_change(&change); acc.push_outage(&outage);
//! let card = acc.finish(&Thresholds::maturity_model());
//! let json = itsm_metrics::render::json(&card)?;
//! assert!(json.contains("\"schema\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Overview
//!
//! - [`import`]: reads the interchange CSV files into records, one at a time,
//!   with a report of accepted and rejected rows.
//! - [`Accumulator`]: streaming, mergeable aggregation; [`Accumulator::finish`]
//!   gives a [`Scorecard`].
//! - [`Thresholds`]: the maturity model's bounds as data (JSON-loadable).
//! - [`rating`]: levels compared exactly, and their evidence.
//! - [`stats`]: Wilson intervals, zero-failure sample sizes, Mann-Kendall and
//!   Sen's slope, type-7 percentiles.
//! - [`render`]: text, JSON, CSV and a self-contained HTML page.
//!
//! ## Definitions
//!
//! The metrics follow `interchange-csv.md` ("Metric definitions"), over
//! W = [from, to) with monthly buckets cut in an IANA zone:
//! - first change failure rate, per change type: implemented changes
//!   (not cancelled, `completed_at` in W) whose first attempt failed
//!   (`outcome` failed, or `remediation` not none, or named by at least one
//!   incident's `caused_by_change`, counted once) / implemented changes;
//! - rollback failure rate, per type: `rollback_failed` / rollback attempts;
//!   its secondary form `rollback_failure_share_of_implemented` divides by all
//!   implemented changes;
//! - automatic rollback share, per type (the library's own, for Table 8
//!   level 4; the CSV format has no column for it, so imported changes count
//!   as rolled back by a person): changes whose first attempt a rollback
//!   ended by itself (`automatic_rollback`, remediation `rolled_back` or
//!   `rollback_failed`) / changes whose first attempt failed (the first change
//!   failure rate's numerator);
//! - authorized in time, emergency changes only (the library's own, for
//!   Table 9 level 2's emergency CAB "convened in time"): emergency changes
//!   whose `authorized_at` is in W, within
//!   [`ScorecardConfig::authorization_within_seconds`] of `requested_at` and
//!   not after `started_at` / emergency changes whose `authorized_at` is in W;
//! - problem review share (the library's own, for Table 7's knowledge
//!   column): incidents opened in W that are repeats or major and name a
//!   problem / incidents opened in W that are repeats or major;
//! - alert delay within the bound (the library's own, for Table 3 level 2's
//!   "alert delay within 3 minutes"; [`Accumulator::push_alert_receipt`]):
//!   alerts whose `received_at` is in W and `received_at - fired_at <=`
//!   [`ScorecardConfig::alert_delay_within_seconds`] / alerts whose
//!   `received_at` is in W (a negative delay is an anomaly, left out);
//! - notified in time (the library's own, for Table 16's "users notified in
//!   time"; [`Accumulator::push_notification`]): notifications of a people
//!   topic ([`NotificationPolicy`]) created in W and delivered within
//!   `within_seconds` of `created_at` / those created in W that are
//!   delivered, or undelivered with `created_at + within < to` (late);
//!   undelivered ones due at or after `to` are pending, not judged;
//! - restore time = restore instant - `impact_start`, in whole seconds, over
//!   incidents whose restore instant is in W: n, mean, median, p90, max and the
//!   censored count (impact started before `to`, not restored by `to`), per
//!   failure class and overall; MTTA (acknowledged - opened) likewise over
//!   acknowledgements in W, censored = opened before `to` and neither
//!   acknowledged nor resolved by `to`;
//! - availability per service: (|W| - |union of unplanned outages clipped to
//!   W|) / |W| in microseconds; outages come from unplanned outage records and
//!   from incidents with `outage` (an unrestored one is down until `to`);
//!   annual downtime is the downtime scaled to 365 days. When the input records
//!   no outages at all ([`ScorecardOptions::outages_recorded`] false), both are
//!   "no data", never 100% and 0 h;
//! - repeat incidents: see [`config::RepeatConfig`];
//! - incident KPIs of Tables 5 and 6, and SLA attainment per priority. The
//!   on-time numerator uses `IncidentRecord::resolution_target_met == Some(true)`;
//!   its denominator is the incidents resolved in W with a known verdict. This
//!   departs on purpose from the definition's "/ resolved in W": an incident
//!   for which the SLA policy in force sets no target can be neither on time
//!   nor late, so it is left out of both and counted in
//!   `resolved_with_unknown_target` (a policy without targets gives "no data",
//!   not 0%);
//! - monthly trends of incident counts and repeat rates (complete months only
//!   by default), Mann-Kendall and Sen's slope with at least 5 periods.
//!
//! Rates are exact fractions (`numerator`, `denominator`), with a decimal
//! `value` that is `None` when the denominator is 0.
#![forbid(unsafe_code)]

pub mod accumulator;
pub mod config;
mod cover;
pub mod error;
pub mod import;
pub mod period;
pub mod rate;
pub mod rating;
pub mod render;
pub mod scorecard;
mod scoring;
pub mod sketch;
pub mod stats;
pub mod thresholds;

pub use accumulator::{Accumulator, Retained};
pub use config::{NotificationPolicy, RepeatConfig, RepeatKey, ScorecardConfig, ScorecardOptions};
pub use error::{MetricsError, RenderError, ThresholdError};
pub use rate::Rate;
pub use rating::{Evidence, Level, Rating};
pub use scorecard::Scorecard;
pub use thresholds::Thresholds;

use itsm_core::records::{ChangeRecord, IncidentRecord, OutageRecord};

/// Computes a scorecard in one call from slices of records.
pub fn compute(
    config: ScorecardConfig,
    thresholds: &Thresholds,
    incidents: &[IncidentRecord],
    changes: &[ChangeRecord],
    outages: &[OutageRecord],
) -> Result<Scorecard, MetricsError> {
    let mut acc = Accumulator::new(config)?;
    for r in incidents {
        acc.push_incident(r)?;
    }
    // Changes are then judged on arrival instead of waiting for the incident join.
    acc.no_more_incidents();
    for c in changes {
        acc.push_change(c);
    }
    for o in outages {
        acc.push_outage(o);
    }
    Ok(acc.finish(thresholds))
}
