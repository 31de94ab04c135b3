//! Due instants against a simple reference, over random incident command
//! sequences (acknowledge, start, hold, resume, reprioritise, public notes,
//! resolve, reopen, close, cancel) run through the incident machine, random
//! SLA policies, 24x7 and business-hours calendars, escalation rules, and
//! SLA policy / calendar versions that change over time.
//!
//! The reference does not look at what the clock says about `now`: it takes
//! the history as of `now`, lets it run on with no further event to a far
//! instant, and collects every instant the clock (and `due_escalations`) then
//! reports as reached; the due instant is the earliest of them after `after`.
//! A second check scans the clock itself: just before the reference instant
//! no mark is reached that was not reached at `now`, and at it one is.

use std::collections::BTreeSet;

use itsm_core::calendar::{Calendar, CalendarDef, Holiday, TimeRange, WeekSchedule};
use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, ResolutionCode, sla_events};
use itsm_core::sla::{
    DueBasis, EscalationAction, EscalationRule, EscalationRules, EscalationTrigger, ReopenPolicy, SlaEvent, SlaPolicy,
    TargetClock, TargetEntry, TargetKind, clocks, due_escalations, due_instants, next_due, next_due_after,
};
use itsm_core::versioned::{DomainConfigHistory, Versioned};
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, IncidentKind, Priority, ResolvedBy, Urgency};
use itsm_core::{Actor, Aggregate, BusinessDuration, Context, DomainConfig, Role, Timestamp};
use proptest::prelude::*;

/// 2026-03-02T08:00:00Z (a Monday).
const T0: i64 = 1_772_438_400;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(T0 + secs).unwrap()
}

/// Far enough for every generated target to be reached by a running clock.
fn far() -> Timestamp {
    ts(10 * 365 * 86_400)
}

const REASONS: [HoldReason; 5] = [
    HoldReason::AwaitingCaller,
    HoldReason::AwaitingVendor,
    HoldReason::AwaitingProblem,
    HoldReason::AwaitingChange,
    HoldReason::AwaitingEvidence,
];
const LEVELS: [(Impact, Urgency); 5] = [
    (Impact::High, Urgency::High),
    (Impact::High, Urgency::Medium),
    (Impact::Medium, Urgency::Medium),
    (Impact::Medium, Urgency::Low),
    (Impact::Low, Urgency::Low),
];

fn open_command(level: usize) -> IncidentCommand {
    let (impact, urgency) = LEVELS[level % 5];
    IncidentCommand::Open(OpenIncident {
        id: IncidentId::new("INC-1").unwrap(),
        kind: IncidentKind::Production,
        service: ServiceId::new("payments").unwrap(),
        title: Text::new("card payments fail").unwrap(),
        category: None,
        impact,
        urgency,
        source: DetectionSource::User,
        tier: itsm_core::vocabulary::SupportTier::L1,
        impact_start: None,
        failure_class: itsm_core::vocabulary::FailureClass::Other,
        outage: false,
        caused_by_change: None,
    })
}

fn command(action: u8, arg: u8) -> IncidentCommand {
    match action % 16 {
        0 => IncidentCommand::Acknowledge,
        1 => IncidentCommand::Start,
        2 | 3 => IncidentCommand::Hold { reason: REASONS[usize::from(arg) % 5] },
        4 | 5 => IncidentCommand::Resume,
        6 | 7 => {
            let (impact, urgency) = LEVELS[usize::from(arg) % 5];
            IncidentCommand::Reprioritize { impact, urgency }
        }
        8 => IncidentCommand::AddNote { text: Text::new("status update").unwrap(), public: arg.is_multiple_of(2) },
        9 | 10 => {
            IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None }
        }
        11 | 12 => IncidentCommand::Reopen { reason: Text::new("came back").unwrap() },
        13 | 14 => IncidentCommand::Assign { group: GroupId::new("service-desk").unwrap(), assignee: None },
        _ if arg.is_multiple_of(4) => IncidentCommand::Cancel { reason: Text::new("raised in error").unwrap() },
        _ => IncidentCommand::Close,
    }
}

/// Runs the commands through the incident machine (refused ones are skipped)
/// and returns the clock's view of the recorded events.
fn run(level: usize, steps: &[(u8, u32, u8)]) -> Vec<SlaEvent> {
    let actor = Actor::new(ActorId::new("agent").unwrap(), TenantId::new("acme").unwrap(), Role::ALL.iter().copied());
    let config = DomainConfig::default();
    let mut now = ts(0);
    let (mut state, mut events) = Incident::execute(None, &open_command(level), &Context::new(&actor, now, &config))
        .map(|(state, events)| (Some(state), events))
        .unwrap();
    for &(action, seconds, arg) in steps {
        now = now.plus_seconds(i64::from(seconds)).unwrap();
        let ctx = Context::new(&actor, now, &config);
        if let Ok((next, recorded)) = Incident::execute(state.clone(), &command(action, arg), &ctx) {
            state = Some(next);
            events.extend(recorded);
        }
    }
    sla_events(&events)
}

/// A policy with targets for every priority (minutes), random pausing holds,
/// reopen policy and warning thresholds.
fn policy_strategy() -> impl Strategy<Value = SlaPolicy> {
    (
        prop::collection::vec((1u64..=240, 1u64..=3_000, prop::option::of(30u64..=600)), 5),
        any::<u8>(),
        any::<bool>(),
        prop::collection::btree_set(1u32..=100, 0..4),
    )
        .prop_map(|(goals, pausing, new_cycle, thresholds)| SlaPolicy {
            version: 1,
            targets: Priority::ALL
                .iter()
                .zip(goals)
                .map(|(&priority, (response, resolution, update))| TargetEntry {
                    kind: None,
                    priority,
                    response: BusinessDuration::from_minutes(response),
                    resolution: BusinessDuration::from_minutes(resolution),
                    update: update.map(BusinessDuration::from_minutes),
                })
                .collect(),
            pausing_holds: REASONS
                .iter()
                .enumerate()
                .filter(|(i, _)| pausing & (1 << i) != 0)
                .map(|(_, r)| *r)
                .collect(),
            reopen: if new_cycle { ReopenPolicy::NewCycle } else { ReopenPolicy::ContinueCycle },
            warning_thresholds: thresholds.into_iter().collect(),
        })
}

/// 24x7 UTC, 5x8 Berlin, or two shifts six days a week in New York with a holiday.
fn calendar(which: u8, version: u32) -> Calendar {
    let mut def = match which % 3 {
        0 => Calendar::twenty_four_seven(chrono_tz::UTC).definition().clone(),
        1 => Calendar::five_by_eight(chrono_tz::Europe::Berlin).definition().clone(),
        _ => {
            use chrono::Weekday::*;
            let shifts = [TimeRange::hours(7, 12).unwrap(), TimeRange::hours(13, 19).unwrap()];
            CalendarDef {
                version: 1,
                time_zone: "America/New_York".to_owned(),
                week: WeekSchedule::uniform(&[Mon, Tue, Wed, Thu, Fri, Sat], &shifts),
                holidays: vec![Holiday::Once {
                    date: chrono::NaiveDate::from_ymd_opt(2026, 3, 9).unwrap(),
                    name: String::new(),
                }],
                exceptions: Vec::new(),
            }
        }
    };
    def.version = version;
    Calendar::new(def).unwrap()
}

fn rules_strategy() -> impl Strategy<Value = EscalationRules> {
    let trigger = prop_oneof![
        (1u64..=600)
            .prop_map(|m| EscalationTrigger::NotAcknowledgedWithin { after: BusinessDuration::from_minutes(m) }),
        (0usize..3, 1u32..=200).prop_map(|(t, percent)| EscalationTrigger::Threshold {
            target: [TargetKind::Response, TargetKind::Resolution, TargetKind::Update][t],
            percent
        }),
        (0usize..3).prop_map(|t| EscalationTrigger::Breach {
            target: [TargetKind::Response, TargetKind::Resolution, TargetKind::Update][t]
        }),
    ];
    prop::collection::vec((trigger, prop::collection::btree_set(0usize..5, 0..3)), 0..4).prop_map(|rules| {
        EscalationRules {
            version: 1,
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(i, (trigger, priorities))| EscalationRule {
                    id: format!("rule-{i}"),
                    trigger,
                    action: EscalationAction::NotifyGroupLead,
                    priorities: priorities.into_iter().map(|p| Priority::ALL[p]).collect(),
                    kinds: Vec::new(),
                })
                .collect(),
        }
    })
}

fn steps_strategy() -> impl Strategy<Value = Vec<(u8, u32, u8)>> {
    prop::collection::vec((any::<u8>(), 0u32..=20_000, any::<u8>()), 0..25)
}

/// The history as of `now`.
fn as_of(events: &[SlaEvent], now: Timestamp) -> Vec<SlaEvent> {
    events.iter().filter(|e| e.at() <= now).cloned().collect()
}

/// Every mark instant of `clocks` that is reached.
fn reached_marks(clocks: &[TargetClock]) -> Vec<Timestamp> {
    let mut out = Vec::new();
    for clock in clocks {
        out.extend(clock.thresholds.iter().filter(|t| t.reached).filter_map(|t| t.at));
        out.extend(clock.breached_at);
    }
    out
}

/// The reference: let the history as of `now` run on, without another event,
/// to a far instant; every mark reached by then, after `after`.
fn reference(
    events: &[SlaEvent],
    policy: &SlaPolicy,
    calendar: &Calendar,
    rules: Option<&EscalationRules>,
    now: Timestamp,
    after: Timestamp,
) -> Option<Timestamp> {
    let history = as_of(events, now);
    let mut marks = reached_marks(&clocks(&history, policy, calendar, far()).unwrap());
    if let Some(rules) = rules {
        let id = IncidentId::new("INC-1").unwrap();
        marks.extend(due_escalations(&id, &history, policy, rules, calendar, far()).unwrap().iter().map(|d| d.due_at));
    }
    marks.into_iter().filter(|&at| at > after).min()
}

/// What is reached as of `at` (per clock: the reached thresholds and the breach).
fn signature(history: &[SlaEvent], policy: &SlaPolicy, calendar: &Calendar, at: Timestamp) -> Vec<Vec<bool>> {
    clocks(history, policy, calendar, at)
        .unwrap()
        .iter()
        .map(|c| c.thresholds.iter().map(|t| t.reached).chain([c.breached_at.is_some()]).collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, .. ProptestConfig::default() })]

    /// `next_due` and `next_due_after` (without rules) equal the reference, and
    /// the clock's own status changes first at the reference instant.
    #[test]
    fn next_due_is_the_first_new_mark(
        level in 0usize..5,
        steps in steps_strategy(),
        policy in policy_strategy(),
        which in any::<u8>(),
        tail in 0u32..=200_000,
        back in prop::option::of(0u32..=400_000),
    ) {
        let events = run(level, &steps);
        let calendar = calendar(which, 1);
        let last = events.last().map_or(ts(0), SlaEvent::at);
        let now = last.plus_seconds(i64::from(tail)).unwrap();
        let expected = reference(&events, &policy, &calendar, None, now, now);
        prop_assert_eq!(next_due(&events, &policy, &calendar, now), Ok(expected));

        // Scan the clock: nothing new is reached just before the instant, something is at it.
        let history = as_of(&events, now);
        let at_now = signature(&history, &policy, &calendar, now);
        match expected {
            Some(due) => {
                prop_assert!(due > now);
                let before = Timestamp::from_unix_micros(due.unix_micros() - 1).unwrap();
                prop_assert_eq!(&signature(&history, &policy, &calendar, before), &at_now);
                prop_assert_ne!(&signature(&history, &policy, &calendar, due), &at_now);
            }
            None => prop_assert_eq!(signature(&history, &policy, &calendar, far()), at_now),
        }

        // An earlier handled instant: reached marks after it are due again.
        let after = back.map_or(now, |b| now.plus_seconds(-i64::from(b)).unwrap());
        let basis = DueBasis::new(&policy, &calendar);
        prop_assert_eq!(
            next_due_after(&events, basis, now, after),
            Ok(reference(&events, &policy, &calendar, None, now, after))
        );
        // The listing is sorted, marks reached exactly up to `now`, pending ones after it.
        let listed = due_instants(&events, basis, now).unwrap();
        prop_assert!(listed.windows(2).all(|w| w[0].at <= w[1].at));
        prop_assert!(listed.iter().all(|d| d.reached == (d.at <= now)));
    }

    /// With escalation rules, every rule level is a mark too (reference: the
    /// escalations `due_escalations` reports once the history ran on).
    #[test]
    fn rule_levels_are_due(
        level in 0usize..5,
        steps in steps_strategy(),
        policy in policy_strategy(),
        rules in rules_strategy(),
        which in any::<u8>(),
        tail in 0u32..=200_000,
        back in prop::option::of(0u32..=400_000),
    ) {
        let events = run(level, &steps);
        let calendar = calendar(which, 1);
        let last = events.last().map_or(ts(0), SlaEvent::at);
        let now = last.plus_seconds(i64::from(tail)).unwrap();
        let after = back.map_or(now, |b| now.plus_seconds(-i64::from(b)).unwrap());
        let basis = DueBasis::new(&policy, &calendar).with_rules(&rules);
        prop_assert_eq!(
            next_due_after(&events, basis, now, after),
            Ok(reference(&events, &policy, &calendar, Some(&rules), now, after))
        );
        // An escalation runner at the due instant finds an escalation or a warning it had not seen.
        if let Ok(Some(due)) = next_due_after(&events, basis, now, now) {
            let history = as_of(&events, now);
            let id = IncidentId::new("INC-1").unwrap();
            let seen = due_escalations(&id, &history, &policy, &rules, &calendar, now).unwrap().len();
            let then = due_escalations(&id, &history, &policy, &rules, &calendar, due).unwrap().len();
            let new_warning =
                signature(&history, &policy, &calendar, due) != signature(&history, &policy, &calendar, now);
            prop_assert!(then > seen || new_warning);
        }
    }

    /// Under versioned configuration the clock uses the SLA policy, calendar
    /// and rules in force when its cycle started (reference: a linear scan of
    /// the versions and of the history).
    #[test]
    fn versioned_next_due_uses_the_versions_of_the_cycle_start(
        level in 0usize..5,
        steps in steps_strategy(),
        policies in prop::collection::vec((policy_strategy(), -86_400i64..=200_000), 1..4),
        calendars in prop::collection::vec((any::<u8>(), -86_400i64..=200_000), 1..3),
        rules in prop::option::of((rules_strategy(), -86_400i64..=100_000)),
        tail in 0u32..=200_000,
        back in prop::option::of(0u32..=400_000),
    ) {
        let events = run(level, &steps);
        let mut config = DomainConfigHistory::default();
        let mut policy_versions = Vec::new();
        for (i, (mut policy, offset)) in policies.into_iter().enumerate() {
            policy.version = i as u32 + 1;
            let version = Versioned::new(policy.version, ts(offset), policy);
            config.sla_policies.add(version.clone()).unwrap();
            policy_versions.push(version);
        }
        let mut calendar_versions = Vec::new();
        for (i, (which, offset)) in calendars.into_iter().enumerate() {
            let version = Versioned::new(i as u32 + 1, ts(offset), calendar(which, i as u32 + 1));
            config.calendars.add(version.clone()).unwrap();
            calendar_versions.push(version);
        }
        let rules_versions: Vec<Versioned<EscalationRules>> =
            rules.into_iter().map(|(rules, offset)| Versioned::new(1, ts(offset), rules)).collect();
        for version in &rules_versions {
            config.escalation_rules.add(version.clone()).unwrap();
        }
        let last = events.last().map_or(ts(0), SlaEvent::at);
        let now = last.plus_seconds(i64::from(tail)).unwrap();
        let after = back.map_or(now, |b| now.plus_seconds(-i64::from(b)).unwrap());

        fn scan<T>(versions: &[Versioned<T>], at: Timestamp) -> Option<&Versioned<T>> {
            versions.iter().filter(|v| v.effective_from <= at).max_by_key(|v| (v.effective_from, v.version))
        }
        // The cycle start, by a scan of the history as of `now`.
        let mut start = None;
        for event in as_of(&events, now) {
            match event {
                SlaEvent::Opened { at, .. } => start = Some(at),
                SlaEvent::Reopened { at } => {
                    if let Some(s) = start
                        && scan(&policy_versions, s).is_some_and(|p| p.value.reopen == ReopenPolicy::NewCycle)
                    {
                        start = Some(at);
                    }
                }
                _ => {}
            }
        }
        let start = start.unwrap();
        prop_assert_eq!(config.cycle_started_at(&events, now), Some(start));
        let expected = match (scan(&policy_versions, start), scan(&calendar_versions, start)) {
            (Some(policy), Some(calendar)) => {
                let rules = scan(&rules_versions, start).map(|r| &r.value);
                reference(&events, &policy.value, &calendar.value, rules, now, after)
            }
            _ => None,
        };
        prop_assert_eq!(config.next_due_after(&events, now, after), Ok(expected));
        if let Ok(Some(chosen)) = config.clock_config_for(&events, now) {
            prop_assert_eq!(chosen.cycle_started_at, start);
            prop_assert_eq!(Some(chosen.policy.version), scan(&policy_versions, start).map(|p| p.version));
            prop_assert_eq!(Some(chosen.calendar.version), scan(&calendar_versions, start).map(|c| c.version));
        }
    }
}

/// Concrete: the stored due instant across hold, resume, reprioritisation, resolution and reopening.
#[test]
fn due_instant_through_a_lifecycle() {
    let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
    let policy = SlaPolicy { reopen: ReopenPolicy::NewCycle, ..SlaPolicy::default() };
    let m = |minutes: i64| ts(minutes * 60);
    let mut events = vec![SlaEvent::Opened { at: m(0), kind: IncidentKind::Production, priority: Priority::P3 }];
    let due = |events: &[SlaEvent], now| next_due(events, &policy, &calendar, now).unwrap();
    // P3: response 2 h (50 % at 1 h), resolution 24 h.
    assert_eq!(due(&events, m(0)), Some(m(60)));
    events.push(SlaEvent::Acknowledged { at: m(30) });
    assert_eq!(due(&events, m(30)), Some(m(12 * 60)));
    // A pausing hold: nothing due; resumed after 2 h: resolution 50 % moves by 2 h.
    events.push(SlaEvent::Held { at: m(60), reason: HoldReason::AwaitingVendor });
    assert_eq!(due(&events, m(61)), None);
    events.push(SlaEvent::Resumed { at: m(180) });
    assert_eq!(due(&events, m(180)), Some(m(14 * 60)));
    // A non-pausing hold keeps the clock running.
    events.push(SlaEvent::Held { at: m(200), reason: HoldReason::AwaitingChange });
    assert_eq!(due(&events, m(200)), Some(m(14 * 60)));
    // P1 (4 h, updates every hour): 2 h 20 min counted, 75 % (3 h) at 40 min from now; update 50 % at 30 min.
    events.push(SlaEvent::PriorityChanged { at: m(260), priority: Priority::P1 });
    assert_eq!(due(&events, m(260)), Some(m(290)));
    events.push(SlaEvent::Resolved { at: m(270) });
    assert_eq!(due(&events, m(270)), None);
    // Reopened with a new cycle: resolution starts again (P1, 50 % of 4 h), update cycle too (30 min).
    events.push(SlaEvent::Reopened { at: m(400) });
    assert_eq!(due(&events, m(400)), Some(m(430)));
    let listed = due_instants(&events, DueBasis::new(&policy, &calendar), m(400)).unwrap();
    let pending: BTreeSet<(TargetKind, u32)> =
        listed.iter().filter(|d| !d.reached).map(|d| (d.target, d.cycle)).collect();
    assert_eq!(pending, BTreeSet::from([(TargetKind::Resolution, 2), (TargetKind::Update, 2)]));
}
