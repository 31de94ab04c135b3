//! Versioned configuration with effective dates.
//!
//! The configuration the domain takes (SLA policies, business calendars,
//! escalation rules, the priority matrix, the approval policy, the standard
//! catalogue, maintenance windows and blackouts, the service model) changes
//! over time, and a decision or a clock must use the version that was in
//! force at the right instant, not the latest one. A [`ConfigHistory`] holds the versions of one
//! piece of configuration, each a [`Versioned`] value with a version number
//! and the instant it takes effect; [`ConfigHistory::in_force_at`] picks the
//! version in force at an instant. [`DomainConfigHistory`] bundles one history
//! per piece of configuration and chooses, for an SLA clock, the versions in
//! force when its cycle started ([`DomainConfigHistory::clock_config`]).
//!
//! # Rules
//!
//! * Version numbers only grow: a version added to a history must be higher
//!   than every version in it ([`VersionError::Duplicate`],
//!   [`VersionError::NotIncreasing`]). A configuration that states its own
//!   version ([`SlaPolicy::version`], [`Calendar::version`],
//!   [`EscalationRules::version`]) must state the version it is added as
//!   ([`VersionError::Mismatch`]).
//! * Effective dates need not grow with versions: a later version may take
//!   effect earlier than an earlier one (a back-dated correction). The
//!   version **in force at `t`** is the one with the latest `effective_from`
//!   at or before `t`, ties going to the higher version number. Before the
//!   earliest `effective_from` nothing is in force. A store that accepts a
//!   back-dated version must recompute the due instants of the clocks whose
//!   cycle started after its `effective_from`.
//! * Serialized as JSON (`{"config": "sla_policy", "versions": [...]}`, each
//!   version `{"version", "effective_from", "value"}`); deserializing checks
//!   the same rules, so a store may keep each version as one JSON row and
//!   rebuild the history with [`ConfigHistory::add`].
//!
//! # Example
//!
//! ```
//! use itsm_core::calendar::Calendar;
//! use itsm_core::sla::SlaPolicy;
//! use itsm_core::versioned::{ConfigHistory, DomainConfigHistory, Versioned, VersionError};
//! use itsm_core::Timestamp;
//!
//! let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
//! let mut config = DomainConfigHistory::default();
//! let v1 = SlaPolicy::default();
//! let v2 = SlaPolicy { version: 2, ..SlaPolicy::default() };
//! config.sla_policies.add(Versioned::new(1, t("2026-01-01T00:00:00Z"), v1)).unwrap();
//! config.sla_policies.add(Versioned::new(2, t("2026-03-01T00:00:00Z"), v2.clone())).unwrap();
//! let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
//! config.calendars.add(Versioned::new(1, t("2026-01-01T00:00:00Z"), calendar)).unwrap();
//!
//! // A clock cycle that started in February runs under policy 1, one that started in March under 2.
//! let february = config.clock_config(t("2026-02-10T09:00:00Z")).unwrap();
//! assert_eq!((february.policy.version, february.calendar.version), (1, 1));
//! assert_eq!(config.clock_config(t("2026-03-10T09:00:00Z")).unwrap().policy.version, 2);
//!
//! // Versions only grow.
//! let again = config.sla_policies.add(Versioned::new(2, t("2026-04-01T00:00:00Z"), v2));
//! assert!(matches!(again, Err(VersionError::Duplicate { version: 2, .. })));
//!
//! // Round trip through JSON.
//! let json = serde_json::to_string(&config).unwrap();
//! assert_eq!(serde_json::from_str::<DomainConfigHistory>(&json).unwrap(), config);
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::actor::Permissions;
use crate::aggregate::DomainConfig;
use crate::calendar::Calendar;
use crate::change::schedule::ServiceSchedule;
use crate::change::{ApprovalPolicy, StandardCatalog};
use crate::service::ServiceModel;
use crate::sla::{
    DueBasis, DueInstant, DueMark, EscalationRules, ReopenPolicy, SlaError, SlaEvent, SlaPolicy, TargetKind,
    due_instants, last_clock,
};
use crate::time::Timestamp;
use crate::vocabulary::PriorityMatrix;

/// Which piece of configuration a history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// The SLA policy ([`SlaPolicy`]).
    SlaPolicy,
    /// The business calendar ([`Calendar`]).
    Calendar,
    /// The escalation rules ([`EscalationRules`]).
    EscalationRules,
    /// The priority matrix ([`PriorityMatrix`]).
    PriorityMatrix,
    /// The change approval policy ([`ApprovalPolicy`]).
    ApprovalPolicy,
    /// The standard-change catalogue ([`StandardCatalog`]).
    StandardCatalog,
    /// The services' maintenance windows and blackouts ([`ServiceSchedule`]s).
    ServiceSchedules,
    /// Business services, configuration items and their dependencies
    /// ([`ServiceModel`]).
    ServiceModel,
}

impl ConfigKind {
    /// The stable name (as in JSON).
    pub fn as_str(&self) -> &'static str {
        match self {
            ConfigKind::SlaPolicy => "sla_policy",
            ConfigKind::Calendar => "calendar",
            ConfigKind::EscalationRules => "escalation_rules",
            ConfigKind::PriorityMatrix => "priority_matrix",
            ConfigKind::ApprovalPolicy => "approval_policy",
            ConfigKind::StandardCatalog => "standard_catalog",
            ConfigKind::ServiceSchedules => "service_schedules",
            ConfigKind::ServiceModel => "service_model",
        }
    }
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of configuration that can be versioned.
pub trait Configuration {
    /// Which configuration it is (named in errors and in JSON).
    const KIND: ConfigKind;

    /// The version the value states about itself, if it carries one; it must
    /// equal the version it is recorded as.
    fn stated_version(&self) -> Option<u32> {
        None
    }
}

impl Configuration for SlaPolicy {
    const KIND: ConfigKind = ConfigKind::SlaPolicy;
    fn stated_version(&self) -> Option<u32> {
        Some(self.version)
    }
}

impl Configuration for Calendar {
    const KIND: ConfigKind = ConfigKind::Calendar;
    fn stated_version(&self) -> Option<u32> {
        Some(self.version())
    }
}

impl Configuration for EscalationRules {
    const KIND: ConfigKind = ConfigKind::EscalationRules;
    fn stated_version(&self) -> Option<u32> {
        Some(self.version)
    }
}

impl Configuration for PriorityMatrix {
    const KIND: ConfigKind = ConfigKind::PriorityMatrix;
}

impl Configuration for ApprovalPolicy {
    const KIND: ConfigKind = ConfigKind::ApprovalPolicy;
}

impl Configuration for StandardCatalog {
    const KIND: ConfigKind = ConfigKind::StandardCatalog;
}

impl Configuration for Vec<ServiceSchedule> {
    const KIND: ConfigKind = ConfigKind::ServiceSchedules;
}

impl Configuration for ServiceModel {
    const KIND: ConfigKind = ConfigKind::ServiceModel;
}

/// Why a version was refused or none could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The version number is already recorded.
    #[error("{config} version {version} is already recorded")]
    Duplicate {
        /// The configuration.
        config: ConfigKind,
        /// The version.
        version: u32,
    },
    /// The version number is lower than the latest recorded one.
    #[error("{config} version {version} must be higher than the latest version {latest}")]
    NotIncreasing {
        /// The configuration.
        config: ConfigKind,
        /// The version.
        version: u32,
        /// The highest version recorded.
        latest: u32,
    },
    /// The value states another version than the one it is recorded as.
    #[error("{config} version {version} holds a value that states version {stated}")]
    Mismatch {
        /// The configuration.
        config: ConfigKind,
        /// The version it is recorded as.
        version: u32,
        /// The version the value states.
        stated: u32,
    },
    /// A serialized history of another configuration.
    #[error("expected a {expected} history, found a {found} history")]
    WrongConfig {
        /// The configuration expected.
        expected: ConfigKind,
        /// The configuration the history names.
        found: ConfigKind,
    },
    /// No version is in force at the instant.
    #[error("no {config} version is in force at {at}")]
    NotInForce {
        /// The configuration.
        config: ConfigKind,
        /// The instant.
        at: Timestamp,
    },
}

/// One version of a piece of configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Versioned<T> {
    /// The version number.
    pub version: u32,
    /// The instant from which it is in force (unless a later-effective version supersedes it).
    pub effective_from: Timestamp,
    /// The configuration.
    pub value: T,
}

impl<T> Versioned<T> {
    /// A version.
    pub fn new(version: u32, effective_from: Timestamp, value: T) -> Self {
        Versioned { version, effective_from, value }
    }
}

impl<T> std::ops::Deref for Versioned<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// The versions of one piece of configuration, in version order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigHistory<T> {
    /// In version order (strictly increasing).
    versions: Vec<Versioned<T>>,
    /// Indices into `versions` ordered by `(effective_from, version)`.
    by_effect: Vec<usize>,
}

impl<T> Default for ConfigHistory<T> {
    fn default() -> Self {
        ConfigHistory { versions: Vec::new(), by_effect: Vec::new() }
    }
}

impl<T: Configuration> ConfigHistory<T> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Which configuration it holds.
    pub fn config(&self) -> ConfigKind {
        T::KIND
    }

    /// Adds a version: its number must be higher than every recorded one, and
    /// a value that states its own version must state this one. On error the
    /// history is unchanged.
    pub fn add(&mut self, version: Versioned<T>) -> Result<(), VersionError> {
        let config = T::KIND;
        if let Some(latest) = self.versions.last().map(|v| v.version) {
            if version.version == latest || self.get(version.version).is_some() {
                return Err(VersionError::Duplicate { config, version: version.version });
            }
            if version.version < latest {
                return Err(VersionError::NotIncreasing { config, version: version.version, latest });
            }
        }
        if let Some(stated) = version.value.stated_version()
            && stated != version.version
        {
            return Err(VersionError::Mismatch { config, version: version.version, stated });
        }
        let key = (version.effective_from, version.version);
        let position = self.by_effect.partition_point(|&i| self.key(i) < key);
        self.by_effect.insert(position, self.versions.len());
        self.versions.push(version);
        Ok(())
    }

    /// The version in force at `at`: the latest `effective_from` at or before
    /// `at`, ties going to the higher version; `None` before every version.
    pub fn in_force_at(&self, at: Timestamp) -> Option<&Versioned<T>> {
        let after = self.by_effect.partition_point(|&i| self.versions.get(i).is_some_and(|v| v.effective_from <= at));
        let index = after.checked_sub(1)?;
        self.by_effect.get(index).and_then(|&i| self.versions.get(i))
    }

    /// [`in_force_at`](Self::in_force_at), or a typed error naming the configuration and instant.
    pub fn require_at(&self, at: Timestamp) -> Result<&Versioned<T>, VersionError> {
        self.in_force_at(at).ok_or(VersionError::NotInForce { config: T::KIND, at })
    }

    /// The version numbered `version`.
    pub fn get(&self, version: u32) -> Option<&Versioned<T>> {
        self.versions.binary_search_by_key(&version, |v| v.version).ok().and_then(|i| self.versions.get(i))
    }

    /// The highest version.
    pub fn latest(&self) -> Option<&Versioned<T>> {
        self.versions.last()
    }

    /// Every version, in version order.
    pub fn versions(&self) -> &[Versioned<T>] {
        &self.versions
    }

    /// How many versions.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether there is no version.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    fn key(&self, index: usize) -> (Timestamp, u32) {
        self.versions.get(index).map_or((Timestamp::MIN, 0), |v| (v.effective_from, v.version))
    }
}

#[derive(Serialize)]
struct HistoryOut<'a, T> {
    config: ConfigKind,
    versions: &'a [Versioned<T>],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryIn<T> {
    config: ConfigKind,
    versions: Vec<Versioned<T>>,
}

impl<T: Configuration + Serialize> Serialize for ConfigHistory<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        HistoryOut { config: T::KIND, versions: &self.versions }.serialize(serializer)
    }
}

impl<'de, T: Configuration + Deserialize<'de>> Deserialize<'de> for ConfigHistory<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = HistoryIn::<T>::deserialize(deserializer)?;
        if raw.config != T::KIND {
            return Err(serde::de::Error::custom(VersionError::WrongConfig { expected: T::KIND, found: raw.config }));
        }
        let mut history = ConfigHistory::new();
        for version in raw.versions {
            history.add(version).map_err(serde::de::Error::custom)?;
        }
        Ok(history)
    }
}

/// The versions an SLA clock cycle runs under: those in force when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockConfig<'a> {
    /// The instant the cycle started.
    pub cycle_started_at: Timestamp,
    /// The SLA policy in force then.
    pub policy: &'a Versioned<SlaPolicy>,
    /// The business calendar in force then.
    pub calendar: &'a Versioned<Calendar>,
    /// The escalation rules in force then, if any.
    pub rules: Option<&'a Versioned<EscalationRules>>,
}

impl<'a> ClockConfig<'a> {
    /// What the due instants of the cycle are computed from (with the rules, if any).
    pub fn basis(&self) -> DueBasis<'a> {
        DueBasis { policy: &self.policy.value, calendar: &self.calendar.value, rules: self.rules.map(|r| &r.value) }
    }
}

/// The versioned configuration of the domain: one history per piece.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainConfigHistory {
    /// SLA policies.
    #[serde(default)]
    pub sla_policies: ConfigHistory<SlaPolicy>,
    /// Business calendars.
    #[serde(default)]
    pub calendars: ConfigHistory<Calendar>,
    /// Escalation rules.
    #[serde(default)]
    pub escalation_rules: ConfigHistory<EscalationRules>,
    /// Priority matrices.
    #[serde(default)]
    pub priority_matrices: ConfigHistory<PriorityMatrix>,
    /// Change approval policies.
    #[serde(default)]
    pub approval_policies: ConfigHistory<ApprovalPolicy>,
    /// Standard-change catalogues.
    #[serde(default)]
    pub standard_catalogs: ConfigHistory<StandardCatalog>,
    /// Maintenance windows and blackouts of every service.
    #[serde(default)]
    pub service_schedules: ConfigHistory<Vec<ServiceSchedule>>,
    /// Business services, configuration items and their dependencies.
    #[serde(default)]
    pub service_models: ConfigHistory<ServiceModel>,
}

impl DomainConfigHistory {
    /// The versions a clock cycle that started at `cycle_started_at` runs
    /// under: the SLA policy, calendar and (if any) escalation rules in force
    /// at that instant. A policy or calendar version added later, even if it
    /// is in force now, does not apply to that cycle.
    pub fn clock_config(&self, cycle_started_at: Timestamp) -> Result<ClockConfig<'_>, VersionError> {
        Ok(ClockConfig {
            cycle_started_at,
            policy: self.sla_policies.require_at(cycle_started_at)?,
            calendar: self.calendars.require_at(cycle_started_at)?,
            rules: self.escalation_rules.in_force_at(cycle_started_at),
        })
    }

    /// When the incident's current clock cycle started, as of `now` (events
    /// after `now` have not happened yet); `None` if it was not opened by then.
    ///
    /// A cycle is the run of clocks that one set of versions governs: it
    /// starts at `Opened`, and a `Reopened` starts a new one when the SLA
    /// policy in force at the start of the cycle being reopened says
    /// [`ReopenPolicy::NewCycle`] (with `ContinueCycle`, or with no policy in
    /// force, the reopened incident stays in its cycle). The response clock,
    /// the resolution clock and the update cycles within an incident cycle
    /// all use its versions.
    pub fn cycle_started_at(&self, events: &[SlaEvent], now: Timestamp) -> Option<Timestamp> {
        let mut start = None;
        for event in events.iter().take_while(|e| e.at() <= now) {
            match event {
                SlaEvent::Opened { at, .. } => start = start.or(Some(*at)),
                SlaEvent::Reopened { at } => {
                    let new_cycle = start
                        .and_then(|s| self.sla_policies.in_force_at(s))
                        .is_some_and(|p| p.reopen == ReopenPolicy::NewCycle);
                    if new_cycle {
                        start = Some(*at);
                    }
                }
                SlaEvent::Acknowledged { .. }
                | SlaEvent::Held { .. }
                | SlaEvent::Resumed { .. }
                | SlaEvent::PriorityChanged { .. }
                | SlaEvent::Updated { .. }
                | SlaEvent::Resolved { .. }
                | SlaEvent::Closed { .. }
                | SlaEvent::Cancelled { .. } => {}
            }
        }
        start
    }

    /// The versions the incident's current cycle runs under, as of `now`:
    /// [`clock_config`](Self::clock_config) at
    /// [`cycle_started_at`](Self::cycle_started_at); `Ok(None)` if it was not
    /// opened by `now`.
    pub fn clock_config_for(
        &self,
        events: &[SlaEvent],
        now: Timestamp,
    ) -> Result<Option<ClockConfig<'_>>, VersionError> {
        self.cycle_started_at(events, now).map(|start| self.clock_config(start)).transpose()
    }

    /// The incident's due instant as of `now` under the versions its current
    /// cycle runs under, with the escalation rules in force then:
    /// [`next_due_after`](crate::sla::next_due_after) with `after`
    /// (pass `now` for the next instant at which something new happens).
    ///
    /// `None` when nothing is due, and also when no SLA applies: not opened by
    /// `now`, no policy or calendar version in force when the cycle started,
    /// or a policy without targets for the incident's kind and priority
    /// ([`SlaError::NoTarget`]). Other clock errors (an inconsistent history,
    /// a calendar failure) are returned.
    pub fn next_due_after(
        &self,
        events: &[SlaEvent],
        now: Timestamp,
        after: Timestamp,
    ) -> Result<Option<Timestamp>, SlaError> {
        Ok(self.due_marks(events, now)?.into_iter().map(|d| d.at).find(|&at| at > after))
    }

    /// Every due mark of the clock as of `now` ([`due_instants`]) under the
    /// versions in force when each cycle started, ordered by instant: what
    /// [`DomainConfigHistory::next_due_after`] and
    /// [`DomainConfigHistory::breach_at`] read, for a caller that needs both
    /// from one evaluation. Empty when no SLA applies (as for those).
    pub fn due_marks(&self, events: &[SlaEvent], now: Timestamp) -> Result<Vec<DueInstant>, SlaError> {
        let Ok(Some(config)) = self.clock_config_for(events, now) else {
            return Ok(Vec::new());
        };
        match due_instants(events, config.basis(), now) {
            Err(SlaError::NoTarget { .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// When the clock's first deadline is (or was) breached, as of `now`:
    /// the earliest [`DueMark::Deadline`]
    /// among the cycles' targets, reached or still pending on a running
    /// clock, under the versions in force when each cycle started. `None`
    /// when no target is breached or heading for a breach (every target met,
    /// or its clock paused) and when no SLA applies (as for
    /// [`DomainConfigHistory::next_due_after`]). An aggregate is breached at
    /// `T` when this instant is at or before `T`. Pure.
    pub fn breach_at(&self, events: &[SlaEvent], now: Timestamp) -> Result<Option<Timestamp>, SlaError> {
        Ok(breach_of(&self.due_marks(events, now)?))
    }

    /// Whether the incident's last resolution clock met its target, as of
    /// `now`: `Some(true)` or `Some(false)` once that clock has ended (the
    /// incident resolved), under the SLA policy and calendar in force when
    /// its cycle started ([`DomainConfigHistory::clock_config`]). `None`
    /// while it runs or is paused, and when no SLA applies (not opened by
    /// `now`, no policy or calendar in force then, no resolution target for
    /// the incident's kind and priority). This is the metrics record's
    /// `resolution_target_met`. Other clock errors are returned. Pure.
    pub fn resolution_met(&self, events: &[SlaEvent], now: Timestamp) -> Result<Option<bool>, SlaError> {
        let Ok(Some(config)) = self.clock_config_for(events, now) else {
            return Ok(None);
        };
        match last_clock(events, &config.policy.value, &config.calendar.value, now, TargetKind::Resolution) {
            Ok(Some(clock)) => Ok(clock.ended_at.map(|_| !clock.is_breached())),
            Ok(None) | Err(SlaError::NoTarget { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The [`DomainConfig`] for a decision at `at`: the priority matrix,
    /// approval policy and standard catalogue in force then, with
    /// `permissions` (not versioned here).
    pub fn domain_config_at(&self, at: Timestamp, permissions: Permissions) -> Result<DomainConfig, VersionError> {
        Ok(DomainConfig {
            permissions,
            priority_matrix: self.priority_matrices.require_at(at)?.value.clone(),
            approvals: self.approval_policies.require_at(at)?.value.clone(),
            standard_catalog: self.standard_catalogs.require_at(at)?.value.clone(),
            schedules: self.service_schedules.in_force_at(at).map(|v| v.value.clone()).unwrap_or_default(),
        })
    }

    /// The services' maintenance windows and blackouts in force at `at`.
    pub fn service_schedules_at(&self, at: Timestamp) -> Result<&[ServiceSchedule], VersionError> {
        Ok(&self.service_schedules.require_at(at)?.value)
    }
}

/// The earliest deadline among `marks` (see
/// [`DomainConfigHistory::breach_at`]).
pub fn breach_of(marks: &[DueInstant]) -> Option<Timestamp> {
    marks.iter().filter(|d| d.mark == DueMark::Deadline).map(|d| d.at).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(days: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_772_438_400 + days * 86_400).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn errors_name_the_config_and_leave_the_history_unchanged() {
        let mut matrices = ConfigHistory::<PriorityMatrix>::new();
        assert_eq!(matrices.add(Versioned::new(3, t(5), PriorityMatrix::default())), Ok(()));
        let before = matrices.clone();
        assert_eq!(
            matrices.add(Versioned::new(2, t(0), PriorityMatrix::default())),
            Err(VersionError::NotIncreasing { config: ConfigKind::PriorityMatrix, version: 2, latest: 3 })
        );
        let duplicate = matrices.add(Versioned::new(3, t(9), PriorityMatrix::default()));
        assert_eq!(
            duplicate.map_err(|e| e.to_string()),
            Err("priority_matrix version 3 is already recorded".to_owned())
        );
        assert_eq!(matrices, before);
        let mut policies = ConfigHistory::<SlaPolicy>::new();
        assert_eq!(
            policies.add(Versioned::new(2, t(0), SlaPolicy::default())),
            Err(VersionError::Mismatch { config: ConfigKind::SlaPolicy, version: 2, stated: 1 })
        );
        assert_eq!(matrices.in_force_at(t(4)), None);
        assert_eq!(matrices.in_force_at(t(5)).map(|v| v.version), Some(3));
    }
}
