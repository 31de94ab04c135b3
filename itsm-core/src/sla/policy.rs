//! SLA policy: targets per (kind, priority), pausing holds, reopen policy,
//! warning thresholds.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::calendar::MAX_BUSINESS_DURATION;
use crate::time::BusinessDuration;
use crate::vocabulary::{HoldReason, IncidentKind, Priority};

/// Which target a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Time to first response (acknowledgement).
    Response,
    /// Time to resolution.
    Resolution,
    /// Time between public updates to the caller.
    Update,
}

impl TargetKind {
    /// The stable name (`response`, `resolution`, `update`).
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetKind::Response => "response",
            TargetKind::Resolution => "resolution",
            TargetKind::Update => "update",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The targets that apply to one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSet {
    /// Business time to first response.
    pub response: BusinessDuration,
    /// Business time to resolution.
    pub resolution: BusinessDuration,
    /// Business time allowed between public updates, if updates are measured.
    pub update: Option<BusinessDuration>,
}

impl TargetSet {
    /// The target for `kind`, if set.
    pub fn get(&self, kind: TargetKind) -> Option<BusinessDuration> {
        match kind {
            TargetKind::Response => Some(self.response),
            TargetKind::Resolution => Some(self.resolution),
            TargetKind::Update => self.update,
        }
    }
}

/// Targets for one priority, for one incident kind or (`kind: null`) for every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    /// The incident kind, or `None` for any kind without its own entry.
    #[serde(default)]
    pub kind: Option<IncidentKind>,
    /// The priority.
    pub priority: Priority,
    /// Business time to first response (seconds in JSON).
    pub response: BusinessDuration,
    /// Business time to resolution (seconds in JSON).
    pub resolution: BusinessDuration,
    /// Business time between public updates (seconds in JSON), if measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<BusinessDuration>,
}

impl TargetEntry {
    fn set(&self) -> TargetSet {
        TargetSet { response: self.response, resolution: self.resolution, update: self.update }
    }
}

/// What a `Reopened` does to the resolution clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReopenPolicy {
    /// Continue the same cycle; the time from resolution to reopening does not count.
    #[default]
    ContinueCycle,
    /// Start a new cycle from the reopening; the earlier cycle stays as completed history.
    NewCycle,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Two entries for the same kind and priority.
    #[error("two target entries for P{priority} {}", kind_text(*kind))]
    DuplicateTarget {
        /// The kind (`None`: any kind).
        kind: Option<IncidentKind>,
        /// The priority.
        priority: Priority,
    },
    /// A target of zero or above the maximum business duration.
    #[error("{target} target {value} for P{priority} {} must be between 1 second and {max}", kind_text(*kind))]
    InvalidTarget {
        /// Which target.
        target: super::TargetKind,
        /// The kind (`None`: any kind).
        kind: Option<IncidentKind>,
        /// The priority.
        priority: Priority,
        /// The value given.
        value: BusinessDuration,
        /// The maximum.
        max: BusinessDuration,
    },
    /// A warning threshold outside 1..=100 %.
    #[error("warning threshold {percent}% must be between 1% and 100%")]
    InvalidThreshold {
        /// The value given.
        percent: u32,
    },
    /// Warning thresholds not strictly increasing.
    #[error("warning thresholds must increase strictly, found {previous}% then {next}%")]
    ThresholdOrder {
        /// The earlier value.
        previous: u32,
        /// The value after it.
        next: u32,
    },
}

fn kind_text(kind: Option<IncidentKind>) -> String {
    match kind {
        Some(kind) => format!("{kind} incidents"),
        None => "incidents of any kind".to_owned(),
    }
}

/// An SLA policy. Serde shape is JSON configuration; deserializing validates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaPolicy {
    /// Version of this policy; clocks record which version they used.
    pub version: u32,
    /// Targets per (kind, priority). Lookup: the entry for the incident's kind
    /// and priority, else the entry for its priority with `kind: null`.
    pub targets: Vec<TargetEntry>,
    /// Hold reasons that pause the clocks.
    pub pausing_holds: BTreeSet<HoldReason>,
    /// What a reopen does to the resolution clock.
    pub reopen: ReopenPolicy,
    /// Percentages of a target at which a warning is reported (default 50, 75, 100).
    pub warning_thresholds: Vec<u32>,
}

fn default_pausing_holds() -> BTreeSet<HoldReason> {
    [HoldReason::AwaitingCaller, HoldReason::AwaitingVendor, HoldReason::AwaitingEvidence].into_iter().collect()
}

fn default_thresholds() -> Vec<u32> {
    vec![50, 75, 100]
}

impl Default for SlaPolicy {
    /// Version 1: business-time targets for P1..P5 of any kind
    /// (P1 15 min / 4 h / updates every hour, P2 30 min / 8 h / every 2 h,
    /// P3 2 h / 24 h, P4 4 h / 40 h, P5 8 h / 80 h); caller, vendor and
    /// evidence holds pause; reopen continues the cycle; warnings at 50/75/100 %.
    fn default() -> Self {
        let entry = |priority, response, resolution, update: Option<u64>| TargetEntry {
            kind: None,
            priority,
            response: BusinessDuration::from_minutes(response),
            resolution: BusinessDuration::from_hours(resolution),
            update: update.map(BusinessDuration::from_hours),
        };
        SlaPolicy {
            version: 1,
            targets: vec![
                entry(Priority::P1, 15, 4, Some(1)),
                entry(Priority::P2, 30, 8, Some(2)),
                entry(Priority::P3, 120, 24, None),
                entry(Priority::P4, 240, 40, None),
                entry(Priority::P5, 480, 80, None),
            ],
            pausing_holds: default_pausing_holds(),
            reopen: ReopenPolicy::ContinueCycle,
            warning_thresholds: default_thresholds(),
        }
    }
}

impl SlaPolicy {
    /// Checks the policy: no duplicate entries, targets between one second and
    /// [`MAX_BUSINESS_DURATION`], thresholds strictly increasing within 1..=100 %.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut seen = BTreeSet::new();
        for entry in &self.targets {
            if !seen.insert((entry.kind, entry.priority)) {
                return Err(PolicyError::DuplicateTarget { kind: entry.kind, priority: entry.priority });
            }
            let set = entry.set();
            for target in [TargetKind::Response, TargetKind::Resolution, TargetKind::Update] {
                if let Some(value) = set.get(target)
                    && (value == BusinessDuration::ZERO || value > MAX_BUSINESS_DURATION)
                {
                    return Err(PolicyError::InvalidTarget {
                        target,
                        kind: entry.kind,
                        priority: entry.priority,
                        value,
                        max: MAX_BUSINESS_DURATION,
                    });
                }
            }
        }
        for &percent in &self.warning_thresholds {
            if !(1..=100).contains(&percent) {
                return Err(PolicyError::InvalidThreshold { percent });
            }
        }
        for pair in self.warning_thresholds.windows(2) {
            if let [previous, next] = pair
                && next <= previous
            {
                return Err(PolicyError::ThresholdOrder { previous: *previous, next: *next });
            }
        }
        Ok(())
    }

    /// The targets for an incident of `kind` and `priority`, if the policy has any.
    pub fn targets_for(&self, kind: IncidentKind, priority: Priority) -> Option<TargetSet> {
        let exact = self.targets.iter().find(|e| e.kind == Some(kind) && e.priority == priority);
        exact.or_else(|| self.targets.iter().find(|e| e.kind.is_none() && e.priority == priority)).map(TargetEntry::set)
    }

    /// Whether a hold for `reason` pauses the clocks.
    pub fn pauses(&self, reason: HoldReason) -> bool {
        self.pausing_holds.contains(&reason)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: u32,
    targets: Vec<TargetEntry>,
    #[serde(default = "default_pausing_holds")]
    pausing_holds: BTreeSet<HoldReason>,
    #[serde(default)]
    reopen: ReopenPolicy,
    #[serde(default = "default_thresholds")]
    warning_thresholds: Vec<u32>,
}

impl<'de> Deserialize<'de> for SlaPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawPolicy::deserialize(deserializer)?;
        let policy = SlaPolicy {
            version: raw.version,
            targets: raw.targets,
            pausing_holds: raw.pausing_holds,
            reopen: raw.reopen,
            warning_thresholds: raw.warning_thresholds,
        };
        policy.validate().map_err(serde::de::Error::custom)?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid_and_looks_up_by_kind_then_priority() {
        let mut policy = SlaPolicy::default();
        assert_eq!(policy.validate(), Ok(()));
        assert!(policy.pauses(HoldReason::AwaitingCaller));
        assert!(!policy.pauses(HoldReason::AwaitingChange));
        assert!(!policy.pauses(HoldReason::AwaitingProblem));
        policy.targets.push(TargetEntry {
            kind: Some(IncidentKind::Security),
            priority: Priority::P1,
            response: BusinessDuration::from_minutes(5),
            resolution: BusinessDuration::from_hours(2),
            update: None,
        });
        let security = policy.targets_for(IncidentKind::Security, Priority::P1);
        assert_eq!(security.map(|t| t.response), Some(BusinessDuration::from_minutes(5)));
        let production = policy.targets_for(IncidentKind::Production, Priority::P1);
        assert_eq!(production.map(|t| t.response), Some(BusinessDuration::from_minutes(15)));
        let json = serde_json::to_string(&policy).unwrap_or_default();
        assert_eq!(serde_json::from_str::<SlaPolicy>(&json).ok(), Some(policy));
    }

    #[test]
    fn invalid_policies_are_refused_when_deserialized() {
        let dup = r#"{"version": 1, "targets": [
            {"priority": "1", "response": 60, "resolution": 600},
            {"priority": "1", "response": 60, "resolution": 900}]}"#;
        let err = serde_json::from_str::<SlaPolicy>(dup).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("two target entries for P1 incidents of any kind"), "{err}");
        let zero = r#"{"version": 1, "targets": [{"priority": "2", "response": 0, "resolution": 600}]}"#;
        assert!(serde_json::from_str::<SlaPolicy>(zero).is_err());
        let thresholds = r#"{"version": 1, "targets": [], "warning_thresholds": [75, 50]}"#;
        let err = serde_json::from_str::<SlaPolicy>(thresholds).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("75% then 50%"), "{err}");
        let ok = r#"{"version": 3, "targets": [], "pausing_holds": ["awaiting_vendor"], "reopen": "new_cycle"}"#;
        let policy = serde_json::from_str::<SlaPolicy>(ok).ok();
        assert_eq!(policy.as_ref().map(|p| p.reopen), Some(ReopenPolicy::NewCycle));
        assert_eq!(policy.map(|p| p.warning_thresholds), Some(vec![50, 75, 100]));
    }
}
