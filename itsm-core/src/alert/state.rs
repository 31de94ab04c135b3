//! The correlator's keyed state (see *Keyed state* in [`crate::alert`]): a
//! group row ([`Group`], [`GroupStatus`]) per group key and a seen row
//! ([`Seen`]) per alert, the rows one alert needs ([`Needs`]) and the rows
//! changed ([`Changes`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::GroupingPolicy;
use crate::id::{ChangeId, IncidentId, ServiceId, Text};
use crate::time::Timestamp;
use crate::vocabulary::{Impact, Urgency};

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
        /// When the alert resolved.
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
        /// When it was cancelled.
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
    pub(super) fn live_for(&self, fired_at: Timestamp, policy: &GroupingPolicy) -> bool {
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
    /// The change whose maintenance window suppressed it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<ChangeId>,
}

/// The rows one alert reads and writes (see [`Correlator::needs`](super::Correlator::needs)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The key of the alert's seen row: its [`AlertKey::clear_key`](super::AlertKey::clear_key).
    pub seen: String,
    /// The key of the group a first message of the alert reads and writes:
    /// [`GroupingPolicy::group_key`]. A message about an alert already seen
    /// uses the group recorded in its seen row instead ([`Needs::group_for`]).
    pub group: String,
    /// The items whose open groups a first firing of the alert may join as
    /// its root cause ([`Topology::upstream`](super::Topology::upstream) of
    /// its object; empty without a service model, and for a recovery): load
    /// the groups whose [`Group::service`] is one of them and whose status
    /// is [`GroupStatus::Open`].
    pub roots: Vec<ServiceId>,
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

/// The rows that changed since the last
/// [`Correlator::take_changes`](super::Correlator::take_changes): each with its
/// new value, to insert or overwrite. Rows are never deleted by the correlator
/// (see [`GroupingPolicy::seen_expires_at`] for expiry).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Changed groups by group key.
    pub groups: BTreeMap<String, Group>,
    /// Changed seen alerts by [`AlertKey::clear_key`](super::AlertKey::clear_key).
    pub seen: BTreeMap<String, Seen>,
}

impl Changes {
    /// Whether no row changed.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.seen.is_empty()
    }
}
