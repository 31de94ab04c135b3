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
//! * **Root cause** (Table 4, with a [`Topology`]: a service model). A first
//!   firing that its own group would open, reopen or link an incident for,
//!   or an annotate-only one with nothing open in its group, joins instead
//!   the open incident of an item its object needs (upstream, directly or
//!   not, redundant or not) whose group is live for it by the window and
//!   flapping rules above ([`Decision::RootCause`]); of several, the one
//!   furthest upstream, then the earliest opened. It is recorded on that
//!   incident, raises its priority as a merge does, and belongs to its
//!   group from then on (its recovery counts there). An alert on the
//!   database and then one on the application running on it make one
//!   incident. The other order makes two: an incident opened by a symptom
//!   is not moved under a later root (a person links it, as a child).
//! * **Maintenance** (with a [`Topology`]: maintenance windows). A first
//!   firing inside a [`MaintenanceWindow`] whose work takes its object down
//!   (alone or with the other windows running then, following the
//!   model's redundancy) is [`Decision::Suppressed`]: remembered as seen,
//!   naming the change, with no incident command; its redeliveries are
//!   duplicates and its recovery changes nothing. A store records it.
//!   Suppression comes before every other rule; a firing that fired before
//!   the window started, or after it ended, is not suppressed.
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
//! [`Needs::group_for`]); under a topology a first firing also reads the
//! open groups of the items upstream of its object ([`Correlator::needs_in`],
//! [`Needs::roots`]) and writes the one it joins; an incident event reads
//! and writes the group whose current incident it is. So a caller can load only those rows into a
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

mod correlator;
mod decision;
mod fingerprint;
mod input;
mod policy;
mod state;
mod topology;

pub use correlator::Correlator;
pub use decision::{Decision, IgnoreReason};
pub use fingerprint::IncidentIdParts;
pub use input::{Alert, AlertError, AlertKey, AlertRef, AlertSeverity, MAX_ALERT_TEXT_LEN};
pub use policy::{
    Acceptance, CategoryFrom, FingerprintField, GroupBy, GroupingPolicy, GroupingPolicyError, MAX_ID_PREFIX_LEN,
    MAX_WINDOW_SECONDS, SeverityAction, SeverityRule, SeverityTable,
};
pub use state::{Changes, Group, GroupStatus, Needs, Seen};
pub use topology::{MaintenanceWindow, Topology};

/// Helpers shared by the submodules' tests.
#[cfg(test)]
mod test_support {
    use super::{Alert, AlertSeverity};
    use crate::id::ServiceId;
    use crate::time::Timestamp;

    pub(super) fn ts(secs: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_772_442_000 + secs).unwrap()
    }

    pub(super) fn alert(id: &str, check: &str, severity: AlertSeverity, at: i64) -> Alert {
        Alert::new("prom", id, ServiceId::new("db-1").unwrap(), check, severity, ts(at))
    }
}
