//! The clock computation: replay events into tracks, evaluate tracks at `now`.

use serde::{Deserialize, Serialize};

use super::policy::{ReopenPolicy, SlaPolicy, TargetKind, TargetSet};
use super::{SlaError, SlaEvent};
use crate::calendar::{Calendar, CalendarError};
use crate::time::{BusinessDuration, Timestamp};
use crate::vocabulary::{HoldReason, IncidentKind, Priority};

const MICROS: i64 = 1_000_000;

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClockState {
    /// Counting business time. May already be breached: see [`TargetClock::breached_at`].
    Running,
    /// Not counting because of a pausing hold. May already be breached.
    Paused,
    /// Stopped at `at` before the target was reached.
    Met {
        /// When the clock stopped.
        at: Timestamp,
    },
    /// Stopped after the target was reached at `at` (the stop instant is [`TargetClock::ended_at`]).
    Breached {
        /// When elapsed business time reached the target.
        at: Timestamp,
    },
    /// Cancelled at `at` with the incident (or because the new priority has no such target).
    Cancelled {
        /// When the clock was cancelled.
        at: Timestamp,
    },
}

/// A warning threshold of a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdStatus {
    /// Percentage of the target.
    pub percent: u32,
    /// Whether elapsed business time has reached it.
    pub reached: bool,
    /// When it was reached, or, for a clock that has not stopped, when it will
    /// be reached if nothing else pauses; `None` if the clock stopped before
    /// reaching it or the calendar has no working time left to reach it.
    pub at: Option<Timestamp>,
}

/// One target's clock for one cycle, as of `now`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetClock {
    /// Which target.
    pub target: TargetKind,
    /// Cycle number, from 1 (resolution cycles after `NewCycle` reopens; update cycles between updates).
    pub cycle: u32,
    /// The incident kind.
    pub kind: IncidentKind,
    /// The priority whose target applies (the current one unless the clock stopped earlier).
    pub priority: Priority,
    /// The target: business time allowed.
    pub goal: BusinessDuration,
    /// When the cycle started.
    pub started_at: Timestamp,
    /// When it stopped or was cancelled, if it did.
    pub ended_at: Option<Timestamp>,
    /// Where it stands.
    pub state: ClockState,
    /// Business time counted (truncated to seconds).
    pub elapsed: BusinessDuration,
    /// Business time from the start to the end (or `now`) that did not count:
    /// pausing holds and, with `ContinueCycle`, time between resolution and reopening.
    pub paused: BusinessDuration,
    /// `goal - elapsed`, zero once breached.
    pub remaining: BusinessDuration,
    /// Elapsed as a whole percentage of the goal (floor; may exceed 100).
    pub percent: u32,
    /// The instant at which elapsed reaches the goal: when it did if it did,
    /// otherwise `deadline_after(start, goal + paused)`, i.e. when it will if
    /// nothing else pauses (for a stopped clock: would have). `None` if the
    /// calendar has no working time left to reach it before 2100.
    pub deadline: Option<Timestamp>,
    /// When the target was breached (`== deadline`), if elapsed has reached the goal.
    pub breached_at: Option<Timestamp>,
    /// The policy's warning thresholds.
    pub thresholds: Vec<ThresholdStatus>,
    /// Version of the policy used.
    pub policy_version: u32,
    /// Version of the calendar used.
    pub calendar_version: u32,
}

impl TargetClock {
    /// Whether elapsed business time has reached the goal.
    pub fn is_breached(&self) -> bool {
        self.breached_at.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Stopped(Timestamp),
    Cancelled(Timestamp),
}

impl End {
    fn at(self) -> Timestamp {
        match self {
            End::Stopped(at) | End::Cancelled(at) => at,
        }
    }
}

/// One target's cycle as replayed: counting segments and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Track {
    pub target: TargetKind,
    pub cycle: u32,
    pub kind: IncidentKind,
    pub priority: Priority,
    pub goal: BusinessDuration,
    pub started_at: Timestamp,
    segments: Vec<(Timestamp, Timestamp)>,
    open: Option<Timestamp>,
    end: Option<End>,
}

impl Track {
    fn new(
        target: TargetKind,
        cycle: u32,
        kind: IncidentKind,
        priority: Priority,
        goal: BusinessDuration,
        at: Timestamp,
    ) -> Track {
        Track { target, cycle, kind, priority, goal, started_at: at, segments: Vec::new(), open: None, end: None }
    }

    fn active(&self) -> bool {
        self.end.is_none()
    }

    fn pause(&mut self, at: Timestamp) {
        if let Some(since) = self.open.take()
            && at > since
        {
            self.segments.push((since, at));
        }
    }

    fn resume(&mut self, at: Timestamp) {
        if self.end.is_none() && self.open.is_none() {
            self.open = Some(at);
        }
    }

    fn finish(&mut self, end: End) {
        self.pause(end.at());
        self.end = Some(end);
    }

    /// The instant up to which the track is evaluated.
    fn until(&self, now: Timestamp) -> Timestamp {
        self.end.map_or(now, End::at)
    }

    fn counting_segments(&self, now: Timestamp) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        self.segments.iter().copied().chain(self.open.map(|since| (since, now)))
    }

    fn goal_micros(&self) -> i64 {
        i64::try_from(self.goal.as_secs()).unwrap_or(i64::MAX).saturating_mul(MICROS)
    }

    pub(crate) fn elapsed_micros(&self, calendar: &Calendar, now: Timestamp) -> Result<i64, CalendarError> {
        let mut total = 0i64;
        for (a, b) in self.counting_segments(now) {
            total = total.saturating_add(calendar.business_micros(a, b)?);
        }
        Ok(total)
    }

    /// When elapsed business time reaches `level` microseconds: `(instant, reached)`.
    /// `reached` is true if it did within the counted time up to `now`; otherwise the
    /// instant is projected from the track's end (or `now`), `None` if beyond the calendar.
    pub(crate) fn crossing(
        &self,
        calendar: &Calendar,
        now: Timestamp,
        level: i64,
    ) -> Result<(Option<Timestamp>, bool), SlaError> {
        if level <= 0 {
            return Ok((Some(self.started_at), true));
        }
        let mut acc = 0i64;
        for (a, b) in self.counting_segments(now) {
            let m = calendar.business_micros(a, b)?;
            if acc.saturating_add(m) >= level {
                return Ok((Some(calendar.deadline_after_micros(a, level - acc)?), true));
            }
            acc = acc.saturating_add(m);
        }
        match calendar.deadline_after_micros(self.until(now), level - acc) {
            Ok(at) => Ok((Some(at), false)),
            Err(CalendarError::DeadlineOutOfRange { .. }) => Ok((None, false)),
            Err(other) => Err(other.into()),
        }
    }

    /// `percent` % of the goal, in microseconds.
    pub(crate) fn level(&self, percent: u32) -> i64 {
        let level = i128::from(self.goal_micros()) * i128::from(percent) / 100;
        i64::try_from(level).unwrap_or(i64::MAX)
    }

    fn evaluate(&self, calendar: &Calendar, policy: &SlaPolicy, now: Timestamp) -> Result<TargetClock, SlaError> {
        let until = self.until(now);
        let elapsed = self.elapsed_micros(calendar, now)?;
        let total = calendar.business_micros(self.started_at, until)?;
        let paused = total.saturating_sub(elapsed).max(0);
        let goal = self.goal_micros();
        let (deadline, breached) = self.crossing(calendar, now, goal)?;
        let breached_at = if breached { deadline } else { None };
        let state = match (self.end, breached_at) {
            (Some(End::Stopped(_)), Some(at)) => ClockState::Breached { at },
            (Some(End::Stopped(at)), None) => ClockState::Met { at },
            (Some(End::Cancelled(at)), _) => ClockState::Cancelled { at },
            (None, _) if self.open.is_some() => ClockState::Running,
            (None, _) => ClockState::Paused,
        };
        let mut thresholds = Vec::with_capacity(policy.warning_thresholds.len());
        for &percent in &policy.warning_thresholds {
            let (at, reached) = self.crossing(calendar, now, self.level(percent))?;
            let at = if reached || self.active() { at } else { None };
            thresholds.push(ThresholdStatus { percent, reached, at });
        }
        let secs = |micros: i64| BusinessDuration::from_secs(u64::try_from(micros / MICROS).unwrap_or(0));
        let percent = if goal > 0 { i128::from(elapsed) * 100 / i128::from(goal) } else { 0 };
        Ok(TargetClock {
            target: self.target,
            cycle: self.cycle,
            kind: self.kind,
            priority: self.priority,
            goal: self.goal,
            started_at: self.started_at,
            ended_at: self.end.map(End::at),
            state,
            elapsed: secs(elapsed),
            paused: secs(paused),
            remaining: if breached { BusinessDuration::ZERO } else { self.goal.saturating_sub(secs(elapsed)) },
            percent: u32::try_from(percent).unwrap_or(u32::MAX),
            deadline,
            breached_at,
            thresholds,
            policy_version: policy.version,
            calendar_version: calendar.version(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Absent,
    Open(Option<HoldReason>),
    Resolved,
    Closed,
    Cancelled,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Absent => "not opened",
            Status::Open(None) => "open",
            Status::Open(Some(_)) => "on hold",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    /// The status after `event`, or why the event is impossible.
    fn after(self, index: usize, event: &SlaEvent) -> Result<Status, SlaError> {
        let invalid = || SlaError::InvalidSequence { index, event: event.name(), state: self.name() };
        match (self, event) {
            (Status::Absent, SlaEvent::Opened { .. }) => Ok(Status::Open(None)),
            (Status::Absent, _) => Err(SlaError::NotOpened { index, event: event.name() }),
            (_, SlaEvent::Opened { .. }) => Err(SlaError::OpenedTwice { index }),
            // A first response recorded after the resolution (or the closure) is history; it moves no clock.
            (Status::Resolved | Status::Closed, SlaEvent::Acknowledged { .. }) => Ok(self),
            (Status::Closed | Status::Cancelled, _) => Err(invalid()),
            (Status::Open(_), SlaEvent::Held { reason, .. }) => Ok(Status::Open(Some(*reason))),
            (Status::Open(Some(_)), SlaEvent::Resumed { .. }) => Ok(Status::Open(None)),
            (Status::Open(_), SlaEvent::Resolved { .. }) => Ok(Status::Resolved),
            (Status::Open(_) | Status::Resolved, SlaEvent::Closed { .. } | SlaEvent::Cancelled { .. }) => {
                Ok(if matches!(event, SlaEvent::Closed { .. }) { Status::Closed } else { Status::Cancelled })
            }
            (Status::Resolved, SlaEvent::Reopened { .. }) => Ok(Status::Open(None)),
            (Status::Open(_) | Status::Resolved, SlaEvent::PriorityChanged { .. } | SlaEvent::Updated { .. }) => {
                Ok(self)
            }
            (Status::Open(_), SlaEvent::Acknowledged { .. }) => Ok(self),
            (Status::Open(None), SlaEvent::Resumed { .. })
            | (Status::Open(_), SlaEvent::Reopened { .. })
            | (Status::Resolved, SlaEvent::Held { .. } | SlaEvent::Resumed { .. } | SlaEvent::Resolved { .. }) => {
                Err(invalid())
            }
        }
    }
}

/// Checks the whole history: starts with `Opened`, never goes back in time, every event possible.
fn check_history(events: &[SlaEvent]) -> Result<(), SlaError> {
    let mut status = Status::Absent;
    let mut previous: Option<Timestamp> = None;
    for (index, event) in events.iter().enumerate() {
        let at = event.at();
        if let Some(previous) = previous
            && at < previous
        {
            return Err(SlaError::OutOfOrder { index, event: event.name(), at, previous });
        }
        previous = Some(at);
        status = status.after(index, event)?;
    }
    Ok(())
}

fn targets(policy: &SlaPolicy, kind: IncidentKind, priority: Priority) -> Result<TargetSet, SlaError> {
    policy.targets_for(kind, priority).ok_or(SlaError::NoTarget { kind, priority, version: policy.version })
}

/// The tracks of one history, one list per target in cycle order.
///
/// A target's next cycle starts only once its previous cycle has ended (a
/// resolution or update cycle starts at `Opened`, at an acknowledgement or
/// update that stopped the running update cycle, at a priority change when
/// none is running, or at a reopening, when every clock has stopped), so only
/// the latest track of each target can still be running. Each event therefore
/// touches at most three tracks, and replay is linear in the history.
#[derive(Default)]
struct Tracks {
    response: Vec<Track>,
    resolution: Vec<Track>,
    update: Vec<Track>,
}

impl Tracks {
    fn of(&mut self, target: TargetKind) -> &mut Vec<Track> {
        match target {
            TargetKind::Response => &mut self.response,
            TargetKind::Resolution => &mut self.resolution,
            TargetKind::Update => &mut self.update,
        }
    }

    fn push(&mut self, track: Track) {
        self.of(track.target).push(track);
    }

    /// The latest track of `target`, running or not.
    fn latest(&mut self, target: TargetKind) -> Option<&mut Track> {
        self.of(target).last_mut()
    }

    /// The tracks that have not ended (at most one per target).
    fn active(&mut self) -> impl Iterator<Item = &mut Track> {
        [self.response.last_mut(), self.resolution.last_mut(), self.update.last_mut()]
            .into_iter()
            .flatten()
            .filter(|t| t.active())
    }

    /// Starts the next update cycle at `at`, if the targets measure updates.
    fn start_update(
        &mut self,
        cycles: &mut u32,
        set: Option<TargetSet>,
        kind: IncidentKind,
        priority: Priority,
        at: Timestamp,
    ) {
        if let Some(goal) = set.and_then(|s| s.update) {
            *cycles += 1;
            self.push(Track::new(TargetKind::Update, *cycles, kind, priority, goal, at));
        }
    }

    /// All tracks ordered by (target, cycle): each list is already in cycle order.
    fn into_ordered(self) -> Vec<Track> {
        let mut all = self.response;
        all.extend(self.resolution);
        all.extend(self.update);
        all
    }
}

/// Replays the history up to `now` into tracks (response, resolution cycles, update cycles).
/// Linear in the number of events.
pub(crate) fn replay(events: &[SlaEvent], policy: &SlaPolicy, now: Timestamp) -> Result<Vec<Track>, SlaError> {
    policy.validate()?;
    check_history(events)?;
    let mut tracks = Tracks::default();
    let mut status = Status::Absent;
    let mut kind = IncidentKind::Production;
    let mut priority = Priority::P3;
    let mut set: Option<TargetSet> = None;
    let mut acknowledged = false;
    let mut resolution_cycles = 0u32;
    let mut update_cycles = 0u32;

    for (index, event) in events.iter().enumerate() {
        let at = event.at();
        if at > now {
            break;
        }
        let next = status.after(index, event)?;
        match event {
            SlaEvent::Opened { kind: k, priority: p, .. } => {
                kind = *k;
                priority = *p;
                let s = targets(policy, kind, priority)?;
                tracks.push(Track::new(TargetKind::Response, 1, kind, priority, s.response, at));
                resolution_cycles = 1;
                tracks.push(Track::new(TargetKind::Resolution, 1, kind, priority, s.resolution, at));
                set = Some(s);
            }
            SlaEvent::Acknowledged { .. } => {
                if !acknowledged {
                    acknowledged = true;
                    if let Some(t) = tracks.latest(TargetKind::Response).filter(|t| t.active()) {
                        t.finish(End::Stopped(at));
                    }
                    // A late response (after the resolution) starts no update clock.
                    if matches!(status, Status::Open(_)) {
                        tracks.start_update(&mut update_cycles, set, kind, priority, at);
                    }
                }
            }
            SlaEvent::Held { .. } | SlaEvent::Resumed { .. } => {}
            SlaEvent::PriorityChanged { priority: p, .. } => {
                priority = *p;
                let s = targets(policy, kind, priority)?;
                let mut update_running = false;
                for t in tracks.active() {
                    match s.get(t.target) {
                        Some(goal) => {
                            t.goal = goal;
                            t.priority = priority;
                            update_running |= t.target == TargetKind::Update;
                        }
                        None => t.finish(End::Cancelled(at)),
                    }
                }
                set = Some(s);
                if acknowledged && !update_running && matches!(status, Status::Open(_)) {
                    tracks.start_update(&mut update_cycles, set, kind, priority, at);
                }
            }
            SlaEvent::Updated { .. } => {
                if let Some(t) = tracks.latest(TargetKind::Update).filter(|t| t.active()) {
                    t.finish(End::Stopped(at));
                    tracks.start_update(&mut update_cycles, set, kind, priority, at);
                }
            }
            SlaEvent::Resolved { .. } | SlaEvent::Closed { .. } => {
                for t in tracks.active() {
                    t.finish(End::Stopped(at));
                }
            }
            SlaEvent::Cancelled { .. } => {
                for t in tracks.active() {
                    t.finish(End::Cancelled(at));
                }
            }
            SlaEvent::Reopened { .. } => {
                match policy.reopen {
                    ReopenPolicy::ContinueCycle => {
                        if let Some(t) = tracks.latest(TargetKind::Resolution) {
                            t.end = None;
                        }
                    }
                    ReopenPolicy::NewCycle => {
                        let s = targets(policy, kind, priority)?;
                        resolution_cycles += 1;
                        tracks.push(Track::new(
                            TargetKind::Resolution,
                            resolution_cycles,
                            kind,
                            priority,
                            s.resolution,
                            at,
                        ));
                    }
                }
                if acknowledged {
                    tracks.start_update(&mut update_cycles, set, kind, priority, at);
                }
            }
        }
        status = next;
        let counting = match status {
            Status::Open(None) => true,
            Status::Open(Some(reason)) => !policy.pauses(reason),
            Status::Absent | Status::Resolved | Status::Closed | Status::Cancelled => false,
        };
        for t in tracks.active() {
            if counting {
                t.resume(at);
            } else {
                t.pause(at);
            }
        }
    }
    Ok(tracks.into_ordered())
}

/// The clocks of an incident as of `now`: one per target and cycle, response
/// first, then resolution cycles, then update cycles. Pure: the same
/// arguments always give the same result. Events after `now` are treated as
/// not having happened yet (the history is still checked as a whole).
pub fn clocks(
    events: &[SlaEvent],
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
) -> Result<Vec<TargetClock>, SlaError> {
    replay(events, policy, now)?.iter().map(|track| track.evaluate(calendar, policy, now)).collect()
}

/// The clock of the last cycle of `target` as of `now`, exactly as
/// [`clocks`] gives it, without evaluating the other clocks; `None` when the
/// policy sets no such target for the incident.
pub fn last_clock(
    events: &[SlaEvent],
    policy: &SlaPolicy,
    calendar: &Calendar,
    now: Timestamp,
    target: TargetKind,
) -> Result<Option<TargetClock>, SlaError> {
    let tracks = replay(events, policy, now)?;
    tracks
        .iter()
        .filter(|t| t.target == target)
        .max_by_key(|t| t.cycle)
        .map(|t| t.evaluate(calendar, policy, now))
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::sla::TargetEntry;

    /// The replay as first written: every event visits every track ever started
    /// (quadratic in updates and in `new_cycle` reopens), kept as the reference.
    fn reference_replay(events: &[SlaEvent], policy: &SlaPolicy, now: Timestamp) -> Result<Vec<Track>, SlaError> {
        policy.validate()?;
        check_history(events)?;
        let mut tracks: Vec<Track> = Vec::new();
        let mut status = Status::Absent;
        let mut kind = IncidentKind::Production;
        let mut priority = Priority::P3;
        let mut set: Option<TargetSet> = None;
        let mut acknowledged = false;
        let mut resolution_cycles = 0u32;
        let mut update_cycles = 0u32;

        for (index, event) in events.iter().enumerate() {
            let at = event.at();
            if at > now {
                break;
            }
            let next = status.after(index, event)?;
            let start_update = |tracks: &mut Vec<Track>, n: &mut u32, set: &Option<TargetSet>, priority| {
                if let Some(goal) = set.and_then(|s| s.update) {
                    *n += 1;
                    tracks.push(Track::new(TargetKind::Update, *n, kind, priority, goal, at));
                }
            };
            match event {
                SlaEvent::Opened { kind: k, priority: p, .. } => {
                    kind = *k;
                    priority = *p;
                    let s = targets(policy, kind, priority)?;
                    tracks.push(Track::new(TargetKind::Response, 1, kind, priority, s.response, at));
                    resolution_cycles = 1;
                    tracks.push(Track::new(TargetKind::Resolution, 1, kind, priority, s.resolution, at));
                    set = Some(s);
                }
                SlaEvent::Acknowledged { .. } => {
                    if !acknowledged {
                        acknowledged = true;
                        for t in tracks.iter_mut().filter(|t| t.target == TargetKind::Response && t.active()) {
                            t.finish(End::Stopped(at));
                        }
                        if matches!(status, Status::Open(_)) {
                            start_update(&mut tracks, &mut update_cycles, &set, priority);
                        }
                    }
                }
                SlaEvent::Held { .. } | SlaEvent::Resumed { .. } => {}
                SlaEvent::PriorityChanged { priority: p, .. } => {
                    priority = *p;
                    let s = targets(policy, kind, priority)?;
                    let mut update_running = false;
                    for t in tracks.iter_mut().filter(|t| t.active()) {
                        match s.get(t.target) {
                            Some(goal) => {
                                t.goal = goal;
                                t.priority = priority;
                                update_running |= t.target == TargetKind::Update;
                            }
                            None => t.finish(End::Cancelled(at)),
                        }
                    }
                    set = Some(s);
                    if acknowledged && !update_running && matches!(status, Status::Open(_)) {
                        start_update(&mut tracks, &mut update_cycles, &set, priority);
                    }
                }
                SlaEvent::Updated { .. } => {
                    let mut stopped = false;
                    for t in tracks.iter_mut().filter(|t| t.target == TargetKind::Update && t.active()) {
                        t.finish(End::Stopped(at));
                        stopped = true;
                    }
                    if stopped {
                        start_update(&mut tracks, &mut update_cycles, &set, priority);
                    }
                }
                SlaEvent::Resolved { .. } | SlaEvent::Closed { .. } => {
                    for t in tracks.iter_mut().filter(|t| t.active()) {
                        t.finish(End::Stopped(at));
                    }
                }
                SlaEvent::Cancelled { .. } => {
                    for t in tracks.iter_mut().filter(|t| t.active()) {
                        t.finish(End::Cancelled(at));
                    }
                }
                SlaEvent::Reopened { .. } => {
                    match policy.reopen {
                        ReopenPolicy::ContinueCycle => {
                            if let Some(t) = tracks.iter_mut().rev().find(|t| t.target == TargetKind::Resolution) {
                                t.end = None;
                            }
                        }
                        ReopenPolicy::NewCycle => {
                            let s = targets(policy, kind, priority)?;
                            resolution_cycles += 1;
                            tracks.push(Track::new(
                                TargetKind::Resolution,
                                resolution_cycles,
                                kind,
                                priority,
                                s.resolution,
                                at,
                            ));
                        }
                    }
                    if acknowledged {
                        start_update(&mut tracks, &mut update_cycles, &set, priority);
                    }
                }
            }
            status = next;
            let counting = match status {
                Status::Open(None) => true,
                Status::Open(Some(reason)) => !policy.pauses(reason),
                Status::Absent | Status::Resolved | Status::Closed | Status::Cancelled => false,
            };
            for t in tracks.iter_mut().filter(|t| t.active()) {
                if counting {
                    t.resume(at);
                } else {
                    t.pause(at);
                }
            }
        }
        tracks.sort_by_key(|t| (t.target, t.cycle));
        Ok(tracks)
    }

    const PRIORITIES: [Priority; 5] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5];
    const REASONS: [HoldReason; 5] = [
        HoldReason::AwaitingCaller,
        HoldReason::AwaitingVendor,
        HoldReason::AwaitingProblem,
        HoldReason::AwaitingChange,
        HoldReason::AwaitingEvidence,
    ];

    fn t0() -> Timestamp {
        Timestamp::from_unix_secs(1_772_438_400).unwrap_or_else(|| unreachable!())
    }

    /// A history from raw steps: mostly valid, with updates and reopens frequent;
    /// `wild` steps append an event regardless of state (the check then refuses it
    /// the same way in both replays).
    fn history(priority: usize, steps: &[(u8, u16, u8)]) -> Vec<SlaEvent> {
        let mut events =
            vec![SlaEvent::Opened { at: t0(), kind: IncidentKind::Production, priority: PRIORITIES[priority % 5] }];
        let mut resolved = false;
        let mut held = false;
        let mut t = t0();
        for &(action, seconds, arg) in steps {
            t = t.plus_seconds(i64::from(seconds)).unwrap_or(t);
            let event = match action % 16 {
                0 | 1 => SlaEvent::Acknowledged { at: t },
                2 => SlaEvent::Held { at: t, reason: REASONS[usize::from(arg) % 5] },
                3 => SlaEvent::Resumed { at: t },
                4 => SlaEvent::PriorityChanged { at: t, priority: PRIORITIES[usize::from(arg) % 5] },
                5..=9 => SlaEvent::Updated { at: t },
                10 | 11 => SlaEvent::Resolved { at: t },
                12 | 13 => SlaEvent::Reopened { at: t },
                14 => SlaEvent::Closed { at: t },
                _ => SlaEvent::Cancelled { at: t },
            };
            let valid = match &event {
                SlaEvent::Acknowledged { .. } | SlaEvent::Held { .. } => !resolved,
                SlaEvent::Resumed { .. } => !resolved && held,
                SlaEvent::Resolved { .. } => !resolved,
                SlaEvent::Reopened { .. } => resolved,
                SlaEvent::Closed { .. } | SlaEvent::Cancelled { .. } => arg % 8 == 0,
                SlaEvent::Opened { .. } | SlaEvent::PriorityChanged { .. } | SlaEvent::Updated { .. } => true,
            };
            let wild = arg == 255;
            if !valid && !wild {
                continue;
            }
            match &event {
                SlaEvent::Held { .. } => held = true,
                SlaEvent::Resumed { .. } => held = false,
                SlaEvent::Resolved { .. } => (resolved, held) = (true, false),
                SlaEvent::Reopened { .. } => resolved = false,
                SlaEvent::Opened { .. }
                | SlaEvent::Acknowledged { .. }
                | SlaEvent::PriorityChanged { .. }
                | SlaEvent::Updated { .. }
                | SlaEvent::Closed { .. }
                | SlaEvent::Cancelled { .. } => {}
            }
            events.push(event);
        }
        events
    }

    /// A policy with update targets for the priorities in `with_update`, no
    /// targets at all for P5 when `gap`, the pausing holds in `pausing`.
    fn policy(new_cycle: bool, with_update: u8, gap: bool, pausing: u8) -> SlaPolicy {
        let targets = PRIORITIES
            .iter()
            .enumerate()
            .filter(|(i, _)| !(gap && *i == 4))
            .map(|(i, &priority)| TargetEntry {
                kind: None,
                priority,
                response: BusinessDuration::from_secs(600 * (i as u64 + 1)),
                resolution: BusinessDuration::from_secs(3_600 * (i as u64 + 1)),
                update: (with_update & (1 << i) != 0).then(|| BusinessDuration::from_secs(900 * (i as u64 + 1))),
            })
            .collect();
        let pausing_holds: BTreeSet<HoldReason> =
            REASONS.iter().enumerate().filter(|(i, _)| pausing & (1 << i) != 0).map(|(_, r)| *r).collect();
        SlaPolicy {
            targets,
            pausing_holds,
            reopen: if new_cycle { ReopenPolicy::NewCycle } else { ReopenPolicy::ContinueCycle },
            ..SlaPolicy::default()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        /// The linear replay gives exactly the reference's tracks (or its error), cut at any `now`.
        #[test]
        fn replay_equals_the_reference(
            priority in 0usize..5,
            steps in prop::collection::vec((any::<u8>(), 0u16..=7_200, any::<u8>()), 0..80),
            new_cycle in any::<bool>(),
            with_update in any::<u8>(),
            gap in any::<bool>(),
            pausing in any::<u8>(),
            cut in 0u32..=400_000,
        ) {
            let events = history(priority, &steps);
            let policy = policy(new_cycle, with_update, gap, pausing);
            let now = t0().plus_seconds(i64::from(cut)).unwrap_or_else(t0);
            prop_assert_eq!(replay(&events, &policy, now), reference_replay(&events, &policy, now));
            let end = events.last().map_or_else(t0, SlaEvent::at);
            prop_assert_eq!(replay(&events, &policy, end), reference_replay(&events, &policy, end));
        }
    }

    /// Scaling check without timing: 200,000 updates and 200,000 `new_cycle`
    /// reopens replay and evaluate (the quadratic replay would visit 2*10^10 tracks).
    /// Timings are in BENCHMARKS.md.
    #[test]
    fn two_hundred_thousand_updates_and_reopens() {
        let n = 200_000;
        let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
        let start = |priority| SlaEvent::Opened { at: t0(), kind: IncidentKind::Production, priority };
        let mut updates = vec![start(Priority::P1), SlaEvent::Acknowledged { at: t0() }];
        updates.extend((1..=n).map(|i| SlaEvent::Updated { at: t0().plus_seconds(i).unwrap_or_else(t0) }));
        let now = t0().plus_seconds(n + 1).unwrap_or_else(t0);
        let result = clocks(&updates, &SlaPolicy::default(), &calendar, now);
        let update_cycles = result.map(|c| c.iter().filter(|c| c.target == TargetKind::Update).count());
        assert_eq!(update_cycles, Ok(200_001));

        let mut reopens = vec![start(Priority::P3)];
        for i in 0..n {
            let at = |k| t0().plus_seconds(2 * i + k).unwrap_or_else(t0);
            reopens.push(SlaEvent::Resolved { at: at(1) });
            reopens.push(SlaEvent::Reopened { at: at(2) });
        }
        let policy = SlaPolicy { reopen: ReopenPolicy::NewCycle, ..SlaPolicy::default() };
        let result = clocks(&reopens, &policy, &calendar, now.plus_seconds(n).unwrap_or(now));
        let resolution_cycles = result.map(|c| c.iter().filter(|c| c.target == TargetKind::Resolution).count());
        assert_eq!(resolution_cycles, Ok(200_001));
    }
}
