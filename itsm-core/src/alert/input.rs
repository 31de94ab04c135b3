//! The alert as delivered: [`Alert`] and its validation ([`AlertError`]),
//! its identity ([`AlertKey`]) and what an incident records of it
//! ([`AlertRef`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::GroupingPolicy;
use super::fingerprint::escape;
use crate::id::{MAX_ID_LEN, ServiceId, trimmed, validate_id};
use crate::time::Timestamp;
use crate::vocabulary::text_enum;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::test_support::{alert, ts};
    use crate::alert::{Correlator, Decision};

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
}
