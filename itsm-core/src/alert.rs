//! Monitoring alerts into incidents (maturity model Table 5 level 3: "monitoring
//! alerts create incident tickets automatically, and resolving the incident
//! clears the alert automatically"; Tables 3 and 4: alerts merged by time
//! window, monitored object or receiver, converged by duration and frequency,
//! graded, escalated when not accepted in time).
//!
//! Everything here is pure. A [`Correlator`] is a fold over the alert stream:
//! [`Correlator::decide`] reads an [`Alert`] under a [`GroupingPolicy`] and
//! returns a [`Decision`] (the incident commands to run, if any);
//! [`Correlator::apply`] records it. Incident status changes the correlator did
//! not cause (a person resolved, closed, reopened or cancelled the incident, or
//! re-prioritised it) reach it through [`Correlator::observe`].
//!
//! # Rules
//!
//! * **Identity and idempotency.** An alert is `(source, alert_id)`
//!   ([`AlertKey`]). A firing alert already seen is a [`Decision::Duplicate`];
//!   so is a second recovery of it. Redelivery therefore changes nothing.
//! * **Fingerprint.** The source's `dedup_key` when present and
//!   [`GroupingPolicy::honor_dedup_key`] is set (scoped by source, as
//!   PagerDuty scopes it by integration), else the chosen
//!   [`FingerprintField`]s (source, object, check, named labels; a missing
//!   label is distinct from an empty one).
//! * **Group.** Alerts are grouped by fingerprint, by monitored object, or by
//!   receiver (a label naming the receiving team; an alert without that label
//!   falls back to its fingerprint), per [`GroupBy`]. A group has at most one
//!   current incident; its incidents are numbered 1, 2, 3... and the incident
//!   id is `{id_prefix}-{opened}-{hash}-{n}`, `opened` being the `fired_at`
//!   of the alert that opened it (UTC, `YYYYMMDDTHHMMSSZ`) and `hash` the
//!   128-bit FNV-1a of the group key in hex: a function of the deliveries, so
//!   a redelivered or retried batch gives the same ids. Reordering within the
//!   window can change which alert opens an incident, so only the `opened`
//!   part may differ; the group and number do not. The instant comes first so
//!   that ids sort by opening time: a store's indexes on the id then take new
//!   incidents at their end instead of at one place per group, which keeps
//!   ingestion flat as history grows (see BENCHMARKS.md, alert ingestion).
//! * **Severity.** Each [`AlertSeverity`] maps to an incident kind, impact and
//!   urgency and an action ([`SeverityAction`]): opening severities open,
//!   merge and reopen; annotate-only severities are recorded on the group's
//!   incident while it is open, whatever the window (or on its resolved
//!   incident if they fired before the resolution), never open, reopen or
//!   extend a group, and are ignored when nothing is open.
//! * **Window** (inclusive). A firing alert of an opening severity joins the
//!   group's open incident when `fired_at <= last + window`, `last` being the
//!   latest `fired_at` among the group's opening alerts. An alert that fired
//!   earlier than `last` (reordered) always joins.
//! * **Flapping** (inclusive). Once every opening alert of the current incident
//!   has recovered, the window no longer applies: a new alert joins when
//!   `fired_at <= last_clear + flap`, else the group has ended.
//! * **Ended group, incident still open.** An opening alert starts the
//!   group's next incident, linked to the earlier one ([`Decision::OpenLinked`]).
//! * **Severity escalation.** The incident's impact and urgency are each the
//!   most severe seen: an opening alert whose mapped impact or urgency is more
//!   severe than the incident's current values re-prioritises it to the
//!   component-wise most severe pair (the `reprioritize` of [`Decision::Merge`]). This
//!   never lowers a value a person set, and the result does not depend on the
//!   order the alerts arrive in.
//! * **Resolved incident.** An alert that fired at or before the resolution
//!   (late delivery) is recorded on the resolved incident, which clears it at
//!   once. One that fired after it, less than `reopen` after (strict),
//!   reopens the incident ([`Decision::Reopen`]); at or after `reopen`, it
//!   opens the group's next incident linked to the resolved one.
//! * **Closed incident.** It cannot be reopened: a later alert opens the next
//!   incident, linked; an alert that fired before its resolution is ignored
//!   ([`IgnoreReason::Late`]).
//! * **Cancelled incident** (raised in error): the next opening alert opens the
//!   group's next incident without a link.
//! * **Link.** The linked incident gets the earlier one's service and category,
//!   so the repeat-incident metric (same service and category, opened after the
//!   earlier was resolved) counts it, and an internal note naming the earlier
//!   incident. Parent/child would cascade resolutions and no problem exists
//!   yet, so neither is used.
//! * **Recoveries** (`resolved_at` set) change no incident: they mark the alert
//!   recovered for flapping ([`Decision::Recovery`]). A recovery of an alert
//!   never seen firing is ignored but remembered, so the firing, if it arrives
//!   later, is ignored too ([`IgnoreReason::AlreadyRecovered`]).
//! * **Clearing.** The incident emits one `alert.clear` outbox message per
//!   correlated alert when resolved or closed (see
//!   [`crate::incident`]); the correlator does not clear.
//! * **Acceptance.** An alert incident not acknowledged within
//!   [`Acceptance::backup_after`] notifies the backup person, within
//!   [`Acceptance::upward_after`] escalates upward, through the SLA escalation
//!   rules ([`GroupingPolicy::escalation_rules`]).
//!
//! Alert times (`fired_at`, `resolved_at`) come from the monitoring system;
//! incident times (resolution, closure) from the incident history. `now` is
//! only the instant the commands are decided at.
//!
//! # Keyed state
//!
//! The correlator's state is two keyed tables, so a store can keep it as rows
//! updated in place instead of one document rewritten per batch:
//!
//! * **groups**, keyed by group key ([`GroupingPolicy::group_key`]), each
//!   naming its current incident ([`Group::incident`], the column a store
//!   indexes to find the group of an incident);
//! * **seen alerts**, keyed by the alert's [`AlertKey::clear_key`].
//!
//! Every decision and every update reads and writes at most one row of each
//! table: the alert's seen row and one group row ([`Correlator::needs`],
//! [`Needs::group_for`]); an incident event reads and writes the group whose
//! current incident it is. So a caller can load only those rows into a
//! partial correlator ([`Correlator::from_parts`]), decide and apply as with
//! the whole state, and write back exactly the rows that changed
//! ([`Correlator::take_changes`]); the decisions are those of the whole
//! state.
//!
//! **Expiry.** A group row is never forgotten: its [`Group::seq`] numbers the
//! group's incidents, and a forgotten group would reuse incident ids. Groups
//! grow with distinct group keys, not with alerts. A seen row is read only by
//! messages about its own alert, and once the alert's recovery is recorded
//! it never changes again. It may be deleted after
//! [`GroupingPolicy::seen_expires_at`]: the policy's longest window
//! ([`GroupingPolicy::seen_retention_seconds`]) after the ingestion that
//! recorded the recovery. Deleting it changes no decision about any other
//! alert, nor about this alert as long as its messages (redeliveries of the
//! firing or of the recovery) are decided no later than that instant. A
//! message decided later finds no row and is decided as the alert's first
//! message: a recovery is ignored as [`IgnoreReason::UnknownRecovery`] (and
//! remembered again, as recovered); a firing is decided as a new alert that
//! fired at its `fired_at`, so by the rules above it can be recorded on its
//! group's incident a second time (the incident machine refuses a second
//! `CorrelateAlert` of one alert on one incident: nothing is recorded), on a later
//! incident of its group, reopen a resolved incident, open the group's next
//! incident, or be ignored as [`IgnoreReason::Late`]; recorded, it counts as
//! firing in its group again until a recovery of it arrives. A seen row whose
//! recovery never arrives is kept for ever.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::calendar::MAX_BUSINESS_DURATION;
use crate::classify::{DetectionSource, Impact, IncidentKind, Urgency, text_enum};
use crate::id::{IncidentId, MAX_ID_LEN, ServiceId, Text, trimmed, validate_id};
use crate::incident::{IncidentCommand, IncidentEvent, OpenIncident};
use crate::sla::{EscalationAction, EscalationRule, EscalationRules, EscalationTrigger};
use crate::time::{BusinessDuration, Timestamp};

text_enum!(
    /// How bad an alert is, most severe first (Table 4 level 4: alerts graded).
    AlertSeverity {
        /// Service down or about to be.
        Critical => "critical",
        /// Service badly degraded.
        Major => "major",
        /// Service degraded.
        Minor => "minor",
        /// Something to watch.
        Warning => "warning",
        /// Information only.
        Info => "info",
    }
);

/// Longest label value, fingerprint field text or dedup key, in bytes.
pub const MAX_ALERT_TEXT_LEN: usize = MAX_ID_LEN;
/// Longest window, flap interval or reopen window, in seconds (366 days).
pub const MAX_WINDOW_SECONDS: u64 = 366 * 86_400;
/// Longest incident id prefix, in bytes.
pub const MAX_ID_PREFIX_LEN: usize = 32;

/// A monitoring alert as a monitoring system delivers it: a firing, or (with
/// `resolved_at`) its recovery.
///
/// Its texts are ids (see [`crate::id`]): reading one from JSON, [`Alert::new`],
/// [`Alert::with_label`] and [`Alert::with_dedup_key`] trim surrounding
/// whitespace from the source, alert id, check, dedup key and label names and
/// values, so `"a-1 "` and `"a-1"` are the same alert; [`Alert::validate`]
/// refuses texts that were set untrimmed, and instants outside the supported
/// range [`Timestamp::MIN`] ..= [`Timestamp::MAX`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "AlertWire")]
pub struct Alert {
    /// The monitoring system's name (`prometheus`, `zabbix-eu`).
    pub source: String,
    /// The source's id of this alert; with `source`, the idempotency key.
    pub alert_id: String,
    /// The monitored service or configuration item.
    pub object: ServiceId,
    /// The check (alert rule) name.
    pub check: String,
    /// Severity.
    pub severity: AlertSeverity,
    /// When it fired.
    pub fired_at: Timestamp,
    /// When it recovered: set on a recovery message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Free labels (team, region...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The source's deduplication key (PagerDuty `dedup_key`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

/// [`Alert`] as read from JSON, before its texts are trimmed.
#[derive(Deserialize)]
struct AlertWire {
    source: String,
    alert_id: String,
    object: ServiceId,
    check: String,
    severity: AlertSeverity,
    fired_at: Timestamp,
    #[serde(default)]
    resolved_at: Option<Timestamp>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    dedup_key: Option<String>,
}

impl From<AlertWire> for Alert {
    fn from(wire: AlertWire) -> Self {
        let mut alert = Alert::new(wire.source, wire.alert_id, wire.object, wire.check, wire.severity, wire.fired_at);
        alert.resolved_at = wire.resolved_at;
        for (name, value) in wire.labels {
            alert = alert.with_label(name, value);
        }
        alert.dedup_key = wire.dedup_key.map(trimmed);
        alert
    }
}

/// Why an alert was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum AlertError {
    /// A field is empty, too long or holds a control character.
    #[error("alert {field} is invalid: {reason}")]
    Field {
        /// The field (`source`, `alert_id`, `label team`...).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// `fired_at` or `resolved_at` is outside the supported range, where the
    /// instants computed from it could not all be stored.
    #[error("alert {field} {at} is outside the supported range {} to {}", Timestamp::MIN, Timestamp::MAX)]
    UnsupportedInstant {
        /// `fired_at` or `resolved_at`.
        field: String,
        /// The instant.
        at: Timestamp,
    },
    /// `resolved_at` is before `fired_at`.
    #[error("alert recovered at {resolved_at}, before it fired at {fired_at}")]
    RecoveredBeforeFired {
        /// When it fired.
        fired_at: Timestamp,
        /// When it recovered.
        resolved_at: Timestamp,
    },
}

fn check_field(field: &str, text: &str, allow_empty: bool) -> Result<(), AlertError> {
    if allow_empty && text.is_empty() {
        return Ok(());
    }
    if text.trim().len() != text.len() && !text.trim().is_empty() {
        return Err(AlertError::Field {
            field: field.to_owned(),
            reason: "has surrounding whitespace (alert texts are trimmed when read)".to_owned(),
        });
    }
    validate_id("alert", text.trim()).map_err(|e| AlertError::Field { field: field.to_owned(), reason: e.to_string() })
}

impl Alert {
    /// A firing alert with no labels and no dedup key.
    pub fn new(
        source: impl Into<String>,
        alert_id: impl Into<String>,
        object: ServiceId,
        check: impl Into<String>,
        severity: AlertSeverity,
        fired_at: Timestamp,
    ) -> Self {
        Alert {
            source: trimmed(source.into()),
            alert_id: trimmed(alert_id.into()),
            object,
            check: trimmed(check.into()),
            severity,
            fired_at,
            resolved_at: None,
            labels: BTreeMap::new(),
            dedup_key: None,
        }
    }

    /// With a label (name and value trimmed).
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(trimmed(name.into()), trimmed(value.into()));
        self
    }

    /// With a dedup key (trimmed).
    pub fn with_dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(trimmed(key.into()));
        self
    }

    /// The recovery of this alert at `at`.
    pub fn recovered(mut self, at: Timestamp) -> Self {
        self.resolved_at = Some(at);
        self
    }

    /// `(source, alert_id)`.
    pub fn key(&self) -> AlertKey {
        AlertKey { source: self.source.clone(), alert_id: self.alert_id.clone() }
    }

    /// Checks the texts (source, alert id, check, dedup key and label names:
    /// 1 to 255 bytes without control characters or surrounding whitespace;
    /// label values: at most 255 bytes without control characters or
    /// surrounding whitespace), that the instants lie in the supported range
    /// [`Timestamp::MIN`] ..= [`Timestamp::MAX`], and that a recovery is not
    /// before the firing.
    pub fn validate(&self) -> Result<(), AlertError> {
        for (field, at) in [("fired_at", Some(self.fired_at)), ("resolved_at", self.resolved_at)] {
            if let Some(at) = at
                && !at.is_supported()
            {
                return Err(AlertError::UnsupportedInstant { field: field.to_owned(), at });
            }
        }
        check_field("source", &self.source, false)?;
        check_field("alert_id", &self.alert_id, false)?;
        check_field("check", &self.check, false)?;
        if let Some(key) = &self.dedup_key {
            check_field("dedup_key", key, false)?;
        }
        for (name, value) in &self.labels {
            check_field("label name", name, false)?;
            check_field(&format!("label {name}"), value, true)?;
        }
        match self.resolved_at {
            Some(resolved_at) if resolved_at < self.fired_at => {
                Err(AlertError::RecoveredBeforeFired { fired_at: self.fired_at, resolved_at })
            }
            Some(_) | None => Ok(()),
        }
    }

    /// The reference recorded on an incident.
    pub fn to_ref(&self, policy: &GroupingPolicy) -> AlertRef {
        AlertRef {
            source: self.source.clone(),
            alert_id: self.alert_id.clone(),
            fingerprint: policy.fingerprint(self),
            severity: self.severity,
            fired_at: self.fired_at,
        }
    }
}

/// An alert's identity: `(source, alert_id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    /// The monitoring system.
    pub source: String,
    /// The source's alert id.
    pub alert_id: String,
}

impl AlertKey {
    /// `source:alert_id`, with `%` and `:` in the source percent-encoded so the
    /// text is unambiguous: the `alert.clear` outbox dedup key and the
    /// correlator's map key. Stable per alert.
    pub fn clear_key(&self) -> String {
        format!("{}:{}", escape(&self.source, &[':']), self.alert_id)
    }
}

impl fmt::Display for AlertKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.clear_key())
    }
}

/// What an incident records about a correlated alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRef {
    /// The monitoring system.
    pub source: String,
    /// The source's alert id.
    pub alert_id: String,
    /// The alert's fingerprint under the grouping policy.
    pub fingerprint: String,
    /// Severity.
    pub severity: AlertSeverity,
    /// When it fired.
    pub fired_at: Timestamp,
}

impl AlertRef {
    /// `(source, alert_id)`.
    pub fn key(&self) -> AlertKey {
        AlertKey { source: self.source.clone(), alert_id: self.alert_id.clone() }
    }

    /// Checks source and alert id (1 to 255 bytes, no control characters) and
    /// the fingerprint (not empty, no NUL).
    pub fn validate(&self) -> Result<(), AlertError> {
        check_field("source", &self.source, false)?;
        check_field("alert_id", &self.alert_id, false)?;
        if self.fingerprint.is_empty() || self.fingerprint.contains('\0') {
            return Err(AlertError::Field {
                field: "fingerprint".to_owned(),
                reason: "empty or contains NUL".to_owned(),
            });
        }
        Ok(())
    }
}

/// A field the fingerprint is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintField {
    /// The monitoring system.
    Source,
    /// The monitored object.
    Object,
    /// The check name.
    Check,
    /// A label's value (a missing label differs from an empty one).
    Label(String),
}

/// How alerts are grouped into incidents (Tables 3 and 4: by monitored object
/// or by receiver).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum GroupBy {
    /// One group per fingerprint.
    #[default]
    Fingerprint,
    /// One group per monitored object, whatever the check.
    Object,
    /// One group per receiving team, named by a label; alerts without the
    /// label are grouped by fingerprint.
    Receiver {
        /// The label naming the receiver.
        label: String,
    },
}

/// What an alert of a severity does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeverityAction {
    /// Opens, merges into and reopens incidents.
    Open,
    /// Only annotates its group's incident when one is open or resolved.
    Annotate,
}

/// A severity's incident classification and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityRule {
    /// Open or annotate only.
    pub action: SeverityAction,
    /// The incident kind an opening alert gives.
    pub kind: IncidentKind,
    /// Impact.
    pub impact: Impact,
    /// Urgency.
    pub urgency: Urgency,
}

/// One rule per severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityTable {
    /// Critical alerts.
    pub critical: SeverityRule,
    /// Major alerts.
    pub major: SeverityRule,
    /// Minor alerts.
    pub minor: SeverityRule,
    /// Warnings.
    pub warning: SeverityRule,
    /// Information.
    pub info: SeverityRule,
}

impl Default for SeverityTable {
    /// Production incidents: critical 1x1 (P1), major 1x2 (P2), minor 2x2
    /// (P3) open; warning 2x3 and info 3x3 only annotate.
    fn default() -> Self {
        let rule = |action, impact, urgency| SeverityRule { action, kind: IncidentKind::Production, impact, urgency };
        SeverityTable {
            critical: rule(SeverityAction::Open, Impact::High, Urgency::High),
            major: rule(SeverityAction::Open, Impact::High, Urgency::Medium),
            minor: rule(SeverityAction::Open, Impact::Medium, Urgency::Medium),
            warning: rule(SeverityAction::Annotate, Impact::Medium, Urgency::Low),
            info: rule(SeverityAction::Annotate, Impact::Low, Urgency::Low),
        }
    }
}

impl SeverityTable {
    /// The rule for `severity`.
    pub fn rule(&self, severity: AlertSeverity) -> &SeverityRule {
        match severity {
            AlertSeverity::Critical => &self.critical,
            AlertSeverity::Major => &self.major,
            AlertSeverity::Minor => &self.minor,
            AlertSeverity::Warning => &self.warning,
            AlertSeverity::Info => &self.info,
        }
    }
}

/// Where an alert incident's category (with the service, the repeat key) comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum CategoryFrom {
    /// The check name.
    #[default]
    Check,
    /// A label's value (no category when the label is missing or empty).
    Label {
        /// The label.
        name: String,
    },
    /// A fixed text.
    Fixed {
        /// The category.
        text: Text,
    },
    /// No category.
    None,
}

/// When an unacknowledged alert incident escalates (Table 4 levels 4 and 5):
/// business time on the SLA calendar's response clock. Use a 24x7 calendar
/// for wall-clock acceptance times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// Not acknowledged after this: notify the backup person (the "B role").
    pub backup_after: BusinessDuration,
    /// Not acknowledged after this (longer): escalate upward.
    pub upward_after: BusinessDuration,
}

impl Default for Acceptance {
    /// Backup after 5 minutes, upward after 15.
    fn default() -> Self {
        Acceptance { backup_after: BusinessDuration::from_minutes(5), upward_after: BusinessDuration::from_minutes(15) }
    }
}

/// The grouping policy, as data. Deserializing validates; absent fields take
/// the default's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupingPolicy {
    /// Version of the policy.
    pub version: u32,
    /// Use the source's dedup key as the fingerprint when present.
    pub honor_dedup_key: bool,
    /// Fields of the fingerprint otherwise (not empty).
    pub fingerprint: Vec<FingerprintField>,
    /// How fingerprints form groups.
    pub group_by: GroupBy,
    /// Window in seconds: an opening alert joins its group's open incident when
    /// it fired at most this long after the group's last opening alert.
    pub window_seconds: u64,
    /// Flap interval in seconds: once all the group's alerts recovered, a new
    /// alert fired at most this long after the last recovery stays in the group.
    pub flap_seconds: u64,
    /// Reopen window in seconds: an alert fired less than this long after its
    /// incident was resolved reopens it; later, it opens a linked incident.
    pub reopen_seconds: u64,
    /// Severity -> action, kind, impact, urgency.
    pub severities: SeverityTable,
    /// Where the incident category comes from.
    pub category: CategoryFrom,
    /// Prefix of incident ids (letters, digits, `.`, `_`, `-`; at most 32 bytes).
    pub id_prefix: String,
    /// Acceptance times for escalation.
    pub acceptance: Acceptance,
}

impl Default for GroupingPolicy {
    /// Version 1: dedup key honoured, else fingerprint (source, object, check),
    /// grouped by fingerprint; window 30 minutes, flap 10 minutes, reopen 1
    /// hour; the default severity table; category from the check; ids
    /// `ALERT-...`; acceptance 5 minutes to the backup, 15 upward.
    fn default() -> Self {
        GroupingPolicy {
            version: 1,
            honor_dedup_key: true,
            fingerprint: vec![FingerprintField::Source, FingerprintField::Object, FingerprintField::Check],
            group_by: GroupBy::Fingerprint,
            window_seconds: 30 * 60,
            flap_seconds: 10 * 60,
            reopen_seconds: 60 * 60,
            severities: SeverityTable::default(),
            category: CategoryFrom::Check,
            id_prefix: "ALERT".to_owned(),
            acceptance: Acceptance::default(),
        }
    }
}

/// Why a grouping policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupingPolicyError {
    /// No fingerprint fields.
    #[error("the fingerprint needs at least one field")]
    EmptyFingerprint,
    /// A label name or the id prefix is invalid.
    #[error("{what} `{name}` is invalid: {reason}")]
    InvalidName {
        /// What it names.
        what: &'static str,
        /// The text given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A window above [`MAX_WINDOW_SECONDS`].
    #[error("{what} of {seconds} s is longer than {MAX_WINDOW_SECONDS} s")]
    WindowTooLong {
        /// Which window.
        what: &'static str,
        /// The value given.
        seconds: u64,
    },
    /// Acceptance times zero, too long, or not increasing.
    #[error(
        "acceptance times must satisfy 0 < backup_after ({backup_after}) < upward_after ({upward_after}) <= {MAX_BUSINESS_DURATION}"
    )]
    InvalidAcceptance {
        /// The backup delay given.
        backup_after: BusinessDuration,
        /// The upward delay given.
        upward_after: BusinessDuration,
    },
}

/// The parts of an alert incident id, `{id_prefix}-{opened}-{hash}-{seq}`
/// (from [`GroupingPolicy::incident_id_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentIdParts<'a> {
    /// When the alert that opened the incident fired, `YYYYMMDDTHHMMSSZ`.
    pub opened: &'a str,
    /// The 128-bit FNV-1a of the group key, 32 lowercase hex digits.
    pub group_hash: &'a str,
    /// The incident's number within its group, from 1.
    pub seq: u64,
}

impl GroupingPolicy {
    /// Checks label names, the id prefix, windows and acceptance times.
    pub fn validate(&self) -> Result<(), GroupingPolicyError> {
        let label = |name: &str| {
            validate_id("label", name).map_err(|e| GroupingPolicyError::InvalidName {
                what: "label",
                name: name.to_owned(),
                reason: e.to_string(),
            })
        };
        if self.fingerprint.is_empty() {
            return Err(GroupingPolicyError::EmptyFingerprint);
        }
        for field in &self.fingerprint {
            match field {
                FingerprintField::Label(name) => label(name)?,
                FingerprintField::Source | FingerprintField::Object | FingerprintField::Check => {}
            }
        }
        match &self.group_by {
            GroupBy::Receiver { label: name } => label(name)?,
            GroupBy::Fingerprint | GroupBy::Object => {}
        }
        match &self.category {
            CategoryFrom::Label { name } => label(name)?,
            CategoryFrom::Check | CategoryFrom::Fixed { .. } | CategoryFrom::None => {}
        }
        let prefix_ok = !self.id_prefix.is_empty()
            && self.id_prefix.len() <= MAX_ID_PREFIX_LEN
            && self.id_prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
        if !prefix_ok {
            return Err(GroupingPolicyError::InvalidName {
                what: "id prefix",
                name: self.id_prefix.clone(),
                reason: format!("must be 1 to {MAX_ID_PREFIX_LEN} ASCII letters, digits, `.`, `_` or `-`"),
            });
        }
        for (what, seconds) in [
            ("window", self.window_seconds),
            ("flap interval", self.flap_seconds),
            ("reopen window", self.reopen_seconds),
        ] {
            if seconds > MAX_WINDOW_SECONDS {
                return Err(GroupingPolicyError::WindowTooLong { what, seconds });
            }
        }
        let Acceptance { backup_after, upward_after } = self.acceptance;
        if backup_after == BusinessDuration::ZERO
            || upward_after <= backup_after
            || upward_after > MAX_BUSINESS_DURATION
        {
            return Err(GroupingPolicyError::InvalidAcceptance { backup_after, upward_after });
        }
        Ok(())
    }

    /// The alert's fingerprint: `dedup:{source}:{dedup_key}` when the dedup key
    /// is honoured and present, else `field=value` parts joined by `|`
    /// (`source=...|object=...|check=...|label.team=...`, a missing label as
    /// `label.team!`), with `%`, `:`, `|`, `=` and `!` percent-encoded.
    pub fn fingerprint(&self, alert: &Alert) -> String {
        const SPECIAL: &[char] = &[':', '|', '=', '!'];
        if self.honor_dedup_key
            && let Some(key) = &alert.dedup_key
        {
            return format!("dedup:{}:{}", escape(&alert.source, SPECIAL), escape(key, SPECIAL));
        }
        let parts: Vec<String> = self
            .fingerprint
            .iter()
            .map(|field| match field {
                FingerprintField::Source => format!("source={}", escape(&alert.source, SPECIAL)),
                FingerprintField::Object => format!("object={}", escape(alert.object.as_str(), SPECIAL)),
                FingerprintField::Check => format!("check={}", escape(&alert.check, SPECIAL)),
                FingerprintField::Label(name) => match alert.labels.get(name) {
                    Some(value) => format!("label.{}={}", escape(name, SPECIAL), escape(value, SPECIAL)),
                    None => format!("label.{}!", escape(name, SPECIAL)),
                },
            })
            .collect();
        parts.join("|")
    }

    /// The alert's group key: its fingerprint, `object=...`, or
    /// `receiver=...` (the fingerprint when the receiver label is missing).
    pub fn group_key(&self, alert: &Alert) -> String {
        const SPECIAL: &[char] = &[':', '|', '=', '!'];
        match &self.group_by {
            GroupBy::Fingerprint => self.fingerprint(alert),
            GroupBy::Object => format!("object={}", escape(alert.object.as_str(), SPECIAL)),
            GroupBy::Receiver { label } => match alert.labels.get(label) {
                Some(value) => format!("receiver={}", escape(value, SPECIAL)),
                None => self.fingerprint(alert),
            },
        }
    }

    /// The id of the group's `seq`-th incident, opened by an alert fired at
    /// `opened`: `{id_prefix}-{opened}-{hash}-{seq}`, `opened` in UTC as
    /// `YYYYMMDDTHHMMSSZ` (fixed width, so ids sort by it) and `hash` the
    /// 128-bit FNV-1a of the group key as 32 hex digits.
    pub fn incident_id(&self, group_key: &str, seq: u64, opened: Timestamp) -> Result<IncidentId, AlertError> {
        let opened = opened.as_utc().format("%Y%m%dT%H%M%SZ");
        IncidentId::new(format!("{}-{opened}-{:032x}-{seq}", self.id_prefix, fnv1a_128(group_key.as_bytes())))
            .map_err(|e| AlertError::Field { field: "incident id".to_owned(), reason: e.to_string() })
    }

    /// The parts of `id` when it is an incident id this policy makes (see
    /// [`GroupingPolicy::incident_id`]); `None` for any other id. Two
    /// deliveries of one stream in different orders give incidents with the
    /// same [`IncidentIdParts::group_hash`] and [`IncidentIdParts::seq`];
    /// only [`IncidentIdParts::opened`] may differ.
    pub fn incident_id_parts<'a>(&self, id: &'a IncidentId) -> Option<IncidentIdParts<'a>> {
        let rest = id.as_str().strip_prefix(self.id_prefix.as_str())?.strip_prefix('-')?;
        let (opened, rest) = rest.split_once('-')?;
        let (group_hash, seq) = rest.split_once('-')?;
        let opened_ok = opened.len() == 16
            && opened.bytes().enumerate().all(|(i, b)| match i {
                8 => b == b'T',
                15 => b == b'Z',
                _ => b.is_ascii_digit(),
            });
        let hash_ok = group_hash.len() == 32 && group_hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let seq_ok = !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit());
        if !(opened_ok && hash_ok && seq_ok) {
            return None;
        }
        Some(IncidentIdParts { opened, group_hash, seq: seq.parse().ok()? })
    }

    /// How long a recovered alert's seen row is kept after the ingestion that
    /// recorded its recovery, in seconds: the policy's longest window, the
    /// largest of [`GroupingPolicy::window_seconds`],
    /// [`GroupingPolicy::flap_seconds`] and
    /// [`GroupingPolicy::reopen_seconds`].
    ///
    /// This is the delivery tolerance the policy promises: every redelivery of
    /// an alert's firing or recovery must be decided within this long after its
    /// recovery was recorded. See the module's *Keyed state* section for what
    /// a later redelivery does.
    pub fn seen_retention_seconds(&self) -> u64 {
        self.window_seconds.max(self.flap_seconds).max(self.reopen_seconds)
    }

    /// When the seen row `seen`, written by an ingestion decided at
    /// `recorded_at`, may be deleted: for a recovered alert,
    /// `recorded_at + seen_retention_seconds()` (delete when the ingestion
    /// instant is after it); `None` (keep it) for an alert not recovered, or
    /// when that instant would lie past [`Timestamp::MAX`].
    ///
    /// A recovered row never changes again, so the instant computed when its
    /// recovery is written (or when it is created recovered, for a recovery
    /// that arrived first) is final: store it with the row. Deleting the row
    /// once the ingestion instant is past it changes no decision about other
    /// alerts, nor about its own alert's messages decided at or before it; a
    /// message about the alert decided later is decided as its first message
    /// (the module's *Keyed state* section lists what that does).
    pub fn seen_expires_at(&self, seen: &Seen, recorded_at: Timestamp) -> Option<Timestamp> {
        if !seen.recovered {
            return None;
        }
        let seconds = i64::try_from(self.seen_retention_seconds()).ok()?;
        recorded_at.plus_seconds(seconds)
    }

    /// Escalation rules for alert incidents: not acknowledged within
    /// `backup_after` -> notify the backup person (rule
    /// `alert-unaccepted-backup`); within `upward_after` -> escalate upward
    /// (`alert-unaccepted-upward`). Rules cannot filter by detection source, so
    /// the caller evaluates [`crate::sla::due_escalations`] with these rules
    /// (or [`GroupingPolicy::escalation_rules_over`]) for incidents detected by
    /// monitoring. Versioned with the policy.
    pub fn escalation_rules(&self) -> EscalationRules {
        EscalationRules { version: self.version, rules: self.acceptance_rules() }
    }

    /// `base` with its `not_acknowledged_within` rules replaced by the
    /// acceptance rules (and any base rule with the same id dropped); the
    /// other rules (thresholds, breaches) are kept. Keeps `base`'s version.
    pub fn escalation_rules_over(&self, base: &EscalationRules) -> EscalationRules {
        let mut rules = self.acceptance_rules();
        for rule in &base.rules {
            let replaced = match rule.trigger {
                EscalationTrigger::NotAcknowledgedWithin { .. } => true,
                EscalationTrigger::Threshold { .. } | EscalationTrigger::Breach { .. } => false,
            };
            if !replaced && !rules.iter().any(|r| r.id == rule.id) {
                rules.push(rule.clone());
            }
        }
        EscalationRules { version: base.version, rules }
    }

    fn acceptance_rules(&self) -> Vec<EscalationRule> {
        let rule = |id: &str, after, action| EscalationRule {
            id: id.to_owned(),
            trigger: EscalationTrigger::NotAcknowledgedWithin { after },
            action,
            priorities: Vec::new(),
            kinds: Vec::new(),
        };
        vec![
            rule("alert-unaccepted-backup", self.acceptance.backup_after, EscalationAction::NotifyBackup),
            rule("alert-unaccepted-upward", self.acceptance.upward_after, EscalationAction::EscalateUpward),
        ]
    }

    fn category_of(&self, alert: &Alert) -> Option<Text> {
        match &self.category {
            CategoryFrom::Check => Text::new(alert.check.clone()).ok(),
            CategoryFrom::Label { name } => {
                alert.labels.get(name).filter(|v| !v.is_empty()).and_then(|v| Text::new(v.clone()).ok())
            }
            CategoryFrom::Fixed { text } => Some(text.clone()),
            CategoryFrom::None => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    honor_dedup_key: bool,
    fingerprint: Vec<FingerprintField>,
    group_by: GroupBy,
    window_seconds: u64,
    flap_seconds: u64,
    reopen_seconds: u64,
    severities: SeverityTable,
    category: CategoryFrom,
    id_prefix: String,
    acceptance: Acceptance,
}

impl Default for RawPolicy {
    fn default() -> Self {
        let p = GroupingPolicy::default();
        RawPolicy {
            version: p.version,
            honor_dedup_key: p.honor_dedup_key,
            fingerprint: p.fingerprint,
            group_by: p.group_by,
            window_seconds: p.window_seconds,
            flap_seconds: p.flap_seconds,
            reopen_seconds: p.reopen_seconds,
            severities: p.severities,
            category: p.category,
            id_prefix: p.id_prefix,
            acceptance: p.acceptance,
        }
    }
}

impl<'de> Deserialize<'de> for GroupingPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPolicy::deserialize(deserializer)?;
        let policy = GroupingPolicy {
            version: raw.version,
            honor_dedup_key: raw.honor_dedup_key,
            fingerprint: raw.fingerprint,
            group_by: raw.group_by,
            window_seconds: raw.window_seconds,
            flap_seconds: raw.flap_seconds,
            reopen_seconds: raw.reopen_seconds,
            severities: raw.severities,
            category: raw.category,
            id_prefix: raw.id_prefix,
            acceptance: raw.acceptance,
        };
        policy.validate().map_err(serde::de::Error::custom)?;
        Ok(policy)
    }
}

fn escape(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || special.contains(&c) {
            out.push_str(&format!("%{:02X}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// 128-bit FNV-1a: stable across platforms and versions.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, b| (hash ^ u128::from(*b)).wrapping_mul(PRIME))
}

/// Whether `later - earlier <= seconds` (microsecond exact; true when `later`
/// is before `earlier`).
fn at_most_after(earlier: Timestamp, later: Timestamp, seconds: u64) -> bool {
    i128::from(later.unix_micros()) - i128::from(earlier.unix_micros()) <= i128::from(seconds) * 1_000_000
}

/// The status of a group's current incident, as the correlator knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GroupStatus {
    /// Not resolved (new, assigned, in progress or on hold).
    Open,
    /// Resolved at `at`.
    Resolved {
        /// When.
        at: Timestamp,
    },
    /// Closed at `at` after a resolution at `resolved_at`.
    Closed {
        /// When it was resolved.
        resolved_at: Timestamp,
        /// When it was closed.
        at: Timestamp,
    },
    /// Cancelled at `at`.
    Cancelled {
        /// When.
        at: Timestamp,
    },
}

/// A group of alerts and its current incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The group's current incident.
    pub incident: IncidentId,
    /// Its number in the group (1 for the first).
    pub seq: u64,
    /// Its status.
    pub status: GroupStatus,
    /// Its service (the repeat key, with the category).
    pub service: ServiceId,
    /// Its category.
    pub category: Option<Text>,
    /// Its impact as last known.
    pub impact: Impact,
    /// Its urgency as last known.
    pub urgency: Urgency,
    /// Latest `fired_at` among the opening alerts of the current incident.
    pub last_fired_at: Timestamp,
    /// Latest recovery among them, if any.
    pub last_clear_at: Option<Timestamp>,
    /// Opening alerts of the current incident not yet recovered (their clear keys).
    pub firing: BTreeSet<String>,
}

impl Group {
    fn live_for(&self, fired_at: Timestamp, policy: &GroupingPolicy) -> bool {
        match self.last_clear_at {
            Some(clear) if self.firing.is_empty() => at_most_after(clear, fired_at, policy.flap_seconds),
            Some(_) | None => at_most_after(self.last_fired_at, fired_at, policy.window_seconds),
        }
    }
}

/// What the correlator remembers of an alert it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The alert's group key.
    pub group: String,
    /// The incident it was correlated to, if any.
    pub incident: Option<IncidentId>,
    /// Whether its recovery was seen.
    pub recovered: bool,
}

/// Why an alert changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The alert is invalid.
    Invalid {
        /// What is wrong.
        error: AlertError,
    },
    /// An annotate-only severity and no incident of its group to annotate.
    NothingOpen {
        /// The severity.
        severity: AlertSeverity,
    },
    /// A recovery of an alert never seen firing (remembered, see
    /// [`IgnoreReason::AlreadyRecovered`]).
    UnknownRecovery,
    /// A firing whose recovery was seen first.
    AlreadyRecovered,
    /// Fired before its group's closed incident was resolved: too late to
    /// record, and a closed incident cannot reopen.
    Late {
        /// The closed incident.
        incident: IncidentId,
    },
}

impl IgnoreReason {
    /// The reason's stable name (as in JSON): `invalid`, `nothing_open`,
    /// `unknown_recovery`, `already_recovered`, `late`.
    pub fn name(&self) -> &'static str {
        match self {
            IgnoreReason::Invalid { .. } => "invalid",
            IgnoreReason::NothingOpen { .. } => "nothing_open",
            IgnoreReason::UnknownRecovery => "unknown_recovery",
            IgnoreReason::AlreadyRecovered => "already_recovered",
            IgnoreReason::Late { .. } => "late",
        }
    }
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::Invalid { error } => write!(f, "invalid: {error}"),
            IgnoreReason::NothingOpen { severity } => {
                write!(f, "nothing_open: a {severity} alert only annotates, and its group has no incident to annotate")
            }
            IgnoreReason::UnknownRecovery => f.write_str("unknown_recovery: a recovery of an alert never seen firing"),
            IgnoreReason::AlreadyRecovered => f.write_str("already_recovered: its recovery arrived before the firing"),
            IgnoreReason::Late { incident } => {
                write!(
                    f,
                    "late: fired before its group's incident {incident} was resolved, and that incident is closed"
                )
            }
        }
    }
}

/// What to do with an alert. Commands are listed in execution order; run them
/// with an automation actor, then [`Correlator::apply`] the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Seen before: nothing to do.
    Duplicate,
    /// Open the group's first incident (or the next after a cancelled one) and
    /// record the alert on it.
    Open {
        /// The new incident.
        incident: IncidentId,
        /// `IncidentCommand::Open`, detected by monitoring.
        open: IncidentCommand,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
    },
    /// Record the alert on the group's incident (open, or resolved for an alert
    /// that fired before the resolution), re-prioritising it when the alert is
    /// more severe.
    Merge {
        /// The incident.
        incident: IncidentId,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
        /// `IncidentCommand::Reprioritize`, when the alert raises impact or urgency.
        reprioritize: Option<IncidentCommand>,
    },
    /// Reopen the resolved incident (within the reopen window): `Reopen`,
    /// `CorrelateAlert`, and `Reprioritize` when the alert is more severe.
    Reopen {
        /// The incident.
        incident: IncidentId,
        /// The commands.
        commands: Vec<IncidentCommand>,
    },
    /// Open the group's next incident, linked to the earlier one: `Open`
    /// (same service and category as the earlier one), `AddNote` (internal,
    /// naming the earlier incident), `CorrelateAlert`.
    OpenLinked {
        /// The new incident.
        incident: IncidentId,
        /// The earlier incident (resolved outside the reopen window, closed, or
        /// still open but its group ended).
        earlier: IncidentId,
        /// The commands.
        commands: Vec<IncidentCommand>,
    },
    /// Record an annotate-only alert on the group's incident.
    Annotate {
        /// The incident.
        incident: IncidentId,
        /// `IncidentCommand::CorrelateAlert`.
        correlate: IncidentCommand,
    },
    /// A recovery, recorded on the group for flapping; no incident command.
    Recovery {
        /// The incident the alert was correlated to, if any.
        incident: Option<IncidentId>,
        /// Whether every opening alert of the group's current incident has now recovered.
        all_clear: bool,
    },
    /// Nothing to do, for a reason.
    Ignore {
        /// Why.
        reason: IgnoreReason,
    },
}

impl Decision {
    /// The incident commands to run, in order, each with its incident.
    pub fn commands(&self) -> Vec<(IncidentId, IncidentCommand)> {
        fn with(incident: &IncidentId, commands: &[&IncidentCommand]) -> Vec<(IncidentId, IncidentCommand)> {
            commands.iter().map(|c| (incident.clone(), (*c).clone())).collect()
        }
        match self {
            Decision::Open { incident, open, correlate } => with(incident, &[open, correlate]),
            Decision::Merge { incident, correlate, reprioritize } => {
                let mut commands = vec![correlate];
                commands.extend(reprioritize.iter());
                with(incident, &commands)
            }
            Decision::Reopen { incident, commands } | Decision::OpenLinked { incident, commands, .. } => {
                commands.iter().map(|c| (incident.clone(), c.clone())).collect()
            }
            Decision::Annotate { incident, correlate } => with(incident, &[correlate]),
            Decision::Duplicate | Decision::Recovery { .. } | Decision::Ignore { .. } => Vec::new(),
        }
    }

    /// The incident this decision opens, if any.
    pub fn opened(&self) -> Option<&IncidentId> {
        match self {
            Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => Some(incident),
            Decision::Duplicate
            | Decision::Merge { .. }
            | Decision::Reopen { .. }
            | Decision::Annotate { .. }
            | Decision::Recovery { .. }
            | Decision::Ignore { .. } => None,
        }
    }
}

/// The correlator's state: groups by key and alerts seen. A pure fold over the
/// alert stream and the incident events it is told about.
///
/// It may hold the whole state or only the rows some alerts need (see the
/// module's *Keyed state* section, [`Correlator::from_parts`]). It records
/// which rows its updates changed until [`Correlator::take_changes`]; that
/// record is not part of its JSON form nor of its equality.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Correlator {
    groups: BTreeMap<String, Group>,
    /// Current incident -> its group key (an index over `groups`).
    current: BTreeMap<IncidentId, String>,
    seen: BTreeMap<String, Seen>,
    /// Rows changed since the last `take_changes`, with their earlier value.
    #[serde(skip)]
    before: Before,
}

/// The value of each row an update touched since the last
/// [`Correlator::take_changes`], as it was before the first touch.
#[derive(Debug, Clone, Default)]
struct Before {
    groups: BTreeMap<String, Option<Group>>,
    seen: BTreeMap<String, Option<Seen>>,
}

impl PartialEq for Correlator {
    /// Equal state (groups, index, seen alerts); the change record is ignored.
    fn eq(&self, other: &Self) -> bool {
        self.groups == other.groups && self.current == other.current && self.seen == other.seen
    }
}

impl Eq for Correlator {}

/// The rows one alert reads and writes (see [`Correlator::needs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The key of the alert's seen row: its [`AlertKey::clear_key`].
    pub seen: String,
    /// The key of the group a first message of the alert reads and writes:
    /// [`GroupingPolicy::group_key`]. A message about an alert already seen
    /// uses the group recorded in its seen row instead ([`Needs::group_for`]).
    pub group: String,
}

impl Needs {
    /// The one group row the alert's decision and update read and write,
    /// given its seen row as stored (`None` when there is none): the seen
    /// row's group when there is one (a recovery updates the group its firing
    /// joined, whatever its labels say now), else [`Needs::group`].
    pub fn group_for<'a>(&'a self, seen: Option<&'a Seen>) -> &'a str {
        seen.map_or(self.group.as_str(), |s| s.group.as_str())
    }
}

/// The rows that changed since the last [`Correlator::take_changes`]: each
/// with its new value, to insert or overwrite. Rows are never deleted by the
/// correlator (see [`GroupingPolicy::seen_expires_at`] for expiry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Changed groups by group key.
    pub groups: BTreeMap<String, Group>,
    /// Changed seen alerts by [`AlertKey::clear_key`].
    pub seen: BTreeMap<String, Seen>,
}

impl Changes {
    /// Whether no row changed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.seen.is_empty()
    }
}

impl Correlator {
    /// An empty correlator.
    pub fn new() -> Self {
        Correlator::default()
    }

    /// A correlator holding only the given rows (the rows some alerts or
    /// incident events need), with the index of current incidents rebuilt
    /// from the groups. Nothing is recorded as changed.
    ///
    /// For a batch of alerts load, for each alert, its seen row as stored and
    /// the group row [`Needs::group_for`] names for it (each when the store has
    /// it); for an incident event, the group whose [`Group::incident`] it is.
    /// Rows an earlier alert of the batch creates are then already in the
    /// correlator. Deciding, applying and observing in stream order then give
    /// the decisions and rows of the whole state.
    pub fn from_parts(
        groups: impl IntoIterator<Item = (String, Group)>,
        seen: impl IntoIterator<Item = (String, Seen)>,
    ) -> Self {
        let groups: BTreeMap<String, Group> = groups.into_iter().collect();
        let current = groups.iter().map(|(key, group)| (group.incident.clone(), key.clone())).collect();
        Correlator { groups, current, seen: seen.into_iter().collect(), before: Before::default() }
    }

    /// The groups and seen alerts (for instance to turn a whole state into
    /// rows).
    pub fn into_parts(self) -> (BTreeMap<String, Group>, BTreeMap<String, Seen>) {
        (self.groups, self.seen)
    }

    /// The rows `alert` reads and writes under `policy`: its seen row, and
    /// the group [`Needs::group_for`] names once the seen row is known. An
    /// incident event needs the group whose [`Group::incident`] it is.
    pub fn needs(alert: &Alert, policy: &GroupingPolicy) -> Needs {
        Needs { seen: alert.key().clear_key(), group: policy.group_key(alert) }
    }

    /// The rows changed since the last call (or since [`Correlator::from_parts`]),
    /// with their new values; a row changed and changed back is not listed.
    /// Clears the record.
    pub fn take_changes(&mut self) -> Changes {
        let before = std::mem::take(&mut self.before);
        let groups = before
            .groups
            .into_iter()
            .filter_map(|(key, old)| {
                let new = self.groups.get(&key)?;
                (old.as_ref() != Some(new)).then(|| (key, new.clone()))
            })
            .collect();
        let seen = before
            .seen
            .into_iter()
            .filter_map(|(key, old)| {
                let new = self.seen.get(&key)?;
                (old.as_ref() != Some(new)).then(|| (key, new.clone()))
            })
            .collect();
        Changes { groups, seen }
    }

    /// Records the group row's value before its first change since the last
    /// `take_changes`.
    fn touch_group(&mut self, key: &str) {
        if !self.before.groups.contains_key(key) {
            let old = self.groups.get(key).cloned();
            self.before.groups.insert(key.to_owned(), old);
        }
    }

    /// Records the seen row's value before its first change since the last
    /// `take_changes`.
    fn touch_seen(&mut self, key: &str) {
        if !self.before.seen.contains_key(key) {
            let old = self.seen.get(key).cloned();
            self.before.seen.insert(key.to_owned(), old);
        }
    }

    /// The groups by key.
    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// The alerts seen, by [`AlertKey::clear_key`].
    pub fn seen_entries(&self) -> &BTreeMap<String, Seen> {
        &self.seen
    }

    /// The group of `incident` if it is the group's current incident.
    pub fn group_of(&self, incident: &IncidentId) -> Option<(&str, &Group)> {
        let key = self.current.get(incident)?;
        self.groups.get(key).map(|g| (key.as_str(), g))
    }

    /// The group whose current incident is `incident`, its row recorded as
    /// touched when `update` is set (`None` for an event that changes no group).
    fn current_for_update(&mut self, incident: &IncidentId, update: bool) -> Option<&mut Group> {
        if !update {
            return None;
        }
        let key = self.current.get(incident)?.clone();
        self.touch_group(&key);
        self.groups.get_mut(&key)
    }

    /// Whether [`Correlator::observe`] may change a group for `event`.
    fn may_change(event: &IncidentEvent) -> bool {
        match event {
            IncidentEvent::Resolved { .. }
            | IncidentEvent::Reopened { .. }
            | IncidentEvent::Closed { .. }
            | IncidentEvent::Cancelled { .. }
            | IncidentEvent::Reprioritized { .. } => true,
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => false,
        }
    }

    /// What the correlator remembers of an alert.
    pub fn seen(&self, key: &AlertKey) -> Option<&Seen> {
        self.seen.get(&key.clear_key())
    }

    /// Decides what `alert` does. Pure; `now` is the instant the commands will
    /// be executed at (an `impact_start` after it is dropped).
    pub fn decide(&self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Decision {
        match self.try_decide(alert, policy, now) {
            Ok(decision) => decision,
            Err(error) => Decision::Ignore { reason: IgnoreReason::Invalid { error } },
        }
    }

    /// Decides and applies.
    pub fn correlate(&mut self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Decision {
        let decision = self.decide(alert, policy, now);
        self.apply(alert, policy, &decision);
        decision
    }

    fn try_decide(&self, alert: &Alert, policy: &GroupingPolicy, now: Timestamp) -> Result<Decision, AlertError> {
        alert.validate()?;
        let key = alert.key().clear_key();
        let seen = self.seen.get(&key);
        if alert.resolved_at.is_some() {
            return Ok(match seen {
                Some(s) if s.recovered => Decision::Duplicate,
                Some(s) => {
                    let group = self.groups.get(&s.group);
                    let all_clear = group.is_some_and(|g| g.firing.contains(&key) && g.firing.len() == 1);
                    Decision::Recovery { incident: s.incident.clone(), all_clear }
                }
                None => Decision::Ignore { reason: IgnoreReason::UnknownRecovery },
            });
        }
        match seen {
            Some(s) if s.recovered && s.incident.is_none() => {
                return Ok(Decision::Ignore { reason: IgnoreReason::AlreadyRecovered });
            }
            Some(_) => return Ok(Decision::Duplicate),
            None => {}
        }
        let group_key = policy.group_key(alert);
        let rule = policy.severities.rule(alert.severity);
        let opens = match rule.action {
            SeverityAction::Open => true,
            SeverityAction::Annotate => false,
        };
        let correlate = IncidentCommand::CorrelateAlert { alert: alert.to_ref(policy) };
        let nothing_open = Decision::Ignore { reason: IgnoreReason::NothingOpen { severity: alert.severity } };
        let Some(group) = self.groups.get(&group_key) else {
            if !opens {
                return Ok(nothing_open);
            }
            let incident = policy.incident_id(&group_key, 1, alert.fired_at)?;
            let open = open_command(&incident, alert, policy, now, policy.category_of(alert), alert.object.clone())?;
            return Ok(Decision::Open { incident, open, correlate });
        };
        let t = alert.fired_at;
        let next_linked = |earlier: &IncidentId, note: String| -> Result<Decision, AlertError> {
            let incident = policy.incident_id(&group_key, group.seq.saturating_add(1), alert.fired_at)?;
            let open = open_command(&incident, alert, policy, now, group.category.clone(), group.service.clone())?;
            let note = IncidentCommand::AddNote { text: text(note)?, public: false };
            Ok(Decision::OpenLinked {
                incident,
                earlier: earlier.clone(),
                commands: vec![open, note, correlate.clone()],
            })
        };
        let incident = group.incident.clone();
        match group.status {
            GroupStatus::Open => {
                if !opens {
                    return Ok(Decision::Annotate { incident, correlate });
                }
                if group.live_for(t, policy) {
                    let reprioritize = raise(group, rule);
                    return Ok(Decision::Merge { incident, correlate, reprioritize });
                }
                next_linked(
                    &incident,
                    format!(
                        "Alert {} follows alert incident {incident} (still open) after its alert group ended",
                        alert.key()
                    ),
                )
            }
            GroupStatus::Resolved { at } => {
                if t <= at {
                    return Ok(if opens {
                        Decision::Merge { incident, correlate, reprioritize: None }
                    } else {
                        Decision::Annotate { incident, correlate }
                    });
                }
                if !opens {
                    return Ok(nothing_open);
                }
                let elapsed = i128::from(t.unix_micros()) - i128::from(at.unix_micros());
                if elapsed < i128::from(policy.reopen_seconds) * 1_000_000 {
                    let reason = text(format!("Alert {} fired within the reopen window", alert.key()))?;
                    let mut commands = vec![IncidentCommand::Reopen { reason }, correlate];
                    commands.extend(raise(group, rule));
                    return Ok(Decision::Reopen { incident, commands });
                }
                next_linked(&incident, format!("Repeat of alert incident {incident}, resolved at {at}"))
            }
            GroupStatus::Closed { resolved_at, .. } => {
                if t <= resolved_at {
                    return Ok(Decision::Ignore { reason: IgnoreReason::Late { incident } });
                }
                if !opens {
                    return Ok(nothing_open);
                }
                next_linked(&incident, format!("Repeat of alert incident {incident}, resolved at {resolved_at}"))
            }
            GroupStatus::Cancelled { .. } => {
                if !opens {
                    return Ok(nothing_open);
                }
                let incident = policy.incident_id(&group_key, group.seq.saturating_add(1), alert.fired_at)?;
                let open =
                    open_command(&incident, alert, policy, now, policy.category_of(alert), alert.object.clone())?;
                Ok(Decision::Open { incident, open, correlate })
            }
        }
    }

    /// Records a decision made by [`Correlator::decide`] for `alert` under
    /// `policy` (after its commands succeeded). Holds no rule.
    pub fn apply(&mut self, alert: &Alert, policy: &GroupingPolicy, decision: &Decision) {
        let key = alert.key().clear_key();
        let rule = policy.severities.rule(alert.severity);
        let group_key = policy.group_key(alert);
        let seen = |incident: Option<&IncidentId>| Seen {
            group: group_key.clone(),
            incident: incident.cloned(),
            recovered: false,
        };
        match decision {
            Decision::Duplicate => {}
            Decision::Ignore { reason } => match reason {
                IgnoreReason::UnknownRecovery => {
                    self.touch_seen(&key);
                    self.seen.insert(key, Seen { group: group_key.clone(), incident: None, recovered: true });
                }
                IgnoreReason::Invalid { .. }
                | IgnoreReason::NothingOpen { .. }
                | IgnoreReason::AlreadyRecovered
                | IgnoreReason::Late { .. } => {}
            },
            Decision::Open { incident, .. } | Decision::OpenLinked { incident, .. } => {
                let linked = matches!(decision, Decision::OpenLinked { .. });
                let (seq, service, category) = match self.groups.get(&group_key) {
                    Some(g) if linked => (g.seq.saturating_add(1), g.service.clone(), g.category.clone()),
                    Some(g) => (g.seq.saturating_add(1), alert.object.clone(), policy.category_of(alert)),
                    None => (1, alert.object.clone(), policy.category_of(alert)),
                };
                if let Some(earlier) = self.groups.get(&group_key) {
                    self.current.remove(&earlier.incident);
                }
                self.touch_group(&group_key);
                self.touch_seen(&key);
                self.current.insert(incident.clone(), group_key.clone());
                self.groups.insert(
                    group_key.clone(),
                    Group {
                        incident: incident.clone(),
                        seq,
                        status: GroupStatus::Open,
                        service,
                        category,
                        impact: rule.impact,
                        urgency: rule.urgency,
                        last_fired_at: alert.fired_at,
                        last_clear_at: None,
                        firing: [key.clone()].into_iter().collect(),
                    },
                );
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Merge { incident, .. } => {
                if self.groups.get(&group_key).is_some_and(|g| g.status == GroupStatus::Open) {
                    self.touch_group(&group_key);
                }
                self.touch_seen(&key);
                if let Some(g) = self.groups.get_mut(&group_key)
                    && g.status == GroupStatus::Open
                {
                    g.last_fired_at = g.last_fired_at.max(alert.fired_at);
                    g.firing.insert(key.clone());
                    g.impact = g.impact.min(rule.impact);
                    g.urgency = g.urgency.min(rule.urgency);
                }
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Reopen { incident, .. } => {
                self.touch_group(&group_key);
                self.touch_seen(&key);
                if let Some(g) = self.groups.get_mut(&group_key) {
                    g.status = GroupStatus::Open;
                    g.last_fired_at = g.last_fired_at.max(alert.fired_at);
                    g.last_clear_at = None;
                    g.firing = [key.clone()].into_iter().collect();
                    g.impact = g.impact.min(rule.impact);
                    g.urgency = g.urgency.min(rule.urgency);
                }
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Annotate { incident, .. } => {
                self.touch_seen(&key);
                self.seen.insert(key, seen(Some(incident)));
            }
            Decision::Recovery { .. } => {
                let resolved_at = alert.resolved_at.unwrap_or(alert.fired_at);
                let Some(group) = self.seen.get(&key).map(|s| s.group.clone()) else { return };
                self.touch_seen(&key);
                if self.groups.get(&group).is_some_and(|g| g.firing.contains(&key)) {
                    self.touch_group(&group);
                }
                if let Some(s) = self.seen.get_mut(&key) {
                    s.recovered = true;
                    if let Some(g) = self.groups.get_mut(&s.group)
                        && g.firing.remove(&key)
                    {
                        g.last_clear_at = Some(g.last_clear_at.map_or(resolved_at, |c| c.max(resolved_at)));
                    }
                }
            }
        }
    }

    /// Tells the correlator about an event of `incident` (resolved, reopened,
    /// closed, cancelled, re-prioritised by anyone). Events of an incident that
    /// is not its group's current one change nothing; repeating an event
    /// changes nothing more.
    pub fn observe(&mut self, incident: &IncidentId, event: &IncidentEvent) {
        let Some(group) = self.current_for_update(incident, Self::may_change(event)) else {
            return;
        };
        match event {
            IncidentEvent::Resolved { at, .. } => group.status = GroupStatus::Resolved { at: *at },
            IncidentEvent::Reopened { at, .. } => {
                if group.status != GroupStatus::Open {
                    group.status = GroupStatus::Open;
                    group.last_fired_at = group.last_fired_at.max(*at);
                    group.last_clear_at = None;
                    group.firing.clear();
                }
            }
            IncidentEvent::Closed { at, .. } => {
                let resolved_at = match group.status {
                    GroupStatus::Resolved { at: resolved } | GroupStatus::Closed { resolved_at: resolved, .. } => {
                        resolved
                    }
                    GroupStatus::Open | GroupStatus::Cancelled { .. } => *at,
                };
                group.status = GroupStatus::Closed { resolved_at, at: *at };
            }
            IncidentEvent::Cancelled { at, .. } => group.status = GroupStatus::Cancelled { at: *at },
            IncidentEvent::Reprioritized { impact, urgency, .. } => {
                group.impact = *impact;
                group.urgency = *urgency;
            }
            IncidentEvent::Opened { .. }
            | IncidentEvent::Assigned { .. }
            | IncidentEvent::Acknowledged { .. }
            | IncidentEvent::ImpactRecorded { .. }
            | IncidentEvent::Started { .. }
            | IncidentEvent::Held { .. }
            | IncidentEvent::Resumed { .. }
            | IncidentEvent::TierEscalated { .. }
            | IncidentEvent::MajorDeclared { .. }
            | IncidentEvent::ProblemLinked { .. }
            | IncidentEvent::ChangeLinked { .. }
            | IncidentEvent::ParentSet { .. }
            | IncidentEvent::ChildLinked { .. }
            | IncidentEvent::NoteAdded { .. }
            | IncidentEvent::AlertCorrelated { .. } => {}
        }
    }

    /// The incident was resolved at `at` (by anyone).
    pub fn incident_resolved(&mut self, incident: &IncidentId, at: Timestamp) {
        if let Some(group) = self.current_for_update(incident, true) {
            group.status = GroupStatus::Resolved { at };
        }
    }

    /// The incident was closed at `at`.
    pub fn incident_closed(&mut self, incident: &IncidentId, at: Timestamp) {
        if let Some(group) = self.current_for_update(incident, true) {
            let resolved_at = match group.status {
                GroupStatus::Resolved { at: resolved } | GroupStatus::Closed { resolved_at: resolved, .. } => resolved,
                GroupStatus::Open | GroupStatus::Cancelled { .. } => at,
            };
            group.status = GroupStatus::Closed { resolved_at, at };
        }
    }
}

/// The impact and urgency re-prioritisation an opening alert calls for: the
/// component-wise most severe of the group's and the rule's, when that differs.
fn raise(group: &Group, rule: &SeverityRule) -> Option<IncidentCommand> {
    let impact = group.impact.min(rule.impact);
    let urgency = group.urgency.min(rule.urgency);
    (impact != group.impact || urgency != group.urgency).then_some(IncidentCommand::Reprioritize { impact, urgency })
}

fn text(s: String) -> Result<Text, AlertError> {
    Text::new(s).map_err(|e| AlertError::Field { field: "text".to_owned(), reason: e.to_string() })
}

fn open_command(
    incident: &IncidentId,
    alert: &Alert,
    policy: &GroupingPolicy,
    now: Timestamp,
    category: Option<Text>,
    service: ServiceId,
) -> Result<IncidentCommand, AlertError> {
    let rule = policy.severities.rule(alert.severity);
    let title = text(format!("[{}] {} on {} ({})", alert.severity, alert.check, alert.object, alert.source))?;
    let mut open = OpenIncident::new(
        incident.clone(),
        rule.kind,
        service,
        title,
        rule.impact,
        rule.urgency,
        DetectionSource::Monitoring,
    );
    open.category = category;
    open.impact_start = (alert.fired_at <= now).then_some(alert.fired_at);
    Ok(IncidentCommand::Open(open))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_772_442_000 + secs).unwrap()
    }

    fn alert(id: &str, check: &str, severity: AlertSeverity, at: i64) -> Alert {
        Alert::new("prom", id, ServiceId::new("db-1").unwrap(), check, severity, ts(at))
    }

    #[test]
    fn fnv1a_128_matches_the_reference_vectors() {
        assert_eq!(fnv1a_128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    #[test]
    fn fingerprints_escape_their_separators_and_tell_missing_from_empty_labels() {
        let mut policy = GroupingPolicy::default();
        policy.fingerprint.push(FingerprintField::Label("team".to_owned()));
        let a = Alert::new("p:r|o", "1", ServiceId::new("db=1").unwrap(), "cpu%!", AlertSeverity::Critical, ts(0));
        assert_eq!(policy.fingerprint(&a), "source=p%3Ar%7Co|object=db%3D1|check=cpu%25%21|label.team!");
        let empty = a.clone().with_label("team", "");
        assert_eq!(policy.fingerprint(&empty), "source=p%3Ar%7Co|object=db%3D1|check=cpu%25%21|label.team=");
        let dedup = a.clone().with_dedup_key("k:1");
        assert_eq!(policy.fingerprint(&dedup), "dedup:p%3Ar%7Co:k%3A1");
        policy.honor_dedup_key = false;
        assert_eq!(policy.fingerprint(&dedup), policy.fingerprint(&a));
        assert_eq!(a.key().clear_key(), "p%3Ar|o:1");
    }

    #[test]
    fn group_keys_follow_group_by() {
        let mut policy = GroupingPolicy::default();
        let a = alert("1", "cpu", AlertSeverity::Critical, 0).with_label("team", "dba");
        let b = alert("2", "disk", AlertSeverity::Critical, 0);
        assert_ne!(policy.group_key(&a), policy.group_key(&b));
        policy.group_by = GroupBy::Object;
        assert_eq!(policy.group_key(&a), "object=db-1");
        assert_eq!(policy.group_key(&a), policy.group_key(&b));
        policy.group_by = GroupBy::Receiver { label: "team".to_owned() };
        assert_eq!(policy.group_key(&a), "receiver=dba");
        assert_eq!(policy.group_key(&b), policy.fingerprint(&b));
    }

    #[test]
    fn incident_ids_hash_the_group_key_and_number_the_incidents() {
        let policy = GroupingPolicy::default();
        let id = policy.incident_id("object=db-1", 7, ts(0)).unwrap();
        assert_eq!(id.as_str(), format!("ALERT-20260302T090000Z-{:032x}-7", fnv1a_128(b"object=db-1")));
        assert_eq!(id.as_str().len(), "ALERT-".len() + 17 + 32 + 2);
        let parts = policy.incident_id_parts(&id).unwrap();
        assert_eq!(parts.opened, "20260302T090000Z");
        assert_eq!((parts.group_hash, parts.seq), (format!("{:032x}", fnv1a_128(b"object=db-1")).as_str(), 7));
        for other in ["ALERT-1", "OTHER-20260302T090000Z-0-7", "ALERT-20260302T0900Z-00-7", "ALERTX-x"] {
            assert_eq!(policy.incident_id_parts(&IncidentId::new(other).unwrap()), None, "{other}");
        }
        // Fixed width: ids of one prefix sort by their opening instant.
        let later = policy.incident_id("object=a", 1, ts(1)).unwrap();
        let earlier = policy.incident_id("object=z", 9, ts(0)).unwrap();
        assert!(earlier < later);
    }

    #[test]
    fn policies_validate_and_deserialize_with_defaults() {
        assert_eq!(GroupingPolicy::default().validate(), Ok(()));
        let json = r#"{"window_seconds": 300, "group_by": {"by": "receiver", "label": "team"},
                       "fingerprint": ["object", {"label": "region"}]}"#;
        let policy: GroupingPolicy = serde_json::from_str(json).unwrap();
        assert_eq!(policy.window_seconds, 300);
        assert_eq!(policy.flap_seconds, GroupingPolicy::default().flap_seconds);
        assert_eq!(policy.fingerprint[1], FingerprintField::Label("region".to_owned()));
        let back: GroupingPolicy = serde_json::from_str(&serde_json::to_string(&policy).unwrap()).unwrap();
        assert_eq!(back, policy);
        for bad in [
            r#"{"fingerprint": []}"#,
            r#"{"id_prefix": "A/B"}"#,
            r#"{"reopen_seconds": 99999999999}"#,
            r#"{"acceptance": {"backup_after": 600, "upward_after": 600}}"#,
            r#"{"group_by": {"by": "receiver", "label": ""}}"#,
            r#"{"window": 5}"#,
        ] {
            assert!(serde_json::from_str::<GroupingPolicy>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_alerts_are_ignored_with_the_reason() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let bad = alert("", "cpu", AlertSeverity::Critical, 0);
        assert!(matches!(
            c.decide(&bad, &policy, ts(0)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::Field { .. } } }
        ));
        let backwards = alert("1", "cpu", AlertSeverity::Critical, 10).recovered(ts(5));
        assert!(matches!(
            c.decide(&backwards, &policy, ts(10)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::RecoveredBeforeFired { .. } } }
        ));
        let control = alert("1", "cpu", AlertSeverity::Critical, 0).with_label("team", "a\nb");
        assert!(control.validate().is_err());
    }

    #[test]
    fn instants_outside_the_supported_range_are_ignored_at_ingestion_with_the_reason() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let late = Timestamp::parse_rfc3339("9999-12-31T23:30:00Z").unwrap();
        let object = ServiceId::new("db-1").unwrap();
        let fired = Alert::new("prom", "1", object.clone(), "cpu", AlertSeverity::Critical, late);
        let decision = c.decide(&fired, &policy, late);
        let expected = AlertError::UnsupportedInstant { field: "fired_at".to_owned(), at: late };
        assert_eq!(decision, Decision::Ignore { reason: IgnoreReason::Invalid { error: expected } });
        let Decision::Ignore { reason } = decision else { unreachable!() };
        assert_eq!(reason.name(), "invalid");
        assert_eq!(
            reason.to_string(),
            "invalid: alert fired_at 9999-12-31T23:30:00.000000Z is outside the supported range \
             1000-01-01T00:00:00.000000Z to 9000-01-01T00:00:00.000000Z"
        );
        let recovered = alert("2", "cpu", AlertSeverity::Critical, 0).recovered(late);
        assert!(matches!(
            c.decide(&recovered, &policy, ts(0)),
            Decision::Ignore { reason: IgnoreReason::Invalid { error: AlertError::UnsupportedInstant { .. } } }
        ));
        // The last supported instant opens as usual.
        let edge = Alert::new("prom", "3", object, "cpu", AlertSeverity::Critical, Timestamp::MAX);
        assert!(matches!(c.decide(&edge, &policy, Timestamp::MAX), Decision::Open { .. }));
    }

    #[test]
    fn alert_texts_are_trimmed_when_read_and_untrimmed_ones_refused() {
        let json = r#"{"source":" prom ","alert_id":"a-1 ","object":" db-1","check":"cpu\t",
                       "severity":"critical","fired_at":"2026-03-02T09:00:00Z",
                       "labels":{" team ":" dba "},"dedup_key":" k "}"#;
        let read: Alert = serde_json::from_str(json).unwrap();
        let built = alert("a-1", "cpu", AlertSeverity::Critical, 0);
        assert_eq!((read.source.as_str(), read.alert_id.as_str(), read.check.as_str()), ("prom", "a-1", "cpu"));
        assert_eq!(read.object, ServiceId::new("db-1").unwrap());
        assert_eq!(read.labels.get("team").map(String::as_str), Some("dba"));
        assert_eq!(read.dedup_key.as_deref(), Some("k"));
        assert_eq!(read.key(), built.key());
        assert_eq!(read.validate(), Ok(()));
        // The same alert redelivered with different padding is a duplicate.
        let mut c = Correlator::new();
        let policy = GroupingPolicy::default();
        assert!(matches!(
            c.correlate(
                &Alert::new(" prom", "a-1", ServiceId::new("db-1").unwrap(), "cpu ", AlertSeverity::Critical, ts(0)),
                &policy,
                ts(0)
            ),
            Decision::Open { .. }
        ));
        assert_eq!(c.decide(&read, &policy, ts(0)), Decision::Duplicate);
        // Blank texts are refused; a text set untrimmed on the struct is refused, not silently different.
        let blank = r#"{"source":" ","alert_id":"1","object":"db-1","check":"cpu","severity":"critical","fired_at":"2026-03-02T09:00:00Z"}"#;
        let blank: Alert = serde_json::from_str(blank).unwrap();
        assert!(matches!(blank.validate(), Err(AlertError::Field { field, .. }) if field == "source"));
        let mut padded = built;
        padded.alert_id = "a-1 ".to_owned();
        let err = padded.validate().unwrap_err().to_string();
        assert!(err.contains("alert_id") && err.contains("surrounding whitespace"), "{err}");
        assert!(serde_json::from_str::<Alert>(&json.replace(" db-1", " ")).is_err());
    }

    #[test]
    fn an_alert_from_the_future_opens_without_an_impact_start() {
        let c = Correlator::new();
        let policy = GroupingPolicy::default();
        let Decision::Open { open: IncidentCommand::Open(open), .. } =
            c.decide(&alert("1", "cpu", AlertSeverity::Critical, 60), &policy, ts(0))
        else {
            panic!("expected open");
        };
        assert_eq!(open.impact_start, None);
        assert_eq!(open.source, DetectionSource::Monitoring);
        assert_eq!(open.category.as_ref().map(Text::as_str), Some("cpu"));
        assert_eq!(open.title.as_str(), "[critical] cpu on db-1 (prom)");
    }

    #[test]
    fn the_correlator_state_round_trips_through_json() {
        let mut c = Correlator::new();
        let policy = GroupingPolicy::default();
        c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0), &policy, ts(0));
        c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0).recovered(ts(30)), &policy, ts(30));
        c.correlate(&alert("2", "cpu", AlertSeverity::Minor, 7200), &policy, ts(7200));
        let back: Correlator = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        // The index follows the group's current incident only.
        let key = policy.group_key(&alert("x", "cpu", AlertSeverity::Minor, 0));
        let (first, second) =
            (policy.incident_id(&key, 1, ts(0)).unwrap(), policy.incident_id(&key, 2, ts(7200)).unwrap());
        assert!(c.group_of(&first).is_none());
        assert_eq!(c.group_of(&second).map(|(k, g)| (k, g.seq)), Some((key.as_str(), 2)));
    }

    #[test]
    fn decisions_round_trip_through_json() {
        let mut c = Correlator::new();
        let policy = GroupingPolicy::default();
        let mut decisions = vec![
            c.correlate(&alert("1", "cpu", AlertSeverity::Minor, 0), &policy, ts(0)),
            c.correlate(&alert("2", "cpu", AlertSeverity::Critical, 60), &policy, ts(60)),
            c.correlate(&alert("2", "cpu", AlertSeverity::Critical, 60), &policy, ts(60)),
            c.correlate(&alert("3", "mem", AlertSeverity::Info, 60), &policy, ts(60)),
            c.correlate(&alert("", "cpu", AlertSeverity::Minor, 0), &policy, ts(60)),
        ];
        c.incident_resolved(
            &policy.incident_id(&policy.group_key(&alert("1", "cpu", AlertSeverity::Minor, 0)), 1, ts(0)).unwrap(),
            ts(120),
        );
        decisions.push(c.correlate(&alert("4", "cpu", AlertSeverity::Minor, 180), &policy, ts(180)));
        decisions.push(c.correlate(&alert("5", "cpu", AlertSeverity::Minor, 9000), &policy, ts(9000)));
        let names: Vec<String> = decisions
            .iter()
            .map(|d| serde_json::to_value(d).unwrap()["decision"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(names, ["open", "merge", "duplicate", "ignore", "ignore", "reopen", "open_linked"]);
        for d in decisions {
            let back: Decision = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
            assert_eq!(back, d);
        }
    }
}
