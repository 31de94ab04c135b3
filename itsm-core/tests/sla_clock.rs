//! SLA clocks and escalations: concrete scenarios and properties over random histories.

use std::collections::BTreeSet;

use itsm_core::calendar::{Calendar, CalendarDef, TimeRange, WeekSchedule};
use itsm_core::id::IncidentId;
use itsm_core::sla::{
    ClockState, DueEscalation, EscalationAction, EscalationRule, EscalationRules, EscalationTrigger, ReopenPolicy,
    SlaError, SlaEvent, SlaPolicy, TargetClock, TargetKind, clocks, due_escalations, last_clock,
};
use itsm_core::vocabulary::{HoldReason, IncidentKind, Priority};
use itsm_core::{BusinessDuration, Timestamp};
use proptest::prelude::*;

const H: u64 = 3600;

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-03-02T08:00:00Z").unwrap()
}

/// `t0` plus `minutes` of wall-clock time.
fn at(minutes: i64) -> Timestamp {
    t0().plus_seconds(minutes * 60).unwrap()
}

fn utc() -> Calendar {
    Calendar::twenty_four_seven(chrono_tz::UTC)
}

fn find(clocks: &[TargetClock], target: TargetKind, cycle: u32) -> &TargetClock {
    clocks
        .iter()
        .find(|c| c.target == target && c.cycle == cycle)
        .unwrap_or_else(|| panic!("no {target} cycle {cycle} in {clocks:#?}"))
}

fn secs(n: u64) -> BusinessDuration {
    BusinessDuration::from_secs(n)
}

/// P2 (response 30 min, resolution 8 h, updates every 2 h): acknowledged after
/// 10 min, on hold for the caller 1 h -> 3 h, resolved at 5 h, reopened at 7 h.
fn reopen_history() -> Vec<SlaEvent> {
    vec![
        SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P2 },
        SlaEvent::Acknowledged { at: at(10) },
        SlaEvent::Held { at: at(60), reason: HoldReason::AwaitingCaller },
        SlaEvent::Resumed { at: at(180) },
        SlaEvent::Resolved { at: at(300) },
        SlaEvent::Reopened { at: at(420) },
    ]
}

#[test]
fn continue_cycle_reopen_with_concrete_numbers() {
    let policy = SlaPolicy::default();
    assert_eq!(policy.reopen, ReopenPolicy::ContinueCycle);
    let clocks = clocks(&reopen_history(), &policy, &utc(), at(540)).unwrap();
    let response = find(&clocks, TargetKind::Response, 1);
    assert_eq!(response.state, ClockState::Met { at: at(10) });
    assert_eq!((response.elapsed, response.remaining, response.percent), (secs(600), secs(1200), 33));

    let resolution = find(&clocks, TargetKind::Resolution, 1);
    assert_eq!(clocks.iter().filter(|c| c.target == TargetKind::Resolution).count(), 1);
    // Counted: 0-1 h, 3-5 h, 7-9 h = 5 h; not counted: the hold (2 h) and resolved -> reopened (2 h).
    assert_eq!(resolution.state, ClockState::Running);
    assert_eq!(resolution.elapsed, secs(5 * H));
    assert_eq!(resolution.paused, secs(4 * H));
    assert_eq!(resolution.remaining, secs(3 * H));
    assert_eq!(resolution.percent, 62);
    assert_eq!(resolution.deadline, Some(at(720)));
    assert_eq!(resolution.breached_at, None);
    let thresholds: Vec<(u32, bool, Option<Timestamp>)> =
        resolution.thresholds.iter().map(|t| (t.percent, t.reached, t.at)).collect();
    // 50 % (4 h): 3 h were counted before the resolution, the fourth hour ends at 8:00 after the reopening.
    assert_eq!(thresholds, vec![(50, true, Some(at(480))), (75, false, Some(at(600))), (100, false, Some(at(720)))]);
    // Update cycles: 10 min -> resolution (met), a new one from the reopening.
    let first_update = find(&clocks, TargetKind::Update, 1);
    // 2 h: 50 min before the hold, 70 min after it.
    assert_eq!(first_update.state, ClockState::Breached { at: at(250) });
    assert_eq!(first_update.ended_at, Some(at(300)));
    assert_eq!(first_update.paused, secs(2 * H));
    let second_update = find(&clocks, TargetKind::Update, 2);
    assert_eq!((second_update.started_at, second_update.elapsed), (at(420), secs(2 * H)));
    assert_eq!(second_update.breached_at, Some(at(540)));
    assert_eq!(second_update.state, ClockState::Running);
}

#[test]
fn new_cycle_reopen_with_concrete_numbers() {
    let policy = SlaPolicy { reopen: ReopenPolicy::NewCycle, ..SlaPolicy::default() };
    let clocks = clocks(&reopen_history(), &policy, &utc(), at(540)).unwrap();
    let first = find(&clocks, TargetKind::Resolution, 1);
    assert_eq!(first.state, ClockState::Met { at: at(300) });
    assert_eq!((first.elapsed, first.paused, first.remaining), (secs(3 * H), secs(2 * H), secs(5 * H)));
    assert_eq!(first.deadline, Some(at(600)));
    let second = find(&clocks, TargetKind::Resolution, 2);
    assert_eq!(second.state, ClockState::Running);
    assert_eq!((second.started_at, second.elapsed, second.paused), (at(420), secs(2 * H), secs(0)));
    assert_eq!((second.remaining, second.percent, second.deadline), (secs(6 * H), 25, Some(at(420 + 480))));
}

#[test]
fn only_pausing_holds_pause_and_resolve_from_hold_ends_the_pause() {
    let history = vec![
        SlaEvent::Opened { at: at(0), kind: IncidentKind::Business, priority: Priority::P3 },
        SlaEvent::Held { at: at(60), reason: HoldReason::AwaitingChange },
        SlaEvent::Held { at: at(120), reason: HoldReason::AwaitingVendor },
        SlaEvent::Resolved { at: at(200) },
    ];
    let clocks = clocks(&history, &SlaPolicy::default(), &utc(), at(600)).unwrap();
    let resolution = find(&clocks, TargetKind::Resolution, 1);
    // Awaiting change counts (60 -> 120), awaiting vendor does not (120 -> 200).
    assert_eq!((resolution.elapsed, resolution.paused), (secs(2 * H), secs(80 * 60)));
    assert_eq!(resolution.state, ClockState::Met { at: at(200) });
    // Never acknowledged: resolution stops response too (2 h response target: 120 min counted = breached at 120).
    let response = find(&clocks, TargetKind::Response, 1);
    assert_eq!(response.state, ClockState::Breached { at: at(120) });
    assert_eq!(response.ended_at, Some(at(200)));
    assert_eq!(response.remaining, BusinessDuration::ZERO);
}

#[test]
fn priority_change_keeps_elapsed_and_retargets_retroactively() {
    // P3 (24 h) running for 5 h, then P1 (4 h): breached as of 4 h of elapsed time.
    let history = vec![
        SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P3 },
        SlaEvent::Acknowledged { at: at(30) },
        SlaEvent::PriorityChanged { at: at(300), priority: Priority::P1 },
    ];
    let policy = SlaPolicy::default();
    let before = clocks(&history[..2], &policy, &utc(), at(300)).unwrap();
    let after = clocks(&history, &policy, &utc(), at(300)).unwrap();
    let (b, a) = (find(&before, TargetKind::Resolution, 1), find(&after, TargetKind::Resolution, 1));
    assert_eq!((b.elapsed, b.paused), (a.elapsed, a.paused));
    assert_eq!((a.priority, a.goal, a.percent), (Priority::P1, secs(4 * H), 125));
    assert_eq!(a.breached_at, Some(at(240)));
    assert_eq!(a.state, ClockState::Running);
    // The response clock had stopped: it keeps its P3 target.
    assert_eq!(find(&after, TargetKind::Response, 1).priority, Priority::P3);
    // P1 has an update target, P3 none: an update cycle starts at the change.
    assert_eq!(find(&after, TargetKind::Update, 1).started_at, at(300));
    // Back to P4: the update target disappears and its clock is cancelled.
    let mut down = history.clone();
    down.push(SlaEvent::PriorityChanged { at: at(310), priority: Priority::P4 });
    let down = clocks(&down, &policy, &utc(), at(400)).unwrap();
    assert_eq!(find(&down, TargetKind::Update, 1).state, ClockState::Cancelled { at: at(310) });
    assert_eq!(find(&down, TargetKind::Resolution, 1).elapsed, secs(400 * 60));
}

#[test]
fn business_calendar_clock_and_now_before_the_last_event() {
    // 5x8 Berlin; opened Friday 16:00 local, P2 resolution 8 h.
    let berlin = Calendar::five_by_eight(chrono_tz::Europe::Berlin);
    let opened = Timestamp::parse_rfc3339("2026-03-06T16:00:00+01:00").unwrap();
    let history = vec![
        SlaEvent::Opened { at: opened, kind: IncidentKind::Production, priority: Priority::P2 },
        SlaEvent::Acknowledged { at: Timestamp::parse_rfc3339("2026-03-09T09:10:00+01:00").unwrap() },
        SlaEvent::Resolved { at: Timestamp::parse_rfc3339("2026-03-09T12:00:00+01:00").unwrap() },
    ];
    let policy = SlaPolicy::default();
    // As of Saturday: acknowledgement and resolution have not happened yet.
    let saturday = Timestamp::parse_rfc3339("2026-03-07T12:00:00+01:00").unwrap();
    let early = clocks(&history, &policy, &berlin, saturday).unwrap();
    let response = find(&early, TargetKind::Response, 1);
    assert_eq!(response.state, ClockState::Running);
    assert_eq!(response.elapsed, secs(H));
    assert_eq!(response.breached_at, Some(Timestamp::parse_rfc3339("2026-03-06T16:30:00+01:00").unwrap()));
    let resolution = find(&early, TargetKind::Resolution, 1);
    assert_eq!((resolution.elapsed, resolution.paused), (secs(H), secs(0)));
    assert_eq!(resolution.deadline, Some(Timestamp::parse_rfc3339("2026-03-09T16:00:00+01:00").unwrap()));
    // Later: met at Monday 12:00 after 4 business hours.
    let late =
        clocks(&history, &policy, &berlin, Timestamp::parse_rfc3339("2026-03-10T00:00:00+01:00").unwrap()).unwrap();
    let resolution = find(&late, TargetKind::Resolution, 1);
    assert_eq!(
        resolution.state,
        ClockState::Met { at: Timestamp::parse_rfc3339("2026-03-09T12:00:00+01:00").unwrap() }
    );
    assert_eq!(resolution.elapsed, secs(4 * H));
    assert_eq!(
        find(&late, TargetKind::Response, 1).state,
        ClockState::Breached { at: Timestamp::parse_rfc3339("2026-03-06T16:30:00+01:00").unwrap() }
    );
    // Nothing opened yet as of a time before the first event.
    assert_eq!(
        clocks(&history, &policy, &berlin, Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap()),
        Ok(vec![])
    );
}

#[test]
fn bad_histories_are_typed_errors() {
    let policy = SlaPolicy::default();
    let cal = utc();
    let opened = SlaEvent::Opened { at: at(0), kind: IncidentKind::Desktop, priority: Priority::P4 };
    assert_eq!(
        clocks(&[SlaEvent::Acknowledged { at: at(0) }, opened.clone()], &policy, &cal, at(9)),
        Err(SlaError::NotOpened { index: 0, event: "acknowledged" })
    );
    assert_eq!(
        clocks(
            &[opened.clone(), SlaEvent::Resolved { at: at(5) }, SlaEvent::Reopened { at: at(4) }],
            &policy,
            &cal,
            at(9)
        ),
        Err(SlaError::OutOfOrder { index: 2, event: "reopened", at: at(4), previous: at(5) })
    );
    assert_eq!(
        clocks(&[opened.clone(), SlaEvent::Resumed { at: at(1) }], &policy, &cal, at(9)),
        Err(SlaError::InvalidSequence { index: 1, event: "resumed", state: "open" })
    );
    assert_eq!(
        clocks(&[opened.clone(), SlaEvent::Reopened { at: at(1) }], &policy, &cal, at(9)),
        Err(SlaError::InvalidSequence { index: 1, event: "reopened", state: "open" })
    );
    assert_eq!(
        clocks(
            &[opened.clone(), SlaEvent::Closed { at: at(1) }, SlaEvent::Updated { at: at(2) }],
            &policy,
            &cal,
            at(9)
        ),
        Err(SlaError::InvalidSequence { index: 2, event: "updated", state: "closed" })
    );
    assert_eq!(
        clocks(&[opened.clone(), opened.clone()], &policy, &cal, at(9)),
        Err(SlaError::OpenedTwice { index: 1 })
    );
    // Errors do not depend on `now`: a bad event after `now` is still reported.
    assert!(clocks(&[opened.clone(), SlaEvent::Resumed { at: at(100) }], &policy, &cal, at(9)).is_err());
    let narrow = SlaPolicy { targets: vec![], ..SlaPolicy::default() };
    assert_eq!(
        clocks(std::slice::from_ref(&opened), &narrow, &cal, at(9)),
        Err(SlaError::NoTarget { kind: IncidentKind::Desktop, priority: Priority::P4, version: 1 })
    );
    let message = SlaError::NoTarget { kind: IncidentKind::Desktop, priority: Priority::P4, version: 1 }.to_string();
    assert_eq!(message, "SLA policy version 1 has no targets for a P4 desktop incident");
    let far = Timestamp::parse_rfc3339("2200-01-01T00:00:00Z").unwrap();
    assert!(matches!(clocks(&[opened], &policy, &cal, far), Err(SlaError::Calendar(_))));
    let json = r#"[{"type": "opened", "at": "2026-03-02T08:00:00Z", "kind": "production", "priority": "2"},
                   {"type": "held", "at": "2026-03-02T09:00:00Z", "reason": "awaiting_lunch"}]"#;
    assert!(serde_json::from_str::<Vec<SlaEvent>>(json).is_err());
}

#[test]
fn escalations_are_due_once_with_stable_ids() {
    let incident = IncidentId::new("INC/42%").unwrap();
    let rules = EscalationRules::default();
    let policy = SlaPolicy::default();
    let history = vec![SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P1 }];
    let due = |now| due_escalations(&incident, &history, &policy, &rules, &utc(), now).unwrap();
    assert_eq!(due(at(14)), vec![]);
    let first = due(at(15));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, "sla-escalation/INC%2F42%25/response/1/unacknowledged-backup");
    assert_eq!((first[0].action, first[0].due_at), (EscalationAction::NotifyBackup, at(15)));
    // A store that was down for a day catches up with everything, in order.
    let all = due(at(24 * 60));
    let summary: Vec<(&str, EscalationAction, Timestamp)> =
        all.iter().map(|d| (d.rule.as_str(), d.action, d.due_at)).collect();
    assert_eq!(
        summary,
        vec![
            ("unacknowledged-backup", EscalationAction::NotifyBackup, at(15)),
            ("resolution-75-lead", EscalationAction::NotifyGroupLead, at(180)),
            ("p1-resolution-breach-major", EscalationAction::ProposeMajorIncident, at(240)),
            ("resolution-breach-upward", EscalationAction::EscalateUpward, at(240)),
        ]
    );
    // Ids are unique and do not move when computed later.
    let ids: BTreeSet<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), all.len());
    assert_eq!(all[0], first[0]);

    // Acknowledged in time: no backup notification; a P3 does not propose a major incident.
    let history = vec![
        SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: Priority::P3 },
        SlaEvent::Acknowledged { at: at(5) },
    ];
    let rules = EscalationRules {
        version: 2,
        rules: vec![
            EscalationRule {
                id: "backup".into(),
                trigger: EscalationTrigger::NotAcknowledgedWithin { after: BusinessDuration::from_minutes(10) },
                action: EscalationAction::NotifyBackup,
                priorities: vec![],
                kinds: vec![],
            },
            EscalationRule {
                id: "major".into(),
                trigger: EscalationTrigger::Breach { target: TargetKind::Resolution },
                action: EscalationAction::ProposeMajorIncident,
                priorities: vec![Priority::P1],
                kinds: vec![],
            },
            EscalationRule {
                id: "response-half".into(),
                trigger: EscalationTrigger::Threshold { target: TargetKind::Response, percent: 1 },
                action: EscalationAction::NotifyGroupLead,
                priorities: vec![],
                kinds: vec![IncidentKind::Production],
            },
        ],
    };
    let due: Vec<DueEscalation> = due_escalations(&incident, &history, &policy, &rules, &utc(), at(10_000)).unwrap();
    assert_eq!(
        due.iter().map(|d| (d.rule.as_str(), d.due_at, d.rules_version)).collect::<Vec<_>>(),
        vec![("response-half", at(0).plus_seconds(72).unwrap(), 2)]
    );
    let bad =
        EscalationRules { version: 1, rules: vec![EscalationRule { id: "a/b".into(), ..rules.rules[0].clone() }] };
    assert!(matches!(due_escalations(&incident, &history, &policy, &bad, &utc(), at(1)), Err(SlaError::Rules(_))));
    let json = serde_json::to_string(&EscalationRules::default()).unwrap();
    assert_eq!(serde_json::from_str::<EscalationRules>(&json).unwrap(), EscalationRules::default());
}

// ---------------------------------------------------------------------------
// Random histories.

/// A resolution cycle in the test's model: start, end (or `now`), counting intervals.
type ModelCycle = (Timestamp, Timestamp, Vec<(Timestamp, Timestamp)>);
/// The same while replaying: the end is unknown until the cycle stops.
type OpenCycle = (Timestamp, Option<Timestamp>, Vec<(Timestamp, Timestamp)>);
/// Raw material for a history: priority, steps, reopen policy, calendar, minutes after the last event.
type RawHistory = (usize, Vec<(u8, u32, u8)>, bool, usize, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Open,
    Held(HoldReason),
    Resolved,
    Done,
}

const REASONS: [HoldReason; 5] = [
    HoldReason::AwaitingCaller,
    HoldReason::AwaitingVendor,
    HoldReason::AwaitingProblem,
    HoldReason::AwaitingChange,
    HoldReason::AwaitingEvidence,
];
const PRIORITIES: [Priority; 5] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4, Priority::P5];

/// Turns raw (action, minutes) pairs into a valid history, whole seconds apart.
fn history(priority: usize, steps: &[(u8, u32, u8)]) -> Vec<SlaEvent> {
    let mut events =
        vec![SlaEvent::Opened { at: at(0), kind: IncidentKind::Production, priority: PRIORITIES[priority % 5] }];
    let mut st = St::Open;
    let mut t = t0();
    for &(action, minutes, arg) in steps {
        t = t.plus_seconds(i64::from(minutes) * 60 + i64::from(arg)).unwrap();
        let event = match (action % 10, st) {
            (_, St::Done) => break,
            (0, St::Open | St::Held(_)) => SlaEvent::Acknowledged { at: t },
            (1 | 2, St::Open | St::Held(_)) => {
                let reason = REASONS[usize::from(arg) % 5];
                st = St::Held(reason);
                SlaEvent::Held { at: t, reason }
            }
            (3, St::Held(_)) => {
                st = St::Open;
                SlaEvent::Resumed { at: t }
            }
            (4, _) => SlaEvent::PriorityChanged { at: t, priority: PRIORITIES[usize::from(arg) % 5] },
            (5, _) => SlaEvent::Updated { at: t },
            (6, St::Open | St::Held(_)) => {
                st = St::Resolved;
                SlaEvent::Resolved { at: t }
            }
            (7 | 8, St::Resolved) => {
                st = St::Open;
                SlaEvent::Reopened { at: t }
            }
            (9, _) if arg % 8 == 0 => {
                st = St::Done;
                if arg % 16 == 0 { SlaEvent::Cancelled { at: t } } else { SlaEvent::Closed { at: t } }
            }
            _ => continue,
        };
        events.push(event);
    }
    events
}

fn calendars() -> [Calendar; 3] {
    let split = CalendarDef {
        version: 4,
        time_zone: "America/New_York".into(),
        week: WeekSchedule {
            mon: vec![TimeRange::hours(9, 12).unwrap(), TimeRange::hours(13, 17).unwrap()],
            tue: vec![TimeRange::hours(9, 12).unwrap(), TimeRange::hours(13, 17).unwrap()],
            wed: vec![TimeRange::hours(9, 12).unwrap(), TimeRange::hours(13, 17).unwrap()],
            thu: vec![TimeRange::hours(0, 24).unwrap()],
            fri: vec![TimeRange::hours(9, 17).unwrap()],
            ..WeekSchedule::default()
        },
        holidays: vec![],
        exceptions: vec![],
    };
    [utc(), Calendar::five_by_eight(chrono_tz::Europe::Berlin), Calendar::new(split).unwrap()]
}

/// The test's own model of the resolution clock: counting intervals per cycle, and the cycle spans.
fn resolution_model(events: &[SlaEvent], policy: &SlaPolicy, now: Timestamp) -> Vec<ModelCycle> {
    let mut cycles: Vec<OpenCycle> = Vec::new();
    let mut counting_since: Option<Timestamp> = None;
    for event in events.iter().take_while(|e| e.at() <= now) {
        let t = event.at();
        let close = |cycles: &mut Vec<OpenCycle>, since: &mut Option<Timestamp>| {
            if let (Some(s), Some(c)) = (since.take(), cycles.last_mut())
                && t > s
            {
                c.2.push((s, t));
            }
        };
        match event {
            SlaEvent::Opened { .. } => {
                cycles.push((t, None, vec![]));
                counting_since = Some(t);
            }
            SlaEvent::Held { reason, .. } => {
                if policy.pausing_holds.contains(reason) {
                    close(&mut cycles, &mut counting_since);
                } else if counting_since.is_none() {
                    counting_since = Some(t);
                }
            }
            SlaEvent::Resumed { .. } => {
                if counting_since.is_none() {
                    counting_since = Some(t);
                }
            }
            SlaEvent::Resolved { .. } | SlaEvent::Closed { .. } | SlaEvent::Cancelled { .. } => {
                close(&mut cycles, &mut counting_since);
                if let Some(c) = cycles.last_mut()
                    && c.1.is_none()
                {
                    c.1 = Some(t);
                }
            }
            SlaEvent::Reopened { .. } => {
                match policy.reopen {
                    ReopenPolicy::ContinueCycle => {
                        if let Some(c) = cycles.last_mut() {
                            c.1 = None;
                        }
                    }
                    ReopenPolicy::NewCycle => cycles.push((t, None, vec![])),
                }
                counting_since = Some(t);
            }
            SlaEvent::Acknowledged { .. } | SlaEvent::PriorityChanged { .. } | SlaEvent::Updated { .. } => {}
        }
    }
    if let (Some(s), Some(c)) = (counting_since, cycles.last_mut())
        && now > s
    {
        c.2.push((s, now));
    }
    cycles.into_iter().map(|(start, end, segments)| (start, end.unwrap_or(now), segments)).collect()
}

fn raw_history() -> impl Strategy<Value = RawHistory> {
    (
        0usize..5,
        prop::collection::vec((0u8..10, 0u32..=900, any::<u8>()), 0..14),
        any::<bool>(),
        0usize..3,
        0u32..=20_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, .. ProptestConfig::default() })]

    #[test]
    fn clocks_obey_their_properties((priority, steps, new_cycle, which, extra) in raw_history(), cut in 0u32..=10_000) {
        let events = history(priority, &steps);
        let policy = SlaPolicy { reopen: if new_cycle { ReopenPolicy::NewCycle } else { ReopenPolicy::ContinueCycle }, ..SlaPolicy::default() };
        let calendar = &calendars()[which];
        let last = events.last().map(SlaEvent::at).unwrap();
        let now = last.plus_seconds(i64::from(extra) * 60).unwrap();
        let result = clocks(&events, &policy, calendar, now).unwrap();

        // Replay: the same history (also after a JSON round trip) gives the identical result.
        prop_assert_eq!(&clocks(&events, &policy, calendar, now).unwrap(), &result);
        let json = serde_json::to_string(&events).unwrap();
        let back: Vec<SlaEvent> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&clocks(&back, &policy, calendar, now).unwrap(), &result);
        // The last clock of each target alone is the one `clocks` gives for its last cycle.
        for target in [TargetKind::Response, TargetKind::Resolution, TargetKind::Update] {
            let expected = result.iter().filter(|c| c.target == target).max_by_key(|c| c.cycle).cloned();
            prop_assert_eq!(last_clock(&events, &policy, calendar, now, target).unwrap(), expected);
        }

        // Paused time is excluded exactly: elapsed is the calendar's business time
        // over the model's counting intervals, paused the rest of the cycle.
        let model = resolution_model(&events, &policy, now);
        let resolution: Vec<&TargetClock> = result.iter().filter(|c| c.target == TargetKind::Resolution).collect();
        prop_assert_eq!(resolution.len(), model.len());
        for (clock, (start, end, segments)) in resolution.iter().zip(&model) {
            let counted = segments.iter().map(|(a, b)| calendar.business_time(*a, *b).unwrap().as_secs()).sum::<u64>();
            let total = calendar.business_time(*start, *end).unwrap().as_secs();
            prop_assert_eq!(clock.started_at, *start);
            prop_assert_eq!(clock.elapsed.as_secs(), counted);
            prop_assert_eq!(clock.paused.as_secs(), total - counted);
        }

        // Consistency of every clock.
        for c in &result {
            let breached = c.elapsed >= c.goal;
            prop_assert_eq!(c.is_breached(), breached, "{:?}", c);
            if breached {
                prop_assert_eq!(c.breached_at, c.deadline);
                prop_assert!(c.breached_at.unwrap() <= now);
                prop_assert_eq!(c.remaining, BusinessDuration::ZERO);
                prop_assert!(c.percent >= 100);
            } else {
                prop_assert_eq!(c.remaining.as_secs() + c.elapsed.as_secs(), c.goal.as_secs());
                prop_assert!(c.percent < 100);
                // deadline = deadline_after(start, goal + paused) for clocks that have not stopped.
                if c.ended_at.is_none() {
                    let expected = calendar.deadline_after(c.started_at, c.goal.saturating_add(c.paused)).ok();
                    prop_assert_eq!(c.deadline, expected);
                }
            }
            match c.state {
                ClockState::Running | ClockState::Paused => prop_assert!(c.ended_at.is_none()),
                ClockState::Met { at } | ClockState::Cancelled { at } => prop_assert_eq!(c.ended_at, Some(at)),
                ClockState::Breached { at } => prop_assert_eq!(c.breached_at, Some(at)),
            }
        }

        // Elapsed is monotone in now, for every clock that already exists.
        let earlier = t0().plus_seconds(i64::from(cut) * 60).unwrap().min(now);
        let before = clocks(&events, &policy, calendar, earlier).unwrap();
        for c in &before {
            let later = result.iter().find(|l| l.target == c.target && l.cycle == c.cycle);
            prop_assert!(later.is_some(), "{:?} {} vanished", c.target, c.cycle);
            prop_assert!(later.unwrap().elapsed >= c.elapsed);
            prop_assert!(later.unwrap().paused >= c.paused || c.target == TargetKind::Response);
        }

        // A priority change keeps elapsed and paused time of response and resolution.
        let insert_at = events.iter().position(|e| matches!(e, SlaEvent::Closed { .. } | SlaEvent::Cancelled { .. })).unwrap_or(events.len());
        let mut changed = events.clone();
        let when = changed[insert_at - 1].at();
        changed.insert(insert_at, SlaEvent::PriorityChanged { at: when, priority: PRIORITIES[(priority + 2) % 5] });
        let retargeted = clocks(&changed, &policy, calendar, now).unwrap();
        for c in result.iter().filter(|c| c.target != TargetKind::Update) {
            let r = retargeted.iter().find(|r| r.target == c.target && r.cycle == c.cycle).unwrap();
            prop_assert_eq!((r.elapsed, r.paused, r.started_at, r.ended_at), (c.elapsed, c.paused, c.started_at, c.ended_at));
        }
    }

    #[test]
    fn due_escalations_are_monotone_and_stable((priority, steps, new_cycle, which, extra) in raw_history()) {
        let events = history(priority, &steps);
        let policy = SlaPolicy { reopen: if new_cycle { ReopenPolicy::NewCycle } else { ReopenPolicy::ContinueCycle }, ..SlaPolicy::default() };
        let calendar = &calendars()[which];
        let incident = IncidentId::new("INC-7").unwrap();
        let rules = EscalationRules::default();
        let now = events.last().unwrap().at().plus_seconds(i64::from(extra) * 60).unwrap();
        let later = now.plus_seconds(7 * 24 * 3600).unwrap();
        let a = due_escalations(&incident, &events, &policy, &rules, calendar, now).unwrap();
        let b = due_escalations(&incident, &events, &policy, &rules, calendar, later).unwrap();
        // Once due, an escalation stays due with the same id and instant (no priority changes after `now`).
        for d in &a {
            prop_assert!(d.due_at <= now);
            prop_assert!(b.contains(d), "{:?} not due later", d);
        }
        let ids: BTreeSet<&str> = b.iter().map(|d| d.id.as_str()).collect();
        prop_assert_eq!(ids.len(), b.len());
    }
}
