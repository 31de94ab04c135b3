//! Due instants: when an incident's clocks next have something due.
//!
//! A store keeps, beside every open aggregate, the instant at which its SLA
//! clocks next have something *new* to report (a warning threshold reached, a
//! target breached, an escalation rule's level reached), so that an
//! escalation runner asks the store for `due_before(T)` instead of replaying
//! every open incident. This module computes that instant from the clock
//! itself ([`clocks`], and the replay behind [`due_escalations`](super::due_escalations)): nothing is
//! re-implemented here, the clock reports the instants and this module only
//! chooses among them.
//!
//! # What is due
//!
//! A clock cycle has **marks**: each warning threshold of the policy
//! ([`SlaPolicy::warning_thresholds`], a percentage of the goal), the goal
//! itself (the **deadline**, where the target is breached), and, when
//! [`EscalationRules`] are given, the level of each rule that applies to the
//! cycle (a percentage of the goal, or `not_acknowledged_within`'s business
//! time). A mark's instant is when elapsed business time reaches it.
//!
//! As of an evaluation instant `now`, a mark is
//!
//! * **reached** when elapsed business time reached it at or before `now`
//!   (its instant is then `<= now`), whatever the clock did since (a clock
//!   that stopped or was cancelled after a mark keeps it reached);
//! * **pending** when it is not reached, the clock is **running** at `now`
//!   (not paused by a pausing hold, not met, breached-and-stopped or
//!   cancelled), and the calendar has working time to reach it: its instant
//!   is then the clock's projection, strictly after `now`, of when elapsed
//!   time reaches it if nothing else happens;
//! * otherwise it has no instant: a paused clock's projection moves with
//!   every instant of the pause, so a paused clock has nothing due until it
//!   resumes (the `Resumed` event is a command, and the store recomputes then);
//!   a stopped clock will never reach its remaining marks.
//!
//! [`next_due`] is the earliest **pending** instant: the next instant,
//! strictly after `now`, at which something new happens if no further event
//! occurs. A breach that has already happened is not due forever: once
//! reached it is history, reported by [`due_escalations`](super::due_escalations) with its own id.
//!
//! [`next_due_after`] is the earliest instant strictly after `after` among
//! the reached and the pending marks. With `after == now` it equals
//! [`next_due`]. An escalation runner that stores, per aggregate, the instant
//! `handled` up to which it executed escalations should keep
//! `next_due_after(events, basis, now, handled)`: a mark reached between
//! `handled` and `now` (for instance a breach made retroactive by a priority
//! change, which re-targets elapsed time already counted, or a threshold
//! crossed between two runs while a command recomputed the due instant) then
//! stays due (`<= now`) until the runner has handled it, and `due_before(T)`
//! returns exactly the aggregates with a mark in `(handled, T)`.
//!
//! Every clock the replay gives takes part: every target and every cycle
//! (a completed cycle has only reached marks, so with `after == now` only the
//! current cycles count). Events after `now` are ignored, as by [`clocks`].
//!
//! # Example
//!
//! ```
//! use itsm_core::calendar::Calendar;
//! use itsm_core::vocabulary::{HoldReason, IncidentKind, Priority};
//! use itsm_core::sla::{SlaEvent, SlaPolicy, next_due};
//! use itsm_core::Timestamp;
//!
//! let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
//! let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
//! let policy = SlaPolicy::default(); // P1: response 15 min, resolution 4 h, updates every hour
//! let mut events = vec![SlaEvent::Opened {
//!     at: t("2026-03-02T08:00:00Z"),
//!     kind: IncidentKind::Production,
//!     priority: Priority::P1,
//! }];
//! // Response at 50 % (7.5 min) is the first warning threshold.
//! let due = next_due(&events, &policy, &calendar, t("2026-03-02T08:01:00Z")).unwrap();
//! assert_eq!(due, Some(t("2026-03-02T08:07:30Z")));
//!
//! // Acknowledged: the update clock (1 h) starts, resolution runs on (50 % of 4 h at 10:00).
//! events.push(SlaEvent::Acknowledged { at: t("2026-03-02T08:05:00Z") });
//! let due = next_due(&events, &policy, &calendar, t("2026-03-02T08:05:00Z")).unwrap();
//! assert_eq!(due, Some(t("2026-03-02T08:35:00Z")));
//!
//! // On hold for the caller (a pausing hold): nothing is due until it resumes.
//! events.push(SlaEvent::Held { at: t("2026-03-02T08:10:00Z"), reason: HoldReason::AwaitingCaller });
//! assert_eq!(next_due(&events, &policy, &calendar, t("2026-03-02T09:00:00Z")).unwrap(), None);
//!
//! // Resolved: nothing more will ever be due.
//! events.push(SlaEvent::Resolved { at: t("2026-03-02T11:00:00Z") });
//! assert_eq!(next_due(&events, &policy, &calendar, t("2026-03-02T11:00:00Z")).unwrap(), None);
//! ```

use serde::{Deserialize, Serialize};

use super::clock::replay;
use super::escalation::{EscalationRules, EscalationTrigger};
use super::policy::{SlaPolicy, TargetKind};
use super::{ClockState, SlaError, SlaEvent, clocks};
use crate::calendar::Calendar;
use crate::time::Timestamp;

/// Which mark of a clock cycle a [`DueInstant`] is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "mark", rename_all = "snake_case", deny_unknown_fields)]
pub enum DueMark {
    /// A warning threshold of the policy, as a percentage of the goal.
    Threshold {
        /// The percentage.
        percent: u32,
    },
    /// The goal: the target is breached at this instant.
    Deadline,
    /// The level of an escalation rule (see [`due_escalations`](super::due_escalations)).
    Rule {
        /// The rule's id.
        rule: String,
    },
}

/// One mark of one clock cycle with its instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DueInstant {
    /// The target whose clock it is.
    pub target: TargetKind,
    /// The clock's cycle.
    pub cycle: u32,
    /// Which mark.
    pub mark: DueMark,
    /// When elapsed business time reached (if `reached`) or will reach it.
    pub at: Timestamp,
    /// `true`: reached at or before `now` (`at <= now`); `false`: pending,
    /// projected for a running clock (`at > now`).
    pub reached: bool,
}

/// What due instants are computed from: the clock's policy and calendar
/// (the versions in force when the cycle started, see
/// [`crate::versioned::DomainConfigHistory::clock_config_for`]) and, optionally,
/// the escalation rules whose levels are due instants too.
#[derive(Debug, Clone, Copy)]
pub struct DueBasis<'a> {
    /// The SLA policy the clock runs under.
    pub policy: &'a SlaPolicy,
    /// The business calendar the clock counts in.
    pub calendar: &'a Calendar,
    /// Escalation rules: `None` for the policy's warning thresholds and
    /// deadlines only; with rules, every rule level is a mark too, so a
    /// runner evaluating [`due_escalations`](super::due_escalations) at the due instant finds the
    /// escalations it must execute (a `not_acknowledged_within` of 15 minutes
    /// on a 2-hour response target is no policy threshold).
    pub rules: Option<&'a EscalationRules>,
}

impl<'a> DueBasis<'a> {
    /// The policy's thresholds and deadlines, no escalation rules.
    pub fn new(policy: &'a SlaPolicy, calendar: &'a Calendar) -> Self {
        DueBasis { policy, calendar, rules: None }
    }

    /// The same basis with escalation rules.
    pub fn with_rules(self, rules: &'a EscalationRules) -> Self {
        DueBasis { rules: Some(rules), ..self }
    }
}

/// Every reached and pending mark of every clock cycle as of `now` (see the
/// [module documentation](self) for the rules), ordered by instant, then
/// target, cycle and mark. Marks without an instant (a paused or stopped
/// clock's unreached marks, or marks beyond the calendar's range) are left
/// out. Pure.
pub fn due_instants(events: &[SlaEvent], basis: DueBasis<'_>, now: Timestamp) -> Result<Vec<DueInstant>, SlaError> {
    let evaluated = clocks(events, basis.policy, basis.calendar, now)?;
    let mut out = Vec::new();
    for clock in &evaluated {
        let running = clock.state == ClockState::Running;
        let mut add = |mark: DueMark, at: Option<Timestamp>, reached: bool| {
            if let Some(at) = at
                && (reached || running)
            {
                out.push(DueInstant { target: clock.target, cycle: clock.cycle, mark, at, reached });
            }
        };
        for threshold in &clock.thresholds {
            add(DueMark::Threshold { percent: threshold.percent }, threshold.at, threshold.reached);
        }
        match clock.breached_at {
            Some(at) => add(DueMark::Deadline, Some(at), true),
            None => add(DueMark::Deadline, clock.deadline, false),
        }
    }
    if let Some(rules) = basis.rules {
        rules.validate()?;
        // `clocks` evaluates the tracks of this replay in the same order.
        let tracks = replay(events, basis.policy, now)?;
        for (track, clock) in tracks.iter().zip(&evaluated) {
            let running = clock.state == ClockState::Running;
            for rule in &rules.rules {
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
                let (at, reached) = track.crossing(basis.calendar, now, level)?;
                if let Some(at) = at
                    && (reached || running)
                {
                    out.push(DueInstant {
                        target: track.target,
                        cycle: track.cycle,
                        mark: DueMark::Rule { rule: rule.id.clone() },
                        at,
                        reached,
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| (a.at, a.target, a.cycle, &a.mark).cmp(&(b.at, b.target, b.cycle, &b.mark)));
    Ok(out)
}

/// The incident's next due instant as of `now` under the policy's warning
/// thresholds and deadlines: the earliest **pending** mark of a running
/// clock, strictly after `now`; `None` when nothing is pending (resolved,
/// closed or cancelled, every clock paused by a pausing hold, every mark
/// already reached, or no working time left in the calendar). Pure.
///
/// Equals `next_due_after(events, DueBasis::new(policy, calendar), now, now)`.
pub fn next_due(
    events: &[SlaEvent],
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<Option<Timestamp>, SlaError> {
    next_due_after(events, DueBasis::new(policy, calendar), now, now)
}

/// The earliest mark instant strictly after `after`, among the marks reached
/// by `now` and the pending ones, as of `now`. With `after == now`, the next
/// instant at which something new happens; with `after` the instant up to
/// which an escalation runner handled this aggregate, an instant `<= now`
/// means escalations are waiting. Pure.
pub fn next_due_after(
    events: &[SlaEvent],
    basis: DueBasis<'_>,
    now: Timestamp,
    after: Timestamp,
) -> Result<Option<Timestamp>, SlaError> {
    Ok(due_instants(events, basis, now)?.into_iter().map(|d| d.at).find(|&at| at > after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::{IncidentKind, Priority};

    fn t(minutes: i64) -> Timestamp {
        Timestamp::from_unix_secs(1_772_438_400 + minutes * 60).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn retroactive_breach_stays_due_after_the_handled_instant() {
        let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
        let policy = SlaPolicy::default();
        // P3 (resolution 24 h) for 5 h, then P1 (4 h): breached as of 4 h, before the change.
        let events = vec![
            SlaEvent::Opened { at: t(0), kind: IncidentKind::Production, priority: Priority::P3 },
            SlaEvent::Acknowledged { at: t(10) },
            SlaEvent::PriorityChanged { at: t(300), priority: Priority::P1 },
        ];
        let basis = DueBasis::new(&policy, &calendar);
        // Handled up to 3 h 20 min: the runner has not seen the 4 h breach, which is now a fact.
        assert_eq!(next_due_after(&events, basis, t(300), t(200)), Ok(Some(t(240))));
        // Only the new update cycle (1 h from the change, 50 % at 30 min) is pending.
        assert_eq!(next_due(&events, &policy, &calendar, t(300)), Ok(Some(t(330))));
    }

    #[test]
    fn rule_levels_are_marks() {
        let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
        let policy = SlaPolicy::default();
        let rules = EscalationRules::default();
        // P3: response 2 h, so the 15-minute unacknowledged rule is no policy threshold.
        let events = vec![SlaEvent::Opened { at: t(0), kind: IncidentKind::Production, priority: Priority::P3 }];
        let basis = DueBasis::new(&policy, &calendar);
        assert_eq!(next_due_after(&events, basis, t(1), t(1)), Ok(Some(t(60))));
        assert_eq!(next_due_after(&events, basis.with_rules(&rules), t(1), t(1)), Ok(Some(t(15))));
    }
}
