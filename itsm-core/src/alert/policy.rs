//! The grouping policy as data: fingerprint fields, grouping, the severity
//! table, the category source and acceptance times ([`GroupingPolicy`]), its
//! validation ([`GroupingPolicyError`]) and deserialisation, seen-row expiry
//! and the acceptance escalation rules.

use serde::{Deserialize, Deserializer, Serialize};

use super::{Alert, AlertSeverity, Seen};
use crate::calendar::MAX_BUSINESS_DURATION;
use crate::id::{Text, validate_id};
use crate::sla::{EscalationAction, EscalationRule, EscalationRules, EscalationTrigger};
use crate::time::{BusinessDuration, Timestamp};
use crate::vocabulary::{Impact, IncidentKind, Urgency};

/// Longest window, flap interval or reopen window, in seconds (366 days).
pub const MAX_WINDOW_SECONDS: u64 = 366 * 86_400;
/// Longest incident id prefix, in bytes.
pub const MAX_ID_PREFIX_LEN: usize = 32;

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

    pub(super) fn category_of(&self, alert: &Alert) -> Option<Text> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
