//! Escalation rules (maturity model Tables 4 and 16) and their evaluation.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};

use super::clock::replay;
use super::policy::{SlaPolicy, TargetKind};
use super::{SlaError, SlaEvent};
use crate::calendar::{Calendar, MAX_BUSINESS_DURATION};
use crate::id::IncidentId;
use crate::time::{BusinessDuration, Timestamp};
use crate::vocabulary::{IncidentKind, Priority};

/// Longest rule id, in bytes.
pub const MAX_RULE_ID_LEN: usize = 64;
/// Highest percentage a threshold rule may use.
pub const MAX_RULE_PERCENT: u32 = 200;

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case", deny_unknown_fields)]
pub enum EscalationTrigger {
    /// The response clock has counted `after` of business time without an
    /// acknowledgement (Table 4 level 5: "not accepted in time").
    NotAcknowledgedWithin {
        /// Business time (seconds in JSON).
        after: BusinessDuration,
    },
    /// A target's elapsed business time reaches `percent` of its goal.
    Threshold {
        /// Which target.
        target: TargetKind,
        /// Percentage of the goal, 1 to [`MAX_RULE_PERCENT`].
        percent: u32,
    },
    /// A target is breached (elapsed reaches 100 % of its goal).
    Breach {
        /// Which target.
        target: TargetKind,
    },
}

/// What to do when a rule fires; the store or an outbox consumer carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationAction {
    /// Notify the backup person (the "B role").
    NotifyBackup,
    /// Notify the assignment group's lead.
    NotifyGroupLead,
    /// Escalate upward (next support tier or management).
    EscalateUpward,
    /// Propose the incident as a major incident.
    ProposeMajorIncident,
}

/// One escalation rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationRule {
    /// Stable id (ASCII letters, digits, `.`, `_`, `-`); part of every escalation id it produces.
    pub id: String,
    /// When it fires.
    pub trigger: EscalationTrigger,
    /// What to do.
    pub action: EscalationAction,
    /// Only for these priorities (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<Priority>,
    /// Only for these incident kinds (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<IncidentKind>,
}

/// A versioned set of escalation rules. Deserializing validates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EscalationRules {
    /// Version of the rules.
    pub version: u32,
    /// The rules.
    pub rules: Vec<EscalationRule>,
}

/// Why escalation rules were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// A rule id that is empty, too long or has other characters than `[A-Za-z0-9._-]`.
    #[error("rule id `{id}` must be 1 to {MAX_RULE_ID_LEN} ASCII letters, digits, `.`, `_` or `-`")]
    InvalidId {
        /// The id given.
        id: String,
    },
    /// Two rules with one id.
    #[error("two rules with id `{id}`")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A threshold percentage outside 1..=[`MAX_RULE_PERCENT`].
    #[error("rule `{id}`: threshold {percent}% must be between 1% and {MAX_RULE_PERCENT}%")]
    InvalidPercent {
        /// The rule.
        id: String,
        /// The value given.
        percent: u32,
    },
    /// A `not_acknowledged_within` of zero or above the maximum business duration.
    #[error("rule `{id}`: not_acknowledged_within {after} must be between 1 second and {max}")]
    InvalidDelay {
        /// The rule.
        id: String,
        /// The value given.
        after: BusinessDuration,
        /// The maximum.
        max: BusinessDuration,
    },
}

impl Default for EscalationRules {
    /// Version 1: unacknowledged after 15 business minutes -> backup person;
    /// 75 % of resolution -> group lead; resolution breach -> escalate upward,
    /// and for P1 also propose a major incident.
    fn default() -> Self {
        let rule = |id: &str, trigger, action, priorities: Vec<Priority>| EscalationRule {
            id: id.to_owned(),
            trigger,
            action,
            priorities,
            kinds: Vec::new(),
        };
        EscalationRules {
            version: 1,
            rules: vec![
                rule(
                    "unacknowledged-backup",
                    EscalationTrigger::NotAcknowledgedWithin { after: BusinessDuration::from_minutes(15) },
                    EscalationAction::NotifyBackup,
                    vec![],
                ),
                rule(
                    "resolution-75-lead",
                    EscalationTrigger::Threshold { target: TargetKind::Resolution, percent: 75 },
                    EscalationAction::NotifyGroupLead,
                    vec![],
                ),
                rule(
                    "resolution-breach-upward",
                    EscalationTrigger::Breach { target: TargetKind::Resolution },
                    EscalationAction::EscalateUpward,
                    vec![],
                ),
                rule(
                    "p1-resolution-breach-major",
                    EscalationTrigger::Breach { target: TargetKind::Resolution },
                    EscalationAction::ProposeMajorIncident,
                    vec![Priority::P1],
                ),
            ],
        }
    }
}

impl EscalationRules {
    /// Checks ids (valid, unique), percentages and delays.
    pub fn validate(&self) -> Result<(), RulesError> {
        let mut seen = BTreeSet::new();
        for rule in &self.rules {
            let id_ok = !rule.id.is_empty()
                && rule.id.len() <= MAX_RULE_ID_LEN
                && rule.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
            if !id_ok {
                return Err(RulesError::InvalidId { id: rule.id.clone() });
            }
            if !seen.insert(rule.id.as_str()) {
                return Err(RulesError::DuplicateId { id: rule.id.clone() });
            }
            match rule.trigger {
                EscalationTrigger::Threshold { percent, .. } if !(1..=MAX_RULE_PERCENT).contains(&percent) => {
                    return Err(RulesError::InvalidPercent { id: rule.id.clone(), percent });
                }
                EscalationTrigger::NotAcknowledgedWithin { after }
                    if after == BusinessDuration::ZERO || after > MAX_BUSINESS_DURATION =>
                {
                    return Err(RulesError::InvalidDelay { id: rule.id.clone(), after, max: MAX_BUSINESS_DURATION });
                }
                EscalationTrigger::Threshold { .. }
                | EscalationTrigger::NotAcknowledgedWithin { .. }
                | EscalationTrigger::Breach { .. } => {}
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    version: u32,
    rules: Vec<EscalationRule>,
}

impl<'de> Deserialize<'de> for EscalationRules {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRules::deserialize(deserializer)?;
        let rules = EscalationRules { version: raw.version, rules: raw.rules };
        rules.validate().map_err(serde::de::Error::custom)?;
        Ok(rules)
    }
}

/// An escalation that is due: execute it once, keyed by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueEscalation {
    /// Stable id from (incident, target, cycle, rule):
    /// `sla-escalation/{incident}/{target}/{cycle}/{rule}`, with `%` and `/`
    /// in the incident id percent-encoded. The same escalation always gets the
    /// same id, so a store can execute it exactly once.
    pub id: String,
    /// The incident.
    pub incident: IncidentId,
    /// The rule's id.
    pub rule: String,
    /// The target the rule watched.
    pub target: TargetKind,
    /// The target's cycle.
    pub cycle: u32,
    /// What to do.
    pub action: EscalationAction,
    /// When it became due.
    pub due_at: Timestamp,
    /// Version of the rules used.
    pub rules_version: u32,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            other => out.push(other),
        }
    }
    out
}

/// Every escalation due at `now`, including those that became due earlier (so a
/// store that was down catches up), ordered by due instant then id. Pure.
///
/// A rule is due for a clock once the clock's elapsed business time has
/// reached the rule's level (an absolute time for `not_acknowledged_within`,
/// a share of the goal otherwise) at or before `now`, whether or not the clock
/// has stopped since; the priority and kind filters use the clock's current
/// priority. Re-targeting moves the due instant but never the id.
pub fn due_escalations(
    incident: &IncidentId,
    events: &[SlaEvent],
    policy: &SlaPolicy,
    rules: &EscalationRules,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<Vec<DueEscalation>, SlaError> {
    rules.validate()?;
    let tracks = replay(events, policy, now)?;
    let mut due = Vec::new();
    for rule in &rules.rules {
        for track in &tracks {
            if !rule.priorities.is_empty() && !rule.priorities.contains(&track.priority) {
                continue;
            }
            if !rule.kinds.is_empty() && !rule.kinds.contains(&track.kind) {
                continue;
            }
            let level = match rule.trigger {
                EscalationTrigger::NotAcknowledgedWithin { after } if track.target == TargetKind::Response => {
                    i64::try_from(after.as_secs()).unwrap_or(i64::MAX).saturating_mul(1_000_000)
                }
                EscalationTrigger::Threshold { target, percent } if track.target == target => track.level(percent),
                EscalationTrigger::Breach { target } if track.target == target => track.level(100),
                EscalationTrigger::NotAcknowledgedWithin { .. }
                | EscalationTrigger::Threshold { .. }
                | EscalationTrigger::Breach { .. } => continue,
            };
            let (at, reached) = track.crossing(calendar, now, level)?;
            if let (Some(due_at), true) = (at, reached)
                && due_at <= now
            {
                due.push(DueEscalation {
                    id: format!(
                        "sla-escalation/{}/{}/{}/{}",
                        escape(incident.as_str()),
                        track.target.as_str(),
                        track.cycle,
                        rule.id
                    ),
                    incident: incident.clone(),
                    rule: rule.id.clone(),
                    target: track.target,
                    cycle: track.cycle,
                    action: rule.action,
                    due_at,
                    rules_version: rules.version,
                });
            }
        }
    }
    due.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    Ok(due)
}
