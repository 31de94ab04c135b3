//! Flat domain records: what the metrics crate computes from.
//!
//! A record is the summary of one aggregate's history (or one imported CSV row
//! after it was replayed through the state machines): the instants and the
//! typed outcomes the metric definitions need, and nothing else. The fields
//! mirror the interchange CSV (`shared/reference/interchange-csv.md`).

use serde::{Deserialize, Serialize};

use crate::alert::AlertKey;
use crate::id::{ChangeId, IncidentId, ProblemId, ServiceId};
use crate::time::Timestamp;
use crate::vocabulary::{
    ChangeOutcome, ChangeType, DetectionSource, FailureClass, IncidentKind, Priority, Remediation, ResolvedBy,
};

/// One incident, as the metrics see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecord {
    /// Identifier.
    pub id: IncidentId,
    /// Kind.
    pub kind: IncidentKind,
    /// Affected service or configuration item.
    pub service: ServiceId,
    /// Free-text category; with `service` it forms the repeat-incident key.
    pub category: Option<String>,
    /// Priority (given, or derived from impact x urgency).
    pub priority: Priority,
    /// Who detected it.
    pub detected_by: DetectionSource,
    /// When it was registered.
    pub opened_at: Timestamp,
    /// First response / acceptance.
    pub acknowledged_at: Option<Timestamp>,
    /// When service impact began (defaults to `opened_at`).
    pub impact_start: Timestamp,
    /// When service was restored (defaults to `resolved_at`).
    pub restored_at: Option<Timestamp>,
    /// When it was (last) resolved; `None` while open.
    pub resolved_at: Option<Timestamp>,
    /// When it was closed.
    pub closed_at: Option<Timestamp>,
    /// Who resolved it.
    pub resolved_by: Option<ResolvedBy>,
    /// Handled as a major incident.
    pub major: bool,
    /// How many times it was reopened.
    pub reopen_count: u32,
    /// The change that caused it.
    pub caused_by_change: Option<ChangeId>,
    /// The linked problem.
    pub problem_id: Option<ProblemId>,
    /// Table 15's MTTR class.
    pub failure_class: FailureClass,
    /// Whether `impact_start..restored_at` is unplanned downtime of `service`.
    pub outage: bool,
    /// Resolution target of the SLA in force, if known (on-time rate).
    pub resolution_target_met: Option<bool>,
}

impl IncidentRecord {
    /// The restore instant: `restored_at`, else `resolved_at`.
    pub fn restore_instant(&self) -> Option<Timestamp> {
        self.restored_at.or(self.resolved_at)
    }
}

/// One change, as the metrics see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Identifier.
    pub id: ChangeId,
    /// Standard, normal or emergency.
    pub change_type: ChangeType,
    /// The service changed.
    pub service: ServiceId,
    /// When it was requested.
    pub requested_at: Option<Timestamp>,
    /// Scheduled window start.
    pub planned_start: Option<Timestamp>,
    /// Scheduled window end.
    pub planned_end: Option<Timestamp>,
    /// Implementation start.
    pub started_at: Option<Timestamp>,
    /// End of the first implementation attempt; `None` when never implemented.
    pub completed_at: Option<Timestamp>,
    /// Outcome of the first attempt; `None` when cancelled (or not yet implemented).
    pub outcome: Option<ChangeOutcome>,
    /// What was done after the first attempt.
    pub remediation: Remediation,
    /// Whether the change rolled back by itself when a stage failed its
    /// health checks (an `auto_rollback` change's `rolled_back_automatically`
    /// event); the remediation then says whether the rollback restored the
    /// prior state.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic_rollback: bool,
    /// When the change was authorized by its approvers (the `authorized`
    /// event: every approval step's quorum met); `None` for a standard
    /// change, one never authorized, and an emergency change that needed no
    /// approval step. For an emergency change, when its emergency CAB
    /// decided (Table 9's "convened in time").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<Timestamp>,
}

impl ChangeRecord {
    /// Whether the change counts as implemented: not cancelled and completed.
    pub fn implemented(&self) -> bool {
        self.outcome.is_some() && self.completed_at.is_some()
    }
}

/// An outage interval of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageRecord {
    /// The service that was down.
    pub service: ServiceId,
    /// Start of the outage.
    pub start: Timestamp,
    /// End of the outage (after `start`).
    pub end: Timestamp,
    /// Planned maintenance rather than an unplanned outage.
    pub planned: bool,
}

/// One alert as the engine received it: what the alert-delay metric of
/// Table 3 ("alert delay within 3 minutes") measures, `received_at -
/// fired_at`. A store keeps one per alert recorded on an incident (its first
/// delivery; a redelivery is a duplicate and records nothing); an alert the
/// incident refused (one arriving for a closed incident) leaves none.
/// `received_at` is the instant the ingestion was run at (its `now`): a
/// replay of old alerts, or a `correlate_alert` command issued by hand,
/// gives receipts whose delays say when they were replayed, not when they
/// arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReceipt {
    /// The alert.
    pub alert: AlertKey,
    /// When the monitoring system says it fired.
    pub fired_at: Timestamp,
    /// When the engine received it: the instant its ingestion recorded it.
    pub received_at: Timestamp,
}

/// One notification and its delivery: what the notification-timeliness
/// metric of Table 16 ("users notified in time") measures, `delivered_at -
/// created_at`. A store keeps one per outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The topic (`incident.resolved`, `notify.stakeholders`, `alert.clear`, ...).
    pub topic: String,
    /// The message's key, unique per topic (the outbox's deduplication key).
    pub key: String,
    /// When the event that calls for it was recorded.
    pub created_at: Timestamp,
    /// When a sink acknowledged it; `None` while undelivered (pending, or
    /// given up as a dead letter).
    pub delivered_at: Option<Timestamp>,
    /// When delivery was given up (a dead letter: never delivered, so late
    /// whatever its age); `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<Timestamp>,
}

/// What an aggregate contributes to the metrics, if anything
/// ([`crate::Aggregate::record`]): an incident's or a change's record.
/// Problems contribute through the incidents that link to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// An incident's record.
    Incident(IncidentRecord),
    /// A change's record (any of the three change types).
    Change(ChangeRecord),
}
