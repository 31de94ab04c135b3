//! Monitoring alerts into incidents, end to end through the real incident
//! machine: the correlator decides, the decided commands run as the automation
//! actor, the outbox is collected, and every incident event is fed back to the
//! correlator (`observe`), as the store will do.

use std::collections::{BTreeMap, BTreeSet};

use itsm_core::alert::{
    Alert, AlertSeverity, Correlator, Decision, GroupBy, GroupStatus, GroupingPolicy, IgnoreReason, SeverityAction,
};
use itsm_core::calendar::Calendar;
use itsm_core::id::{ActorId, IncidentId, ServiceId, TenantId, Text};
use itsm_core::incident::{Incident, IncidentCommand, IncidentError, IncidentEvent, IncidentStatus, ResolutionCode};
use itsm_core::sla::{EscalationAction, EscalationRules, EscalationTrigger};
use itsm_core::vocabulary::{Impact, Priority, ResolvedBy, Urgency};
use itsm_core::{
    Actor, Aggregate, BusinessDuration, Context, DomainConfig, ExecuteError, OutboxMessage, Role, SlaPolicy, Timestamp,
    due_escalations,
};
use proptest::prelude::*;

const MIN: i64 = 60;

fn ts(secs: i64) -> Timestamp {
    // 2026-03-02T09:00:00Z
    Timestamp::from_unix_secs(1_772_442_000 + secs).expect("instant")
}

fn alert(id: &str, object: &str, check: &str, severity: AlertSeverity, at: i64) -> Alert {
    Alert::new("prom", id, ServiceId::new(object).expect("id"), check, severity, ts(at))
}

/// The correlator plus the incidents it drives.
struct World {
    policy: GroupingPolicy,
    correlator: Correlator,
    config: DomainConfig,
    bot: Actor,
    agent: Actor,
    incidents: BTreeMap<IncidentId, Incident>,
    history: BTreeMap<IncidentId, Vec<IncidentEvent>>,
    outbox: Vec<OutboxMessage>,
    now: Timestamp,
    decisions: Vec<Decision>,
}

impl World {
    fn new(policy: GroupingPolicy) -> Self {
        let tenant = TenantId::new("acme").expect("id");
        World {
            policy,
            correlator: Correlator::new(),
            config: DomainConfig::default(),
            bot: Actor::new(ActorId::new("monitoring").expect("id"), tenant.clone(), [Role::Automation]),
            agent: Actor::new(ActorId::new("ann").expect("id"), tenant, [Role::Agent]),
            incidents: BTreeMap::new(),
            history: BTreeMap::new(),
            outbox: Vec::new(),
            now: ts(-3600),
            decisions: Vec::new(),
        }
    }

    /// Feeds an alert at the processing instant max(now, alert time).
    fn feed(&mut self, alert: &Alert) -> Decision {
        self.now = self.now.max(alert.resolved_at.unwrap_or(alert.fired_at));
        let decision = self.correlator.decide(alert, &self.policy, self.now);
        for (id, command) in decision.commands() {
            if let Err(e) = self.run(&id, &command, false) {
                panic!("{} on {id} refused: {e:?}\ndecision: {decision:?}", command.name());
            }
        }
        self.correlator.apply(alert, &self.policy, &decision);
        self.decisions.push(decision.clone());
        decision
    }

    /// Runs a command as the automation actor, or as a person (`person`), at `now`.
    fn run(
        &mut self,
        id: &IncidentId,
        command: &IncidentCommand,
        person: bool,
    ) -> Result<(), ExecuteError<IncidentError>> {
        let actor = if person { &self.agent } else { &self.bot };
        let ctx = Context::new(actor, self.now, &self.config);
        let (next, events) = Incident::execute(self.incidents.get(id).cloned(), command, &ctx)?;
        self.outbox.extend(Incident::outbox(&next, &events));
        for event in &events {
            self.correlator.observe(id, event);
        }
        self.history.entry(id.clone()).or_default().extend(events);
        self.incidents.insert(id.clone(), next);
        Ok(())
    }

    /// A person resolves the incident at `at`.
    fn resolve(&mut self, id: &IncidentId, at: i64) {
        self.now = self.now.max(ts(at));
        let resolve =
            IncidentCommand::Resolve { code: ResolutionCode::Fixed, resolved_by: ResolvedBy::L2, restored_at: None };
        self.run(id, &resolve, true).expect("resolve");
    }

    fn close(&mut self, id: &IncidentId, at: i64) {
        self.now = self.now.max(ts(at));
        self.run(id, &IncidentCommand::Close, true).expect("close");
    }

    fn incident(&self, id: &IncidentId) -> &Incident {
        self.incidents.get(id).expect("incident exists")
    }

    /// The dedup keys of every `alert.clear` message, with how many times each was emitted.
    fn clears(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for m in self.outbox.iter().filter(|m| m.topic == "alert.clear") {
            *out.entry(m.dedup_key.clone()).or_insert(0) += 1;
        }
        out
    }

    fn opened(&self) -> BTreeSet<IncidentId> {
        self.decisions.iter().filter_map(|d| d.opened().cloned()).collect()
    }
}

fn opened_id(decision: &Decision) -> IncidentId {
    decision.opened().cloned().unwrap_or_else(|| panic!("expected an opening decision, got {decision:?}"))
}

fn policy() -> GroupingPolicy {
    GroupingPolicy { window_seconds: 30 * MIN as u64, flap_seconds: 10 * MIN as u64, ..GroupingPolicy::default() }
}

// ---------------------------------------------------------------- property

/// One burst: the alerts of one group, all fired within one window
/// `[base, base + window]` (both ends reachable). Bursts of different groups
/// are independent and may overlap in time.
#[derive(Debug, Clone)]
struct Burst {
    base: i64,
    alerts: Vec<(String, String, AlertSeverity, i64)>, // source, check, severity, offset
}

fn severity() -> impl Strategy<Value = AlertSeverity> {
    prop::sample::select(AlertSeverity::ALL)
}

fn bursts(window: i64) -> impl Strategy<Value = Vec<Burst>> {
    let alert = (
        prop::sample::select(&["prom", "zabbix"][..]),
        prop::sample::select(&["cpu", "disk", "latency"][..]),
        severity(),
        prop_oneof![Just(0), Just(window), 0..=window],
    )
        .prop_map(|(s, c, sev, off)| (s.to_owned(), c.to_owned(), sev, off));
    prop::collection::vec((0..4 * window, prop::collection::vec(alert, 1..7)), 1..5)
        .prop_map(|bursts| bursts.into_iter().map(|(base, alerts)| Burst { base, alerts }).collect())
}

fn group_by() -> impl Strategy<Value = GroupBy> {
    prop_oneof![Just(GroupBy::Fingerprint), Just(GroupBy::Object), Just(GroupBy::Receiver { label: "team".to_owned() })]
}

/// Burst `i` is on object `svc-i` with receiver `team-i`; grouped by
/// fingerprint, its source and check are the burst's first alert's, so a burst
/// is one group under every `group_by`.
fn alerts_of(bursts: &[Burst], by: &GroupBy) -> Vec<Alert> {
    let mut out = Vec::new();
    for (i, burst) in bursts.iter().enumerate() {
        let (source0, check0) = (&burst.alerts[0].0, &burst.alerts[0].1);
        for (j, (source, check, severity, offset)) in burst.alerts.iter().enumerate() {
            let (source, check) = match by {
                GroupBy::Fingerprint => (source0, check0),
                GroupBy::Object | GroupBy::Receiver { .. } => (source, check),
            };
            let object = ServiceId::new(format!("svc-{i}")).expect("id");
            out.push(
                Alert::new(
                    source.clone(),
                    format!("b{i}-a{j}"),
                    object,
                    check.clone(),
                    *severity,
                    ts(burst.base + offset),
                )
                .with_label("team", format!("team-{i}")),
            );
        }
    }
    out
}

/// Feeds the stream, then resolves and closes every incident.
/// An alert incident's group hash and number: which alert of a group opens
/// its incident depends on the delivery order (and so does the id's opening
/// instant); the group and the number do not.
fn group_and_number(policy: &GroupingPolicy, id: &IncidentId) -> String {
    let parts = policy.incident_id_parts(id).unwrap_or_else(|| panic!("`{id}` is not an alert incident id"));
    format!("{}-{}", parts.group_hash, parts.seq)
}

fn outcome(
    policy: &GroupingPolicy,
    stream: &[Alert],
) -> (BTreeSet<String>, BTreeMap<String, usize>, BTreeMap<String, Priority>) {
    let mut world = World::new(policy.clone());
    for a in stream {
        world.feed(a);
    }
    let end = 100_000;
    let ids: Vec<IncidentId> = world.incidents.keys().cloned().collect();
    for id in &ids {
        world.resolve(id, end);
    }
    for id in &ids {
        world.close(id, end + 1);
    }
    let priorities = world.incidents.iter().map(|(id, i)| (group_and_number(policy, id), i.priority())).collect();
    (world.opened().iter().map(|id| group_and_number(policy, id)).collect(), world.clears(), priorities)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// "Within the window": every alert of a group fired inside one window
    /// `[base, base + window]`, so whatever order they arrive in, each one is at
    /// most `window` after the latest alert already in its group (or before it)
    /// and no order can split the group. Streams are any permutation of the
    /// alerts with each delivered 1 to 3 times, and without recoveries (a
    /// recovery is order-sensitive by definition: clear-then-fire is not
    /// fire-then-clear). Then:
    /// - the incidents opened are the same set as for the alerts in time order,
    ///   one per burst with an opening severity, and each ends at the priority
    ///   of the most severe impact and urgency among its opening alerts;
    /// - the clears after resolving and closing everything are the same for
    ///   every opening alert (each exactly one dedup key, emitted by resolve
    ///   and again by close under the same key); annotate-only alerts are
    ///   cleared only if they arrived while their incident existed.
    #[test]
    fn incidents_and_clears_do_not_depend_on_order_or_redelivery(
        bursts in bursts(30 * MIN),
        by in group_by(),
        copies in prop::collection::vec(1usize..=3, 64),
        seed in any::<u64>(),
    ) {
        let policy = GroupingPolicy { group_by: by.clone(), ..policy() };
        let alerts = alerts_of(&bursts, &by);
        let mut in_order = alerts.clone();
        in_order.sort_by_key(|a| a.fired_at);
        let mut stream: Vec<Alert> = alerts
            .iter()
            .enumerate()
            .flat_map(|(i, a)| std::iter::repeat_n(a.clone(), copies[i % copies.len()]))
            .collect();
        // A deterministic shuffle from the seed (Fisher-Yates over a xorshift).
        let mut x = seed | 1;
        for i in (1..stream.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            stream.swap(i, (x % (i as u64 + 1)) as usize);
        }

        let (opened, clears, priorities) = outcome(&policy, &in_order);
        let (opened2, clears2, priorities2) = outcome(&policy, &stream);
        prop_assert_eq!(&opened, &opened2);
        prop_assert_eq!(&priorities, &priorities2);

        let opening: BTreeSet<String> = alerts
            .iter()
            .filter(|a| policy.severities.rule(a.severity).action == SeverityAction::Open)
            .map(|a| a.key().clear_key())
            .collect();
        let annotating: BTreeSet<String> = alerts.iter().map(|a| a.key().clear_key()).filter(|k| !opening.contains(k)).collect();
        for clears in [&clears, &clears2] {
            let keys: BTreeSet<String> = clears.keys().cloned().collect();
            prop_assert_eq!(&keys.intersection(&opening).cloned().collect::<BTreeSet<_>>(), &opening);
            prop_assert!(keys.difference(&opening).all(|k| annotating.contains(k)));
            // resolve and close each emit a clear, under the same key: at most two per alert.
            prop_assert!(clears.values().all(|n| *n <= 2));
        }

        let bursts_opening = bursts
            .iter()
            .filter(|b| b.alerts.iter().any(|a| policy.severities.rule(a.2).action == SeverityAction::Open))
            .count();
        prop_assert_eq!(opened.len(), bursts_opening);
        let matrix = DomainConfig::default().priority_matrix;
        for (i, burst) in bursts.iter().enumerate() {
            let rules: Vec<_> = burst
                .alerts
                .iter()
                .map(|a| policy.severities.rule(a.2))
                .filter(|r| r.action == SeverityAction::Open)
                .collect();
            if rules.is_empty() {
                continue;
            }
            let impact = rules.iter().map(|r| r.impact).min().expect("one");
            let urgency = rules.iter().map(|r| r.urgency).min().expect("one");
            let object = format!("svc-{i}");
            let probe = alerts_of(&bursts, &by).into_iter().find(|a| a.object.as_str() == object).expect("alert");
            let id = group_and_number(&policy, &policy.incident_id(&policy.group_key(&probe), 1, probe.fired_at).expect("id"));
            prop_assert_eq!(priorities.get(&id), Some(&matrix.priority(impact, urgency)));
        }
    }
}

// ---------------------------------------------------------------- tables

#[test]
fn duplicates_change_nothing() {
    let mut w = World::new(policy());
    let a = alert("1", "db-1", "cpu", AlertSeverity::Critical, 0);
    let id = opened_id(&w.feed(&a));
    assert_eq!(w.feed(&a), Decision::Duplicate);
    let recovery = a.clone().recovered(ts(5 * MIN));
    assert!(matches!(w.feed(&recovery), Decision::Recovery { all_clear: true, .. }));
    assert_eq!(w.feed(&recovery), Decision::Duplicate);
    assert_eq!(w.feed(&a), Decision::Duplicate);
    assert_eq!(w.incident(&id).alert_count(), 1);
    assert_eq!(w.history[&id].len(), 2, "opened and alert_correlated only");

    // A recovery that overtakes its firing is remembered; the firing is then ignored.
    let b = alert("2", "db-2", "cpu", AlertSeverity::Critical, 0);
    let early = b.clone().recovered(ts(MIN));
    assert_eq!(w.feed(&early), Decision::Ignore { reason: IgnoreReason::UnknownRecovery });
    assert_eq!(w.feed(&early), Decision::Duplicate);
    assert_eq!(w.feed(&b), Decision::Ignore { reason: IgnoreReason::AlreadyRecovered });
    assert_eq!(w.incidents.len(), 1);
}

#[test]
fn window_boundary_is_inclusive() {
    // (label, second alert's offset from the first, joins?)
    let cases = [
        ("one second inside", 30 * MIN - 1, true),
        ("exactly at the boundary", 30 * MIN, true),
        ("one second outside", 30 * MIN + 1, false),
        ("reordered: fired before the group's last alert", -2 * 3600, true),
    ];
    for (label, offset, joins) in cases {
        let mut w = World::new(policy());
        let first = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
        let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Minor, offset));
        if joins {
            assert!(
                matches!(&d, Decision::Merge { incident, reprioritize: None, .. } if *incident == first),
                "{label}: {d:?}"
            );
            assert_eq!(w.incident(&first).alert_count(), 2, "{label}");
        } else {
            let Decision::OpenLinked { incident, earlier, .. } = &d else { panic!("{label}: {d:?}") };
            assert_eq!(earlier, &first, "{label}");
            assert_ne!(incident, &first, "{label}");
            assert_eq!(w.incident(&first).status(), IncidentStatus::New, "{label}: the earlier one stays open");
        }
    }
}

#[test]
fn the_window_slides_with_the_groups_last_opening_alert() {
    let mut w = World::new(policy());
    let first = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    for (i, at) in [(2, 20 * MIN), (3, 45 * MIN), (4, 75 * MIN)] {
        let d = w.feed(&alert(&i.to_string(), "db-1", "cpu", AlertSeverity::Minor, at));
        assert!(matches!(&d, Decision::Merge { incident, .. } if *incident == first), "{d:?}");
    }
    // Annotate-only alerts do not extend it: the warning at 100 min leaves the
    // group's last opening alert at 75 min, so 106 min is outside.
    assert!(matches!(w.feed(&alert("w", "db-1", "cpu", AlertSeverity::Warning, 100 * MIN)), Decision::Annotate { .. }));
    assert!(matches!(w.feed(&alert("5", "db-1", "cpu", AlertSeverity::Minor, 106 * MIN)), Decision::OpenLinked { .. }));
}

#[test]
fn flapping_stays_in_the_group_within_the_flap_interval() {
    // window 30 min, flap 10 min. Alert 1 fires at 0 and recovers at 5 min;
    // a re-fire (a new alert id) at `at`:
    let cases = [
        ("re-fires 1 min after the clear", 6 * MIN, true),
        ("exactly the flap interval after the clear", 15 * MIN, true),
        ("one second later: inside the window, but the group ended with its clear", 15 * MIN + 1, false),
        ("fired before the clear, delivered after it", 4 * MIN, true),
    ];
    for (label, at, stays) in cases {
        let mut w = World::new(policy());
        let a = alert("1", "db-1", "cpu", AlertSeverity::Major, 0);
        let first = opened_id(&w.feed(&a));
        let d = w.feed(&a.clone().recovered(ts(5 * MIN)));
        assert_eq!(d, Decision::Recovery { incident: Some(first.clone()), all_clear: true }, "{label}");
        let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, at));
        if stays {
            assert!(matches!(&d, Decision::Merge { incident, .. } if *incident == first), "{label}: {d:?}");
        } else {
            assert!(matches!(&d, Decision::OpenLinked { earlier, .. } if *earlier == first), "{label}: {d:?}");
        }
    }

    // A flap interval longer than the window keeps a flapping alert in its group
    // after the window: window 5 min, flap 20 min, fire 0, clear 3 min, re-fire 15 min.
    let mut w =
        World::new(GroupingPolicy { window_seconds: 5 * MIN as u64, flap_seconds: 20 * MIN as u64, ..policy() });
    let a = alert("1", "db-1", "cpu", AlertSeverity::Major, 0);
    let first = opened_id(&w.feed(&a));
    w.feed(&a.recovered(ts(3 * MIN)));
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, 15 * MIN));
    assert!(matches!(&d, Decision::Merge { incident, .. } if *incident == first), "{d:?}");

    // While another alert of the group still fires, a clear does not end it.
    let mut w = World::new(policy());
    let a = alert("1", "db-1", "cpu", AlertSeverity::Major, 0);
    let first = opened_id(&w.feed(&a));
    w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, MIN));
    assert_eq!(
        w.feed(&a.recovered(ts(2 * MIN))),
        Decision::Recovery { incident: Some(first.clone()), all_clear: false }
    );
    let d = w.feed(&alert("3", "db-1", "cpu", AlertSeverity::Major, 25 * MIN));
    assert!(matches!(&d, Decision::Merge { incident, .. } if *incident == first), "{d:?}");
}

#[test]
fn a_flapping_alert_after_its_incident_was_resolved_reopens_it() {
    let mut w = World::new(policy());
    let a = alert("1", "db-1", "cpu", AlertSeverity::Major, 0);
    let first = opened_id(&w.feed(&a));
    w.feed(&a.recovered(ts(5 * MIN)));
    w.resolve(&first, 6 * MIN);
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, 20 * MIN));
    assert!(matches!(&d, Decision::Reopen { incident, .. } if *incident == first), "{d:?}");
    assert_eq!(w.incident(&first).reopen_count(), 1);
}

#[test]
fn a_more_severe_alert_reprioritises_the_open_incident() {
    let mut w = World::new(policy());
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    assert_eq!(w.incident(&id).priority(), Priority::P3);
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Critical, MIN));
    let Decision::Merge { reprioritize: Some(IncidentCommand::Reprioritize { impact, urgency }), .. } = d else {
        panic!("expected a re-prioritising merge, got {d:?}");
    };
    assert_eq!((impact, urgency), (Impact::High, Urgency::High));
    assert_eq!(w.incident(&id).priority(), Priority::P1);
    // Less severe alerts never lower it.
    for (i, sev) in [(3, AlertSeverity::Major), (4, AlertSeverity::Minor)] {
        let d = w.feed(&alert(&i.to_string(), "db-1", "cpu", sev, 2 * MIN));
        assert!(matches!(d, Decision::Merge { reprioritize: None, .. }), "{d:?}");
    }
    assert_eq!(w.incident(&id).priority(), Priority::P1);
    assert_eq!(w.incident(&id).alert_count(), 4);
    assert_eq!(w.incident(&id).alert_last_seen(), Some(ts(2 * MIN)));

    // A priority a person raised is kept: a major alert on a person's P1 changes nothing,
    // a person's lowering is overridden by a more severe alert.
    let mut w = World::new(policy());
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    let raise = IncidentCommand::Reprioritize { impact: Impact::High, urgency: Urgency::High };
    w.run(&id, &raise, true).expect("a person raises it");
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, MIN));
    assert!(matches!(d, Decision::Merge { reprioritize: None, .. }), "{d:?}");
    let lower = IncidentCommand::Reprioritize { impact: Impact::Low, urgency: Urgency::Low };
    w.run(&id, &lower, true).expect("a person lowers it");
    let d = w.feed(&alert("3", "db-1", "cpu", AlertSeverity::Minor, 2 * MIN));
    assert!(matches!(d, Decision::Merge { reprioritize: Some(_), .. }), "{d:?}");
    assert_eq!(w.incident(&id).priority(), Priority::P3);
}

#[test]
fn reopen_within_the_window_and_a_linked_repeat_outside_it() {
    let reopen = 60 * MIN;
    // (label, alert offset after the resolution, reopens?)
    let cases = [
        ("a minute after", MIN, true),
        ("just inside", reopen - 1, true),
        ("exactly the reopen window", reopen, false),
        ("a day later", 86_400, false),
    ];
    for (label, after, reopens) in cases {
        let mut w = World::new(policy());
        let first = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
        w.resolve(&first, 10 * MIN);
        let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Critical, 10 * MIN + after));
        if reopens {
            let Decision::Reopen { incident, commands } = &d else { panic!("{label}: {d:?}") };
            assert_eq!(incident, &first);
            let names: Vec<_> = commands.iter().map(IncidentCommand::name).collect();
            assert_eq!(names, ["reopen", "correlate_alert", "reprioritize"], "{label}");
            let inc = w.incident(&first);
            assert_eq!(
                (inc.status(), inc.reopen_count(), inc.priority()),
                (IncidentStatus::InProgress, 1, Priority::P1)
            );
        } else {
            let Decision::OpenLinked { incident, earlier, commands } = &d else { panic!("{label}: {d:?}") };
            assert_eq!(earlier, &first, "{label}");
            assert_eq!(
                incident,
                &w.policy
                    .incident_id(
                        &w.policy.group_key(&alert("x", "db-1", "cpu", AlertSeverity::Info, 0)),
                        2,
                        ts(10 * MIN + after)
                    )
                    .expect("id")
            );
            let names: Vec<_> = commands.iter().map(IncidentCommand::name).collect();
            assert_eq!(names, ["open", "add_note", "correlate_alert"], "{label}");
            let (a, b) = (w.incident(&first).to_record(), w.incident(incident).to_record());
            assert_eq!((&a.service, &a.category), (&b.service, &b.category), "{label}: same repeat key");
            assert!(b.opened_at >= a.resolved_at.expect("resolved"), "{label}: a repeat for the metrics");
            assert_eq!(w.incident(&first).reopen_count(), 0);
            assert_eq!(b.priority, Priority::P1);
        }
    }
}

#[test]
fn closed_and_cancelled_incidents_are_not_reopened() {
    let mut w = World::new(policy());
    let first = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    w.resolve(&first, 10 * MIN);
    w.close(&first, 11 * MIN);
    // Fired before the resolution, delivered after the closure: too late.
    let late = w.feed(&alert("0", "db-1", "cpu", AlertSeverity::Minor, 9 * MIN));
    assert_eq!(late, Decision::Ignore { reason: IgnoreReason::Late { incident: first.clone() } });
    // Within the reopen window, but closed: a linked repeat.
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Minor, 12 * MIN));
    let second = opened_id(&d);
    assert!(matches!(&d, Decision::OpenLinked { earlier, .. } if *earlier == first));
    // Cancelled (raised in error): the next incident opens without a link.
    w.now = w.now.max(ts(13 * MIN));
    w.run(&second, &IncidentCommand::Cancel { reason: Text::new("noise").expect("text") }, true).expect("cancel");
    let d = w.feed(&alert("3", "db-1", "cpu", AlertSeverity::Minor, 14 * MIN));
    assert!(matches!(&d, Decision::Open { .. }), "{d:?}");
    assert_eq!(w.correlator.group_of(&opened_id(&d)).map(|(_, g)| g.seq), Some(3));
}

#[test]
fn annotate_only_severities_never_open() {
    let mut w = World::new(policy());
    // An info alert with nothing open, and a warning: ignored.
    for (id, sev) in [("i", AlertSeverity::Info), ("w", AlertSeverity::Warning)] {
        let d = w.feed(&alert(id, "db-1", "cpu", sev, 0));
        assert_eq!(d, Decision::Ignore { reason: IgnoreReason::NothingOpen { severity: sev } });
    }
    assert!(w.incidents.is_empty());
    // Ignored alerts are not remembered: redelivered once an incident is open, they annotate it.
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, MIN)));
    let d = w.feed(&alert("i", "db-1", "cpu", AlertSeverity::Info, 0));
    assert!(matches!(&d, Decision::Annotate { incident, .. } if *incident == id), "{d:?}");
    assert_eq!(w.incident(&id).priority(), Priority::P3, "annotations never re-prioritise");
    assert_eq!(w.incident(&id).alert_count(), 2);
    // Annotating after the window is fine while the incident is open; after a
    // resolution, only alerts fired before it are recorded.
    let d = w.feed(&alert("w2", "db-1", "cpu", AlertSeverity::Warning, 5 * 3600));
    assert!(matches!(d, Decision::Annotate { .. }), "{d:?}");
    w.resolve(&id, 6 * 3600);
    let d = w.feed(&alert("w3", "db-1", "cpu", AlertSeverity::Warning, 6 * 3600 + MIN));
    assert_eq!(d, Decision::Ignore { reason: IgnoreReason::NothingOpen { severity: AlertSeverity::Warning } });

    // Severities are data: make warnings open incidents.
    let mut p = policy();
    p.severities.warning.action = SeverityAction::Open;
    let mut w = World::new(p);
    let d = w.feed(&alert("w", "db-1", "cpu", AlertSeverity::Warning, 0));
    assert_eq!(w.incident(&opened_id(&d)).priority(), Priority::P4);
}

#[test]
fn resolving_clears_every_alert_once_and_late_alerts_at_once() {
    let mut w = World::new(policy());
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Major, MIN));
    w.feed(&alert("3", "db-1", "cpu", AlertSeverity::Warning, 2 * MIN));
    assert!(w.clears().is_empty(), "nothing cleared while open");
    w.resolve(&id, 10 * MIN);
    let keys = |w: &World| w.clears().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&w), ["prom:1", "prom:2", "prom:3"]);
    let clear = w.outbox.iter().find(|m| m.topic == "alert.clear").expect("clear");
    assert_eq!(clear.payload["incident"], id.as_str());
    assert_eq!(clear.payload["alert_id"], "1");

    // A late alert (fired before the resolution) is recorded and cleared at once.
    let d = w.feed(&alert("4", "db-1", "cpu", AlertSeverity::Critical, 9 * MIN));
    assert!(matches!(&d, Decision::Merge { incident, reprioritize: None, .. } if *incident == id), "{d:?}");
    assert_eq!(w.clears().get("prom:4"), Some(&1));
    assert_eq!(w.incident(&id).status(), IncidentStatus::Resolved);

    // Reopened by a new alert and resolved again: only the new alert is new;
    // the closure repeats the keys, which the store's (tenant, topic, dedup_key)
    // uniqueness drops.
    w.feed(&alert("5", "db-1", "cpu", AlertSeverity::Minor, 20 * MIN));
    assert_eq!(w.incident(&id).reopen_count(), 1);
    w.resolve(&id, 30 * MIN);
    w.close(&id, 31 * MIN);
    assert_eq!(keys(&w), ["prom:1", "prom:2", "prom:3", "prom:4", "prom:5"]);
    assert_eq!(w.clears().get("prom:5"), Some(&2), "resolve and close, one key");
}

#[test]
fn the_incident_machine_guards_correlate_alert() {
    let mut w = World::new(policy());
    let a = alert("1", "db-1", "cpu", AlertSeverity::Minor, 0);
    let id = opened_id(&w.feed(&a));
    let again = IncidentCommand::CorrelateAlert { alert: a.to_ref(&w.policy) };
    assert!(matches!(w.run(&id, &again, false), Err(ExecuteError::Rejected(IncidentError::Invalid { .. }))));
    let mut bad = alert("2", "db-1", "cpu", AlertSeverity::Minor, 0).to_ref(&w.policy);
    bad.source = String::new();
    let bad = IncidentCommand::CorrelateAlert { alert: bad };
    assert!(matches!(w.run(&id, &bad, false), Err(ExecuteError::Rejected(IncidentError::Invalid { .. }))));
    w.resolve(&id, MIN);
    w.close(&id, 2 * MIN);
    let late =
        IncidentCommand::CorrelateAlert { alert: alert("3", "db-1", "cpu", AlertSeverity::Minor, 0).to_ref(&w.policy) };
    assert!(matches!(w.run(&id, &late, false), Err(ExecuteError::Rejected(IncidentError::InvalidTransition { .. }))));
    // A requester may not correlate alerts; automation may.
    let config = DomainConfig::default();
    let requester = Actor::new(ActorId::new("r").expect("id"), TenantId::new("acme").expect("id"), [Role::Requester]);
    assert!(!config.permissions.permits(&requester, itsm_core::AggregateKind::Incident, "correlate_alert"));
    assert!(config.permissions.permits(&w.bot, itsm_core::AggregateKind::Incident, "correlate_alert"));
}

#[test]
fn grouping_by_object_receiver_and_dedup_key() {
    // By object: different checks on one object share an incident.
    let mut w = World::new(GroupingPolicy { group_by: GroupBy::Object, ..policy() });
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    assert!(
        matches!(w.feed(&alert("2", "db-1", "disk", AlertSeverity::Minor, MIN)), Decision::Merge { incident, .. } if incident == id)
    );
    assert!(matches!(w.feed(&alert("3", "db-2", "disk", AlertSeverity::Minor, MIN)), Decision::Open { .. }));

    // By receiver: objects of one team share an incident; no team label -> by fingerprint.
    let mut w = World::new(GroupingPolicy { group_by: GroupBy::Receiver { label: "team".to_owned() }, ..policy() });
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0).with_label("team", "dba")));
    let d = w.feed(&alert("2", "db-2", "disk", AlertSeverity::Minor, MIN).with_label("team", "dba"));
    assert!(matches!(d, Decision::Merge { incident, .. } if incident == id));
    assert!(matches!(w.feed(&alert("3", "db-1", "cpu", AlertSeverity::Minor, MIN)), Decision::Open { .. }));

    // Dedup key: one group across checks when honoured; ignored otherwise.
    for (honor, merges) in [(true, true), (false, false)] {
        let mut w = World::new(GroupingPolicy { honor_dedup_key: honor, ..policy() });
        let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0).with_dedup_key("db-1/load")));
        let d = w.feed(&alert("2", "db-1", "disk", AlertSeverity::Minor, MIN).with_dedup_key("db-1/load"));
        assert_eq!(matches!(d, Decision::Merge { ref incident, .. } if *incident == id), merges, "{d:?}");
    }
}

#[test]
fn incident_ids_depend_only_on_the_alert_stream() {
    let stream: Vec<Alert> = (0..20)
        .map(|i| {
            alert(&i.to_string(), ["db-1", "db-2", "web"][i % 3], "cpu", AlertSeverity::Major, (i as i64) * 7 * MIN)
        })
        .collect();
    let run = |stream: &[Alert]| {
        let mut c = Correlator::new();
        let p = policy();
        stream.iter().filter_map(|a| c.correlate(a, &p, ts(100_000)).opened().cloned()).collect::<Vec<_>>()
    };
    let first = run(&stream);
    assert_eq!(first, run(&stream));
    assert!(first.iter().all(|id| id.as_str().starts_with("ALERT-")));
    // The correlator state survives a JSON round trip mid-stream.
    let p = policy();
    let mut c = Correlator::new();
    let mut ids = Vec::new();
    for (i, a) in stream.iter().enumerate() {
        if i == 10 {
            c = serde_json::from_str(&serde_json::to_string(&c).expect("json")).expect("state");
        }
        ids.extend(c.correlate(a, &p, ts(100_000)).opened().cloned());
    }
    assert_eq!(ids, first);
}

#[test]
fn the_correlator_follows_incident_status_it_did_not_cause() {
    let mut w = World::new(policy());
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Minor, 0)));
    w.resolve(&id, 5 * MIN);
    assert_eq!(w.correlator.group_of(&id).map(|(_, g)| g.status), Some(GroupStatus::Resolved { at: ts(5 * MIN) }));
    w.now = ts(6 * MIN);
    w.run(&id, &IncidentCommand::Reopen { reason: Text::new("not fixed").expect("text") }, true).expect("reopen");
    assert_eq!(w.correlator.group_of(&id).map(|(_, g)| g.status), Some(GroupStatus::Open));
    let d = w.feed(&alert("2", "db-1", "cpu", AlertSeverity::Minor, 7 * MIN));
    assert!(matches!(d, Decision::Merge { .. }), "{d:?}");
    // The convenience methods do the same as observing the events.
    let mut c = w.correlator.clone();
    c.incident_resolved(&id, ts(8 * MIN));
    c.incident_closed(&id, ts(9 * MIN));
    assert_eq!(
        c.group_of(&id).map(|(_, g)| g.status),
        Some(GroupStatus::Closed { resolved_at: ts(8 * MIN), at: ts(9 * MIN) })
    );
}

// ---------------------------------------------------------------- escalation

#[test]
fn an_unaccepted_alert_incident_escalates_to_the_backup_then_upward() {
    let policy = policy();
    let rules = policy.escalation_rules();
    assert_eq!(rules.version, policy.version);
    let calendar = Calendar::twenty_four_seven(chrono_tz::UTC);
    let sla = SlaPolicy::default();
    let backup = policy.acceptance.backup_after.as_secs() as i64;
    let upward = policy.acceptance.upward_after.as_secs() as i64;

    let mut w = World::new(policy.clone());
    let id = opened_id(&w.feed(&alert("1", "db-1", "cpu", AlertSeverity::Critical, 0)));
    let opened_at = w.incident(&id).opened_at();
    let due = |w: &World, after: i64| {
        let events = itsm_core::incident::sla_events(&w.history[&id]);
        let now = opened_at.plus_seconds(after).expect("instant");
        due_escalations(&id, &events, &sla, &rules, &calendar, now)
            .expect("escalations")
            .into_iter()
            .map(|e| (e.action, e.due_at.seconds_since(opened_at)))
            .collect::<Vec<_>>()
    };
    assert!(due(&w, backup - 1).is_empty());
    assert_eq!(due(&w, backup), [(EscalationAction::NotifyBackup, backup)]);
    assert_eq!(due(&w, upward - 1), [(EscalationAction::NotifyBackup, backup)]);
    assert_eq!(due(&w, upward), [(EscalationAction::NotifyBackup, backup), (EscalationAction::EscalateUpward, upward)]);

    // Accepted in time: nothing escalates.
    w.now = opened_at.plus_seconds(backup - 1).expect("instant");
    w.run(&id, &IncidentCommand::Acknowledge, true).expect("acknowledge");
    assert!(due(&w, 10 * upward).is_empty());

    // Layered over the SLA rules: the default 15-minute acknowledgement rule is
    // replaced, the resolution rules kept.
    let layered = policy.escalation_rules_over(&EscalationRules::default());
    let ids: Vec<&str> = layered.rules.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&"alert-unaccepted-backup") && ids.contains(&"resolution-breach-upward"), "{ids:?}");
    assert!(!ids.contains(&"unacknowledged-backup"));
    assert_eq!(layered.validate(), Ok(()));
    let acceptance: Vec<_> = layered
        .rules
        .iter()
        .filter_map(|r| match r.trigger {
            EscalationTrigger::NotAcknowledgedWithin { after } => Some(after),
            EscalationTrigger::Threshold { .. } | EscalationTrigger::Breach { .. } => None,
        })
        .collect();
    assert_eq!(acceptance, [BusinessDuration::from_minutes(5), BusinessDuration::from_minutes(15)]);
}
