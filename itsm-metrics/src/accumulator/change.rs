//! Per-change accumulation: the change counters of one service and type, the
//! change <-> incident join (a change failed when any incident names it), and
//! the per-type change metrics.

use foldhash::HashSet;

use itsm_core::id::ChangeId;
use itsm_core::records::ChangeRecord;
use itsm_core::vocabulary::{ChangeOutcome, ChangeType, Remediation};

use super::primitives::{Tally, rate_of};
use crate::scorecard::ChangeTypeMetrics;

/// Change counters of one service and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ChangeAcc {
    pub(super) implemented: Tally,
    pub(super) own_failed: Tally,
    /// Implemented changes that did not fail on their own fields: failed iff an incident names them.
    pub(super) pending: Vec<ChangeId>,
    /// Changes judged failed because an incident names them, once every incident was in
    /// ([`Accumulator::no_more_incidents`](super::Accumulator::no_more_incidents)).
    pub(super) linked_failed: Tally,
    pub(super) rollback_attempts: Tally,
    pub(super) rollback_failed: Tally,
    /// Implemented changes whose first attempt ended by an automatic rollback
    /// (`automatic_rollback`, remediation `rolled_back` or `rollback_failed`).
    pub(super) automatic_rollbacks: Tally,
    /// Changes authorized in W.
    pub(super) authorized: Tally,
    /// Of `authorized`, those authorized in time (within the configured bound
    /// of the request, and before implementation started).
    pub(super) authorized_in_time: Tally,
}

impl ChangeAcc {
    /// Counts an implemented change `c` with its `outcome`. One that did not
    /// fail on its own fields is judged now when every incident is in
    /// (`linked` is then the set of change ids incidents name), else kept for
    /// the join. Returns whether it was judged now (and so not kept).
    pub(super) fn push(
        &mut self,
        c: &ChangeRecord,
        outcome: ChangeOutcome,
        linked: Option<&HashSet<ChangeId>>,
        with_ids: bool,
    ) -> bool {
        let id = c.id.as_str();
        let mut judged = false;
        self.implemented.add(id, with_ids);
        if outcome == ChangeOutcome::Failed || c.remediation != Remediation::None {
            self.own_failed.add(id, with_ids);
        } else if let Some(linked) = linked {
            // Every incident is in: judge the change now instead of keeping its id.
            judged = true;
            self.judge(&c.id, linked, with_ids);
        } else {
            self.pending.push(c.id.clone());
        }
        let rolled_back = match c.remediation {
            Remediation::RolledBack => true,
            Remediation::RollbackFailed => {
                self.rollback_failed.add(id, with_ids);
                true
            }
            Remediation::None | Remediation::FixedForward => false,
        };
        if rolled_back {
            self.rollback_attempts.add(id, with_ids);
            // A record that claims an automatic rollback without a rollback
            // (never written by the change machines) is not counted as one.
            if c.automatic_rollback {
                self.automatic_rollbacks.add(id, with_ids);
            }
        }
        judged
    }

    /// Counts a change authorized in W, `in_time` or not.
    pub(super) fn count_authorization(&mut self, id: &str, in_time: bool, with_ids: bool) {
        self.authorized.add(id, with_ids);
        if in_time {
            self.authorized_in_time.add(id, with_ids);
        }
    }

    /// Judges a change that did not fail on its own fields once every incident
    /// is in: failed iff an incident names it.
    pub(super) fn judge(&mut self, id: &ChangeId, linked: &HashSet<ChangeId>, with_ids: bool) {
        if linked.contains(id) {
            self.linked_failed.add(id.as_str(), with_ids);
        }
    }

    /// Judges every change waiting for the join; returns how many.
    pub(super) fn judge_pending(&mut self, linked: &HashSet<ChangeId>, with_ids: bool) -> u64 {
        let mut judged = 0;
        for id in std::mem::take(&mut self.pending) {
            judged += 1;
            self.judge(&id, linked, with_ids);
        }
        judged
    }

    pub(super) fn merge(&mut self, other: ChangeAcc) {
        self.implemented.merge(other.implemented);
        self.own_failed.merge(other.own_failed);
        self.pending.extend(other.pending);
        self.linked_failed.merge(other.linked_failed);
        self.rollback_attempts.merge(other.rollback_attempts);
        self.rollback_failed.merge(other.rollback_failed);
        self.automatic_rollbacks.merge(other.automatic_rollbacks);
        self.authorized.merge(other.authorized);
        self.authorized_in_time.merge(other.authorized_in_time);
    }

    /// The tallies that may hold ids.
    pub(super) fn tallies(&self) -> [&Tally; 8] {
        [
            &self.implemented,
            &self.own_failed,
            &self.linked_failed,
            &self.rollback_attempts,
            &self.rollback_failed,
            &self.automatic_rollbacks,
            &self.authorized,
            &self.authorized_in_time,
        ]
    }

    /// The metrics of change type `t`; the changes still waiting for the join
    /// are judged against `linked` (without being forgotten).
    pub(super) fn metrics(&self, t: ChangeType, linked: &HashSet<ChangeId>, with_ids: bool) -> ChangeTypeMetrics {
        let mut failed = self.own_failed.clone();
        failed.merge(self.linked_failed.clone());
        for id in &self.pending {
            if linked.contains(id) {
                failed.add(id.as_str(), with_ids);
            }
        }
        ChangeTypeMetrics {
            change_type: t,
            first_change_failure_rate: rate_of(&failed, &self.implemented, with_ids),
            rollback_failure_rate: rate_of(&self.rollback_failed, &self.rollback_attempts, with_ids),
            rollback_failure_share_of_implemented: rate_of(&self.rollback_failed, &self.implemented, with_ids),
            rollback_attempt_rate: rate_of(&self.rollback_attempts, &self.implemented, with_ids),
            automatic_rollback_share: rate_of(&self.automatic_rollbacks, &failed, with_ids),
            authorized_in_time: rate_of(&self.authorized_in_time, &self.authorized, with_ids),
        }
    }
}
